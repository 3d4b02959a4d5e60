#!/usr/bin/env python3
"""A hostile VMM holding a valid key: it reports containers on the front host's loopback, on the
wildcard address, on another host, 1,000 of them, or the ids of another VM's containers. The VIM
refuses each with an ACS_EVENT= line, the backend set never shows them, and the VIM keeps
serving the honest VM."""
import os
import socket
import subprocess
import time

from acstest import main, wait_until
from vimtest import VimTestCase


class HostileVmTest(VimTestCase):
    PORTS = (18300, 18339)

    def backend_vms(self):
        return sorted({b[4] for b in self.backends()[1]})

    def test_loopback_refused_without_the_operators_consent(self):
        self.start_vim(agents={"AllowHostAddresses": "no"})
        self.start_agent("evil", containers=2, capacity=2)
        self.wait_event("vm-address-refused", r"evil: address 127\.0\.0\.1 \(peer address\) is a loopback address")
        self.wait_event("report-refused", r"VM evil: 2 of 2 containers refused")
        self.assertEqual(self.backends()[1], [])
        self.assertEqual(self.vm("evil")["containers"], [])

    def test_wildcard_and_foreign_addresses_refused(self):
        self.start_vim()
        self.start_agent("vm1", containers=1, capacity=2)
        for address in ("0.0.0.0", "10.9.8.7", "::"):
            self.start_agent("evil", containers=2, capacity=2, extra=["--container-address", address])
            self.wait_event("report-refused", rf"VM evil: 2 of 2 containers refused .*: {address} is not "
                                              r"the VM's address")
            self.agents["evil"].stop()
        self.assertEqual(self.backend_vms(), ["vm1"])

    def test_address_from_the_vims_file_not_the_report(self):
        with open(os.path.join(self.keys, "vm1.conf"), "w") as f:
            f.write("[VM]\nAddress=192.0.2.10\nMaxContainers=3\n")
        self.start_vim(agents={"AllowHostAddresses": "no"})
        self.start_agent("vm1", containers=2, capacity=8, extra=["--container-address", "192.0.2.10"])
        self.wait_state(lambda s: len(self.vm("vm1", s)["containers"]) == 2, 10, "vm1's containers")
        self.assertEqual({b[0] for b in self.backends()[1]}, {"192.0.2.10"})
        self.assertEqual(self.vm("vm1")["capacity"], 3, "capped by the VM's file, not the report")
        self.assertEqual(self.vm("vm1")["address"], "192.0.2.10")

    def test_ports_outside_the_range_refused(self):
        # The simulated VMs use ports from 30000 up: a range that leaves them out refuses them all.
        self.start_vim(agents={"ContainerPortMin": "9100", "ContainerPortMax": "9199"})
        self.start_agent("evil", containers=2, capacity=2)
        self.wait_event("report-refused", r"VM evil: 2 of 2 containers refused .*port \d+ is outside 9100\.\.9199")
        self.assertEqual(self.backends()[1], [])
        self.assertEqual(self.vm("evil")["containers"], [])

    def test_a_thousand_containers_capped(self):
        self.start_vim(agents={"MaxContainers": "16"}, MinReplicas=16, MaxReplicas=2000)
        self.start_agent("evil", containers=1000, capacity=1000)
        self.wait_event("report-refused", r"VM evil: 984 of 1000 containers refused \(0 id clashes\), first \w+: "
                                          r"more than "
                                          r"MaxContainers=16")
        self.wait_state(lambda s: len(self.vm("evil", s)["containers"]) == 16, 10, "16 containers kept")
        self.assertEqual(self.vm("evil")["capacity"], 16)
        self.assertLessEqual(len(self.backends()[1]), 16)

    def test_stolen_container_id_refused(self):
        self.start_vim(Placement="spread", MinReplicas=2)
        self.start_agent("vm1", containers=2, capacity=2)
        wait_until(lambda: len(self.backends()[1]) == 2, 10, interval=0.1, what="vm1's two backends")
        before = self.backends()[1]
        self.start_agent("evil", containers=2, capacity=2, extra=["--ids-of", "vm1"])
        self.wait_event("container-id-clash", r"VM evil reported 2 containers whose ids belong to other VMs")
        # Nothing flaps: over several of the thief's reports, the set stays vm1's.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            self.assertEqual(self.backends()[1], before)
            self.assertEqual(self.vm("evil")["containers"], [])
            time.sleep(0.2)
        # and the VIM logged it once, not once a second
        self.assertEqual(len(self.vim_events("container-id-clash")), 1)

    def test_stalled_handshakes_do_not_lock_out_a_real_vm(self):
        # a long deadline: room must come from the slots, not from the stalled ones timing out
        self.start_vim(agents={"HandshakeTimeout": "30s"})
        stalled = [socket.create_connection(("127.0.0.1", self.agent_port)) for _ in range(64)]
        try:
            time.sleep(0.5)     # all 64 accepted and in their handshake
            t = time.monotonic()
            self.start_agent("vm1", containers=1, capacity=2)
            self.wait_state(lambda s: self.vm("vm1", s) is not None, 2, "vm1 registered within 2 s")
            print(f"vm1 registered {time.monotonic() - t:.2f} s after 64 stalled handshakes (loaded machine)")
            self.assertIn("Handshake slots full", self.vim.output())
        finally:
            for s in stalled:
                s.close()

    def test_identities_that_are_no_vm_name_refused(self):
        # A name reaches file names, journal fields, D-Bus and the dashboard: one that could do
        # harm there is refused at the handshake, even with a key file that would match it.
        self.start_vim()
        key = "ab" * 32
        for name in ("-rf", ".hidden"):
            with open(os.path.join(self.keys, f"{name}.key"), "w") as f:
                f.write(key + "\n")
            os.chmod(os.path.join(self.keys, f"{name}.key"), 0o600)
        bad = ["-rf", ".hidden", "../agents.d/vm1", "vm\x1b[2Jx", "vm1\nACS_EVENT=scale-out", "v" * 64, "vm 1"]
        for name in bad:
            r = subprocess.run(["openssl", "s_client", "-tls1_3", "-psk_identity", name, "-psk", key,
                                "-connect", f"127.0.0.1:{self.agent_port}"],
                               input=b"", capture_output=True, timeout=10)
            self.assertIn(b"Cipher is (NONE)", r.stdout, name)     # no session
        wait_until(lambda: self.vim.output().count("is not a VM name") == len(bad), 5, interval=0.1,
                   what="one refusal line per bad identity")
        out = self.vim.output()
        self.assertIn('identity "vm?[2Jx" is not a VM name', out)
        self.assertIn('identity "vm1?ACS_EVENT=scale-out" is not a VM name', out)
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\nACS_EVENT=scale-out", out)
        self.assertNotIn("[scale-out]", out)
        # and the VIM still takes the honest VM
        self.start_agent("vm1", containers=1, capacity=2)
        self.wait_state(lambda s: self.vm("vm1", s) is not None, 5, "vm1 registered")
        self.assertEqual([v["name"] for v in self.state()["vms"]], ["vm1"])


if __name__ == "__main__":
    main()
