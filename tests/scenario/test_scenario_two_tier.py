#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The scaling scenario of test_scenario.py in two-tier mode: the front acs-proxy balances over
one acs-proxy per VM, each fed by its acs-vmm (tools/demo.sh --two-tier).

Not registered in meson: it does not pass reliably yet (one pass in four runs with the current
daemons), for reasons outside the demo's reach.
  - acs-vim gets no in-flight counts per container in this mode (the front proxy's backends are
    the VM proxies), so it scales on CPU alone, which lags: the decision took 1.5..2.1 s after
    the step, and the steady-phase p99 reached 6.8 s in one run.
  - When scale-in drains the last container of a VM, that VM's proxy answers 503 until the
    front proxy's health check (every 100 ms) takes it out: one request failed in one run.
    acs-vim would have to list the VM proxies as the front tier's backends, with their in-flight
    counts, and drain a VM's proxy before its last container."""
import unittest

import test_scenario


class TwoTierScenarioTest(test_scenario.ScenarioChecks):
    def test_two_tier(self):
        run = self.run_scenario("two-tier", placement="spread", two_tier=True)
        self.check(run, self.check_common)


if __name__ == "__main__":
    unittest.main(verbosity=2)
