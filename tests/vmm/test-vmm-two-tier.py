#!/usr/bin/env python3
"""Two-tier routing: a VM-side acs-proxy (Source=vmm) takes its backends from acs-vmm over
D-Bus, and follows the agent's changes without dropping a request."""
import os
import threading
import time

from acstest import binary, http_json, main, port_is_free, wait_until
from vmmtest import VMM_PORTS, VmmTestCase


class VmmTwoTierTest(VmmTestCase):
    def test_vm_proxy_follows_the_agent(self):
        bus = self.start_bus()
        config_path = self.write_config(capacity=3, minimum=1)
        vmm = self.start_vmm(bus, config_path)
        self.wait_vmm_on_bus(bus)
        self.vmm_call(bus, "ScaleTo", "u", 2)
        wait_until(lambda: len(self.ready_backends(bus)) == 2, 60, what="two ready containers")

        proxy_port = next(p for p in [*range(self.ports[1] + 1, VMM_PORTS[1] + 1), *range(VMM_PORTS[0], self.ports[0])]
                          if port_is_free(p))
        config = os.path.join(self.tmpdir, "proxy.conf")
        with open(config, "w") as f:
            f.write(f"[Proxy]\nListen=127.0.0.1:{proxy_port}\nSource=vmm\nWorkers=1\nHealthCheckInterval=1s\n")
        self.start([binary("src/proxy/acs-proxy"), "--config", config, f"--bus-address={bus.address}"],
                   name="acs-proxy")

        url = f"http://127.0.0.1:{proxy_port}/?cost_ms=0"
        ids = {b[5] for b in self.ready_backends(bus)}

        def answers():
            try:
                status, body = http_json(url, timeout=2)
            except OSError:
                return None
            return body["container"] if status == 200 and body["vm"] == self.vm else None
        wait_until(answers, 20, what="the VM proxy to answer")
        seen = {answers() for _ in range(20)}
        self.assertEqual(seen, ids)

        # A steady stream of requests through the VM proxy: none may fail while the agent scales
        # in (the drained container stops getting requests), nor while the agent is killed and
        # restarted (it must not publish an empty set while it looks at its containers again).
        failures, served, stop = [], [], threading.Event()

        def stream():
            while not stop.is_set():
                try:
                    status, body = http_json(url, timeout=5)
                    (served if status == 200 else failures).append(body.get("container") if body else status)
                except OSError as e:
                    failures.append(str(e))
                time.sleep(0.02)
        t = threading.Thread(target=stream, daemon=True)
        t.start()
        try:
            self.vmm_call(bus, "ScaleTo", "u", 1)
            wait_until(lambda: len(self.containers()) == 1, 30, what="one container left")
            survivor = self.containers()[0]
            mark = len(served)
            wait_until(lambda: len(served) >= mark + 20, 10, what="20 requests served after the scale-in")
            after_scale_in = served[mark:]

            vmm.kill9()
            mark = len(served)
            wait_until(lambda: len(served) >= mark + 10, 10, what="requests served while the agent is dead")
            vmm = self.start_vmm(bus, config_path, name="acs-vmm-restarted")
            vmm.wait_for_output("Adopted running container")
            wait_until(lambda: len(self.ready_backends(bus)) == 1, 20, what="the survivor ready again")
            mark = len(served)
            wait_until(lambda: len(served) >= mark + 20, 10, what="20 requests served after the restart")
        finally:
            stop.set()
            t.join(10)
        self.assertEqual(failures, [])
        self.assertEqual(set(after_scale_in), {survivor})
        self.assertEqual(self.containers(), [survivor])
        self.assertTrue(vmm.alive())


if __name__ == "__main__":
    main()
