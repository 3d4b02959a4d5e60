#!/usr/bin/env python3
"""The VM tier's power side over a real private dbus-daemon: VMs declared in VmDirectory= with
Provider=systemd are started and stopped through org.freedesktop.systemd1 (a stand-in that runs
a simulated VMM as the unit, with faults to inject; the real systemd is in tests/system).
Under load an off VM is powered on, registers and takes containers; idle, it is drained and
powered off; a unit that fails leaves its VM failed with the reason and the next VM is tried;
an operator powers VMs on and off over the bus; a dry run only logs its VM decisions."""
import os
import subprocess
import unittest

from acstest import binary, main, wait_until
from vimtest import StandinSystemdMixin, VimTestCase


def containers(vm):
    return vm["containers"] if vm else []


class PowerTest(StandinSystemdMixin, VimTestCase):
    PORTS = (18200, 18239)

    def test_load_powers_on_an_off_vm_and_idle_powers_it_off(self):
        self.declare("vm2")
        self.start_systemd(["vm2"])
        # vm1 first: the VIM decides on the VMs it sees after its grace period
        self.start_agent("vm1", containers=1, capacity=2)
        self.start_vim(agents={"VmDirectory": self.vms}, VmHeadroom=1, MinActiveVms=1)
        self.wait_state(lambda s: self.vm("vm1", s)["state"] == "active", 10, "vm1 registered")
        self.assertEqual(self.vm("vm2")["state"], "off")
        self.assertEqual(self.vm("vm2")["provider"], "systemd")
        self.assertEqual(self.calls(), [], "nothing powered on without load")

        self.set_cpu(0.95)
        self.wait_state(lambda s: self.vm("vm2", s)["state"] in ("booting", "registered", "active"), 15,
                        "vm2 powered on under load")
        wait_until(lambda: "StartUnit acs-vm2.service replace" in self.calls(), 5, what="StartUnit seen by systemd")
        power_on = self.wait_event("vm-power-on", "vm2")[0]
        self.assertRegex(power_on, r"off -> booting: desired \d+, projected [\d.]+ in 2 s .* slots up or coming")
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "active" and containers(self.vm("vm2", s)), 20,
                        "vm2 registered, active and running containers")
        booted = self.wait_event("vm-booted", "vm2")[0]
        self.assertRegex(booted, r"registered [\d.]+ s after power-on")

        self.set_cpu(0.05)
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "off", 40, "vm2 drained and powered off")
        wait_until(lambda: "StopUnit acs-vm2.service replace" in self.calls(), 5, what="StopUnit seen by systemd")
        self.wait_event("vm-power-off", "vm2 .*-> powering-off")
        self.wait_event("vm-off", "powering-off -> off: stop job of acs-vm2.service: done")
        # never below MinActiveVms=1: vm1 stays up
        self.assertEqual(self.vm("vm1")["state"], "active")

    def test_a_failing_unit_leaves_its_vm_failed_and_the_next_is_tried(self):
        self.declare("vm2")
        self.declare("vm3")
        self.start_systemd(["vm2", "vm3"], fail=["vm2"])
        # vm1 first: the VIM decides on the VMs it sees after its grace period
        self.start_agent("vm1", containers=1, capacity=2)
        self.start_vim(agents={"VmDirectory": self.vms}, VmHeadroom=1)
        self.wait_state(lambda s: self.vm("vm1", s)["state"] == "active", 10, "vm1 registered")
        self.set_cpu(0.95)
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "failed", 15, "vm2 failed")
        self.assertEqual(self.vm("vm2")["failure"], "start job of acs-vm2.service: failed")
        self.wait_event("vm-failed", "vm2: booting -> failed")
        # the operator's view: acsctl status names the failed VM and why
        status = subprocess.run([binary("src/ctl/acsctl"), f"--bus-address={self.bus.address}", "status"],
                                capture_output=True, text=True, timeout=30, check=True).stdout
        self.assertRegex(status, r"\nvm2 +failed ")
        self.assertIn("\nvm2 failed: start job of acs-vm2.service: failed\n", status)
        self.assertNotIn("vm1 failed", status)
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "active" and containers(self.vm("vm3", s)), 20,
                        "vm3 tried next, active with containers")

    def test_refused_call_and_registration_deadline(self):
        self.declare("vm2")
        self.declare("vm3", timeout="2s")
        self.declare("vm4", timeout="60s")
        # vm2: StartUnit refused; vm3: the unit starts, but no VMM ever registers; vm4: the unit's
        # main process ends soon after its start
        self.start_systemd([], refuse=["vm2"], commands={"vm3": "sleep 60", "vm4": "sh -c 'sleep 0.5; exit 3'"})
        self.start_vim(agents={"VmDirectory": self.vms}, MinActiveVms=0, VmHeadroom=0, MinReplicas=0)
        self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "PowerOn", "s", "vm2")
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "failed", 10, "vm2 failed")
        self.assertRegex(self.vm("vm2")["failure"], r"StartUnit acs-vm2.service: Unit acs-vm2.service not found")
        self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "PowerOn", "s", "vm3")
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "booting", 5, "vm3 booting")
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "failed", 10, "vm3 failed at its deadline")
        self.assertEqual(self.vm("vm3")["failure"], "its VMM did not register within 2 s of power-on")
        # a failed VM may be powered off by hand (its unit is stopped)
        self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "PowerOff", "s", "vm3")
        self.wait_state(lambda s: self.vm("vm3", s)["state"] == "off", 10, "vm3 off")
        # vm4 is failed as soon as its unit is, long before its 60 s deadline
        self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "PowerOn", "s", "vm4")
        self.wait_event("vm-powered-on", "vm4: unit acs-vm4.service is active")
        self.wait_state(lambda s: self.vm("vm4", s)["state"] == "failed", 5, "vm4 failed with its unit")
        self.assertEqual(self.vm("vm4")["failure"], "unit acs-vm4.service is failed while the VM boots")
        wait_until(lambda: "StopUnit acs-vm3.service replace" in self.calls(), 5, what="StopUnit seen by systemd")

    def test_operator_powers_on_and_off_over_the_bus(self):
        self.declare("vm2")
        self.start_systemd(["vm2"])
        # vm1 first: the VIM decides on the VMs it sees after its grace period
        self.start_agent("vm1", containers=1, capacity=2)
        self.start_vim(agents={"VmDirectory": self.vms}, MinActiveVms=0)
        self.wait_state(lambda s: self.vm("vm1", s)["state"] == "active", 10, "vm1 registered")
        self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "PowerOn", "s", "vm2")
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "active", 15, "vm2 up by hand")
        vms = self.bus.get_property_json("org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "VMs")["data"]
        self.assertIn("active", [v[2] for v in vms if v[0] == "vm2"])
        # acsctl says it the operator's way
        subprocess.run([binary("src/ctl/acsctl"), f"--bus-address={self.bus.address}", "power-off", "vm2"],
                       check=True, timeout=10)
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "off", 20, "vm2 off by hand")
        # an agent VM cannot be powered
        r = self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "PowerOff", "s", "vm1",
                            check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot power it on or off", r.stderr)
        # unprivileged callers are refused by polkit before anything changes
        r = self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", "PowerOn", "s", "vm2",
                            check=False, user=65534)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.vm("vm2")["state"], "off")

    def test_dry_run_logs_vm_decisions_and_powers_nothing(self):
        self.declare("vm2")
        self.start_systemd(["vm2"])
        # vm1 first: the VIM decides on the VMs it sees after its grace period
        self.start_agent("vm1", containers=1, capacity=2)
        self.start_vim(agents={"VmDirectory": self.vms}, DryRun="yes", MinActiveVms=2)
        line = self.wait_event("vm-power-on", "Would power on VM vm2: 1 VMs up or booting, MinActiveVms=2")[0]
        self.assertIn("dry run, no change", line)
        self.assertEqual(self.vm("vm2")["state"], "off")
        self.assertEqual(self.calls(), [])
        self.assertEqual(len(self.vim_events("vm-power-on")), 1, "logged once, not every second")


if __name__ == "__main__":
    main()
