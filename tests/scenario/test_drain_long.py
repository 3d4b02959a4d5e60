#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scale-in while requests of about 20 s are in flight, in direct and in two-tier routing, on the
demo cluster (tools/demo.sh: real acs-vim, acs-vmm, acs-proxy, dbus-daemon and acs-web containers
in the real dockerd).

Three containers run (MinReplicas=3); long requests go through the front proxy until every
container has one in flight; then MaxReplicas=1 scales the service in while they run. Expected:
  - every long request completes with 200, and short requests sent all along never fail;
  - a drained container leaves Docker only after the last long request it served has ended
    (the VIM's DrainTimeout= of the demo, 90 s, is the only drain clock; the VMM's DrainTime=1s
    and StopTimeout=5s no longer cut it short);
  - acs-vim removes them as drained, never on its drain timeout."""
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import acstest
import scenario

# CPU milliseconds: at the demo's 0.1 CPU per container, about 20 s of wall time.
LONG_COST_MS = 2000
LONG_MAX = 9
SLACK_S = 0.5


class Client:
    """One request in a thread of its own, timed with the monotonic clock."""

    def __init__(self, url):
        self.url, self.status, self.body, self.error = url, None, None, None
        self.t_start = time.monotonic()
        self.t_end = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.status, _, body = acstest.http_get(self.url, timeout=180)
            self.body = json.loads(body) if self.status == 200 else body
        except Exception as e:  # reported by the test
            self.error = repr(e)
        self.t_end = time.monotonic()

    def done(self):
        return self.t_end is not None


class ShortLoad:
    """Short requests one after another, all along: none may fail."""

    def __init__(self, url):
        self.url, self.ok, self.failed = url, 0, []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                status, _, _ = acstest.http_get(self.url + "?cost_ms=1", timeout=30)
                if status == 200:
                    self.ok += 1
                else:
                    self.failed.append(f"HTTP {status}")
            except Exception as e:
                self.failed.append(repr(e))
            self._stop.wait(0.1)

    def stop(self):
        self._stop.set()
        self.thread.join(40)


class DockerWatch:
    """When each container of the demo's VMs was last seen in Docker."""

    def __init__(self, vms):
        self.vms, self.last_seen = vms, {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            # (several label filters would all have to match: filter on the VMs here)
            r = acstest.docker("ps", "-q", "--no-trunc", "--filter", "label=org.acs.managed=1", check=False)
            now = time.monotonic()
            if r.returncode == 0:
                for cid in r.stdout.split():
                    self.last_seen[cid] = now
            self._stop.wait(0.2)

    def running(self, cid, after):
        return self.last_seen.get(cid, 0) >= after

    def stop(self):
        self._stop.set()
        self.thread.join(10)


def ready_containers(state):
    return {c["id"]: c for vm in state["vms"] for c in vm["containers"] if c["state"] == "ready"}


class LongDrainTest(unittest.TestCase):
    def run_routing(self, two_tier, base_port, prefix):
        workdir = tempfile.mkdtemp(prefix=f"acs-drain-{prefix}-")
        self.addCleanup(shutil.rmtree, workdir, True)
        cluster = scenario.Cluster(workdir, str(base_port), prefix, placement="spread", two_tier=two_tier,
                                   scale_down_window="2s", standby_delay="120s")
        self.addCleanup(cluster.stop)
        try:
            self.check_routing(cluster)
        except Exception:
            print(cluster.logs())
            raise

    def put_policy(self, cluster, policy):
        status, body = acstest.http_json(cluster.api_url + "/policy", method="PUT", data=json.dumps(policy).encode(),
                                         headers={"Authorization": "Bearer " + cluster.env["ACS_API_TOKEN"],
                                                  "Content-Type": "application/json"})
        self.assertEqual(status, 200, body)

    def load_every_container(self, cluster, ids):
        """Long requests until each of ids has one in flight (the VIM's per-container count)."""
        longs = []

        def covered_once():
            ready = ready_containers(cluster.state())
            busy = {cid for cid, c in ready.items() if c["in_flight"] > 0}
            return ids <= busy and sum(c["in_flight"] for c in ready.values()) <= len(longs)

        def covered():
            # three readings in a row: a health check passing through a VM-side proxy is a
            # request in flight for a moment too
            return all(covered_once() and (time.sleep(0.3) or True) for _ in range(3))

        while len(longs) < LONG_MAX:
            longs.append(Client(cluster.proxy_url + f"?cost_ms={LONG_COST_MS}"))
            try:
                acstest.wait_until(covered, 3, interval=0.2, what="a long request in flight on every container")
                return longs
            except Exception:
                continue
        self.fail(f"{LONG_MAX} long requests did not reach all of {sorted(ids)}")

    def check_routing(self, cluster):
        self.put_policy(cluster, {"min_replicas": 3, "max_replicas": 3})
        acstest.wait_until(lambda: len(ready_containers(cluster.state())) == 3, 60, interval=0.2,
                           what="three ready containers")
        ids = set(ready_containers(cluster.state()))
        watch = DockerWatch(cluster.vms)
        short = None
        try:
            # Short requests start once the long ones are placed, so that only those count there.
            longs = self.load_every_container(cluster, ids)
            short = ShortLoad(cluster.proxy_url)
            t_scale_in = time.monotonic()
            self.put_policy(cluster, {"min_replicas": 1, "max_replicas": 1})
            acstest.wait_until(lambda: all(c.done() for c in longs), 150, interval=0.5,
                               what="every long request to end")
            t_last_end = max(c.t_end for c in longs)
            gone = lambda: [cid for cid in ids if not watch.running(cid, time.monotonic() - 1.0)]
            acstest.wait_until(lambda: len(gone()) == 2, 30, interval=0.5, what="two drained containers gone")
        finally:
            if short:
                short.stop()
            watch.stop()

        for c in longs:
            self.assertIsNone(c.error, f"long request failed: {c.error}")
            self.assertEqual(c.status, 200, c.body)
        self.assertLess(t_scale_in, min(c.t_end for c in longs), "the scale-in came after the long requests")
        self.assertEqual(short.failed, [], f"{len(short.failed)} short requests failed")
        self.assertGreater(short.ok, 0)

        drained = [cid for cid in ids if cid in gone()]
        served = {}
        for c in longs:
            full = [cid for cid in ids if cid.startswith(c.body["container"])]
            self.assertEqual(len(full), 1, f"{c.body['container']} is not one of {sorted(ids)}")
            served[full[0]] = max(served.get(full[0], 0), c.t_end)
        self.assertTrue(any(cid in served for cid in drained), "no drained container had a long request")
        for cid in drained:
            if cid in served:
                # last seen in Docker no earlier than its last request ended (sampled every 0.2 s)
                self.assertGreaterEqual(watch.last_seen[cid], served[cid] - SLACK_S,
                                        f"{cid[:12]} was removed {served[cid] - watch.last_seen[cid]:.1f} s "
                                        "before its last request ended")
                print(f"{cid[:12]}: last request ended {served[cid] - t_scale_in:.1f} s after the scale-in, "
                      f"container gone {watch.last_seen[cid] - served[cid]:+.1f} s after it")
        with open(os.path.join(cluster.dir, "logs", "acs-vim.log"), errors="replace") as f:
            vim_log = f.read()
        self.assertNotIn("drain timeout", vim_log)
        self.assertIn("drained, no request in flight", vim_log)
        print(f"long requests: {len(longs)}, the last ended {t_last_end - t_scale_in:.1f} s after the scale-in; "
              f"short requests: {short.ok} ok, 0 failed")

    def test_direct(self):
        self.run_routing(False, 19000, "dld")

    def test_two_tier(self):
        self.run_routing(True, 19200, "dlt")


if __name__ == "__main__":
    unittest.main(verbosity=2)
