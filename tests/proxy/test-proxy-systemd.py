#!/usr/bin/env python3
"""acs-proxy as systemd runs it: the socket-activated "http" socket shared by the workers,
Type=notify (READY=1 and readable STATUS= lines), and the command line: --help, --version,
exit 78 with a clear message on a bad configuration."""
import os
import socket
import subprocess

from proxytest import ProxyTestCase, take_port
from acstest import binary, main, wait_port, wait_until

H = b"Host: example.test\r\n"


class Systemd(ProxyTestCase):
    def write_conf(self, text):
        path = os.path.join(self.tmpdir, "proxy.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_socket_activation_and_notify(self):
        b = self.backend()
        port = take_port()
        # Listen= names another port: the inherited socket must win.
        conf = self.write_conf(f"[Proxy]\nListen=127.0.0.1:{take_port()}\nSource=static\n"
                               f"Backend=127.0.0.1:{b.port}\nWorkers=2\n")
        notify_path = os.path.join(self.tmpdir, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        self.addCleanup(notify.close)
        p = self.start(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname=http",
                        "-E", f"NOTIFY_SOCKET={notify_path}", "-E", "WATCHDOG_USEC=400000",
                        binary("src/proxy/acs-proxy"), "--config", conf], name="acs-proxy")
        self.proxy_proc, self.proxy_port = p, port
        wait_port(port)
        for _ in range(10):
            self.assertEqual(self.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n")[0], 200)
        p.wait_for_output("socket-activated")
        notify.settimeout(5)
        messages = []
        while not any("READY=1" in m for m in messages):
            messages.append(notify.recv(4096).decode())
        self.assertTrue(any("STATUS=Serving on" in m for m in messages), messages)
        # The status line is refreshed once a second with the request rate, and the watchdog
        # is pinged (at a quarter of WatchdogSec=) while the workers' loops turn.
        seen = []
        wait_until(lambda: seen.append(notify.recv(4096).decode()) or
                   (any("requests/s" in m for m in seen) and sum("WATCHDOG=1" in m for m in seen) >= 3), 5)

    def test_restart_behind_its_socket_loses_no_connection(self):
        """As systemd does for acs-proxy.socket: the listening socket outlives the service, so
        connection attempts during a restart wait in its backlog for the next instance."""
        b = self.backend()
        self.proxy_port = take_port()
        conf = self.write_conf(f"[Proxy]\nListen=127.0.0.1:{self.proxy_port}\nSource=static\n"
                               f"Backend=127.0.0.1:{b.port}\nWorkers=2\n")
        results = self.restart_behind_held_socket(
            conf, lambda: self.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n")[0])
        failures = [r for r in results if r != 200]
        self.assertGreater(len(results), 50)
        self.assertEqual(failures, [], f"{len(failures)} of {len(results)} failed")

    def test_help_and_version(self):
        r = subprocess.run([binary("src/proxy/acs-proxy"), "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--config", r.stdout)
        r = subprocess.run([binary("src/proxy/acs-proxy"), "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("acs-proxy "))

    def test_bad_configuration_exit_78(self):
        cases = {
            "[Proxy]\nListen=127.0.0.1:99999\nBackend=127.0.0.1:1\n": "Listen=127.0.0.1:99999",
            "[Proxy]\nListen=127.0.0.1:8080\nBackend=nowhere\n": "Backend=nowhere",
            "[Proxy]\nListen=127.0.0.1:8080\nSource=static\n": "needs at least one Backend=",
            "[Proxy]\nListen=127.0.0.1:8080\nBackend=127.0.0.1:1\nBalance=random\n": "Balance=random",
            "[Proxy]\nListen=127.0.0.1:8080\nBackend=127.0.0.1:1\nBalance=hash\n": "HashKey=",
            "[Proxy]\nListen=127.0.0.1:8080\nBackend=127.0.0.1:1\nWorkers=1000\n": "Workers=1000",
        }
        for text, expected in cases.items():
            conf = self.write_conf(text)
            r = subprocess.run([binary("src/proxy/acs-proxy"), "--config", conf], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 78, (text, r.stderr))
            self.assertIn(expected, r.stderr)
            self.assertIn("proxy.conf", r.stderr)


if __name__ == "__main__":
    main()
