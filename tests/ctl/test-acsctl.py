#!/usr/bin/env python3
"""acsctl as an operator uses it: against a real acs-vim on a real private dbus-daemon, with
simulated VMMs on the real link (no Docker needed). Reads work for anyone; changes work for
root and are refused, with a message a person understands, for an unprivileged user."""
import subprocess

from acstest import binary, main, wait_until
from vimtest import VimTestCase


class AcsctlTest(VimTestCase):
    def acsctl(self, *args, user=None, check=True):
        argv = [binary("src/ctl/acsctl"), f"--bus-address={self.bus.address}", *map(str, args)]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            self.fail(f"acsctl {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
        return r

    def setUp(self):
        super().setUp()
        self.start_vim()
        self.start_agent("vm1", containers=1, capacity=3)
        self.start_agent("vm2", containers=0, capacity=3, standby=True)
        self.wait_state(lambda s: len(s["vms"]) == 2 and s["service"]["ready"] == 1, 10, "two VMs registered")

    def test_status_lists_vms_backends_and_policy(self):
        out = self.acsctl("status").stdout
        self.assertRegex(out, r"(?m)^vm1\s+127\.0\.0\.1\s+active\s+1/3\s+1\b")
        self.assertRegex(out, r"(?m)^vm2\s+127\.0\.0\.1\s+standby\s+0/3\s+0\b")
        container = self.vm("vm1")["containers"][0]
        self.assertRegex(out, rf"127\.0\.0\.1:{container['port']}\s+ready\s+\d+\s+vm1\s+{container['id'][:12]}")
        self.assertRegex(out, r"(?m)^placement\s+binpack$")
        # Readable by an unprivileged user too.
        self.assertIn("vm1", self.acsctl("vms", user=65534).stdout)

    def test_policy_change_as_root_and_refused_for_others(self):
        out = self.acsctl("policy", "target_cpu=0.5", "placement=spread", "dry_run=yes").stdout
        self.assertRegex(out, r"(?m)^target_cpu\s+0\.5$")
        self.assertRegex(out, r"(?m)^placement\s+spread$")
        self.assertRegex(out, r"(?m)^dry_run\s+yes$")
        self.assertEqual(self.state()["policy"]["target_cpu"], 0.5)

        r = self.acsctl("policy", "target_cpu=0.9", user=65534, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"(?i)Failed to change the policy: .*(denied|not allowed|authoriz)")
        self.assertEqual(self.state()["policy"]["target_cpu"], 0.5, "a refused change changes nothing")

        r = self.acsctl("policy", "no_such_key=1", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('no policy key "no_such_key"', r.stderr)
        r = self.acsctl("policy", "target_cpu=lots", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("target_cpu=lots: expected a number", r.stderr)

    def test_scale_and_vm_state(self):
        self.acsctl("scale", 3)
        self.wait_state(lambda s: s["service"]["desired"] == 3, 10, "desired 3 after acsctl scale 3")
        self.acsctl("activate", "vm2")
        self.wait_state(lambda s: self.vm("vm2", s)["state"] == "active", 10, "vm2 active after acsctl activate")

        r = self.acsctl("scale", "-1", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('"-1" is not a container count', r.stderr)
        r = self.acsctl("standby", "vm-that-does-not-exist", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("vm-that-does-not-exist", r.stderr)

    def test_daemon_not_running_is_said_plainly(self):
        self.vim.stop()
        r = self.acsctl("status", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("the daemon is not running on this bus", r.stderr)


if __name__ == "__main__":
    main()
