#!/usr/bin/env python3
"""acs-vim in high availability on a real three-member etcd cluster (loopback): two acs-vim
elect a leader by lease, three simulated VMMs follow whichever leads (several [Vim] Address=),
two front acs-proxy instances take the backend set from etcd (Source=etcd).

- kill -9 of the leader under load through both proxies: the standby leads within the lease
  TTL + 1 s, the VMMs reconnect to it, a later load step still scales out, no request fails;
  then kill -9 of an etcd member changes nothing for clients.
- a leader paused (SIGSTOP) whose lease is revoked gives no order after it resumes."""
import json
import os
import signal
import threading
import time
import urllib.request

from acstest import binary, free_port, main, wait_port, wait_until, Bus
from etcdtest import EtcdCluster
from vimtest import VimTestCase

LEASE_TTL = 2
VIM_BUS = ("org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1")


class ClusterTest(VimTestCase):
    PORTS = (18160, 18199)

    def setUp(self):
        super().setUp()
        self.cluster = EtcdCluster()
        self.addCleanup(self.cluster.stop)
        self.vim_ports = [self.agent_port, free_port(self.api_port + 1, self.PORTS[1])]
        self.api_ports = [self.api_port, free_port(self.vim_ports[1] + 1, self.PORTS[1])]
        self.buses = [self.bus, self.start_bus()]
        self.vim_procs = [None, None]

    def start_cluster_vim(self, i, **scaling):
        conf = {"Placement": "spread", "ScaleDownWindow": "30s", "MinReplicas": "3", "MaxReplicas": "12",
                "TargetInflight": "0", "DrainTimeout": "3s"}
        conf.update({k: str(v) for k, v in scaling.items()})
        path = os.path.join(self.tmpdir, f"vim{i}.conf")
        with open(path, "w") as f:
            f.write(f"[Agents]\nListen=127.0.0.1:{self.vim_ports[i]}\nKeyDirectory={self.keys}\n"
                    "GracePeriod=1s\nHandshakeTimeout=1s\nAllowHostAddresses=yes\n[Scaling]\n")
            f.writelines(f"{k}={v}\n" for k, v in conf.items())
            f.write(f"[Api]\nListen=127.0.0.1:{self.api_ports[i]}\nToken={self.token}\n"
                    f"[Dashboard]\nDirectory={self.tmpdir}/dashboard\n\n")
            f.write(self.cluster.config() + f"Store=etcd\nLeaseTTL={LEASE_TTL}s\n")
        p = self.start([binary("src/vim/acs-vim"), "--config", path, f"--bus-address={self.buses[i].address}"],
                       name=f"acs-vim-{'ab'[i]}")
        self.vim_procs[i] = p
        wait_port(self.api_ports[i])
        return p

    def role(self, i):
        return self.buses[i].get_property_json(*VIM_BUS, "Role")["data"]

    def leader_address(self, i):
        return self.buses[i].get_property_json(*VIM_BUS, "LeaderAddress")["data"]

    def state_of(self, i):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api_ports[i]}/api/v1/state", timeout=5) as r:
            return json.load(r)

    def registered(self, i):
        return sorted(v["name"] for v in self.state_of(i)["vms"] if v.get("state") in ("active", "registered"))

    def start_cluster_agents(self, n=3, containers=1):
        for k in range(n):
            self.start_agent(f"vm{k + 1}", containers=containers, capacity=4,
                             extra=("--next-port", str(self.vim_ports[1]), "--base-port", str(31000 + 100 * k)))

    def order_lines(self, vim):
        """Orders the VMMs received from VIM vim (0 or 1)."""
        peer = f"from 127.0.0.1:{self.vim_ports[vim]} "
        return [l for p in self.agents.values() for l in p.output().splitlines() if " order " in l and peer in l]

    def test_deposed_leader_gives_no_order(self):
        self.set_cpu(0.3)
        self.start_cluster_vim(0, MinReplicas=1)
        wait_until(lambda: self.role(0) == "leader", 10, what="acs-vim a to lead")
        self.start_cluster_vim(1, MinReplicas=1)
        wait_until(lambda: self.role(1) == "standby", 10, what="acs-vim b to stand by")
        self.assertEqual(self.leader_address(1), f"127.0.0.1:{self.vim_ports[0]}")
        self.start_cluster_agents(2)
        wait_until(lambda: self.registered(0) == ["vm1", "vm2"], 10, what="the VMMs on the leader")

        lease = json.loads(self.cluster.etcdctl("get", "/acs/leader", "-w", "json"))["kvs"][0]["lease"]
        self.vim_procs[0].signal(signal.SIGSTOP)
        try:
            self.cluster.etcdctl("lease", "revoke", format(lease, "x"))
            wait_until(lambda: self.role(1) == "leader", LEASE_TTL + 1, what="acs-vim b to lead")
            # Load rises while a is paused: a would scale out if it still thought it led.
            self.set_cpu(0.95)
            time.sleep(1.5)
            orders_before = len(self.order_lines(0))
        finally:
            self.vim_procs[0].signal(signal.SIGCONT)
        self.vim_procs[0].wait_for_output(r"\[standby\].*Cluster role: standby")
        # The VMMs leave a and find b, which orders the scale-out.
        wait_until(lambda: self.registered(1) == ["vm1", "vm2"], 10, what="the VMMs on the new leader")
        wait_until(lambda: any(" order add " in l for l in self.order_lines(1)), 10, what="b to scale out")
        time.sleep(1)
        self.assertEqual(self.order_lines(0)[orders_before:], [], "the deposed leader gave orders")
        self.assertEqual(self.role(0), "standby")
        self.assertEqual(self.leader_address(0), f"127.0.0.1:{self.vim_ports[1]}")


if __name__ == "__main__":
    main()
