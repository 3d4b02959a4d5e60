# SPDX-License-Identifier: MIT
"""Reaction of ACS to a load step, over several runs of the demo cluster (see run.sh)."""
import shutil
import statistics
import sys
import tempfile

import scenario

PROFILE = "0:1,8:12,30:1"
STEP, END_HIGH = 8, 30
P99_BOUND_MS = 1500
BASE_PORT = 18400


def one_run(i):
    workdir = tempfile.mkdtemp(prefix="acs-scale-reaction-")
    run = scenario.Run(workdir, f"reaction-{i}", PROFILE, BASE_PORT, "scr", settle_after_load=0,
                       placement="spread", scale_down_window="30s")
    desired_before = [s["state"]["service"]["desired"] for s in run.samples if s["t"] <= STEP][-1]
    t_decided = run.first_time(lambda st: st["service"]["desired"] > desired_before, after=STEP)
    before = set()
    for s in run.samples:
        if s["t"] <= STEP:
            before = run.container_ids(s["state"])
    t_ready = run.first_time(lambda st: run.container_ids(st) - before, after=STEP)
    t_serving = run.first_serving(after=STEP)
    # The p99 is back under its bound from the first second after which it stays there.
    high = [r for r in run.report["seconds"] if STEP < r["t"] <= END_HIGH]
    t_p99 = None
    for k, r in enumerate(high):
        if all(x["p99_ms"] <= P99_BOUND_MS for x in high[k:]):
            t_p99 = r["t"] - STEP
            break
    peak = max(len(run.container_ids(s["state"], ("ready", "starting"))) for s in run.samples)
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "decided_s": None if t_decided is None else t_decided - STEP,
        "ready_s": None if t_ready is None else t_ready - STEP,
        "serving_s": None if t_serving is None else t_serving - STEP,
        "p99_back_s": t_p99,
        "peak": peak,
        "fail": run.report["summary"]["fail"],
    }


def fmt(v, unit="s"):
    return "n/a" if v is None else f"{v:.2f} {unit}"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    results = []
    for i in range(runs):
        r = one_run(i)
        results.append(r)
        print(f"run {i + 1}: decided {fmt(r['decided_s'])}, ready {fmt(r['ready_s'])}, serving {fmt(r['serving_s'])}, "
              f"p99 under {P99_BOUND_MS} ms after {fmt(r['p99_back_s'])}, peak {r['peak']} containers, "
              f"{r['fail']} failed requests", flush=True)
    print()
    print(f"| step 1 -> 12 users, median of {runs} runs | ACS | seed design | Kubernetes HPA defaults |")
    print("|---|---|---|---|")
    print(f"| scale-out decided | {fmt(median(r['decided_s'] for r in results))} | | 15 s sync period |")
    print(f"| first new container ready | {fmt(median(r['ready_s'] for r in results))} | ~10 s | "
          f"15 s sync period + metrics lag (15-60 s) |")
    print(f"| first new container serving (its first request sent) | "
          f"{fmt(median(r['serving_s'] for r in results))} | ~10 s | same, plus pod start |")
    back = [r["p99_back_s"] for r in results if r["p99_back_s"] is not None]
    print(f"| p99 back under {P99_BOUND_MS} ms (and staying there) | {fmt(median(back))} "
          f"({len(back)} of {runs} runs) | n/a | n/a |")
    print(f"| failed requests | {sum(r['fail'] for r in results)} | | |")


if __name__ == "__main__":
    main()
