#!/usr/bin/env python3
"""Failures and limits: a backend killed under GET load (0 errors, retried), a POST in flight on
a killed backend (502), connect and response timeouts (504), no healthy backend (503 with
Retry-After), passive ejection, active health checks with rise/fall, the whole-head deadline
(slowloris), idle timeout, the per-client connection limit, and /metrics on the admin port."""
import http.client
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from proxytest import ProxyTestCase, connection_closed, header, read_response, take_port
from acstest import main, prometheus_text_problems, wait_until

H = b"Host: example.test\r\n"


class Failures(ProxyTestCase):
    def get(self, path="/", method="GET", body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=timeout)
        conn.request(method, path, body=body)
        r = conn.getresponse()
        data = r.read()
        hdrs = dict(r.getheaders())
        conn.close()
        return r.status, hdrs, data

    def test_backend_killed_during_get_load(self):
        b0, b1 = self.bench_backend("k0"), self.bench_backend("k1")
        self.proxy([b0, b1])
        wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d4s", self.url("/")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.5)
        b1.kill9()
        out, _ = wrk.communicate(timeout=30)
        print(out)
        self.assertGreater(int(re.search(r"(\d+) requests in", out).group(1)), 500)
        self.assertNotIn("Non-2xx", out)
        self.assertNotIn("Socket errors", out)

    def test_get_retried_post_gets_502_when_backend_dies(self):
        dying, good = self.backend("dying"), self.backend("good")
        dying.dying = True
        # roundrobin: the first request goes to the first backend.
        self.proxy([dying, good], extra="Balance=roundrobin\n")
        st, _, body = self.get("/")
        self.assertEqual(st, 200, "an idempotent GET is retried on the other backend")
        self.assertIn(b'"backend": "good"', body)
        self.assertEqual([r.path for r in dying.requests], ["/"])
        # Now every backend dies on its request: a POST gets 502 and is sent exactly once.
        good.dying = True
        st, _, _ = self.get("/", method="POST", body=b"x" * 10)
        self.assertEqual(st, 502, "a POST is never retried")
        self.assertEqual(len([r for r in good.requests if r.method == "POST"]) +
                         len([r for r in dying.requests if r.method == "POST"]), 1)

    def test_retry_on_503_only_when_asked_and_only_idempotent(self):
        empty, good = self.backend("empty"), self.backend("good")
        empty.unavailable = True
        # Without RetryOn503 the 503 reaches the client (roundrobin: the first goes to "empty").
        self.proxy([empty, good], extra="Balance=roundrobin\n")
        self.assertEqual(self.get("/")[0], 503)
        self.proxy_proc.stop()

        # With it, as a front proxy over VM-side proxies: a GET that meets a 503 is sent once
        # more, elsewhere; a POST is not.
        self.proxy([empty, good], extra="Balance=roundrobin\nRetryOn503=yes\nEjectAfterFailures=1000\n")
        for _ in range(6):
            st, hdrs, body = self.get("/")
            self.assertEqual(st, 200)
            self.assertIn(b'"backend": "good"', body)
        self.assertGreaterEqual(len(empty.requests), 3, "the 503 backend was asked and its answer retried")
        statuses = [self.get("/echo", method="POST", body=b"x")[0] for _ in range(4)]
        self.assertIn(503, statuses, "a POST is never retried")
        self.assertEqual(len([r for r in empty.requests + good.requests if r.method == "POST"]), 4,
                         "each POST was sent exactly once")

    def test_connect_timeout_504(self):
        # A listener whose backlog is full and that never accepts: SYNs go unanswered.
        port = take_port()
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(0)
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
        self.addCleanup(lambda: [x.close() for x in fillers + [lsock]])
        self.proxy([f"127.0.0.1:{port}"], extra="ConnectTimeout=300ms\n")
        t0 = time.monotonic()
        st, _, _ = self.get()
        self.assertEqual(st, 504)
        self.assertLess(time.monotonic() - t0, 3)

    def test_response_timeout_504(self):
        b = self.backend("hang")
        self.proxy([b], extra="ResponseTimeout=500ms\n")
        t0 = time.monotonic()
        st, _, _ = self.get("/hang?s=3", method="POST", body=b"x")
        self.assertEqual(st, 504)
        self.assertLess(time.monotonic() - t0, 2.5)

    def test_no_backend_503_retry_after_and_ejection(self):
        dead = [f"127.0.0.1:{take_port()}", f"127.0.0.1:{take_port()}"]
        self.proxy(dead, extra="EjectAfterFailures=2\nEjectTime=5s\n")
        statuses = [self.get()[0] for _ in range(4)]
        self.assertEqual(statuses[0], 502)
        # Both ejected after two failures each: now refused at once.
        st, hdrs, _ = self.get()
        self.assertEqual(st, 503)
        self.assertEqual(hdrs.get("Retry-After"), "1")
        self.proxy_proc.wait_for_output(r"Backend 127\.0\.0\.1:\d+ ejected for 5000 ms after 2 failures")

    def test_active_health_check_rise_fall(self):
        a, b = self.backend("a"), self.backend("b")
        self.proxy([a, b], extra="HealthCheckInterval=100ms\nHealthCheckRise=2\nHealthCheckFall=2\n")
        b.healthy = False
        wait_until(lambda: "Backend 127.0.0.1:%d is down" % b.port in self.proxy_proc.output(), 5)
        before = b.count()
        for _ in range(30):
            st, _, body = self.get()
            self.assertEqual((st, b'"backend": "a"' in body), (200, True))
        self.assertEqual(b.count(), before)
        b.healthy = True
        wait_until(lambda: "Backend 127.0.0.1:%d is up" % b.port in self.proxy_proc.output(), 5)
        names = {self.get()[2].count(b'"backend": "b"') for _ in range(40)}
        self.assertIn(1, names)

    def test_slowloris_head_deadline(self):
        b = self.backend()
        self.proxy([b], extra="ClientHeadTimeout=1s\n")
        s = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\n")
        t0 = time.monotonic()
        got = b""
        s.settimeout(0.2)
        # One byte every 200 ms: each byte would reset a per-read timeout, not this deadline.
        while time.monotonic() - t0 < 4:
            try:
                s.sendall(b"X")
            except OSError:
                break
            try:
                data = s.recv(4096)
                if not data:
                    break
                got += data
            except socket.timeout:
                pass
        elapsed = time.monotonic() - t0
        self.assertTrue(got.startswith(b"HTTP/1.1 408"), got)
        self.assertLess(elapsed, 2.5)
        self.assertEqual(b.count(), 0)
        s.close()

    def test_idle_keep_alive_timeout(self):
        b = self.backend()
        self.proxy([b], extra="IdleTimeout=500ms\n")
        s = self.connect()
        self.assertEqual(self.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n", sock=s)[0], 200)
        t0 = time.monotonic()
        self.assertTrue(connection_closed(s, timeout=3))
        self.assertLess(time.monotonic() - t0, 2)

    def test_per_client_connection_limit(self):
        b = self.backend()
        self.proxy([b], extra="MaxConnectionsPerClient=5\n")
        time.sleep(0.3)  # the readiness probe's connection is gone by then
        socks = [self.connect() for _ in range(5)]
        for s in socks:
            self.assertEqual(self.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n", sock=s)[0], 200)
        extra = self.connect()
        r = read_response(extra)
        self.assertEqual(r[0], 429)
        self.assertTrue(connection_closed(extra))
        socks[0].close()
        wait_until(lambda: self.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n")[0] == 200, 3)
        for s in socks[1:]:
            s.close()

    def concurrent(self, n, path="/", body=None):
        results = [None] * n

        def one(i):
            try:
                results[i] = self.get(path, method="POST" if body else "GET", body=body)
            except Exception as e:  # noqa: BLE001 - recorded for the assertion
                results[i] = (str(e), {}, b"")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_backend_connection_limit_with_queue(self):
        b = self.backend()
        b.delay = 0.3
        self.proxy([b], extra="MaxConnectionsPerBackend=2\nQueueSize=4\nQueueTimeout=5s\n")
        # Six at once: two go out, four wait in the queue (their bodies unread) and follow.
        results = self.concurrent(6, "/echo", body=b"payload")
        self.assertEqual([r[0] for r in results], [200] * 6)
        self.assertTrue(all(r[2] == b"payload" for r in results))
        self.assertEqual(b.max_busy, 2, "the limit of backend connections was not kept")
        # Nine at once: two out, four queued, three refused at once with 503.
        results = self.concurrent(9)
        statuses = sorted(r[0] for r in results)
        self.assertEqual(statuses, [200] * 6 + [503] * 3, statuses)
        self.assertEqual(b.max_busy, 2)

    def test_queue_timeout_503(self):
        b = self.backend()
        self.proxy([b], extra="MaxConnectionsPerBackend=1\nQueueTimeout=300ms\n")
        results = self.concurrent(2, "/slow?ms=1500")
        self.assertEqual(sorted(r[0] for r in results), [200, 503])

    def test_access_log(self):
        b = self.backend()
        self.proxy([b], extra="AccessLog=yes\n")
        self.assertEqual(self.get("/logged?x=1")[0], 200)
        self.proxy_proc.wait_for_output(r'127\.0\.0\.1 "GET /logged\?x=1" 127\.0\.0\.1:%d 200 \d+us' % b.port)

    def test_metrics_on_admin_port(self):
        b = self.backend()
        others = [self.backend(f"b{i}") for i in (2, 3)]
        admin = take_port()
        self.proxy([b], extra=f"AdminListen=127.0.0.1:{admin}\n" + "".join(f"Backend=127.0.0.1:{o.port} 1\n" for o in others))
        for _ in range(7):
            self.assertEqual(self.get()[0], 200)
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            text = r.read().decode()
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        self.assertIn("acs_proxy_requests_total 7\n", text)
        counts = re.findall(r'^acs_proxy_backend_requests_total\{backend="127.0.0.1:(\d+)"\} (\d+)$', text, re.M)
        self.assertEqual(sorted(int(p) for p, _ in counts), sorted([b.port] + [o.port for o in others]))
        self.assertEqual(sum(int(n) for _, n in counts), 7)
        self.assertIn("# TYPE acs_proxy_in_flight gauge", text)
        # Three backends, each family one group: what Prometheus accepts.
        self.assertEqual(text.count("acs_proxy_backend_up{"), 3)
        self.assertEqual(prometheus_text_problems(text), [], text)


if __name__ == "__main__":
    main()
