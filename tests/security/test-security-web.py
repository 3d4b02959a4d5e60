#!/usr/bin/env python3
"""A client sets the cost: with the shipped configuration a request's ?cost_ms= must not change
the CPU a container burns (before, any client could ask for 10 s of CPU per request). Measured
on the container's process and on the response time, through acs-vmm and the real Docker
Engine, and on acs-web started bare, as its image starts it."""
import json
import os
import time

from acstest import binary, docker, http_get, http_json, main, wait_until
from vmmtest import VmmTestCase

ASKED_MS = 5000     # what the attacker asks for; half a CPU would take 10 s of wall time for it


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ClientCostTest(VmmTestCase):
    def measure(self, url, pid):
        """One request: (container CPU seconds it took, wall seconds, the cpu_ms acs-web reports)."""
        cpu, t = cpu_seconds(pid), time.monotonic()
        status, _, body = http_get(url, timeout=30)
        wall = time.monotonic() - t
        self.assertEqual(status, 200, body)
        return cpu_seconds(pid) - cpu, wall, json.loads(body)["cpu_ms"]

    def assert_cost_ignored(self, base_url, pid, expected_ms):
        honest = self.measure(base_url + "/", pid)
        attack = self.measure(base_url + f"/?cost_ms={ASKED_MS}", pid)
        print(f"plain request: {honest[0]:.2f} s CPU, {honest[1]:.2f} s; ?cost_ms={ASKED_MS}: "
              f"{attack[0]:.2f} s CPU, {attack[1]:.2f} s (loaded machine)")
        for cpu, wall, reported in (honest, attack):
            self.assertAlmostEqual(reported, expected_ms, delta=expected_ms * 0.5 + 20)
            self.assertLess(cpu, 1.0, "the container burnt what the client asked for")
        self.assertLess(attack[1], 4.0)

    def test_shipped_vmm_config_ignores_client_cost(self):
        bus = self.start_bus()
        # An image of its own, built by acs-vmm from this tree's acs-web: the shared test image
        # may hold a binary older than the check.
        image = f"acs-web:0.1.0-sectest{os.getpid()}"
        docker("rmi", "-f", image, check=False)
        self.addCleanup(lambda: docker("rmi", "-f", image, check=False))
        # No [Web] section: what a deployment gets without touching it (CpuLimit=0.5: 250 ms).
        self.start_vmm(bus, self.write_config(capacity=1, minimum=1, client_cost=False, image=image))
        self.wait_vmm_on_bus(bus)
        ready = wait_until(lambda: self.ready_backends(bus), 60, interval=0.2, what="a ready container")
        address, port, _, _, _, container = ready[0]

        info = json.loads(docker("inspect", container).stdout)[0]
        self.assertIn("ACS_WEB_CLIENT_COST=0", info["Config"]["Env"])
        self.assert_cost_ignored(f"http://{address}:{port}", info["State"]["Pid"], 250)

    def test_bare_acs_web_ignores_client_cost(self):
        # The image's ENV says nothing about the cost either: acs-web's own default must hold.
        port = self.port_range(1)[0]     # the VMM tests' area, apart for each process
        web = self.start([binary("src/web/acs-web")],
                         env={"ACS_PORT": str(port), "ACS_WEB_LISTEN": "127.0.0.1", "ACS_WEB_CPU": "0.2"})
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200, 10,
                   what="acs-web")
        self.assert_cost_ignored(f"http://127.0.0.1:{port}", web.pid, 100)
        # The operator's own cost still holds, and an allowed ?cost_ms= is still capped.
        web.stop()
        web = self.start([binary("src/web/acs-web")],
                         env={"ACS_PORT": str(port), "ACS_WEB_LISTEN": "127.0.0.1", "ACS_WEB_CLIENT_COST": "1"})
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200, 10,
                   what="acs-web")
        self.assertEqual(http_json(f"http://127.0.0.1:{port}/?cost_ms=10001")[0], 400)
        self.assertAlmostEqual(http_json(f"http://127.0.0.1:{port}/?cost_ms=40")[1]["cpu_ms"], 40, delta=20)


if __name__ == "__main__":
    main()
