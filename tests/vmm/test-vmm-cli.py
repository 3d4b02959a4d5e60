#!/usr/bin/env python3
"""acs-vmm from the command line: --help, --version, and configuration errors that say
file:line and exit with 78 before anything starts."""
import os
import socket
import subprocess
import time

from acstest import binary, main
from vmmtest import VmmTestCase


class VmmCliTest(VmmTestCase):
    def run_vmm(self, *args):
        return subprocess.run([binary("src/vmm/acs-vmm"), *args], capture_output=True, text=True, timeout=20)

    def test_help_and_version(self):
        r = self.run_vmm("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--bus-address", r.stdout)
        r = self.run_vmm("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^acs-vmm \d+\.\d+")

    def bad_config(self, text):
        path = os.path.join(self.tmpdir, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        r = self.run_vmm("--config", path, "--bus-address=unix:path=/nonexistent")
        return path, r

    def test_bad_value_names_file_line_and_exits_78(self):
        path, r = self.bad_config("[VM]\nName=vm1\n# comment\nCapacity=many\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}:4: [VM] Capacity=many: expected an integer in 1..256", r.stderr)

    def test_unknown_key_is_refused(self):
        # Nothing in the file can ask for a privileged container.
        path, r = self.bad_config("[Docker]\nPrivileged=yes\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}:2: unknown key Privileged in section [Docker]", r.stderr)

    def test_inconsistent_values_are_refused(self):
        path, r = self.bad_config("[VM]\nCapacity=2\nMinContainers=5\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}: [VM] MinContainers=5 is above Capacity=2", r.stderr)

    def test_missing_config_file(self):
        r = self.run_vmm("--config", os.path.join(self.tmpdir, "absent.conf"))
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("absent.conf", r.stderr)

    def test_bad_option(self):
        r = self.run_vmm("--bus=session")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--bus=session: expected system or user", r.stderr)

    def test_notify_ready_status_and_watchdog(self):
        """As systemd sees it (Type=notify, WatchdogSec=): READY=1 once serving, a STATUS= a
        person can read, WATCHDOG=1 pings at the rate asked."""
        path = os.path.join(self.tmpdir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.2)
        bus = self.start_bus()
        config = self.write_config(socket=os.path.join(self.tmpdir, "no-docker.sock"))
        self.start([binary("src/vmm/acs-vmm"), "--config", config, f"--bus-address={bus.address}"],
                   env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
        messages, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in messages) < 3:
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        sock.close()
        text = "\n".join(messages)
        self.assertIn("READY=1", text)
        self.assertRegex(text, r"STATUS=0 ready, \d+ starting, 0 draining, 1 wanted \(active\); Docker unreachable")
        self.assertGreaterEqual(text.count("WATCHDOG=1"), 3)
        self.assertEqual(self.vmm_property(bus, "Name"), self.vm)
        # Without Docker it cannot know its backends: it says so instead of an empty set.
        r = bus.busctl("call", "org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", "GetBackends", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("still finding out which of its containers serve", r.stderr)


if __name__ == "__main__":
    main()
