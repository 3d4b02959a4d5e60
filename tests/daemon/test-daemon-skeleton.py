#!/usr/bin/env python3
"""What acs-vim, acs-vmm and acs-proxy share: the same command line, READY=1 to the service
manager, SIGHUP bracketed by RELOADING=1 (with MONOTONIC_USEC) and READY=1, SIGTERM ending the
loop with STOPPING=1 and exit 0."""
import os
import signal
import socket
import subprocess
import tempfile
import unittest

from acstest import DaemonTestCase, binary, free_port, main, wait_port, wait_until

DAEMONS = {"acs-vim": "src/vim/acs-vim", "acs-vmm": "src/vmm/acs-vmm", "acs-proxy": "src/proxy/acs-proxy"}


def run(path, *args):
    return subprocess.run([binary(path), *args], capture_output=True, text=True, timeout=20)


class CommandLine(unittest.TestCase):
    def test_help_lists_the_common_options(self):
        for name, path in DAEMONS.items():
            r = run(path, "--help")
            self.assertEqual(r.returncode, 0, name)
            for option in ("--config=FILE", "--bus=system|user", "--bus-address=ADDR", "--log-level=LEVEL",
                           "--version", "--help"):
                self.assertIn(option, r.stdout, name)

    def test_version(self):
        for name, path in DAEMONS.items():
            r = run(path, "--version")
            self.assertEqual(r.returncode, 0, name)
            self.assertRegex(r.stdout, rf"^{name} \d+\.\d+\.\d+\n$")

    def test_bad_options_are_refused(self):
        for name, path in DAEMONS.items():
            for args, message in ((["--log-level=loud"], "loud"), (["--bus=session"], "expected system or user"),
                                  (["stray"], "Unexpected argument: stray")):
                r = run(path, *args)
                self.assertEqual(r.returncode, 1, (name, args, r.stderr))
                self.assertIn(message, r.stderr, (name, args))


class Signals(DaemonTestCase):
    def notify_socket(self):
        path = os.path.join(tempfile.mkdtemp(prefix="acs-notify-"), "notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(0.2)
        self.addCleanup(s.close)
        return path, s

    def test_sighup_reloads_sigterm_stops(self):
        port = free_port(20000, 30000)
        conf = os.path.join(tempfile.mkdtemp(prefix="acs-daemon-"), "proxy.conf")
        with open(conf, "w") as f:
            f.write(f"[Proxy]\nListen=127.0.0.1:{port}\nSource=static\nBackend=127.0.0.1:1\nWorkers=1\n")
        path, notify = self.notify_socket()
        seen = []

        def received(text):
            try:
                seen.append(notify.recv(4096).decode())
            except socket.timeout:
                pass
            return any(text in m for m in seen)

        p = self.start([binary("src/proxy/acs-proxy"), "--config", conf], env={"NOTIFY_SOCKET": path},
                       name="acs-proxy")
        wait_until(lambda: received("READY=1"), 10, what="READY=1")
        wait_port(port)

        del seen[:]
        p.signal(signal.SIGHUP)
        wait_until(lambda: received("RELOADING=1"), 10, what="RELOADING=1")
        wait_until(lambda: received("READY=1"), 10, what="READY=1 after the reload")
        reloading = [m for m in seen if "RELOADING=1" in m]
        self.assertRegex(reloading[0], r"MONOTONIC_USEC=\d+")
        self.assertLess(seen.index(reloading[0]), [i for i, m in enumerate(seen) if "READY=1" in m][-1])
        self.assertTrue(p.alive())
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

        p.signal(signal.SIGTERM)
        wait_until(lambda: not p.alive(), 10, what="acs-proxy to exit")
        self.assertEqual(p.proc.returncode, 0, p.output())
        wait_until(lambda: received("STOPPING=1"), 5, what="STOPPING=1")
        self.assertTrue(any("STATUS=Finishing requests in flight." in m for m in seen), seen)


if __name__ == "__main__":
    main()
