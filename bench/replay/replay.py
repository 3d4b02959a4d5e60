# SPDX-License-Identifier: MIT
"""bench/replay: load traces through the demo cluster (tools/demo.sh: acs-vim, three acs-vmm,
acs-proxy, acs-web containers in the real dockerd) under each scaling policy of acs-vim
(Policy=acs, hpa-default, seed), recorded second by second, compared in one table and one plot
per trace. See run.sh for the command line and bench/README.md for results."""
import argparse
import contextlib
import fcntl
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import acstest
import scenario

POLICIES = ("acs", "hpa-default", "seed")
# Variants: a policy of acs-vim with settings changed at run time (PUT /api/v1/policy), not part
# of the default set. "acs-inflight" sizes by in-flight requests only, from the SLO: a container
# of 0.1 CPU answers a 50 ms-of-CPU request in about 0.5 s, so 2 requests in flight each keep the
# wait near 1 s, half the 2 s SLO; TargetCpu=1 turns the CPU rule off, because closed-loop users
# keep every container they reach at its CPU limit whatever the latency.
VARIANTS = {"acs-inflight": ("acs", {"target_cpu": 1.0, "target_inflight": 2.0})}


def ramp_points(points):
    """time_s:users points as acs-load's --profile text."""
    out, last = [], None
    for t, u in points:
        if last is not None and u == last and t != points[-1][0]:
            continue
        out.append(f"{t}:{u}")
        last = u
    return ",".join(out)


def diurnal(duration_s=300, low=1, high=12, step_s=10):
    """A day compressed into duration_s: night, a rise to the afternoon peak, evening, night."""
    pts = [(t, round(low + (high - low) * (1 - math.cos(2 * math.pi * t / duration_s)) / 2))
           for t in range(0, duration_s, step_s)]
    return ramp_points(pts + [(duration_s, low)])


def ramp(up_s=60, hold_s=20, down_s=40, tail_s=20, low=1, high=12, step_s=5):
    pts = [(t, low + (high - low) * t // up_s) for t in range(0, up_s, step_s)]
    pts += [(up_s, high)]
    pts += [(up_s + hold_s + t, high - (high - low) * t // down_s) for t in range(0, down_s, step_s)]
    end = up_s + hold_s + down_s
    return ramp_points(pts + [(end, low), (end + tail_s, low)])


# Each trace: the users sending short requests (acs-web's own cost, 50 ms of CPU under the demo's
# 0.1 CPU) and, for "long", users sending requests of 2,000 ms of CPU (~20 s at 0.1 CPU) from
# when the short load drops, so that they are in flight while the cluster scales in.
TRACES = {
    "step": {"profile": "0:2,15:10,75:2,120:2",
             "about": "2 users, a step to 10 for 60 s, back to 2"},
    "ramp": {"profile": ramp(),
             "about": "1 to 12 users over 60 s, 20 s at 12, down to 1 over 40 s"},
    "diurnal": {"profile": diurnal(),
                "about": "a day compressed to 5 minutes: 1 user at night, 12 at the peak"},
    "flash": {"profile": "0:1,20:10,50:1,100:1",
              "about": "a flash crowd: 1 user, 10x for 30 s, back to 1"},
    "long": {"profile": "0:2,10:9,40:2,120:2", "long_profile": "0:0,40:3,120:3",
             "about": "9 users for 30 s, then 2, while 3 users send 20 s requests (2,000 ms of CPU)"},
    # make check's smoke run: one short trace, one policy
    "quick": {"profile": "0:1,4:6,16:1,22:1", "about": "smoke run: 1 user, 6 for 12 s, 1"},
}
FULL = ("step", "ramp", "diurnal", "flash", "long")
LONG_COST_MS = 2000
BASE_PORT = "18600"
VM_PREFIX = "rpl"


def profile_duration(profile):
    return scenario.parse_profile(profile)[-1][0]


@contextlib.contextmanager
def held(lock_path):
    """The machine's Docker lock for the time of one run, so that other users' Docker tests
    interleave between runs instead of running beside them."""
    if not lock_path:
        yield
        return
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def start_load(cluster, profile, json_path, url_suffix="", timeout="10s"):
    argv = [acstest.binary("src/load/acs-load"), "--url", cluster.proxy_url + url_suffix, "--profile", profile,
            "--timeout", timeout, "--json", json_path, "--json-latencies"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_load(proc, json_path, limit_s):
    out, _ = proc.communicate(timeout=limit_s)
    if not os.path.exists(json_path):
        raise RuntimeError(f"acs-load wrote no report (exit {proc.returncode}):\n{out[-2000:]}")
    with open(json_path) as f:
        return json.load(f)


def put_policy(cluster, overrides):
    status, body = acstest.http_json(cluster.api_url + "/policy", method="PUT", data=json.dumps(overrides).encode(),
                                     headers={"Authorization": "Bearer " + cluster.env["ACS_API_TOKEN"],
                                              "Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"PUT /api/v1/policy {overrides} answered {status}: {body}")


def one_run(trace, policy, workdir):
    """The demo cluster with the policy, the trace's load, acs-vim's state every 0.2 s."""
    spec = TRACES[trace]
    duration = profile_duration(spec["profile"])
    t_setup = time.monotonic()
    base_policy, overrides = VARIANTS.get(policy, (policy, None))
    cluster = scenario.Cluster(workdir, BASE_PORT, VM_PREFIX, placement="spread", policy=base_policy,
                               scale_down_window="30s", standby_delay="10s")
    try:
        if overrides:
            put_policy(cluster, overrides)
        acstest.wait_until(lambda: sum(scenario.count(cluster.state(), vm) for vm in cluster.vms) >= 1, 60,
                           what="a ready container")
        t0 = time.monotonic()
        setup_s = t0 - t_setup
        recorder = scenario.Recorder(cluster, t0)
        try:
            short_json = os.path.join(workdir, "short.json")
            long_json = os.path.join(workdir, "long.json")
            short = start_load(cluster, spec["profile"], short_json)
            long_ = None
            if "long_profile" in spec:
                long_ = start_load(cluster, spec["long_profile"], long_json, f"?cost_ms={LONG_COST_MS}", "120s")
            short_report = finish_load(short, short_json, duration + 90)
            long_report = finish_load(long_, long_json, duration + 180) if long_ else None
        finally:
            recorder.stop()
        return {"samples": recorder.samples, "sample_errors": recorder.errors, "short": short_report,
                "long": long_report, "vms": cluster.vms, "duration": duration, "setup_s": setup_s,
                "load_s": time.monotonic() - t0}
    except Exception:
        print(cluster.logs()[-8000:], file=sys.stderr)
        raise
    finally:
        cluster.stop()
        left = scenario.demo_containers_left(cluster.vms)
        if left:
            acstest.docker("rm", "-f", *left, check=False)


def state_at(samples, t):
    """The last state sample taken at or before t seconds."""
    st = None
    for s in samples:
        if s["t"] > t:
            break
        st = s["state"]
    return st or {}


VM_UP = ("booting", "registered", "active", "draining")


def slo_bad_seconds(rows, slo_ms, duration):
    """Seconds 1..duration during which a request had waited longer than the SLO (a request that
    took L ms and was answered in second t was over it from t - L + SLO on), or one failed."""
    bad = set()
    for r in rows:
        t = r["t"]
        if r["fail"] > 0:
            bad.add(t)
        for lat in r.get("latency_ms", []):
            if lat > slo_ms:
                first = math.ceil(t - (lat - slo_ms) / 1000.0)
                bad.update(range(max(1, first), t + 1))
    return {t for t in bad if t <= duration}


def summarize(trace, policy, run, slo_ms):
    duration = run["duration"]
    rows_by_t = {r["t"]: r for r in run["short"]["seconds"]}
    long_rows = {r["t"]: r for r in run["long"]["seconds"]} if run["long"] else {}
    bad = slo_bad_seconds(run["short"]["seconds"], slo_ms, duration)
    timeline = []
    for t in range(1, duration + 1):
        st = state_at(run["samples"], t)
        r = rows_by_t.get(t, {"users": 0, "ok": 0, "fail": 0, "p99_ms": 0})
        lr = long_rows.get(t, {"users": 0, "ok": 0, "fail": 0})
        per_vm = [scenario.vm_view(st, vm) for vm in run["vms"]]
        row = {"t_s": t, "users": r["users"], "long_users": lr["users"]}
        for i, v in enumerate(per_vm, 1):
            row[f"containers_vm{i}"] = len(v["containers"])
        row["containers"] = sum(len(v["containers"]) for v in per_vm)
        row["vms_up"] = sum(1 for v in per_vm if v["state"] in VM_UP)
        row["ok"] = r["ok"] + lr["ok"]
        row["fail"] = r["fail"] + lr["fail"]
        row["p99_ms"] = r["p99_ms"]
        row["slo_ok"] = 0 if t in bad else 1
        timeline.append(row)
    loaded = [row for row in timeline if row["users"] > 0]
    long_summary = run["long"]["summary"] if run["long"] else None
    failed = run["short"]["summary"]["fail"] + (long_summary["fail"] if long_summary else 0)
    return {
        "trace": trace, "policy": policy, "duration_s": duration, "slo_ms": slo_ms,
        "container_seconds": sum(row["containers"] for row in timeline),
        "vm_seconds": sum(row["vms_up"] for row in timeline),
        "slo_share": sum(row["slo_ok"] for row in loaded) / len(loaded) if loaded else 1.0,
        "failed": failed,
        "requests": run["short"]["summary"]["requests"] + (long_summary["requests"] if long_summary else 0),
        "long_ok": long_summary["ok"] if long_summary else None,
        "long_requests": long_summary["requests"] if long_summary else None,
        "peak_containers": max(row["containers"] for row in timeline),
        "sample_errors": run["sample_errors"],
    }, timeline


def write_results(outdir, summary, timeline, run):
    base = os.path.join(outdir, f"{summary['trace']}-{summary['policy']}")
    with open(base + ".csv", "w") as f:
        f.write(",".join(timeline[0].keys()) + "\n")
        for row in timeline:
            f.write(",".join(str(v) for v in row.values()) + "\n")
    with open(base + ".json", "w") as f:
        json.dump(summary, f, indent=1)
    with open(base + "-raw.json", "w") as f:
        json.dump(run, f)


GNUPLOT_HEAD = r"""
set datafile separator ','
set terminal pngcairo size 1100,820 font 'DejaVu Sans,10'
set output '{png}'
set multiplot layout 3,1 title '{title}'
set key outside right
set grid
set xrange [0:{duration}]
set yrange [0:*]
"""
COLORS = {"acs": "#1f77b4", "hpa-default": "#d62728", "seed": "#2ca02c", "acs-inflight": "#9467bd"}


def plot(outdir, trace, summaries, slo_ms):
    """One PNG per trace: users and containers, p99, VMs up; one line per policy."""
    csvs = [(s["policy"], os.path.join(outdir, f"{trace}-{s['policy']}.csv")) for s in summaries]
    png = os.path.join(outdir, f"replay-{trace}.png")
    duration = summaries[0]["duration_s"]
    script = GNUPLOT_HEAD.format(png=png, duration=duration,
                                 title=f"bench/replay {trace}: {TRACES[trace]['about']}".replace("'", ""))
    # columns: 1 t_s, 2 users, 3 long_users, 4..6 per VM, 7 containers, 8 vms_up, 9 ok, 10 fail, 11 p99_ms
    lines = [f"'{csvs[0][1]}' using 1:($2+$3) with steps lw 2 lc rgb '#222222' title 'users'"]
    lines += [f"'{c}' using 1:7 with steps lw 2 lc rgb '{COLORS[p]}' title 'containers, {p}'" for p, c in csvs]
    script += "set ylabel 'users / containers'\nplot " + ", \\\n     ".join(lines) + "\n"
    lines = [f"'{c}' using 1:($11 > 0 ? $11 : 1/0) with steps lw 2 lc rgb '{COLORS[p]}' title 'p99, {p}'"
             for p, c in csvs]
    lines.append(f"{slo_ms} with lines dt 2 lw 1 lc rgb '#555555' title 'SLO {slo_ms} ms'")
    script += "set logscale y\nset yrange [50:*]\nset ylabel 'p99 (ms, per second)'\nplot " + ", \\\n     ".join(lines) + "\n"
    script += "unset logscale y\n"
    lines = [f"'{c}' using 1:($8 + {0.04 * k:.2f}) with steps lw 2 lc rgb '{COLORS[p]}' title 'VMs up, {p}'"
             for k, (p, c) in enumerate(csvs)]
    script += ("set yrange [0:3.5]\nset xlabel 'seconds since the load started'\nset ylabel 'VMs up'\nplot "
               + ", \\\n     ".join(lines) + "\nunset multiplot\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True, timeout=60)
    return png


def load_summaries(outdir):
    out = []
    for name in sorted(os.listdir(outdir)):
        if name.endswith(".json") and not name.endswith("-raw.json"):
            with open(os.path.join(outdir, name)) as f:
                out.append(json.load(f))
    return out


def table(summaries, slo_ms):
    order = {t: i for i, t in enumerate(TRACES)}
    known = POLICIES + tuple(VARIANTS)
    summaries = sorted(summaries, key=lambda s: (order.get(s["trace"], 99), known.index(s["policy"])))
    hpa = {s["trace"]: s["container_seconds"] for s in summaries if s["policy"] == "hpa-default"}
    lines = [f"| trace | policy | container-seconds | vs hpa-default | VM-seconds | seconds with p99 <= {slo_ms} ms "
             "| failed requests | long requests done | peak containers |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        base = hpa.get(s["trace"])
        vs = f"{100.0 * (s['container_seconds'] - base) / base:+.0f} %" if base else ""
        long_done = f"{s['long_ok']}/{s['long_requests']}" if s["long_requests"] is not None else ""
        lines.append(f"| {s['trace']} ({s['duration_s']} s) | {s['policy']} | {s['container_seconds']} | {vs} | "
                     f"{s['vm_seconds']} | {100.0 * s['slo_share']:.1f} % | {s['failed']} | {long_done} | "
                     f"{s['peak_containers']} |")
    return "\n".join(lines)


def report(outdir, slo_ms):
    summaries = [s for s in load_summaries(outdir) if s["slo_ms"] == slo_ms]
    if not summaries:
        raise SystemExit(f"no results in {outdir}")
    for trace in dict.fromkeys(s["trace"] for s in summaries):
        print(f"plot: {plot(outdir, trace, [s for s in summaries if s['trace'] == trace], slo_ms)}")
    print()
    print(table(summaries, slo_ms))
    return summaries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--traces", default=",".join(FULL), help=f"comma-separated, of {', '.join(TRACES)}")
    ap.add_argument("--policies", default=",".join(POLICIES),
                    help=f"comma-separated, of {', '.join(POLICIES + tuple(VARIANTS))}")
    ap.add_argument("--slo-ms", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join(acstest.BUILD_DIR, "bench-replay"))
    ap.add_argument("--lock", help="hold this file locked (flock) for each run")
    ap.add_argument("--quick", action="store_true", help="one short trace, one policy: make check's smoke run")
    ap.add_argument("--report-only", action="store_true", help="table and plots from the results in --out")
    a = ap.parse_args()
    traces, policies = a.traces.split(","), a.policies.split(",")
    if a.quick:
        traces, policies = ["quick"], ["acs"]
    for t in traces:
        if t not in TRACES:
            ap.error(f"unknown trace {t}")
    for p in policies:
        if p not in POLICIES and p not in VARIANTS:
            ap.error(f"unknown policy {p}")
    os.makedirs(a.out, exist_ok=True)

    t_start = time.monotonic()
    if not a.report_only:
        for trace in traces:
            for policy in policies:
                workdir = tempfile.mkdtemp(prefix=f"acs-replay-{trace}-{policy}-")
                with held(a.lock):
                    t_run = time.monotonic()
                    run = one_run(trace, policy, workdir)
                summary, timeline = summarize(trace, policy, run, a.slo_ms)
                write_results(a.out, summary, timeline, run)
                shutil.rmtree(workdir, ignore_errors=True)
                print(f"{trace} / {policy}: {summary['container_seconds']} container-s, {summary['vm_seconds']} VM-s, "
                      f"p99 <= {a.slo_ms} ms in {100 * summary['slo_share']:.1f} % of seconds, "
                      f"{summary['failed']} failed, peak {summary['peak_containers']} containers "
                      f"({time.monotonic() - t_run:.0f} s: {run.get('setup_s', 0):.0f} s to start the cluster, "
                      f"{run.get('load_s', 0):.0f} s of load)", flush=True)
    summaries = report(a.out, a.slo_ms)
    print(f"\n{time.monotonic() - t_start:.0f} s in all")
    if a.quick:
        return quick_checks([s for s in summaries if s["trace"] == "quick"], a.out)
    return 0


def quick_checks(summaries, outdir):
    """make check's smoke run: what a person would check in its output."""
    problems = []
    s = summaries[0] if summaries else None
    if not s:
        problems.append("no result for the quick trace")
    else:
        if s["failed"] != 0:
            problems.append(f"{s['failed']} failed requests")
        if s["peak_containers"] < 2:
            problems.append(f"never scaled out (peak {s['peak_containers']} containers) under 6 users")
        if s["container_seconds"] < s["duration_s"]:
            problems.append(f"{s['container_seconds']} container-seconds in {s['duration_s']} s: a second "
                            "without a container")
        if s["vm_seconds"] < s["duration_s"]:
            problems.append(f"{s['vm_seconds']} VM-seconds in {s['duration_s']} s")
        png = os.path.join(outdir, "replay-quick.png")
        if not os.path.exists(png) or os.path.getsize(png) < 10000:
            problems.append(f"{png} missing or empty")
        with open(os.path.join(outdir, "quick-acs.csv")) as f:
            if len(f.readlines()) != s["duration_s"] + 1:
                problems.append("the CSV does not have one row per second")
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
