#!/usr/bin/env python3
"""Each balancing algorithm's distribution over 10,000 requests through acs-proxy, with
Balance= in proxy.conf and real backends (bench-backend), counted from the responses."""
import collections
import http.client
import json
import threading

from proxytest import ProxyTestCase
from acstest import main

N = 10000


class Balance(ProxyTestCase):
    def start_backends(self, n=3):
        return [self.bench_backend(f"b{i}") for i in range(n)]

    def run_requests(self, n=N, headers_for=None, path="/"):
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=10)
        counts = collections.Counter()
        by_key = collections.defaultdict(set)
        for i in range(n):
            headers = headers_for(i) if headers_for else {}
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200)
            name = json.loads(body)["backend"]
            counts[name] += 1
            if headers_for:
                by_key[json.dumps(headers)].add(name)
        conn.close()
        return counts, by_key

    def test_roundrobin_weighted(self):
        bs = self.start_backends()
        self.proxy([], extra="Balance=roundrobin\n" + "".join(
            f"Backend=127.0.0.1:{b.port} {w}\n" for b, w in zip(bs, (1, 2, 3))))
        counts, _ = self.run_requests()
        # Smooth weighted round robin with one worker is exact.
        self.assertAlmostEqual(counts["b0"], N / 6, delta=2)
        self.assertAlmostEqual(counts["b1"], N / 3, delta=2)
        self.assertAlmostEqual(counts["b2"], N / 2, delta=2)

    def test_p2c_default_even(self):
        bs = self.start_backends()
        self.proxy(bs)
        counts, _ = self.run_requests()
        for b in ("b0", "b1", "b2"):
            self.assertAlmostEqual(counts[b], N / 3, delta=N * 0.04, msg=str(counts))

    def test_leastconn_even_when_idle(self):
        bs = self.start_backends()
        self.proxy(bs, extra="Balance=leastconn\n")
        counts, _ = self.run_requests()
        for b in ("b0", "b1", "b2"):
            self.assertAlmostEqual(counts[b], N / 3, delta=2, msg=str(counts))

    def test_hash_header_sticky(self):
        bs = self.start_backends()
        self.proxy(bs, extra="Balance=hash\nHashKey=header:X-User\n")
        counts, by_key = self.run_requests(headers_for=lambda i: {"X-User": f"user-{i % 200}"})
        self.assertEqual(len(by_key), 200)
        for key, names in by_key.items():
            self.assertEqual(len(names), 1, f"{key} went to {names}")
        for b in ("b0", "b1", "b2"):
            self.assertGreater(counts[b], N * 0.15, str(counts))

    def test_hash_cookie_sticky(self):
        bs = self.start_backends()
        self.proxy(bs, extra="Balance=hash\nHashKey=cookie:session\n")
        counts, by_key = self.run_requests(
            n=3000, headers_for=lambda i: {"Cookie": f"theme=dark; session=s{i % 100}; lang=en"})
        for key, names in by_key.items():
            self.assertEqual(len(names), 1, f"{key} went to {names}")
        self.assertEqual(len(counts), 3, str(counts))

    def test_p2c_follows_in_flight(self):
        """With concurrent clients, a slow backend has more requests in flight and p2c sends
        it fewer new ones than the fast backends."""
        slow = self.backend("slow")
        slow.delay = 0.02
        fast = self.start_backends(2)
        self.proxy([slow, *fast])
        counts = collections.Counter()
        lock = threading.Lock()

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=10)
            for _ in range(150):
                conn.request("GET", "/")
                r = conn.getresponse()
                name = json.loads(r.read())["backend"]
                with lock:
                    counts[name] += 1
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sum(counts.values()), 1200)
        self.assertLess(counts["slow"], counts["b0"] / 3, str(counts))
        self.assertLess(counts["slow"], counts["b1"] / 3, str(counts))


if __name__ == "__main__":
    main()
