#!/usr/bin/env python3
"""The etcd client against a real three-member cluster on loopback: reads and writes through
the JSON gateway, a watch that sees every change, and both carrying on when the member they
talk to is killed."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from acstest import DaemonTestCase, binary, main, wait_until  # noqa: E402
from etcdtest import EtcdCluster  # noqa: E402


class EtcdClientTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.cluster = EtcdCluster()
        self.addCleanup(self.cluster.stop)
        self.tool = binary("tests/etcd/etcd-client")

    def run_tool(self, *args):
        import subprocess
        return subprocess.run([self.tool, *args], capture_output=True, text=True, timeout=30)

    def watched(self, proc):
        return [line.split(" ", 1) for line in proc.output().splitlines() if re.match(r"^\d+ ", line)]

    def test_put_reaches_etcd(self):
        r = self.run_tool("put", "greeting", "hello wörld", *self.cluster.endpoints)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(int(r.stdout), 1)
        self.assertEqual(self.cluster.get("greeting"), "hello wörld")

    def test_put_moves_past_a_dead_member(self):
        self.cluster.kill9(0)
        r = self.run_tool("put", "k", "v", *self.cluster.endpoints)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.cluster.get("k"), "v")

    def test_no_member_answers(self):
        r = self.run_tool("put", "k", "v", "http://127.0.0.1:1", "http://127.0.0.1:2")
        self.assertNotEqual(r.returncode, 0)

    def test_watch_sees_every_change_across_a_member_kill(self):
        self.cluster.put("backends", "v0")
        # The first endpoint is the one the watch starts on.
        w = self.start([self.tool, "watch", "backends", *self.cluster.endpoints])
        wait_until(lambda: [v for _, v in self.watched(w)] == ["v0"], 10, what="the current value")
        self.cluster.put("backends", "v1")
        wait_until(lambda: [v for _, v in self.watched(w)] == ["v0", "v1"], 10, what="the change")
        self.cluster.kill9(0)
        for i in range(2, 6):
            self.cluster.put("backends", f"v{i}")
        wait_until(lambda: [v for _, v in self.watched(w)][-1:] == ["v5"], 10, what="the watch to resume")
        values = [v for _, v in self.watched(w)]
        self.assertEqual(values, [f"v{i}" for i in range(6)], "no change lost, none repeated")
        revisions = [int(r) for r, _ in self.watched(w)]
        self.assertEqual(revisions, sorted(set(revisions)))
        self.cluster.etcdctl("del", self.cluster.prefix + "backends")
        wait_until(lambda: self.watched(w)[-1][1] == "(deleted)", 10, what="the deletion")
        self.assertTrue(w.alive())


if __name__ == "__main__":
    main()
