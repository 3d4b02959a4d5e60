#!/usr/bin/env python3
"""acs-vim in high availability on a real three-member etcd cluster (loopback): two acs-vim
elect a leader by lease, three simulated VMMs follow whichever leads (several [Vim] Address=),
two front acs-proxy instances take the backend set from etcd (Source=etcd).

- kill -9 of the leader under load through both proxies: the standby leads within the lease
  TTL + 1 s, the VMMs reconnect to it, a later load step still scales out, no request fails;
  then kill -9 of an etcd member changes nothing for clients.
- a leader paused (SIGSTOP) whose lease is revoked gives no order after it resumes."""
import http.client
import json
import os
import re
import signal
import socket
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
        # Distinct ports, taken once: a standby's agent port is not bound, so asking again for a
        # free port could hand it out twice.
        ports, p = [], self.PORTS[0]
        while len(ports) < 9:
            p = free_port(p, self.PORTS[1])
            ports.append(p)
            p += 1
        self.vim_ports, self.api_ports, self.proxy_ports = ports[0:2], ports[2:4], ports[4:8]
        self.relay_port = ports[8]
        self.agent_port, self.api_port = self.vim_ports[0], self.api_ports[0]
        self.buses = [self.bus, self.start_bus()]
        self.vim_procs = [None, None]
        # The simulated VMMs' container ports (and the real backends on them): a block per test
        # program, spread by pid, for programs running in parallel; below the ephemeral range.
        self.container_base = 24100 + 300 * ((os.getpid() * 7) % 25)

    def start_cluster_vim(self, i, env=None, listener=None, endpoints=None, **scaling):
        conf = {"Placement": "spread", "ScaleDownWindow": "30s", "MinReplicas": "3", "MaxReplicas": "12",
                "TargetInflight": "0", "DrainTimeout": "3s"}
        conf.update({k: str(v) for k, v in scaling.items()})
        path = os.path.join(self.tmpdir, f"vim{i}.conf")
        with open(path, "w") as f:
            f.write(f"[Agents]\nListen=127.0.0.1:{self.vim_ports[i]}\nKeyDirectory={self.keys}\n"
                    "GracePeriod=3s\nHandshakeTimeout=1s\nAllowHostAddresses=yes\n[Scaling]\n")
            f.writelines(f"{k}={v}\n" for k, v in conf.items())
            f.write(f"[Api]\nListen=127.0.0.1:{self.api_ports[i]}\nToken={self.token}\n"
                    f"[Dashboard]\nDirectory={self.tmpdir}/dashboard\n\n")
            cluster = self.cluster.config()
            if endpoints:
                cluster = "".join(l + "\n" for l in cluster.splitlines() if not l.startswith("Endpoints=")) + \
                    "".join(f"Endpoints={e}\n" for e in endpoints)
            f.write(cluster + f"Store=etcd\nLeaseTTL={LEASE_TTL}s\n")
        argv = [binary("src/vim/acs-vim"), "--config", path, f"--bus-address={self.buses[i].address}"]
        if listener:
            # As systemd passes acs-vim.socket: LISTEN_PID must name acs-vim itself.
            p = self.start(["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", *argv], name=f"acs-vim-{'ab'[i]}",
                           env=env, pass_fds=(3,), preexec_fn=lambda: os.dup2(listener.fileno(), 3))
        else:
            p = self.start(argv, name=f"acs-vim-{'ab'[i]}")
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
                             extra=("--next-port", str(self.vim_ports[1]), "--base-port", str(self.container_base + 100 * k)))

    def order_lines(self, vim):
        """Orders the VMMs received from VIM vim (0 or 1)."""
        peer = f"from 127.0.0.1:{self.vim_ports[vim]} "
        return [l for p in self.agents.values() for l in p.output().splitlines() if " order " in l and peer in l]

    def start_backends(self, per_vm=6):
        """Real HTTP servers on the ports the simulated VMMs give their containers."""
        for k in range(3):
            for j in range(per_vm):
                port = self.container_base + 100 * k + j
                b = self.start([binary("tests/proxy/bench-backend"), port, f"vm{k + 1}-{j}"],
                               name=f"backend-{port}")
                b.wait_for_output("ready")

    def start_front_proxy(self, name):
        port, admin = self.proxy_ports[2 * len(self.proxies):2 * len(self.proxies) + 2]
        conf = os.path.join(self.tmpdir, f"{name}.conf")
        with open(conf, "w") as f:
            f.write(f"[Proxy]\nListen=127.0.0.1:{port}\nAdminListen=127.0.0.1:{admin}\nSource=etcd\n"
                    f"Workers=1\n\n{self.cluster.config()}")
        p = self.start([binary("src/proxy/acs-proxy"), "--config", conf], name=name)
        wait_port(port)
        self.proxies.append((p, port, admin))

    def proxy_backends(self, admin):
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2) as r:
            text = r.read().decode()
        return int(re.search(r"^acs_proxy_backend_generation (\d+)", text, re.M).group(1)), \
            set(re.findall(r'^acs_proxy_backend_in_flight\{backend="([^"]+)"\}', text, re.M))

    def stored_backends(self):
        doc = json.loads(self.cluster.get("backends"))
        return doc["generation"], {f"{b['address']}:{b['port']}" for b in doc["backends"]}

    def proxies_follow_store(self):
        generation, backends = self.stored_backends()
        return all(self.proxy_backends(admin) == (generation, backends) for _, _, admin in self.proxies)

    def start_agents_and_proxies(self):
        """Three VMMs registered on acs-vim a, the leader, and both front proxies on its set."""
        self.start_cluster_agents(3)
        wait_until(lambda: self.registered(0) == ["vm1", "vm2", "vm3"], 10, what="the VMMs on the leader")
        for i in range(2):
            self.start_front_proxy(f"acs-proxy-{i}")
        wait_until(lambda: len(self.stored_backends()[1]) == 3 and self.proxies_follow_store(), 10,
                   what="both proxies on the leader's backend set")

    def load(self, stop, results):
        """Requests through both proxies until stop is set; results gets each outcome."""
        def loop(port):
            conn = None
            while not stop.is_set():
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/")
                    r = conn.getresponse()
                    r.read()
                    results.append(r.status)
                except (OSError, http.client.HTTPException) as e:
                    results.append(repr(e))
                    conn = None
                time.sleep(0.005)
        threads = [threading.Thread(target=loop, args=(port,)) for _, port, _ in self.proxies for _ in range(2)]
        for t in threads:
            t.start()
        return threads

    def test_leader_killed_under_load(self):
        self.proxies = []
        self.set_cpu(0.3)
        self.start_backends()
        self.start_cluster_vim(0)
        wait_until(lambda: self.role(0) == "leader", 10, what="acs-vim a to lead")
        self.start_cluster_vim(1)
        wait_until(lambda: self.role(1) == "standby", 10, what="acs-vim b to stand by")
        self.start_agents_and_proxies()

        # A policy set at run time on the leader is in the store, and the next leader runs with it.
        self.buses[0].busctl("call", *VIM_BUS, "SetPolicy", "a{sv}", "1", "target_cpu", "d", "0.5")
        wait_until(lambda: json.loads(self.cluster.get("state"))["policy"]["target_cpu"] == 0.5, 5,
                   what="the policy in etcd")

        stop, results = threading.Event(), []
        threads = self.load(stop, results)
        try:
            wait_until(lambda: len(results) >= 50, 10, what="load through both proxies")
            self.vim_procs[0].kill9()
            t0 = time.monotonic()
            self.vim_procs[0].name = "killed-" + self.vim_procs[0].name   # its exit is ours
            wait_until(lambda: self.role(1) == "leader", LEASE_TTL + 2, interval=0.02, what="acs-vim b to lead")
            took = time.monotonic() - t0
            print(f"standby took the lead {took:.2f} s after kill -9 (lease TTL {LEASE_TTL} s, loaded machine)")
            self.assertLess(took, LEASE_TTL + 1)
            wait_until(lambda: self.registered(1) == ["vm1", "vm2", "vm3"], 10, what="the VMMs on the new leader")
            self.assertEqual(self.buses[1].get_property_json(*VIM_BUS, "Policy")["data"]["target_cpu"]["data"], 0.5)
            reconnects = {n: p.output().count("Connected to VIM") for n, p in self.agents.items()}
            self.assertEqual(reconnects, {n: 2 for n in self.agents}, "one reconnect per VMM")

            # A load step after the failover still scales out, and both proxies follow.
            self.set_cpu(0.95)
            wait_until(lambda: len(self.stored_backends()[1]) > 3 and self.proxies_follow_store(), 20,
                       what="a scale-out by the new leader, applied by both proxies")

            # An etcd member dies: nothing changes for clients.
            n = len(results)
            self.cluster.kill9(0)
            wait_until(lambda: len(results) >= n + 100, 10, what="100 more requests after the etcd member died")
            self.assertEqual(self.role(1), "leader")
            self.assertGreater(len(results), n)
        finally:
            stop.set()
            for t in threads:
                t.join()
        failures = [r for r in results if r != 200]
        print(f"{len(results)} requests through two proxies, {len(failures)} failed")
        self.assertGreater(len(results), 200)
        self.assertEqual(failures, [])

    def test_standby_refuses_agents_on_a_held_socket(self):
        """Under systemd the agent socket stays open while acs-vim stands by: the standby closes
        each connection at once, so a VMM moves on instead of waiting out its handshake."""
        self.start_cluster_vim(0)
        wait_until(lambda: self.role(0) == "leader", 10, what="acs-vim a to lead")
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.vim_ports[1]))
        listener.listen(16)
        self.addCleanup(listener.close)
        self.start_cluster_vim(1, env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "agent"}, listener=listener)
        wait_until(lambda: self.role(1) == "standby", 10, what="acs-vim b to stand by")
        for _ in range(3):
            t = time.monotonic()
            with socket.create_connection(("127.0.0.1", self.vim_ports[1]), timeout=5) as c:
                c.settimeout(2)
                self.assertEqual(c.recv(1), b"")
            self.assertLess(time.monotonic() - t, 1.0)
        self.assertTrue(self.vim_procs[1].alive())

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
            self.wait_decisions(2, api_port=self.api_ports[1])
            orders_before = len(self.order_lines(0))
        finally:
            self.vim_procs[0].signal(signal.SIGCONT)
        self.vim_procs[0].wait_for_output(r"\[standby\].*Cluster role: standby")
        # The VMMs leave a and find b, which orders the scale-out.
        wait_until(lambda: self.registered(1) == ["vm1", "vm2"], 10, what="the VMMs on the new leader")
        wait_until(lambda: any(" order add " in l for l in self.order_lines(1)), 10, what="b to scale out")
        self.wait_decisions(2, api_port=self.api_ports[1])
        self.assertEqual(self.order_lines(0)[orders_before:], [], "the deposed leader gave orders")
        self.assertEqual(self.role(0), "standby")
        self.assertEqual(self.leader_address(0), f"127.0.0.1:{self.vim_ports[1]}")

    def relay_to_etcd(self):
        """From then on, self.relay_port leads to the first etcd member (before, nothing listens
        there): a daemon pointed at it reaches etcd only from now on."""
        target = int(self.cluster.endpoints[0].rsplit(":", 1)[1])
        server = socket.create_server(("127.0.0.1", self.relay_port))
        self.addCleanup(server.close)

        def pipe(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def accept():
            while True:
                try:
                    client, _ = server.accept()
                except OSError:
                    return
                upstream = socket.create_connection(("127.0.0.1", target))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()

    def policy_of(self, i):
        return {k: v["data"] for k, v in self.buses[i].get_property_json(*VIM_BUS, "Policy")["data"].items()}

    def bus_backends(self, i):
        generation, backends = self.buses[i].call_json(*VIM_BUS, "GetBackends")["data"]
        return generation, {f"{b[0]}:{b[1]}" for b in backends}

    def desired_of(self, i):
        return self.buses[i].get_property_json(*VIM_BUS, "Desired")["data"]

    def test_standby_follows_and_new_leader_continues(self):
        """A standby follows the leader's policy and counts from etcd; after kill -9 of the
        leader the new one runs with the same, decides as soon as the VMs that were up are
        back, and the proxies never see the backend set's generation go backwards, although the
        new leader started first (its own generation counter, from its start, is the lower)."""
        self.proxies = []
        self.set_cpu(0.3)
        self.start_backends()
        # b starts first but reaches etcd only after a leads
        self.start_cluster_vim(1, endpoints=[f"http://127.0.0.1:{self.relay_port}"])
        time.sleep(0.5)
        self.start_cluster_vim(0)
        wait_until(lambda: self.role(0) == "leader", 10, what="acs-vim a to lead")
        self.relay_to_etcd()
        wait_until(lambda: self.leader_address(1) == f"127.0.0.1:{self.vim_ports[0]}", 10,
                   what="acs-vim b to stand by behind a")
        self.assertEqual(self.role(1), "standby")
        self.start_agents_and_proxies()

        # changed on the leader: the standby reports the same
        self.buses[0].busctl("call", *VIM_BUS, "SetPolicy", "a{sv}", "2", "target_cpu", "d", "0.45",
                             "max_replicas", "u", "9")
        self.buses[0].busctl("call", *VIM_BUS, "Scale", "u", "5")
        wait_until(lambda: self.policy_of(1)["target_cpu"] == 0.45 and self.desired_of(1) == 5, 10,
                   what="the standby to follow the leader's policy and count")
        self.assertEqual(self.policy_of(1), self.policy_of(0))
        wait_until(lambda: len(self.stored_backends()[1]) == 5 and self.proxies_follow_store(), 10,
                   what="five backends on both proxies")
        # the standby serves the leader's set on its bus, for a proxy with Source=vim beside it
        wait_until(lambda: self.bus_backends(1)[1] == self.stored_backends()[1], 5,
                   what="the standby to serve the leader's backend set")
        self.assertGreaterEqual(self.bus_backends(1)[0], self.stored_backends()[0])

        # every generation the proxies apply, across the failover
        seen, stop = [[], [], []], threading.Event()

        def sample():
            while not stop.is_set():
                for k, (_, _, admin) in enumerate(self.proxies):
                    try:
                        g = self.proxy_backends(admin)[0]
                    except OSError:
                        continue
                    if not seen[k] or seen[k][-1] != g:
                        seen[k].append(g)
                # and what b serves on its bus, standing by and then leading
                g = self.bus_backends(1)[0]
                if not seen[2] or seen[2][-1] != g:
                    seen[2].append(g)
                time.sleep(0.02)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            before = self.stored_backends()[0]
            self.vim_procs[0].kill9()
            self.vim_procs[0].name = "killed-" + self.vim_procs[0].name   # its exit is ours
            wait_until(lambda: self.role(1) == "leader", LEASE_TTL + 2, interval=0.02, what="acs-vim b to lead")
            wait_until(lambda: self.registered(1) == ["vm1", "vm2", "vm3"], 10, what="the VMMs on the new leader")
            self.vim_procs[1].wait_for_output(r"deciding from now on \(every VM up at the previous leader")
            self.assertEqual(self.policy_of(1)["target_cpu"], 0.45)
            self.assertEqual(self.policy_of(1)["max_replicas"], 9)
            self.assertEqual(self.desired_of(1), 5)
            # a change by the new leader reaches both proxies with a later generation
            self.buses[1].busctl("call", *VIM_BUS, "Scale", "u", "6")
            wait_until(lambda: len(self.stored_backends()[1]) == 6 and self.proxies_follow_store(), 15,
                       what="six backends on both proxies, from the new leader")
            self.assertGreater(self.stored_backends()[0], before)
        finally:
            stop.set()
            sampler.join()
        for k, generations in enumerate(seen):
            self.assertEqual(generations, sorted(generations), f"reader {k} saw the generation go backwards")
            self.assertGreater(generations[-1], before)


if __name__ == "__main__":
    main()
