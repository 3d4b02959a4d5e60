#!/usr/bin/env python3
"""The comparison policies run in acs-vim as they are documented (acs-vim.conf(5) Policy=):
hpa-default decides once per 15 s sync, and seed adds one container at a time and never
removes one; the policy changes at run time over D-Bus."""
import time

from acstest import main
from vimtest import VimTestCase

VIM = ("org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1")


class PoliciesTest(VimTestCase):
    PORTS = (19550, 19599)

    def running(self):
        return self.state()["service"]["running"]

    def test_hpa_default_then_seed(self):
        self.start_vim(Policy="hpa-default", TargetCpu="0.6", Placement="spread")
        self.set_cpu(0.9)
        self.start_agent("vm1", containers=1, capacity=8)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "vm1 registered")
        self.assertEqual(self.state()["policy"]["policy"], "hpa-default")

        # A sync: ceil(1 x 0.9 / 0.6) = 2 (the first one came before vm1 registered, at most
        # 15 s ago). Saturated (0.9) from then on, but the next decision waits for the next sync.
        self.wait_event("scale-out", r"hpa-default sync: cpu 0\.90 \(mean of \d+ readings\) > target 0\.60 "
                        r"over 1 ready \(recommend 2\): 1 -> 2", timeout=20)
        t_first = time.monotonic()
        self.wait_state(lambda s: s["service"]["ready"] == 2, 10, "two ready")
        time.sleep(max(0, t_first + 10 - time.monotonic()))
        self.assertEqual(len(self.vim_events("scale-out")), 1, "a decision between two syncs")
        self.assertEqual(self.running(), 2)
        second = self.wait_event("scale-out", r": 2 -> 3", timeout=10)[0]
        self.assertGreaterEqual(time.monotonic() - t_first, 14, f"second decision too early: {second}")

        # seed, set at run time: one more at a time while the 5-reading mean stays above 60 %
        r = self.bus.busctl("call", *VIM, "SetPolicy", "a{sv}", "1", "policy", "s", "seed")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_event("scale-out", r"seed: cpu 0\.90 \(mean of \d readings\).*: 3 -> 4")
        self.wait_event("scale-out", r"seed: .*: 4 -> 5")
        outs = [l for l in self.vim_events("scale-out") if "seed:" in l]
        self.assertTrue(all(" -> " in l for l in outs))
        # and no scale-in: idle for longer than the window, the count stays
        self.set_cpu(0.05)
        self.wait_event("scale-hold", r"seed: cpu 0\.\d+ .*held: the seed design never removes a container", timeout=15)
        n = self.running()
        time.sleep(4)  # the 3 s ScaleDownWindow of this test's vim.conf has passed
        self.assertEqual(self.running(), n)
        self.assertEqual(self.vim_events("scale-in"), [])
        self.assertEqual(self.state()["policy"]["policy"], "seed")


if __name__ == "__main__":
    main()
