#!/usr/bin/env python3
"""acs-vmm against the real Docker Engine and a real private dbus-daemon: what an operator
sees on org.acs.VMM1 and on the containers' ports."""
import json
import os
import signal
import time

from acstest import Monitor, docker, http_json, main, wait_until
from vmmtest import VmmTestCase


class VmmDbusTest(VmmTestCase):
    def start_agent(self, **config):
        bus = self.start_bus()
        config_path = self.write_config(**config)
        vmm = self.start_vmm(bus, config_path)
        self.wait_vmm_on_bus(bus)
        return bus, vmm, config_path

    def wait_ready(self, bus, n, timeout=60):
        """Waits for exactly n ready backends; returns them."""
        return wait_until(lambda: (lambda r: r if len(r) == n else None)(self.ready_backends(bus)),
                          timeout, interval=0.1, what=f"{n} ready containers")

    def assert_answers(self, backend):
        address, port, weight, state, vm, container = backend
        # cost_ms=0: who answers, not how fast its CPU share burns the default cost.
        status, body = http_json(f"http://{address}:{port}/?cost_ms=0", timeout=10)
        self.assertEqual(status, 200)
        self.assertEqual(body["vm"], self.vm)
        self.assertEqual(body["container"], container)

    def test_scale_up_down_and_refusals(self):
        bus, vmm, _ = self.start_agent(capacity=3, minimum=1)
        monitor = self.own(Monitor(bus, f"--match=type='signal',sender='org.acs.VMM1'",
                                   "--match=type='error'"))

        intro = bus.busctl("introspect", "org.acs.VMM1", "/org/acs/VMM1").stdout
        for member in ("ScaleTo", "AddContainer", "RemoveContainer", "Drain", "SetState", "GetBackends",
                       "BackendsChanged", "Containers", "CpuUtilization", "VimConnected", "Capacity",
                       "MinContainers", "State", "Name"):
            self.assertIn(f".{member} ", intro)
        self.assertEqual(self.vmm_property(bus, "Capacity"), 3)

        # MinContainers=1 holds from the start.
        self.wait_ready(bus, 1)

        self.vmm_call(bus, "ScaleTo", "u", 3)
        ready = self.wait_ready(bus, 3)
        for b in ready:
            self.assert_answers(b)
        self.assertEqual(len({b[1] for b in ready}), 3)
        self.assertEqual(sorted(b[5] for b in ready), self.containers())

        # What Docker was asked for: our labels and limits, nothing privileged.
        info = json.loads(docker("inspect", ready[0][5]).stdout)[0]
        labels = info["Config"]["Labels"]
        self.assertEqual(labels["org.acs.managed"], "1")
        self.assertEqual(labels["org.acs.vmm"], self.vm)
        self.assertEqual(labels["org.acs.service"], "web")
        host = info["HostConfig"]
        self.assertFalse(host["Privileged"])
        self.assertEqual(host["NanoCpus"], 500000000)
        self.assertEqual(host["Memory"], 64 * 1024 * 1024)
        self.assertEqual(host["NetworkMode"], "host")
        self.assertEqual(host["CapDrop"], ["ALL"])
        self.assertFalse(host.get("Binds"))
        self.assertFalse(host.get("Devices"))
        self.assertIn(f"ACS_PORT={ready[0][1]}", info["Config"]["Env"])

        # The CPU of each container is measured from its cgroup.
        wait_until(lambda: all(c[5] > 0 for c in self.vmm_property(bus, "Containers")), 10,
                   what="memory figures of every container")

        # Beyond capacity: refused with a sentence, nothing changes.
        r = bus.busctl("call", "org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", "ScaleTo", "u", "4", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("capacity is 3", r.stderr)

        # An unprivileged caller is refused (no polkit on this bus: root only), with a message
        # that names the action.
        r = bus.busctl("call", "org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", "ScaleTo", "u", "1",
                       check=False, user=65534)
        self.assertNotEqual(r.returncode, 0)
        wait_until(lambda: any("org.acs.scale" in json.dumps(m.get("payload"))
                               and m.get("error_name") == "org.freedesktop.DBus.Error.AccessDenied"
                               and "uid 65534" in json.dumps(m.get("payload"))
                               for m in monitor.messages()), 5, what="the AccessDenied reply")
        self.assertEqual(self.vmm_property(bus, "DesiredContainers"), 3)
        self.assertEqual(len(self.ready_backends(bus)), 3)

        # Scale-in drains first (listed as draining, so a proxy stops sending), then removes.
        generation_before = self.backends(bus)[0]
        self.vmm_call(bus, "ScaleTo", "u", 1)
        draining = wait_until(lambda: [b for b in self.backends(bus)[1] if b[3] == "draining"], 5,
                              interval=0.05, what="draining containers")
        self.assertEqual(len(draining), 2)
        wait_until(lambda: len(self.backends(bus)[1]) == 1 and len(self.containers()) == 1, 20,
                   what="two containers removed")
        self.assertGreater(self.backends(bus)[0], generation_before)
        generations = [m["payload"]["data"][0] for m in monitor.signals("BackendsChanged")]
        self.assertTrue(generations and generations == sorted(generations), generations)
        self.assertTrue(any(m for m in monitor.signals("PropertiesChanged")))
        self.assertTrue(vmm.alive())
        # SIGTERM stops the agent cleanly and leaves the containers serving.
        self.assertEqual(vmm.stop(), 0)
        self.assertEqual(len(self.containers(all_states=False)), 1)

    def test_killed_container_is_replaced_within_2s(self):
        bus, vmm, _ = self.start_agent(capacity=2, minimum=2)
        old = {b[5] for b in self.wait_ready(bus, 2)}
        victim = sorted(old)[0]

        start = time.monotonic()
        docker("kill", victim)

        def replacement_answers():
            # Asked as a user would: some port of the VM's range answers from a new container.
            # cost_ms=0: whether it answers, not how fast its CPU share burns 250 ms.
            for port in range(self.ports[0], self.ports[1] + 1):
                try:
                    status, body = http_json(f"http://127.0.0.1:{port}/?cost_ms=0", timeout=1)
                except OSError:
                    continue
                if status == 200 and body["container"] not in old:
                    return body["container"]
            return None
        new = wait_until(replacement_answers, 10, interval=0.02, what="a replacement answering")
        elapsed = time.monotonic() - start
        print(f"replacement answered {elapsed:.2f}s after docker kill")
        self.assertLess(elapsed, 2.0)
        wait_until(lambda: victim not in self.containers(), 10, what="the dead container removed")
        self.assertIn(new, self.containers())
        self.assertIn("container-died", vmm.output())

    def test_restart_adopts_running_containers(self):
        bus, vmm, config = self.start_agent(capacity=3, minimum=1)
        self.vmm_call(bus, "ScaleTo", "u", 2)
        before = sorted(b[5] for b in self.wait_ready(bus, 2))

        vmm.kill9()
        vmm2 = self.start_vmm(bus, config, name="acs-vmm-restarted")
        # From the moment it is on the bus, the agent either says it does not know its backends
        # yet, or lists both: an empty set would make a proxy drop them.
        answers = []

        def both_listed():
            r = bus.busctl("--json=short", "call", "org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", "GetBackends",
                           check=False)
            if r.returncode == 0:
                answers.append(sorted(b[5] for b in json.loads(r.stdout)["data"][1]))
            return answers and answers[-1] == before
        wait_until(both_listed, 20, interval=0.01, what="both containers listed after the restart")
        self.assertTrue(all(a == before for a in answers), answers)
        after = sorted(b[5] for b in self.wait_ready(bus, 2))
        self.assertEqual(before, after)
        # Nothing was created or removed behind our back, and the count it keeps is what ran.
        time.sleep(1.5)
        self.assertEqual(self.containers(), before)
        self.assertEqual(self.vmm_property(bus, "DesiredContainers"), 2)
        self.assertIn("Adopted running container", vmm2.output())


if __name__ == "__main__":
    main()
