#!/usr/bin/env python3
"""The VIM's HTTP API under attack: calls that make the VIM act (load, probe, policy, scale)
without the token or from a foreign page are refused; 256 clients trickling a byte at a time do
not lock a real client out; 100 event-stream clients that never read do not bloat acs-vim."""
import json
import os
import socket
import subprocess
import time

from acstest import binary, http_json, main, wait_until
from vimtest import VimTestCase


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class ApiAttackTest(VimTestCase):
    PORTS = (18340, 18379)

    def url(self, path):
        return f"http://127.0.0.1:{self.api_port}{path}"

    def call(self, method, path, body=None, **headers):
        return http_json(self.url(path), method=method, headers=headers,
                         data=json.dumps(body).encode() if body is not None else None)

    def test_tokenless_calls_refused(self):
        self.start_vim()
        self.start_agent("vm1", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "registered")
        json_type = {"Content-Type": "application/json"}
        for method, path, body in (("POST", "/api/v1/load", {"users": 1, "duration_s": 5}),
                                   ("DELETE", "/api/v1/load", None), ("POST", "/api/v1/probe", None),
                                   ("PUT", "/api/v1/policy", {"dry_run": True}),
                                   ("POST", "/api/v1/scale", {"replicas": 3})):
            status, reply = self.call(method, path, body, **json_type)
            self.assertEqual(status, 401, (method, path, reply))
        s = self.state()
        self.assertFalse(s["load"]["running"])
        self.assertEqual((s["service"]["desired"], s["policy"]["dry_run"]), (1, False))
        self.wait_event("access-denied", r"Refused POST /api/v1/load from 127\.0\.0\.1:\d+: no valid bearer token")

    def test_refusal_flood_does_not_flood_the_journal(self):
        # 500 refused calls: 10 lines in the first 10 s, then one line with the count of the rest.
        self.start_vim()
        desired = self.state()["service"]["desired"]
        first = time.monotonic()
        for _ in range(500):
            self.assertEqual(self.call("POST", "/api/v1/scale", {"replicas": 9},
                                       **{"Content-Type": "application/json"})[0], 401)
        flood_s = time.monotonic() - first
        refused = [l for l in self.vim_events("access-denied") if "Refused POST /api/v1/scale" in l]
        print(f"500 refused calls in {flood_s:.1f} s: {len(refused)} lines (loaded machine)")
        if flood_s < 9:
            self.assertEqual(len(refused), 10)
        self.assertLessEqual(len(self.vim.output().splitlines()), 80, "the whole log stays short")
        self.assertEqual(self.state()["service"]["desired"], desired)   # and it still serves
        # Once the interval is over, the next refusal says how many were held back.
        time.sleep(max(0.0, 10.2 - (time.monotonic() - first)))
        self.assertEqual(self.call("POST", "/api/v1/scale", {"replicas": 9},
                                   **{"Content-Type": "application/json"})[0], 401)
        self.wait_event("access-denied", rf"Suppressed {500 - len(refused)} similar messages")

    def test_cross_site_calls_refused_even_with_the_token(self):
        self.start_vim()
        auth = f"Bearer {self.token}"
        host = f"127.0.0.1:{self.api_port}"
        attempts = [
            ({"Origin": "http://evil.example", "Content-Type": "application/json"}, "Origin is not this host"),
            ({"Origin": "null", "Content-Type": "application/json"}, "Origin is not this host"),
            ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, "Sec-Fetch-Site"),
            ({"Content-Type": "text/plain"}, "not application/json"),               # an HTML form
            ({"Content-Type": "application/x-www-form-urlencoded"}, "not application/json"),
        ]
        for headers, why in attempts:
            status, reply = self.call("PUT", "/api/v1/policy", {"dry_run": True}, Authorization=auth, **headers)
            self.assertEqual(status, 403, headers)
            self.assertIn(why, reply["error"])
        self.assertFalse(self.state()["policy"]["dry_run"])
        # the page itself, same origin: accepted
        status, reply = self.call("PUT", "/api/v1/policy", {"dry_run": True}, Authorization=auth,
                                  Origin=f"http://{host}", **{"Sec-Fetch-Site": "same-origin",
                                                              "Content-Type": "application/json"})
        self.assertEqual(status, 200, reply)
        self.assertTrue(self.state()["policy"]["dry_run"])

    def test_slow_clients_do_not_lock_out_a_real_one(self):
        # the deadline is long: the cap, not the deadline, must make room
        self.start_vim(api={"RequestTimeout": "60s", "IdleTimeout": "60s"})
        slow = []
        try:
            for _ in range(256):
                s = socket.create_connection(("127.0.0.1", self.api_port), timeout=5)
                s.sendall(b"G")
                slow.append(s)
            for i in range(3):          # a byte every second: the deadline does not restart
                time.sleep(1)
                for s in slow:
                    try:
                        s.sendall(b"ET /api/v1/state HTTP/1.1\r\n"[i:i + 1])
                    except OSError:
                        pass
                t = time.monotonic()
                status, body = http_json(self.url("/api/v1/state"), timeout=5)
                self.assertEqual(status, 200)
                self.assertLess(time.monotonic() - t, 2.0, "the real client is answered at once")
            self.assertIn("API connection limit (256) reached: closing the slowest clients", self.vim.output())
        finally:
            for s in slow:
                s.close()

    def test_request_deadline_does_not_restart_on_each_byte(self):
        self.start_vim(api={"RequestTimeout": "2s", "IdleTimeout": "60s"})
        with socket.create_connection(("127.0.0.1", self.api_port), timeout=10) as s:
            t = time.monotonic()
            closed = False
            for ch in b"GET /api/v1/state HTTP/1.1\r\nHost: x\r\n":
                try:
                    s.sendall(bytes([ch]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.25)
                if time.monotonic() - t > 6:
                    break
            if not closed:
                s.settimeout(5)
                try:
                    self.assertEqual(s.recv(4096), b"")
                except ConnectionResetError:
                    pass
            self.assertLess(time.monotonic() - t, 4.5, "closed within RequestTimeout=2s (+1 s tick)")

    def test_non_reading_event_streams_keep_the_vim_small(self):
        self.start_vim(MinReplicas=4, MaxReplicas=400)
        for i in range(4):
            self.start_agent(f"vm{i}", containers=60, capacity=60)
        self.wait_state(lambda s: s["service"]["running"] >= 240, 20, "240 containers, a large state")
        streams = []
        try:
            for _ in range(100):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", self.api_port))
                s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
                streams.append(s)
            peak = 0
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                peak = max(peak, rss_kib(self.vim.pid))
                time.sleep(0.5)
            print(f"acs-vim RSS peak with 100 non-reading event streams: {peak} KiB (loaded machine)")
            self.assertLess(peak, 64 * 1024, f"acs-vim RSS peaked at {peak} KiB")
            status, _ = http_json(self.url("/api/v1/state"))
            self.assertEqual(status, 200)
            self.assertIn("MaxEventStreams=32 reached", self.vim.output())
            wait_until(lambda: "does not read" in self.vim.output(), 30, interval=0.5,
                       what="non-reading streams dropped")
        finally:
            for s in streams:
                s.close()


class TokenFileTest(VimTestCase):
    PORTS = (18380, 18399)

    def test_token_from_a_private_file_only(self):
        path = os.path.join(self.tmpdir, "api-token")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644), "w") as f:
            f.write(self.token + "\n")
        os.chmod(path, 0o644)
        conf = os.path.join(self.tmpdir, "open.conf")
        with open(conf, "w") as f:
            f.write(f"[Agents]\nListen=127.0.0.1:{self.agent_port}\n[Api]\nListen=127.0.0.1:{self.api_port}\n"
                    f"TokenFile={path}\n")
        r = subprocess.run([binary("src/vim/acs-vim"), "--config", conf, f"--bus-address={self.bus.address}"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("readable by its owner only", r.stderr + r.stdout)

        os.chmod(path, 0o600)
        self.start_vim(api={"Token": "", "TokenFile": path})
        status, _ = http_json(f"http://127.0.0.1:{self.api_port}/api/v1/scale", method="POST",
                              data=b'{"replicas":1}', headers={"Authorization": f"Bearer {self.token}",
                                                               "Content-Type": "application/json"})
        self.assertEqual(status, 200)
        status, _ = http_json(f"http://127.0.0.1:{self.api_port}/api/v1/scale", method="POST",
                              data=b'{"replicas":1}', headers={"Authorization": "Bearer wrong-token-123456",
                                                               "Content-Type": "application/json"})
        self.assertEqual(status, 401)


if __name__ == "__main__":
    main()
