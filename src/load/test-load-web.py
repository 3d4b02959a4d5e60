#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""acs-load against real acs-web processes (started directly, no Docker), alone and behind an
acs-proxy with static backends: every request answered, and the per-VM and per-container counts
match what acs-web says about itself."""
import json
import os
import socket
import subprocess

import acstest


class LoadWebTest(acstest.DaemonTestCase):
    def start_web(self, vm):
        port = acstest.free_port(18300, 18399)
        self.start([acstest.binary("src/web/acs-web")], name=f"acs-web-{vm}",
                   env={"ACS_PORT": str(port), "ACS_VM": vm, "ACS_SERVICE": "web", "ACS_WEB_COST_MS": "1"})
        acstest.wait_port(port)
        return port

    def run_load(self, url, *args):
        out = os.path.join(self.tmpdir, "load.json")
        p = subprocess.run([acstest.binary("src/load/acs-load"), "--url", url, "--count-backends",
                            "--json", out, *args], capture_output=True, text=True, timeout=60)
        with open(out) as f:
            return p, json.load(f)

    def test_one_web(self):
        port = self.start_web("lw-vm1")
        p, rep = self.run_load(f"http://127.0.0.1:{port}/", "--profile", "0:3,2:6,3:0")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        s = rep["summary"]
        self.assertEqual((s["ok"], s["fail"]), (3 + 3 + 6, 0))
        self.assertEqual(s["vms"], {"lw-vm1": 12})
        # acs-web names the container by its host name: here, this machine's.
        self.assertEqual(s["containers"], {f"lw-vm1/{socket.gethostname()}": 12})
        self.assertRegex(p.stdout, r"t=3 users=6 ok=6 fail=0 p50_ms=[\d.]+ p99_ms=[\d.]+ lw-vm1=6")


    def test_two_webs_behind_a_proxy(self):
        ports = [self.start_web("lw-vm1"), self.start_web("lw-vm2")]
        proxy_port = acstest.free_port(18300, 18399)
        conf = os.path.join(self.tmpdir, "proxy.conf")
        with open(conf, "w") as f:
            f.write(f"[Proxy]\nListen=127.0.0.1:{proxy_port}\nSource=static\nWorkers=1\nBalance=roundrobin\n"
                    + "".join(f"Backend=127.0.0.1:{p}\n" for p in ports))
        self.start([acstest.binary("src/proxy/acs-proxy"), "--config", conf], name="acs-proxy")
        acstest.wait_port(proxy_port)
        p, rep = self.run_load(f"http://127.0.0.1:{proxy_port}/", "--users", "4", "--duration", "3")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        s = rep["summary"]
        self.assertEqual((s["ok"], s["fail"]), (12, 0))
        # Round robin over two: both answered, the counts add up.
        self.assertEqual(set(s["vms"]), {"lw-vm1", "lw-vm2"})
        self.assertEqual(sum(s["vms"].values()), 12)
        self.assertGreaterEqual(min(s["vms"].values()), 4)
        self.assertRegex(p.stdout, r"backends: lw-vm\d=\d+ lw-vm\d=\d+")

if __name__ == "__main__":
    acstest.main()
