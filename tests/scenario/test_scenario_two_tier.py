#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The scaling scenario of test_scenario.py in two-tier mode: the front acs-proxy balances over
one acs-proxy per VM, each fed by its acs-vmm (tools/demo.sh --two-tier).

Two-tier reacts more slowly than direct routing, by design of the mode today:
  - acs-vim gets no in-flight counts per container (the front proxy's backends are the VM
    proxies), so it scales on the CPU the VMMs report, which lags: on a quiet machine the decision
    came 0.9 s after the step and the first new container served at 1.9 s, against 0.3 and 0.7 s
    in direct routing. The serving budget is 3 s here instead of 2 s.
  - The scale-in that returns vm3 to standby follows those CPU reports too; the run waits up to
    40 s after the load for it instead of 25 s (it ends as soon as vm3 is back).
acs-vim would have to list the VM proxies as the front tier's backends, with their in-flight
counts, to react as fast as in direct routing."""
import unittest

import test_scenario

TWO_TIER_SERVING_BUDGET_S = 3.0


class TwoTierScenarioTest(test_scenario.ScenarioChecks):
    def test_two_tier(self):
        run = self.run_scenario("two-tier", placement="spread", two_tier=True, settle_after_load=40)
        self.check(run, lambda r: self.check_common(r, serving_budget_s=TWO_TIER_SERVING_BUDGET_S))


if __name__ == "__main__":
    unittest.main(verbosity=2)
