#!/usr/bin/env python3
"""What operators change at run time outlives acs-vim: a policy set over D-Bus is read back the
same after a restart (kept in [State] Directory=, written atomically). SIGHUP rereads vim.conf:
a TargetCpu= edited there applies without a restart, a key changed over D-Bus and not in the
file keeps its run-time value, and a key that needs a restart says so."""
import json
import os
import signal
import subprocess

from acstest import binary, main, wait_until
from vimtest import VimTestCase

VIM = ("org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1")


class VimStateTest(VimTestCase):
    PORTS = (19500, 19549)

    def policy(self):
        return {k: v["data"] for k, v in self.bus.get_property_json(*VIM, "Policy")["data"].items()}

    def test_policy_survives_restart_and_reload(self):
        state_dir = os.path.join(self.tmpdir, "state")
        os.makedirs(state_dir)
        self.start_vim(state_dir=state_dir, TargetCpu="0.6", MaxReplicas="12", ScaleUpLimit="2", ScaleUpPeriod="10s",
                       ScaleDownLimit="50%", ScaleDownPeriod="1min")
        self.start_agent("vm1", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "registered")

        self.bus.busctl("call", *VIM, "SetPolicy", "a{sv}", "4", "target_cpu", "d", "0.35",
                        "max_replicas", "u", "7", "placement", "s", "spread", "policy", "s", "hpa-default")
        changed = self.policy()
        self.assertEqual((changed["target_cpu"], changed["max_replicas"], changed["placement"], changed["policy"]),
                         (0.35, 7, "spread", "hpa-default"))
        with open(os.path.join(state_dir, "vim-state.json")) as f:
            self.assertEqual(json.load(f)["policy"]["max_replicas"], 7)
        self.assertEqual([n for n in os.listdir(state_dir) if n != "vim-state.json"], [], "no temporary file left")

        # restarted: the same policy, from the state file
        self.vim.stop()
        self.start_vim(state_dir=state_dir, TargetCpu="0.6", MaxReplicas="12")
        self.assertEqual(self.policy(), changed)
        self.assertIn("Restored the policy changed at run time", self.vim.output())

        # vim.conf edited (TargetCpu=0.8, and the API port), then SIGHUP: the edited key applies,
        # the ones changed over D-Bus stay, the port waits for a restart
        conf = os.path.join(self.tmpdir, "vim.conf")
        with open(conf) as f:
            text = f.read()
        text = text.replace("TargetCpu=0.6", "TargetCpu=0.8").replace(
            f"Listen=127.0.0.1:{self.api_port}", f"Listen=127.0.0.1:{self.api_port + 1}")
        with open(conf, "w") as f:
            f.write(text)
        self.vim.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.policy()["target_cpu"] == 0.8, 10, what="TargetCpu=0.8 applied by the reload")
        after = self.policy()
        self.assertEqual((after["max_replicas"], after["placement"], after["policy"]), (7, "spread", "hpa-default"))
        self.wait_event("reload", r"1 policy key\(s\) changed, some changes need a restart")
        self.assertIn("[Api] Listen= changed; it takes effect at the next restart", self.vim.output())
        self.assertEqual(self.state()["policy"]["target_cpu"], 0.8, "still serving on the old port")

        # a vim.conf that does not parse changes nothing
        with open(conf, "w") as f:
            f.write(text.replace("TargetCpu=0.8", "TargetCpu=banana"))
        self.vim.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "Keeping the running configuration" in self.vim.output(), 10,
                   what="the broken file refused")
        self.assertEqual(self.policy(), after)
        self.assertIsNone(self.vim.proc.poll())

    def test_rate_limits_are_checked(self):
        conf = os.path.join(self.tmpdir, "bad.conf")
        for value in ("0", "50 pods", "2000%"):
            with open(conf, "w") as f:
                f.write(f"[Scaling]\nScaleDownLimit={value}\n")
            r = subprocess.run([binary("src/vim/acs-vim"), "--config", conf, f"--bus-address={self.bus.address}"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 78, r.stderr)
            self.assertIn("ScaleDownLimit=", r.stderr)


if __name__ == "__main__":
    main()
