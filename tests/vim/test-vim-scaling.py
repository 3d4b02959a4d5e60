#!/usr/bin/env python3
"""acs-vim scaling end to end over the real link: scale-out by CPU with binpack placement
(vm1 full, then vm2, then the standby vm3 activated), scale-in after the window with draining,
vm3 back to standby; and a manual Scale() through the bus that the window holds."""
import os
import time
import unittest

from acstest import Monitor, main, wait_until
from vimtest import VimTestCase


def containers(vm):
    return [c for c in vm["containers"]] if vm else []


class ScalingTest(VimTestCase):
    PORTS = (17800, 17879)

    def test_scale_out_fill_vm1_then_vm2_then_standby_vm3_and_back(self):
        hooks = os.path.join(self.tmpdir, "hooks")
        self.start_vim(ActivateCommand=f'echo "activate $ACS_VM" >> {hooks}',
                       StandbyCommand=f'echo "standby $ACS_VM" >> {hooks}')
        monitor = self.own(Monitor(self.bus, "--match", "type='signal',member='BackendsChanged'"))
        self.set_cpu(0.5)
        self.start_agent("vm1", containers=1, capacity=2)
        self.start_agent("vm2", containers=0, capacity=2)
        self.start_agent("vm3", containers=0, capacity=2, standby=True)
        self.wait_state(lambda s: len(s["vms"]) == 3 and s["service"]["ready"] == 1, 10, "three VMs registered")
        self.assertEqual(self.vm("vm3")["state"], "standby")

        # Load: 90% against a 60% target.
        self.set_cpu(0.9)
        self.wait_state(lambda s: len(containers(self.vm("vm1", s))) == 2, 10, "vm1 filled")
        self.wait_state(lambda s: len(containers(self.vm("vm2", s))) >= 1, 10, "vm2 used once vm1 is full")
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "active" and containers(self.vm("vm3", s)), 15,
                        "standby vm3 activated and used")

        outs = self.vim_events("scale-out")
        self.assertIn("(vm1 +1)", outs[0], "the first container goes to vm1 (binpack)")
        self.assertRegex(outs[0], r"cpu 0\.90 > target 0\.60 over 1 ready")
        activation = self.wait_event("vm-activate", "vm3")[0]
        self.assertRegex(activation, r"standby -> active")
        # vm3 came up when vm1 and vm2 left less than the headroom free, and got containers last
        log = self.vim.output()
        self.assertLess(log.index("vm1 +1"), log.index("[vm-activate]"))
        self.assertLess(log.index("vm2 +"), log.index("vm3 +"))
        self.assertRegex(activation, r"free slots on active VMs \d+ \(after \d+ more\) < headroom 1|more containers wanted")

        # Load gone: after the 3 s window, scale-in drains first, then removes; vm3 returns to standby.
        self.set_cpu(0.05)
        hold = self.wait_event("scale-hold", "held by the 3s window")
        self.assertTrue(hold)
        self.wait_event("scale-in", timeout=10)
        self.wait_state(lambda s: sum(len(v["containers"]) for v in s["vms"]) == 1, 20,
                        "drained containers removed, one left")
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "standby", 15, "vm3 back to standby")
        # the operator's hooks ran for vm3, with its name in the environment
        wait_until(lambda: os.path.exists(hooks) and "standby vm3" in open(hooks).read(), 5, what="hooks")
        with open(hooks) as f:
            lines = f.read().split("\n")
        self.assertLess(lines.index("activate vm3"), lines.index("standby vm3"))
        removes = self.vim_events("container-remove")
        self.assertTrue(removes and all("drained" in l for l in removes), removes)
        # the containers were drained before removal: the agents got drain orders first
        agent_logs = "".join(a.output() for a in self.agents.values())
        self.assertLess(agent_logs.count("order remove"), agent_logs.count("order drain") + 1)
        for a in self.agents.values():
            out = a.output()
            if "order remove" in out:
                self.assertLess(out.index("order drain"), out.index("order remove"))
        # the proxy was told: BackendsChanged with increasing generations
        generations = [int(m["payload"]["data"][0]) for m in monitor.signals("BackendsChanged")]
        self.assertGreaterEqual(len(generations), 4)
        self.assertEqual(generations, sorted(generations))

    def test_manual_scale_is_held_by_the_window_and_logged(self):
        self.start_vim(ScaleDownWindow="4s")
        self.start_agent("vm1", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "vm1 registered")
        r = self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "Scale", "u", "3")
        self.assertEqual(r.returncode, 0)
        self.wait_event("scale", r"Scale to 3 requested by bus uid 0")
        self.wait_state(lambda s: s["service"]["ready"] == 3, 10, "three ready")
        t = time.monotonic()
        # CPU 0.6 over 3 containers sits in the band: nothing changes
        self.wait_decisions(2)
        self.assertEqual(self.state()["service"]["running"], 3)
        # low load: back to 1 only after the window
        self.set_cpu(0.05)
        self.wait_state(lambda s: s["service"]["running"] == 1, 15, "scaled in")
        self.assertGreater(time.monotonic() - t, 3.5)

    def test_scale_in_keeps_each_vms_minimum(self):
        self.start_vim(Placement="spread")
        self.start_agent("vm1", containers=2, capacity=4, minimum=2)
        self.start_agent("vm2", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 3, 10, "registered")
        self.set_cpu(0.05)
        # spread would take from vm1 first (the fuller), but vm1's VMM keeps 2 by itself
        self.wait_state(lambda s: not self.vm("vm2", s)["containers"], 20, "vm2 emptied")
        self.wait_decisions(2)
        self.assertEqual(len(self.vm("vm1")["containers"]), 2)
        self.assertNotIn("order drain", self.agents["vm1"].output())

    def test_dry_run_decides_but_orders_nothing(self):
        self.start_vim(DryRun="yes")
        self.start_agent("vm1", containers=1, capacity=4)
        self.set_cpu(0.95)
        self.wait_event("scale-out", r"dry run, no orders")
        self.wait_decisions(2)
        self.assertNotIn("order add", self.agents["vm1"].output())
        self.assertEqual(len(self.vm("vm1")["containers"]), 1)


if __name__ == "__main__":
    main()
