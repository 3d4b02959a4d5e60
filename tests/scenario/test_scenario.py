#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The end-to-end scaling scenario: real dockerd, dbus-daemons, acs-vim, three acs-vmm, the
proxies as separate processes (tools/demo.sh), acs-web containers, and acs-load with a step of
1 -> 12 -> 1 users. Each run writes a 1-second timeline (CSV) and a plot (PNG) to
$ACS_BUILD_DIR/tests/scenario/.

The assertions, as the issue states them:
  - scale-out: the first new container is ready (acs-vim's state) and serving (the first
    request it answers was sent) within 2 s of the step;
  - placement: binpack fills vm1 before vm2 gets a container; spread gives vm2 one while vm1 has
    room;
  - the standby vm3 is activated before vm1 and vm2 are full (VmHeadroom=2) and serves requests;
  - scale-in only after the stabilization window (10 s here: at least that long after the
    desired count last rose), with draining; vm3 back to standby;
  - zero failed or non-2xx requests in the whole run; p99 over the requests of the steady high
    phase (from 15 s after the step to the drop) under P99_BOUND_MS;
  - Ctrl-C on the demo stops everything and leaves no container behind.
The same scenario in two-tier mode is test_scenario_two_tier.py."""
import os
import unittest

import acstest
import scenario

PROFILE = "0:1,10:12,35:1,55:1"
STEP, DROP = 10, 35
WINDOW_S = 10
# The budget: the first new container ready and serving within 2 s of the step. acs-vim reads
# the proxy's in-flight counts four times a second and decides as soon as they call for more
# containers; acs-vmm reports a container the moment it is ready. Measured on a shared two-core
# machine: decided 0.3..0.5 s, first new container serving 0.7..0.9 s after the step.
DECISION_BUDGET_S = 2.0
SERVING_BUDGET_S = 2.0
# One request costs half a container's CPU share for one second (acs-web's cost model): alone on
# a container limited to 0.1 CPU it takes 0.35..0.5 s, two at once twice that; on a two-core
# machine that also runs twelve containers and every daemon, requests wait for the CPU too.
# Measured steady-phase p99: 3.3..5.0 s with other work on the machine.
P99_BOUND_MS = 5000
BASE_PORT = 18400
OUTDIR = os.path.join(acstest.BUILD_DIR, "tests", "scenario")


class ScenarioChecks(unittest.TestCase):
    """Starting a run and the checks every mode shares; the runs are in the subclasses."""

    def setUp(self):
        self.workdir = acstest.tempfile.mkdtemp(prefix="acs-scenario-")
        # The cluster's logs stay for a failed run, and go with a passed one.
        self.passed = False
        self.addCleanup(lambda: self.passed and acstest.shutil.rmtree(self.workdir, ignore_errors=True))
        for p in range(BASE_PORT, BASE_PORT + 160):
            if not acstest.port_is_free(p):
                self.fail(f"port {p} is taken; the scenario uses {BASE_PORT}..{BASE_PORT + 159}")

    def run_scenario(self, name, vm3_rest="standby", **kw):
        """vm3_rest: the state vm3 comes back to after the load (standby, or off when powered)."""
        run = scenario.Run(self.workdir, name, PROFILE, BASE_PORT, f"sc{name[0]}",
                           until=lambda r, st: scenario.vm_view(st, r.vms[2])["state"] == vm3_rest
                           and not scenario.vm_view(st, r.vms[2])["containers"],
                           scale_down_window=f"{WINDOW_S}s", **kw)
        csv, png = run.write_timeline(OUTDIR)
        print(f"\n{name}: timeline {csv}, plot {png}")
        print(run.load.stdout[-3000:])
        return run

    def check(self, run, checks):
        """Runs the checks; on failure shows what the cluster logged."""
        try:
            checks(run)
        except AssertionError:
            print(run.cluster_logs)
            print(f"cluster logs: {run.cluster.dir}/logs")
            raise
        self.passed = True

    # --- the checks every mode shares ---------------------------------------------------------------
    def check_common(self, run, vm3_checks=None, budgets=True, serving_budget_s=SERVING_BUDGET_S):
        """Measures everything first and prints it, then fails with every check that did not hold.
        vm3_checks(run, expect): what vm3 must have done (default: a standby VM activated and
        returned to standby). budgets=False prints the reaction times and the p99 without
        holding them to DECISION_BUDGET_S, SERVING_BUDGET_S and P99_BOUND_MS."""
        vm1, vm2, vm3 = run.vms
        summary = run.report["summary"]
        samples = run.samples
        failed = []

        def expect(ok, what):
            if not ok:
                failed.append(what)

        expect(len(samples) > 100, f"only {len(samples)} state samples")

        # Zero failed or non-2xx requests, and the load really ran.
        expect(run.load.returncode == 0 and summary["fail"] == 0,
               f"acs-load: exit {run.load.returncode}, {summary['non2xx']} non-2xx, {summary['errors']} errors")
        expect(summary["ok"] >= 150, f"only {summary['ok']} requests answered")

        # Scale-out: the decision within the budget (acs-vim's desired count goes up) ...
        desired_before = [s["state"]["service"]["desired"] for s in samples if s["t"] <= STEP][-1]
        t_decided = run.first_time(lambda st: st["service"]["desired"] > desired_before, after=STEP)
        # ... then a container that was not there before the step is ready (acs-vim's state) ...
        before = set()
        for s in samples:
            if s["t"] <= STEP:
                before = run.container_ids(s["state"])
        t_ready = run.first_time(lambda st: run.container_ids(st) - before, after=STEP)
        # ... and serving: the first request a new container answered (when it was sent).
        t_serving = run.first_serving(after=STEP)
        nan = float("nan")
        print(f"{run.name}: after the step: decided {t_decided - STEP if t_decided else nan:.2f} s, "
              f"first new container ready {t_ready - STEP if t_ready else nan:.2f} s, "
              f"serving {t_serving - STEP if t_serving else nan:.2f} s")
        # Without the budgets, scale-out must still happen while the load is high.
        decision_budget, serving_budget = (DECISION_BUDGET_S, serving_budget_s) if budgets else (DROP - STEP,) * 2
        expect(t_decided is not None and t_decided - STEP <= decision_budget,
               f"no scale-out decision within {decision_budget} s of the step")
        expect(t_ready is not None and t_ready - STEP <= serving_budget,
               f"no new container ready within {serving_budget} s of the step")
        expect(t_serving is not None and t_serving - STEP <= serving_budget,
               f"no new container served within {serving_budget} s of the step")

        (vm3_checks or self.check_standby_vm3)(run, expect)

        # Scale-in only after the window, with draining; none while the load is high.
        peak = max(len(run.container_ids(s["state"], ("ready", "starting", "draining"))) for s in samples)
        expect(peak >= 7, f"peak of {peak} containers: the load did not scale the service out")
        t_drain = run.first_time(lambda st: run.container_ids(st, ("draining",)), after=DROP)
        if t_drain is None:
            failed.append("no container was drained after the load dropped")
        else:
            # The window holds a scale-in until no recommendation in the last WINDOW_S seconds
            # asked for as many containers as run. The last rise of acs-vim's desired count is a
            # moment that did; the first drain must come at least a window after it. (Measured
            # from the drop instead, a count that overshot during the step may rightly start
            # coming down a little sooner.)
            t_last_rise, prev = None, None
            for smp in samples:
                if smp["t"] > t_drain:
                    break
                d = smp["state"]["service"]["desired"]
                if prev is not None and d > prev:
                    t_last_rise = smp["t"]
                prev = d
            print(f"{run.name}: first drain {t_drain - DROP:.2f} s after the drop, "
                  f"{t_drain - t_last_rise if t_last_rise else float('nan'):.2f} s after the last rise "
                  f"of the desired count (window {WINDOW_S} s)")
            expect(t_last_rise is not None and t_drain - t_last_rise >= WINDOW_S - 1.5,
                   "scale-in before the stabilization window ended")
        during_high = [s for s in samples if STEP + 3 <= s["t"] < DROP]
        expect(not any(run.container_ids(s["state"], ("draining",)) for s in during_high),
               "a container was drained while the load was high")

        # p99 during the steady high phase, over every request answered in it.
        p99 = run.p99_ms(STEP + 15, DROP)
        print(f"{run.name}: p99 in the steady high phase (s {STEP + 15}..{DROP}): {p99:.0f} ms "
              f"(bound {P99_BOUND_MS} ms); whole run p99 {summary['p99_ms']:.0f} ms")
        expect(p99 <= P99_BOUND_MS or not budgets, f"p99 {p99:.0f} ms in the steady high phase")

        # Ctrl-C stopped the demo and removed every container it created.
        expect(run.stop_status in (0, 130), f"demo.sh exited with {run.stop_status}")
        expect(run.containers_left == [], f"containers left behind: {run.containers_left}")

        self.assertEqual(failed, [])

    def check_standby_vm3(self, run, expect):
        vm1, vm2, vm3 = run.vms
        samples, summary = run.samples, run.report["summary"]
        # The standby vm3 is activated before vm1 and vm2 are full, and it serves.
        t_active = run.first_time(lambda st: scenario.vm_view(st, vm3)["state"] == "active", after=STEP)
        if t_active is None:
            expect(False, "vm3 was never activated")
        else:
            just_before = [s for s in samples if s["t"] < t_active][-1]["state"]
            on_active = len(scenario.vm_view(just_before, vm1)["containers"]) + \
                len(scenario.vm_view(just_before, vm2)["containers"])
            print(f"{run.name}: vm3 activated {t_active - STEP:.2f} s after the step, "
                  f"with {on_active} containers on vm1 and vm2")
            expect(on_active < 8, "vm3 was activated only when vm1 and vm2 were full")
        expect(any(scenario.count(s["state"], vm3) >= 1 for s in samples), "vm3 got no ready container")
        expect(summary["vms"].get(vm3, 0) > 0, "no request was answered on vm3")
        # vm3, emptied by the scale-in, is back in standby.
        expect(scenario.vm_view(samples[-1]["state"], vm3)["state"] == "standby", "vm3 did not return to standby")

    def scale_out_samples(self, run):
        return [s["state"] for s in run.samples if STEP <= s["t"] < DROP]


class ScenarioTest(ScenarioChecks):
    def test_binpack(self):
        run = self.run_scenario("binpack", placement="binpack")

        def checks(r):
            self.check_common(r)
            vm1, vm2, _ = r.vms
            for st in self.scale_out_samples(r):
                if scenario.vm_view(st, vm2)["containers"]:
                    self.assertEqual(len(scenario.vm_view(st, vm1)["containers"]), 4,
                                     "binpack placed on vm2 while vm1 had room")
        self.check(run, checks)

    def test_spread(self):
        run = self.run_scenario("spread", placement="spread")

        def checks(r):
            self.check_common(r)
            vm1, vm2, _ = r.vms
            t_vm2 = r.first_time(lambda st: scenario.vm_view(st, vm2)["containers"], after=STEP)
            self.assertIsNotNone(t_vm2)
            at = [s["state"] for s in r.samples if s["t"] >= t_vm2][0]
            self.assertLess(len(scenario.vm_view(at, vm1)["containers"]), 4,
                            "spread waited for vm1 to be full before using vm2")
        self.check(run, checks)


if __name__ == "__main__":
    unittest.main(verbosity=2)
