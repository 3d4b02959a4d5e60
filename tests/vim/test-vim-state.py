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
from vimtest import StandinSystemdMixin, VimTestCase

def containers(vm):
    return vm["containers"] if vm else []


VIM = ("org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1")


class VimStateTest(StandinSystemdMixin, VimTestCase):
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

    def desired(self):
        return self.bus.get_property_json(*VIM, "Desired")["data"]

    def test_count_and_power_states_survive_restart(self):
        state_dir = os.path.join(self.tmpdir, "state")
        os.makedirs(state_dir)
        self.declare("vm2")
        self.declare("vm3")
        self.start_systemd(["vm2", "vm3"])
        # After the restart vm1 runs 2 and vm2 boots again with none: a restart that only adopted
        # what runs would hold 2, not the 3 set by hand.
        self.start_agent("vm1", containers=1, capacity=2)
        conf = dict(agents={"VmDirectory": self.vms}, state_dir=state_dir, MinActiveVms=0, VmHeadroom=0,
                    VmStandbyDelay="1h", ScaleDownWindow="10min", TargetCpu="0.6")
        self.start_vim(**conf)
        self.wait_state(lambda s: self.vm("vm1", s)["state"] == "active", 10, "vm1 registered")

        self.bus.busctl("call", *VIM, "PowerOn", "s", "vm2")
        self.bus.busctl("call", *VIM, "PowerOn", "s", "vm3")
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "active", 15, "vm3 booted")
        self.bus.busctl("call", *VIM, "PowerOff", "s", "vm3")
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "off" and self.vm("vm2", s)["state"] == "active",
                        15, "vm3 off, vm2 on")
        self.bus.busctl("call", *VIM, "Scale", "u", "3")
        self.assertEqual(self.desired(), 3)
        self.wait_state(lambda s: len(containers(self.vm("vm2", s))) == 1, 10, "vm2 runs the third container")
        with open(os.path.join(state_dir, "vim-state.json")) as f:
            saved = json.load(f)
        self.assertEqual(saved["scaled"], {"replicas": 3})
        self.assertEqual(saved["power"], {"vm2": "on", "vm3": "off"})

        # everything stops: the VMs' units too, as when the host restarts
        self.vim.stop()
        self.systemd.stop()
        before = len(self.calls())  # the stand-in's log goes on in the same file
        self.start_systemd(["vm2", "vm3"])
        self.start_vim(**conf)
        self.assertIn("The count of 3 replicas an operator set (restored from the state file)", self.vim.output())
        self.assertEqual(self.desired(), 3)
        # vm2 was on: powered on again; vm3 was off: it stays off
        wait_until(lambda: "StartUnit acs-vm2.service replace" in self.calls()[before:], 10, what="vm2 powered on again")
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "active", 15, "vm2 back and active")
        self.wait_event("vm-power-on", "vm2: off -> booting: it was on before acs-vim restarted")
        self.assertEqual(self.vm("vm3")["state"], "off")
        self.assertNotIn("StartUnit acs-vm3.service replace", self.calls()[before:])
        self.assertEqual(self.desired(), 3)

    def test_bad_state_file_is_refused(self):
        state_dir = os.path.join(self.tmpdir, "state")
        os.makedirs(state_dir)
        path = os.path.join(state_dir, "vim-state.json")
        good = {"policy": {"target_cpu": 0.3}, "config": {}, "scaled": {"replicas": 4}, "power": {}}
        bad = [
            ("{\"policy\": {\"target_cpu\": 0.3}, \"config\": {", "is not a state file of acs-vim, refusing it"),
            (json.dumps({**good, "scaled": {"replicas": -3}}), "is not a state file of acs-vim, refusing it"),
            (json.dumps({**good, "power": {"vm2": "sideways"}}), "is not a state file of acs-vim, refusing it"),
            (json.dumps({**good, "policy": {"target_cpu": "banana"}}), "Refusing .* starting from vim.conf alone"),
            (json.dumps({**good, "pad": "x" * (70 * 1024)}), "larger than 65536 bytes, refusing it"),
        ]
        self.start_agent("vm1", containers=1, capacity=4)
        for text, message in bad:
            with open(path, "w") as f:
                f.write(text)
            self.start_vim(state_dir=state_dir, TargetCpu="0.6", MinReplicas="1")
            self.assertRegex(self.vim.output(), message)
            self.assertEqual(self.policy()["target_cpu"], 0.6, text[:60])
            self.assertNotEqual(self.desired(), 4, text[:60])
            self.vim.stop()
        # the same file, well formed, is taken
        with open(path, "w") as f:
            json.dump(good, f)
        self.start_vim(state_dir=state_dir, TargetCpu="0.6", MinReplicas="1")
        self.assertEqual(self.policy()["target_cpu"], 0.3)
        self.assertEqual(self.desired(), 4)

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
