#!/usr/bin/env python3
"""acs-proxy with Source=etcd against a real three-member etcd cluster on loopback: it
applies each backend set written under PREFIX/backends, refuses a malformed one and keeps the
set in force, carries on when the etcd member it watches is killed; two proxies apply a change
within 100 ms of each other."""
import json
import os
import re
import sys
import threading
import time
import urllib.request

from proxytest import ProxyTestCase, take_port
from acstest import binary, main, wait_port, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from etcdtest import EtcdCluster  # noqa: E402


def backend_set(generation, ports, state="ready"):
    return json.dumps({"generation": generation, "backends": [
        {"address": "127.0.0.1", "port": p, "weight": 1, "state": state, "vm": "vm1", "container": f"c{p}"}
        for p in ports]})


class EtcdSource(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.cluster = EtcdCluster()
        self.addCleanup(self.cluster.stop)
        self.etcd_proxies = []

    def tearDown(self):
        # Every proxy must stop cleanly (exit 0: under the sanitizers also no leak).
        bad = [(p.name, rc, p.output()[-3000:]) for p in self.etcd_proxies if (rc := p.stop()) != 0]
        super().tearDown()
        self.assertEqual(bad, [])

    def answered_by(self, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            return json.load(r)["backend"]

    def generation(self, admin_port):
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=2) as r:
            m = re.search(r"^acs_proxy_backend_generation (\d+)", r.read().decode(), re.M)
            return int(m.group(1))

    def etcd_proxy(self, name="acs-proxy"):
        """A front proxy fed from the cluster; returns (process, port, admin port). Other test
        programs on the machine take ports too: a port taken meanwhile means another try."""
        for attempt in range(3):
            port, admin = take_port(), take_port()
            conf = os.path.join(self.tmpdir, f"{name}.conf")
            with open(conf, "w") as f:
                f.write(f"[Proxy]\nListen=127.0.0.1:{port}\nAdminListen=127.0.0.1:{admin}\nSource=etcd\n"
                        f"Workers=1\n\n{self.cluster.config()}")
            p = self.start([binary("src/proxy/acs-proxy"), "--config", conf], name=f"{name}-{attempt}")
            try:
                wait_until(lambda: p.proc.poll() is not None or self.admin_up(admin), 10,
                           what=f"{name} to listen")
            except TimeoutError:
                pass
            if p.alive():
                self.etcd_proxies.append(p)
                wait_port(port)
                return p, port, admin
            self.assertIn("Address already in use", p.output())
        self.fail(f"{name} found no free ports")

    def admin_up(self, admin):
        try:
            self.generation(admin)
            return True
        except OSError:
            return False

    def test_follows_the_backend_set(self):
        b0, b1 = self.backend("b0"), self.backend("b1")
        self.cluster.put("backends", backend_set(1, [b0.port]))
        p, port, admin = self.etcd_proxy()
        self.assertEqual(self.answered_by(port), "b0")
        self.cluster.put("backends", backend_set(2, [b1.port]))
        wait_until(lambda: self.generation(admin) == 2, 5, what="generation 2")
        self.assertEqual({self.answered_by(port) for _ in range(10)}, {"b1"})

        # Something that is not a backend set is refused; the set in force stays.
        for bad in ["not json", '{"generation": 3}', '{"generation": 3, "backends": [{"port": "x"}]}',
                    '{"generation": 3, "backends": []} trailing']:
            self.cluster.put("backends", bad)
        p.wait_for_output(r"(?s)(Refusing the backend set.*){4}")
        self.assertEqual(self.generation(admin), 2)
        self.assertEqual(self.answered_by(port), "b1")

        # The member the proxy watches through (the first endpoint) dies: the next one serves.
        self.cluster.kill9(0)
        self.cluster.put("backends", backend_set(4, [b0.port, b1.port]))
        wait_until(lambda: self.generation(admin) == 4, 10, what="generation 4 after an etcd member died")
        wait_until(lambda: {self.answered_by(port) for _ in range(20)} == {"b0", "b1"}, 5,
                   what="both backends in use")
        self.assertTrue(p.alive())

    def test_two_proxies_apply_a_change_together(self):
        """50 changes: the two proxies' /metrics show each new generation within 100 ms of
        each other (p99; on a loaded, shared machine)."""
        backends = [self.backend(f"b{i}") for i in range(3)]
        self.cluster.put("backends", backend_set(1, [backends[0].port]))
        proxies = [self.etcd_proxy(f"acs-proxy-{i}") for i in range(2)]
        for _, _, admin in proxies:
            wait_until(lambda: self.generation(admin) == 1, 5, what="the first set")
        spreads = []
        for g in range(2, 52):
            seen = [None, None]

            def poll(i, admin):
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    if self.generation(admin) >= g:
                        seen[i] = time.monotonic()
                        return
                    time.sleep(0.001)
            threads = [threading.Thread(target=poll, args=(i, a)) for i, (_, _, a) in enumerate(proxies)]
            for t in threads:
                t.start()
            self.cluster.put_http("backends", backend_set(g, [backends[g % 3].port, backends[(g + 1) % 3].port]))
            for t in threads:
                t.join()
            self.assertTrue(all(seen), f"generation {g} not applied by both proxies within 5 s")
            spreads.append(abs(seen[0] - seen[1]))
        spreads.sort()
        p99 = spreads[int(len(spreads) * 0.99) - 1] if len(spreads) >= 100 else spreads[-1]
        print(f"two proxies apart: median {spreads[len(spreads) // 2] * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms over {len(spreads)} changes (loaded machine)")
        self.assertLess(p99, 0.100)


if __name__ == "__main__":
    main()
