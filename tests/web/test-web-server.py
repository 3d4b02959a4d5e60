#!/usr/bin/env python3
"""acs-web from outside, without Docker: endpoints, request limits with their 4xx answers,
keep-alive and pipelining, health checks answered while costs burn, many clients at once,
and SIGTERM finishing the request in flight."""
import email.utils
import json
import signal
import socket
import threading
import time

# Ports 17100-17149: the web range is split so that the web tests and bench/web never collide.
from acstest import DaemonTestCase, binary, free_port, http_get, main, wait_port, wait_until

CONTAINER = "c0ffee" * 4


def raw_exchange(port, data, timeout=5):
    """Sends raw bytes, returns everything the server sent until it closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def read_response(sock_file):
    """Reads one HTTP/1.1 response with Content-Length from a socket file: (status, headers, body)."""
    status_line = sock_file.readline().decode()
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = sock_file.readline().decode().strip()
        if not line:
            break
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = sock_file.read(int(headers.get("content-length", 0)))
    return status, headers, body


class WebServerTest(DaemonTestCase):
    def start_web(self, **env):
        self.port = free_port(17100, 17149)
        # ?cost_ms= is what these tests drive the server with: allowed explicitly.
        full_env = {"ACS_PORT": str(self.port), "ACS_VM": "vm7", "ACS_SERVICE": "shop",
                    "ACS_CONTAINER": CONTAINER, "ACS_WEB_LISTEN": "127.0.0.1", "ACS_WEB_CLIENT_COST": "1"}
        full_env.update({k: str(v) for k, v in env.items()})
        self.web = self.start([binary("src/web/acs-web")], env=full_env)
        wait_port(self.port)
        return self.web

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def test_endpoints(self):
        self.start_web(ACS_WEB_COST_MS=30)
        status, headers, body = http_get(self.url("/"))
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        sent = email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
        self.assertLess(abs(sent - time.time()), 5)
        doc = json.loads(body)
        self.assertEqual(doc["vm"], "vm7")
        self.assertEqual(doc["container"], CONTAINER)
        self.assertEqual(doc["service"], "shop")
        self.assertEqual(doc["request"], 1)
        self.assertGreaterEqual(doc["cpu_ms"], 30)
        self.assertLess(doc["cpu_ms"], 60)

        doc = json.loads(http_get(self.url("/?cost_ms=0"))[2])
        self.assertEqual(doc["request"], 2)
        self.assertEqual(doc["cpu_ms"], 0)
        doc = json.loads(http_get(self.url("/?cost_ms=12.5"))[2])
        self.assertGreaterEqual(doc["cpu_ms"], 12.5)

        self.assertEqual(http_get(self.url("/healthz"))[0], 200)
        status, _, body = http_get(self.url("/readyz"))
        self.assertEqual((status, json.loads(body)["status"]), (200, "ready"))
        self.assertEqual(http_get(self.url("/nothing-here"))[0], 404)
        status, headers, _ = http_get(self.url("/"), method="POST", data=b"x")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        status, headers, body = http_get(self.url("/healthz"), method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertGreater(int(headers["Content-Length"]), 0)

        for bad in ("-1", "abc", "10001", "1e9"):
            status, _, body = http_get(self.url(f"/?cost_ms={bad}"))
            self.assertEqual(status, 400, bad)
            self.assertIn("cost_ms", json.loads(body)["error"])

    def test_request_limits(self):
        self.start_web(ACS_WEB_COST_MS=0)
        cases = [
            (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414),
            (b"GET / HTTP/1.1\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(60)) + b"\r\n", 431),
            (b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413),
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"BREW /pot HTCPCP/1.0\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        ]
        for request, status in cases:
            answer = raw_exchange(self.port, request)
            head = answer.split(b"\r\n\r\n", 1)[0].decode()
            self.assertTrue(head.startswith(f"HTTP/1.1 {status} "), f"{request[:40]!r}: {head!r}")
            self.assertIn("Connection: close", head)
        # A refused body that is sent anyway: the answer still arrives whole, not reset.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 300000\r\n\r\n")
            s.sendall(b"x" * 300000)
            f = s.makefile("rb")
            status, headers, body = read_response(f)
            self.assertEqual((status, headers["connection"]), (413, "close"))
            self.assertIn("too large", json.loads(body)["error"])
            f.close()
        # Requests pipelined behind "Connection: close" are dropped without harming its answer.
        answer = raw_exchange(self.port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
                                         + b"GET /healthz HTTP/1.1\r\n\r\n" * 2000)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"))
        self.assertEqual(answer.count(b"HTTP/1.1"), 1)
        # The server is still there and fine.
        self.assertEqual(http_get(self.url("/healthz"))[0], 200)
        self.assertTrue(self.web.alive())

    def test_keep_alive_and_pipelining(self):
        self.start_web(ACS_WEB_COST_MS=5)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            f = s.makefile("rb")
            s.sendall(b"GET /?cost_ms=20 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            answers = [read_response(f) for _ in range(3)]
            self.assertEqual([a[0] for a in answers], [200, 200, 404])
            self.assertGreaterEqual(json.loads(answers[0][2])["cpu_ms"], 20)
            self.assertTrue(all(a[1]["connection"] == "keep-alive" for a in answers))
            # Same connection, later: still served.
            s.sendall(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            status, headers, _ = read_response(f)
            self.assertEqual((status, headers["connection"]), (200, "close"))
            self.assertEqual(s.recv(1), b"")

    def test_health_answered_while_costs_burn(self):
        self.start_web(ACS_WEB_COST_MS=600, ACS_WEB_WORKERS=2)
        results = []
        threads = [threading.Thread(target=lambda: results.append(http_get(self.url("/"), timeout=10)[0]))
                   for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        self.assertEqual(http_get(self.url("/healthz"))[0], 200)
        self.assertLess(time.monotonic() - t0, 0.3)
        for t in threads:
            t.join()
        self.assertEqual(results, [200, 200])

    def test_many_clients(self):
        self.start_web(ACS_WEB_COST_MS=0)
        n, per_client = 200, 5
        socks = [socket.create_connection(("127.0.0.1", self.port), timeout=10) for _ in range(n)]
        files = [s.makefile("rb") for s in socks]
        try:
            for _ in range(per_client):
                for s in socks:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                for f in files:
                    self.assertEqual(read_response(f)[0], 200)
        finally:
            for f in files:
                f.close()
            for s in socks:
                s.close()
        doc = json.loads(http_get(self.url("/"))[2])
        self.assertEqual(doc["request"], n * per_client + 1)

    def test_sigterm_finishes_request_in_flight(self):
        self.start_web(ACS_WEB_COST_MS=0, ACS_WEB_GRACE_S=5)
        answer = {}

        def slow():
            answer["r"] = http_get(self.url("/?cost_ms=700"), timeout=10)
        t = threading.Thread(target=slow)
        t.start()
        # A second client is half-way through a /readyz request when the signal comes.
        half = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        half.sendall(b"GET /readyz HTTP/1.1\r\n")
        time.sleep(0.2)
        self.web.signal(signal.SIGTERM)
        self.web.wait_for_output("no longer accepting")

        # No new connections; the half-sent request is answered "draining", then closed.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        half.sendall(b"Host: x\r\n\r\n")
        f = half.makefile("rb")
        status, headers, body = read_response(f)
        self.assertEqual((status, json.loads(body)["status"], headers["connection"]), (503, "draining", "close"))
        half.close()

        t.join()
        status, headers, body = answer["r"]
        self.assertEqual(status, 200)
        self.assertGreaterEqual(json.loads(body)["cpu_ms"], 700)
        self.assertEqual(headers["Connection"], "close")
        wait_until(lambda: not self.web.alive(), 5, what="acs-web to exit")
        self.assertEqual(self.web.proc.returncode, 0)

    def test_grace_time_bounds_the_exit(self):
        self.start_web(ACS_WEB_COST_MS=0, ACS_WEB_GRACE_S=1, ACS_WEB_WORKERS=1)
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(self.try_get("/?cost_ms=8000")))
                   for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        self.web.signal(signal.SIGTERM)
        wait_until(lambda: not self.web.alive(), 6, what="acs-web to give up after its grace time")
        self.assertLess(time.monotonic() - t0, 4)
        self.assertEqual(self.web.proc.returncode, 1)
        self.assertIn("Grace time over with 2 request(s) still in flight", self.web.output())
        for t in threads:
            t.join()
        self.assertEqual(answers, [None, None])

    def try_get(self, path):
        try:
            return http_get(self.url(path), timeout=10)[0]
        except OSError:
            return None

    def test_trickled_request_cut(self):
        # A byte every half second, head then body: before, each byte restarted the request
        # timer, so a client held the connection for as long as it liked.
        self.start_web(ACS_WEB_REQUEST_TIMEOUT_S=2)
        for raw in (b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100,
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 1000):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.settimeout(0.5)
            start, answer = time.monotonic(), b""
            for i in range(len(raw)):
                if time.monotonic() - start > 15:
                    break
                try:
                    s.send(raw[i:i + 1])
                    answer = s.recv(4096)
                    break
                except socket.timeout:
                    continue
                except OSError:
                    break
            elapsed = time.monotonic() - start
            s.close()
            print(f"trickled {raw[:4]!r} answered {answer[:12]!r} after {elapsed:.1f} s (loaded machine)")
            self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer)
            self.assertLess(elapsed, 5)

    def test_bad_environment_is_a_config_error(self):
        port = free_port(17100, 17149)
        for env in ({"ACS_PORT": "70000"}, {"ACS_PORT": str(port), "ACS_WEB_CPU": "lots"},
                    {"ACS_PORT": str(port), "ACS_WEB_WORKERS": "0"}):
            p = self.start([binary("src/web/acs-web")], env=env)
            wait_until(lambda: not p.alive(), 5, what="acs-web to refuse its settings")
            self.assertEqual(p.proc.returncode, 78, env)

    def test_healthcheck_mode(self):
        self.start_web(ACS_WEB_COST_MS=0)
        hc = self.start([binary("src/web/acs-web"), "--healthcheck"], env={"ACS_PORT": str(self.port)})
        wait_until(lambda: not hc.alive(), 5, what="healthcheck to finish")
        self.assertEqual(hc.proc.returncode, 0)
        self.web.stop()
        hc = self.start([binary("src/web/acs-web"), "--healthcheck"], env={"ACS_PORT": str(self.port)})
        wait_until(lambda: not hc.alive(), 5, what="healthcheck to finish")
        self.assertEqual(hc.proc.returncode, 1)


if __name__ == "__main__":
    main()
