#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""acs-load against a real HTTP server (Python's, in this process): what it counts and reports,
how it treats a slow service, failures, bounds and signals. acs-web backends: test-load-web.py."""
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse

import acstest


class Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        if "sleep_ms" in q:
            time.sleep(int(q["sleep_ms"][0]) / 1000)
        if url.path.startswith("/status/"):
            body, status = b"{}", int(url.path.split("/")[2])
        else:
            body, status = json.dumps({"vm": self.server.vm, "container": "c-" + self.server.vm,
                                       "service": "web", "request": 1, "cpu_ms": 0}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.requests += 1

    def log_message(self, *args):
        pass


class LoadHttpTest(acstest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.load = acstest.binary("src/load/acs-load")
        self.port = acstest.free_port(18200, 18299)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Backend)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # a client that timed out and left
        self.server.vm, self.server.requests = "vmA", 0
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        super().tearDown()

    def run_load(self, *args, path="/", timeout=60):
        out = os.path.join(self.tmpdir, "load.json")
        p = subprocess.run([self.load, "--url", f"http://127.0.0.1:{self.port}{path}", "--json", out, *args],
                           capture_output=True, text=True, timeout=timeout)
        report = None
        if os.path.exists(out):
            with open(out) as f:
                report = json.load(f)
            os.unlink(out)
        return p, report

    def test_profile_rows_and_summary(self):
        p, rep = self.run_load("--profile", "0:2,2:5,4:0", "--count-backends")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rows = rep["seconds"]
        self.assertEqual([r["users"] for r in rows], [2, 2, 5, 5])
        # One request per user per second, each user's first one within its first second.
        self.assertEqual(sum(r["ok"] for r in rows), 2 + 2 + 5 + 5)
        s = rep["summary"]
        self.assertEqual((s["requests"], s["ok"], s["fail"], s["non2xx"], s["errors"]), (14, 14, 0, 0, 0))
        self.assertEqual(self.server.requests, 14)
        self.assertEqual(s["vms"], {"vmA": 14})
        self.assertEqual(s["containers"], {"vmA/c-vmA": 14})
        # The first answer from that container: sent within the first second, answered after it.
        sent, answered = s["containers_first"]["vmA/c-vmA"]
        self.assertLess(sent, 1.0)
        self.assertGreaterEqual(answered, sent)
        self.assertGreater(s["p99_ms"], 0)
        self.assertLess(s["p99_ms"], 1000)
        # The text report a person reads: a line a second and the summary.
        lines = p.stdout.splitlines()
        self.assertRegex(lines[0], r"^t=1 users=2 ok=2 fail=0 p50_ms=[\d.]+ p99_ms=[\d.]+ vmA=2$")
        self.assertRegex(lines[3], r"^t=4 users=5 ok=5 fail=0 ")
        self.assertRegex(p.stdout, r"summary: .* requests=14 ok=14 fail=0 non2xx=0 errors=0 ")

    def test_constant_users_and_duration(self):
        p, rep = self.run_load("--users", "3", "--duration", "2s")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([r["users"] for r in rep["seconds"]], [3, 3])
        self.assertEqual(rep["summary"]["ok"], 6)

    def test_waiting_for_a_slow_answer_counts_as_latency(self):
        # Each answer takes 1.5 s: the user's second request, due at 1 s, can only go at 1.5 s
        # and is answered at 3 s. Its latency is 2 s (from when it was due), not 1.5 s.
        p, rep = self.run_load("--profile", "0:1,2:0", "--json-latencies", path="/?sleep_ms=1500")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The first answer comes in the second second, the other after the end.
        latencies = [x for r in rep["seconds"] for x in r["latency_ms"]]
        self.assertEqual(len(latencies), 2)
        self.assertLess(latencies[0], 1700)
        self.assertGreaterEqual(latencies[1], 1950)
        s = rep["summary"]
        self.assertEqual(s["ok"], 2)
        self.assertGreaterEqual(s["p50_ms"], 1450)
        self.assertGreaterEqual(s["max_ms"], 1950)
        self.assertLess(s["max_ms"], 2600)

    def test_non_2xx_fails_the_run(self):
        p, rep = self.run_load("--users", "2", "--duration", "1", path="/status/503")
        self.assertEqual(p.returncode, 1)
        s = rep["summary"]
        self.assertEqual((s["ok"], s["non2xx"], s["errors"], s["fail"]), (0, 2, 0, 2))
        self.assertRegex(p.stdout, r"t=1 users=2 ok=0 fail=2 ")

    def test_unreachable_target_fails_the_run(self):
        dead = acstest.free_port(self.port + 1, 18299)
        p = subprocess.run([self.load, "--url", f"http://127.0.0.1:{dead}/", "--users", "2", "--duration", "1"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stdout, r"summary: .* ok=0 fail=2 non2xx=0 errors=2 ")

    def test_timeout_is_a_failure(self):
        p, rep = self.run_load("--users", "1", "--duration", "1", "--timeout", "200ms", path="/?sleep_ms=800")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(rep["summary"]["errors"], 1)

    def test_bounds_and_usage_errors(self):
        for args, msg in [
                (["--users", "201", "--duration", "5"], "more than --max-users=200"),
                (["--users", "5", "--duration", "11min"], "longer than --max-duration"),
                (["--users", "1001", "--duration", "5", "--max-users", "5000"], "cannot exceed"),
                (["--profile", "0:1"], "Invalid --profile"),
                (["--profile", "0:1,10:2", "--users", "3"], "cannot be combined"),
                (["--users", "0", "--duration", "5"], "Need --users"),
                (["--users", "x", "--duration", "5"], "Invalid --users"),
                (["--users", "2", "--duration", "5", "--ramp", "5"], "Invalid --ramp")]:
            p = subprocess.run([self.load, "--url", f"http://127.0.0.1:{self.port}/", *args],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(msg, p.stderr, args)
        self.assertEqual(self.server.requests, 0)
        p = subprocess.run([self.load, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--profile", p.stdout)

    def test_sigint_stops_early_with_a_summary(self):
        out = os.path.join(self.tmpdir, "stopped.json")
        proc = subprocess.Popen([self.load, "--url", f"http://127.0.0.1:{self.port}/", "--users", "2",
                                 "--duration", "60", "--json", out], stdout=subprocess.PIPE, text=True)
        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, stdout)
        self.assertIn("summary:", stdout)
        with open(out) as f:
            s = json.load(f)["summary"]
        self.assertLess(s["duration_s"], 5)
        self.assertGreaterEqual(s["ok"], 4)


if __name__ == "__main__":
    acstest.main()
