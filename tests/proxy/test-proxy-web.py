#!/usr/bin/env python3
"""acs-proxy in front of the real workload: two acs-web processes (as in the containers),
reached through the proxy with curl and wrk; both answer, each naming its container."""
import json
import re
import subprocess

from proxytest import ProxyTestCase, take_port
from acstest import binary, main, wait_port


class WithAcsWeb(ProxyTestCase):
    def start_web(self, name):
        port = take_port()
        env = {"ACS_PORT": str(port), "ACS_VM": "vm1", "ACS_SERVICE": "shop", "ACS_CONTAINER": name,
               "ACS_WEB_LISTEN": "127.0.0.1", "ACS_WEB_COST_MS": "0"}
        p = self.start([binary("src/web/acs-web")], env=env, name=f"acs-web-{name}")
        wait_port(port)
        p.port = port
        return p

    def test_two_acs_web_backends(self):
        webs = [self.start_web("c1"), self.start_web("c2")]
        self.proxy(webs, extra="HealthCheckInterval=500ms\n")
        seen = set()
        for _ in range(20):
            r = subprocess.run(["curl", "-sS", "--max-time", "5", self.url("/")], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
            body = json.loads(r.stdout)
            self.assertEqual((body["vm"], body["service"]), ("vm1", "shop"))
            seen.add(body["container"])
        self.assertEqual(len(seen), 2, seen)
        out = subprocess.run(["wrk", "-t1", "-c16", "-d2s", self.url("/")], capture_output=True, text=True,
                             timeout=30).stdout
        self.assertGreater(int(re.search(r"(\d+) requests in", out).group(1)), 200, out)
        self.assertNotIn("Non-2xx", out)
        self.assertNotIn("Socket errors", out)


if __name__ == "__main__":
    main()
