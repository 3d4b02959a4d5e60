#!/usr/bin/env python3
"""acs-vmm from the command line: --help, --version, and configuration errors that say
file:line and exit with 78 before anything starts."""
import os
import signal
import socket
import subprocess
import time

from acstest import binary, main, wait_until
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

    def notify_setup(self):
        """A socket in systemd's place (NOTIFY_SOCKET), a private bus, and a configuration whose
        Docker socket does not exist."""
        path = os.path.join(self.tmpdir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.2)
        self.addCleanup(sock.close)
        return sock, path, self.start_bus(), self.write_config(socket=os.path.join(self.tmpdir, "no-docker.sock"))

    def test_notify_ready_status_and_watchdog(self):
        """As systemd sees it (Type=notify, WatchdogSec=): READY=1 once serving, a STATUS= a
        person can read, WATCHDOG=1 pings at the rate asked."""
        sock, path, bus, config = self.notify_setup()
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

    def test_sighup_reloads_what_can_change(self):
        """SIGHUP between RELOADING=1 and READY=1: [Policy] applies at once, [VM] Capacity= is
        logged as waiting for a restart, a broken file changes nothing."""
        sock, path, bus, config = self.notify_setup()
        vmm = self.start([binary("src/vmm/acs-vmm"), "--config", config, f"--bus-address={bus.address}"],
                         env={"NOTIFY_SOCKET": path})
        wait_until(lambda: "READY=1" in sock.recv(4096).decode(), 10, what="READY=1")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace("Capacity=3", "Capacity=5") + "[Policy]\nTargetCpu=0.3\n")
        vmm.proc.send_signal(signal.SIGHUP)
        seen = []

        def reloaded():
            try:
                seen.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
            return any("READY=1" in m for m in seen)

        wait_until(reloaded, 10, what="READY=1 after the reload")
        self.assertIn("RELOADING=1", "\n".join(seen))
        wait_until(lambda: "Reloaded" in vmm.output(), 5, what="the reload logged")
        out = vmm.output()
        self.assertIn("[Policy] TargetCpu= applied", out)
        self.assertIn("[VM] Capacity= changed; it takes effect at the next restart", out)
        self.assertEqual(self.vmm_property(bus, "Capacity"), 3)
        with open(config, "w") as f:
            f.write(text.replace("Capacity=3", "Capacity=many"))
        vmm.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "Keeping the running configuration" in vmm.output(), 10, what="the broken file refused")
        self.assertIsNone(vmm.proc.poll())
        sock.close()


if __name__ == "__main__":
    main()
