#!/usr/bin/env python3
"""The Docker Engine goes away under acs-vmm and comes back: the agent says so once and
clearly, keeps answering on D-Bus, and recovers by itself. The test runs a dockerd of its own
so that the machine's Engine is never stopped; being new, that Engine also has no image, so the
agent builds it, and builds it again when its acs-web binary is another one."""
import hashlib
import os
import shutil
import tempfile
import time

from acstest import BUILD_DIR, http_json, main, wait_until
from vmmtest import Dockerd, VmmTestCase, test_image


class VmmDockerDownTest(VmmTestCase):
    def test_dockerd_stopped_and_back(self):
        dockerd = Dockerd(tempfile.mkdtemp(prefix="acs-vmm-dockerd-"))
        self.addCleanup(dockerd.destroy)
        dockerd.start()

        bus = self.start_bus()
        vmm = self.start_vmm(bus, self.write_config(capacity=2, minimum=1, socket=dockerd.socket))
        self.wait_vmm_on_bus(bus)
        wait_until(lambda: len(self.ready_backends(bus)) == 1, 60, what="the first container")
        self.assertTrue(self.vmm_property(bus, "DockerConnected"))
        # A fresh Engine has no image: the agent built it from the acs-web binary.
        self.assertIn("is missing, building it from", vmm.output())
        self.assertIn(test_image(), dockerd.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split())

        dockerd.stop()
        vmm.wait_for_output(r"Docker Engine at \S+ is not answering", timeout=20)
        wait_until(lambda: not self.vmm_property(bus, "DockerConnected"), 10, what="DockerConnected false")

        # The API keeps answering while Docker is away, and takes orders for later.
        self.assertEqual(self.vmm_property(bus, "Name"), self.vm)
        self.backends(bus)
        self.vmm_call(bus, "ScaleTo", "u", 2)
        self.assertEqual(self.vmm_property(bus, "DesiredContainers"), 2)
        # Retries go on quietly: the outage is reported once, not on every attempt.
        time.sleep(3)
        self.assertEqual(vmm.output().count("is not answering"), 1, vmm.output())
        self.assertTrue(vmm.alive())

        dockerd.start()
        vmm.wait_for_output(r"Docker Engine at \S+ is back", timeout=30)
        ready = wait_until(lambda: (lambda r: r if len(r) == 2 else None)(self.ready_backends(bus)), 60,
                           interval=0.2, what="two containers after Docker came back")
        for address, port, _, _, vm, container in ready:
            status, body = http_json(f"http://{address}:{port}/?cost_ms=0", timeout=10)
            self.assertEqual((status, body["vm"], body["container"]), (200, self.vm, container))
        self.assertTrue(self.vmm_property(bus, "DockerConnected"))
        self.assertEqual(vmm.stop(), 0)

        # A new acs-web build under the same tag: the image is built again from it rather than
        # containers started from the old one.
        web = os.path.join(self.tmpdir, "acs-web")
        shutil.copy(os.path.join(BUILD_DIR, "src/web/acs-web"), web)
        with open(web, "ab") as f:
            f.write(b"\0")         # past the ELF's end: the same program, another digest
        with open(web, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        vmm = self.start_vmm(bus, self.write_config(capacity=2, minimum=1, socket=dockerd.socket, web_binary=web),
                             name="acs-vmm-new-web")
        vmm.wait_for_output(r"holds another acs-web than", timeout=30)
        wait_until(lambda: dockerd.docker("image", "inspect", "--format",
                                          '{{index .Config.Labels "org.acs.web-sha256"}}',
                                          test_image()).stdout.strip() == digest, 60,
                   what="the image rebuilt from the new binary")
        self.assertEqual(vmm.stop(), 0)


if __name__ == "__main__":
    main()
