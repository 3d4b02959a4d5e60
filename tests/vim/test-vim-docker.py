#!/usr/bin/env python3
"""acs-vim with the real parts: three real acs-vmm processes (each a "VM" with its own bus, port
range and capacity 2; vm3 standby), real acs-web containers in the real dockerd, the real front
acs-proxy reading its backends from org.acs.VIM1, and real load from acs-load.

Load through the proxy scales out: vm1 fills first (binpack), then vm2, then the standby vm3 is
activated; load removed: after the window, scale-in with draining and vm3 back to standby.
kill -9 of a VMM: its VM is unreachable within grace + 1 s while its containers keep serving;
restarted, it re-registers and nothing is recreated. acs-vim restarted: the same backend set,
nothing recreated."""
import json
import os
import subprocess
import threading
import time

from acstest import (Bus, binary, docker, free_port, http_get, http_json, main, wait_port, wait_until)
from vimtest import VimTestCase


class DockerClusterTest(VimTestCase):
    PORTS = (18040, 18079)

    def setUp(self):
        super().setUp()
        self.prefix = f"vt{os.getpid() % 10000}"
        self.vms = [f"{self.prefix}vm{i}" for i in (1, 2, 3)]
        self.addCleanup(self.remove_containers)
        self.proxy_port = free_port(self.api_port + 1, self.PORTS[1])
        self.proxy_admin_port = free_port(self.proxy_port + 1, self.PORTS[1])
        self.vmm = {}

    def remove_containers(self):
        for vm in self.vms:
            ids = docker("ps", "-aq", "--filter", f"label=org.acs.vmm={vm}", check=False).stdout.split()
            if ids:
                docker("rm", "-f", *ids, check=False)

    def containers_of(self, vm):
        return sorted(docker("ps", "-q", "--no-trunc", "--filter", f"label=org.acs.vmm={vm}").stdout.split())

    def start_vmm(self, i, state="active", min_containers=0, capacity=2, policy=""):
        vm = self.vms[i]
        d = os.path.join(self.tmpdir, vm)
        os.makedirs(d, exist_ok=True)
        key = os.path.join(self.keys, f"{vm}.key")
        if not os.path.exists(key):
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(os.urandom(32).hex() + "\n")
        conf = os.path.join(d, "vmm.conf")
        ports = 18100 + 20 * i  # containers: 18100-18159
        with open(conf, "w") as f:
            f.write(f"""[VM]
Name={vm}
Address=127.0.0.1
Service=web
Capacity={capacity}
MinContainers={min_containers}
State={state}
PortRangeStart={ports}
PortRangeEnd={ports + 19}
[Docker]
Network=host
CpuLimit=0.1
MemoryLimit=64M
WebBinary={binary("src/web/acs-web")}
StopTimeout=3s
DrainTime=1s
[Web]
ClientCost=yes
[Vim]
Address=127.0.0.1:{self.agent_port}
KeyFile={key}
[Monitor]
Interval=1s
[Policy]
{policy}
""")
        if vm not in self.vmm_buses:
            self.vmm_buses[vm] = self.own(Bus())
        p = self.start([binary("src/vmm/acs-vmm"), "--config", conf,
                        f"--bus-address={self.vmm_buses[vm].address}"], name=f"acs-vmm-{vm}-{len(self._owned)}")
        self.vmm[vm] = p
        return p

    def start_proxy(self):
        conf = os.path.join(self.tmpdir, "proxy.conf")
        with open(conf, "w") as f:
            f.write(f"""[Proxy]
Listen=127.0.0.1:{self.proxy_port}
AdminListen=127.0.0.1:{self.proxy_admin_port}
Source=vim
BusAddress={self.bus.address}
Workers=1
HealthCheckInterval=1s
""")
        self.proxy = self.start([binary("src/proxy/acs-proxy"), "--config", conf,
                                 f"--bus-address={self.bus.address}"], name="acs-proxy")
        wait_port(self.proxy_port)

    def served_by(self, n=20):
        seen = set()
        for _ in range(n):
            try:
                status, _, body = http_get(f"http://127.0.0.1:{self.proxy_port}/", timeout=10)
            except OSError:
                continue
            if status == 200:
                seen.add(json.loads(body)["vm"])
        return seen

    def test_real_vmms_scale_fail_and_restart(self):
        self.vmm_buses = {}
        self.start_vim(Placement="binpack", TargetCpu="0.6", TargetInflight="1.0", ScaleDownWindow="60s",
                       VmStandbyDelay="3s", DrainTimeout="5s", MaxReplicas="6")
        self.start_vmm(0, min_containers=1)
        self.start_vmm(1)
        self.start_vmm(2, state="standby")
        vm1, vm2, vm3 = self.vms
        self.wait_state(lambda s: len(s["vms"]) == 3 and s["service"]["ready"] >= 1, 60, "VMs registered, one ready")
        self.start_proxy()
        wait_until(lambda: self.served_by(3) == {vm1}, 20, what="the proxy serves from vm1")

        # --- load: 6 users, each holding a request in flight most of the time
        load = self.start([binary("src/load/acs-load"), "--url", f"http://127.0.0.1:{self.proxy_port}/?cost_ms=60",
                           "--users", "6", "--duration", "120"], name="acs-load")
        self.wait_state(lambda s: len(self.vm(vm1, s)["containers"]) == 2, 30, "vm1 filled")
        self.wait_state(lambda s: len(self.vm(vm2, s)["containers"]) >= 1, 30, "vm2 used")
        self.wait_state(lambda s: self.vm(vm3, s)["state"] == "active" and self.vm(vm3, s)["containers"], 40,
                        "standby vm3 activated and used")
        # binpack: vm1 first, then vm2, then vm3; vm3 was activated when the active VMs had no
        # headroom left, not before vm1 was full
        log = self.vim.output()
        self.assertLess(log.index(f"{vm1} +1"), log.index(f"{vm2} +"))
        self.assertLess(log.index(f"{vm2} +"), log.index(f"{vm3} +"))
        self.assertLess(log.index(f"{vm1} +1"), log.index("[vm-activate]"))
        self.assertRegex(self.vim_events("vm-activate")[0], r"free slots on active VMs|more containers wanted")

        # --- kill -9 vm2's VMM under load: unreachable within grace (2 s) + 1 s, its containers serve on
        self.wait_state(lambda s: s["service"]["running"] == s["service"]["ready"] == 6, 40, "six ready")
        vm2_containers = self.containers_of(vm2)
        self.assertTrue(vm2_containers)
        self.vmm[vm2].kill9()
        t = time.monotonic()
        self.wait_state(lambda s: self.vm(vm2, s)["state"] == "unreachable", 5, "vm2 unreachable")
        self.assertLess(time.monotonic() - t, 3.5)
        self.assertEqual(self.containers_of(vm2), vm2_containers, "its containers keep running")
        wait_until(lambda: vm2 in self.served_by(12), 60, what="vm2's containers still answer through the proxy")
        self.start_vmm(1)
        self.wait_state(lambda s: self.vm(vm2, s)["state"] == "active", 30, "vm2 re-registered")
        self.wait_state(lambda s: sorted(c["id"] for c in self.vm(vm2, s)["containers"]) == vm2_containers, 20,
                        "vm2's containers adopted again")
        self.assertEqual(self.containers_of(vm2), vm2_containers, "nothing recreated on vm2")
        self.assertFalse([l for l in self.vim_events("container-gone") if vm2 in l], "never left the model")

        # --- acs-vim restarted under load: same backend set, nothing recreated
        wait_until(lambda: self.state()["service"]["running"] == self.state()["service"]["ready"], 20,
                   what="nothing starting")
        _, before = self.backends()
        ids_before = sorted(b[5] for b in before)
        # meanwhile the proxy keeps its set: it has no one to ask until the new VIM owns the name,
        # with the model rebuilt from the VMMs
        def proxy_backends():
            return len(self.bus.call_json("org.acs.Proxy1", "/org/acs/Proxy1", "org.acs.Proxy1",
                                          "GetBackendStats")["data"][0])

        # The proxy fetches a new set on BackendsChanged: give the last change a moment to arrive.
        wait_until(lambda: proxy_backends() == len(before), 3, what="the proxy to hold the VIM's backend set")
        sizes, done = [], threading.Event()

        def watch():
            while not done.is_set():
                sizes.append(proxy_backends())
                time.sleep(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        fetched = self.proxy.output().count("Backend set generation")
        try:
            self.vim.stop()
            self.start_vim(Placement="binpack", TargetCpu="0.6", TargetInflight="1.0", ScaleDownWindow="60s",
                           VmStandbyDelay="3s", DrainTimeout="5s", MaxReplicas="6")
            # the proxy asks again once the name has its new owner
            wait_until(lambda: self.proxy.output().count("Backend set generation") > fetched, 15,
                       what="the proxy to read the new VIM's backend set")
        finally:
            done.set()
            watcher.join()
        self.assertGreater(len(sizes), 10)
        self.assertEqual(min(sizes), len(before), "the proxy never lost a backend")
        self.wait_state(lambda s: len([v for v in s["vms"] if v["state"] != "unreachable"]) == 3, 30,
                        "all VMMs re-registered")
        self.wait_decisions(2, timeout=15)
        _, after = self.backends()
        self.assertEqual(sorted(b[5] for b in after), ids_before)
        # and Docker runs exactly those: nothing was recreated or added
        self.assertEqual(sorted(sum((self.containers_of(v) for v in self.vms), [])), ids_before)

        # --- load gone: scale-in with draining after the window (shortened now through the API,
        # so that nothing scaled in while the failures above were checked); vm3 back to standby
        load.stop()
        status, _ = http_json(f"http://127.0.0.1:{self.api_port}/api/v1/policy", method="PUT",
                              headers={"Authorization": "Bearer " + self.token,
                                       "Content-Type": "application/json"},
                              data=b'{"scale_down_window_s":5}')
        self.assertEqual(status, 200)
        self.wait_event("scale-in", timeout=40)
        self.wait_state(lambda s: self.vm(vm3, s)["state"] == "standby", 60, "vm3 back to standby")
        self.assertTrue(self.vim_events("container-remove") or self.vim_events("container-gone"))

    def test_whole_vm_gone_is_ejected_and_replaced(self):
        """The VMM and its containers killed: the proxy's checks eject its backends within the
        fall time, and the VIM replaces the lost capacity on the other VM."""
        self.vmm_buses = {}
        self.start_vim(Placement="spread", ScaleDownWindow="60s", MaxReplicas="6")
        self.start_vmm(0, min_containers=1, capacity=3)
        self.start_vmm(1, capacity=2)
        vm1, vm2 = self.vms[0], self.vms[1]
        self.wait_state(lambda s: s["service"]["ready"] >= 1 and len(s["vms"]) == 2, 60, "two VMs, one ready")
        self.start_proxy()
        status, _ = http_json(f"http://127.0.0.1:{self.api_port}/api/v1/scale", method="POST",
                              headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"},
                              data=b'{"replicas":3}')
        self.assertEqual(status, 200)
        self.wait_state(lambda s: s["service"]["ready"] == 3 and len(self.vm(vm2, s)["containers"]) >= 1, 60,
                        "three ready, spread over both VMs")
        lost = {c["port"] for c in self.vm(vm2)["containers"]}

        def health():
            stats = self.bus.call_json("org.acs.Proxy1", "/org/acs/Proxy1", "org.acs.Proxy1",
                                       "GetBackendStats")["data"][0]
            return {port: h for _, port, h, *_ in stats}

        wait_until(lambda: all(health().get(p) == "up" for p in lost), 20, what="vm2's backends up at the proxy")
        self.vmm[vm2].kill9()
        docker("kill", *self.containers_of(vm2))
        t = time.monotonic()
        wait_until(lambda: all(health().get(p) in ("down", None) for p in lost), 15,
                   what="vm2's backends ejected by the proxy's checks")
        ejected = time.monotonic() - t
        self.assertLess(ejected, 10)
        # the VIM saw it too, in its event stream
        self.wait_event("health", rf"on {vm2}\) at the proxy: up -> down", timeout=5)
        self.wait_state(lambda s: self.vm(vm2, s)["state"] == "unreachable", 5, "vm2 unreachable")
        self.wait_state(lambda s: s["service"]["ready"] == 3 and len(self.vm(vm1, s)["containers"]) == 3, 60,
                        "the lost capacity replaced on vm1")
        self.assertTrue(self.vim_events("replace"))
        # the service answered throughout from vm1
        self.assertEqual(self.served_by(5), {vm1})

    def test_vim_restart_under_load_vmms_wait(self):
        """Direct routing: acs-vim restarted while requests keep coming. None fails, and the VMMs,
        whose local policy would add containers at this load, do nothing alone meanwhile: the VIM
        is back well within their AutonomyGrace= (default 30 s)."""
        self.vmm_buses = {}
        scaling = dict(Placement="spread", MinReplicas="2", MaxReplicas="2", ScaleDownWindow="60s")
        self.start_vim(**scaling)
        # A target the load is far above: left alone, the local policy would scale out at once.
        for i in (0, 1):
            self.start_vmm(i, min_containers=1, capacity=3, policy="TargetCpu=0.05\nScaleDownWindow=0")
        self.wait_state(lambda s: s["service"]["ready"] == 2 and len(s["vms"]) == 2, 60, "two VMs, two ready")
        self.start_proxy()
        wait_until(lambda: len(self.served_by(10)) == 2, 20, what="the proxy serves from both VMs")
        before = sorted(sum((self.containers_of(v) for v in self.vms[:2]), []))

        stop, ok, failed = threading.Event(), [0], []

        def client():
            while not stop.is_set():
                try:
                    status, _, _ = http_get(f"http://127.0.0.1:{self.proxy_port}/?cost_ms=20", timeout=20)
                    if status == 200:
                        ok[0] += 1
                    else:
                        failed.append(status)
                except OSError as e:
                    failed.append(repr(e))

        clients = [threading.Thread(target=client) for _ in range(3)]
        for t in clients:
            t.start()
        try:
            self.wait_state(lambda s: min(v["cpu"] for v in s["vms"]) > 0.01, 20, "the load on both VMs")
            self.vim.stop()
            # The VIM stays away for a few seconds, as a restart of the unit may take.
            t_down = time.monotonic()
            wait_until(lambda: all("Lost the VIM" in self.vmm[v].output() for v in self.vms[:2]), 10,
                       what="both VMMs lost the VIM")
            time.sleep(max(0.0, 4 - (time.monotonic() - t_down)))
            self.start_vim(**scaling)
            self.wait_state(lambda s: s["service"]["ready"] == 2 and
                            all(v["state"] == "active" for v in s["vms"]), 30, "both VMs re-registered")
            served = ok[0]
            wait_until(lambda: ok[0] > served + 20, 20, what="requests served after the restart")
        finally:
            stop.set()
            for t in clients:
                t.join(30)
        self.assertEqual(failed, [], f"{len(failed)} requests failed over the restart ({ok[0]} ok)")
        for v in self.vms[:2]:
            self.assertNotIn("Local policy", self.vmm[v].output(), f"{v} scaled by itself during the restart")
        self.assertEqual(sorted(sum((self.containers_of(v) for v in self.vms[:2]), [])), before,
                         "the same containers before and after")


if __name__ == "__main__":
    main()
