#!/usr/bin/env python3
"""With no VIM to give orders, acs-vmm scales its VM by itself within [MinContainers,
Capacity], with the target-tracking rule the VIM uses: idle containers go, a busy one gets help."""
import threading
import time
import urllib.request

from acstest import main, wait_until
from vmmtest import VmmTestCase


class VmmLocalPolicyTest(VmmTestCase):
    def test_scales_in_when_idle_and_out_under_load(self):
        bus = self.start_bus()
        config = self.write_config(capacity=3, minimum=1, extra="")
        # Local scaling on, no stabilization window, so the test does not wait a minute; a low
        # target, so that load crosses it also on a machine busy with other work.
        with open(config) as f:
            text = f.read().replace("LocalScaling=no",
                                    "LocalScaling=yes\nTargetCpu=0.1\nTolerance=0.05\nScaleDownWindow=0")
        with open(config, "w") as f:
            f.write(text)
        vmm = self.start_vmm(bus, config)
        self.wait_vmm_on_bus(bus)

        # Three idle containers are more than the rule wants: back to the minimum.
        self.vmm_call(bus, "ScaleTo", "u", 3)
        wait_until(lambda: self.vmm_property(bus, "DesiredContainers") == 1, 30, interval=0.2,
                   what="the local policy to scale in to MinContainers")
        wait_until(lambda: len(self.ready_backends(bus)) == 1 and len(self.containers()) == 1, 30,
                   what="idle containers removed")
        self.assertRegex(vmm.output(), r"Local policy \(no VIM\): 3 -> 1")

        # Keep the one container's CPU share busy: utilization far above the target.
        (address, port, *_rest), = self.ready_backends(bus)
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    urllib.request.urlopen(f"http://{address}:{port}/?cost_ms=200", timeout=5).read()
                except OSError:
                    time.sleep(0.05)
        threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: self.vmm_property(bus, "DesiredContainers") >= 2, 30, interval=0.2,
                       what="the local policy to scale out under load")
            wait_until(lambda: len(self.ready_backends(bus)) >= 2, 30, what="a second container ready")
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertLessEqual(self.vmm_property(bus, "DesiredContainers"), 3)
        self.assertRegex(vmm.output(), r"Local policy \(no VIM\): 1 -> [23]")
        self.assertEqual(vmm.stop(), 0)


if __name__ == "__main__":
    main()
