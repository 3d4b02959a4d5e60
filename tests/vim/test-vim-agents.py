#!/usr/bin/env python3
"""The agent server: a VMM killed is unreachable within grace + 1 s and gets no orders, its
containers stay in the backend set and the lost capacity is replaced elsewhere; when it comes
back it re-registers and nothing is recreated. acs-vim restarted: the backend set after equals
the one before, nothing recreated. Wrong key, unknown name, stalled handshake, garbage before and
after a good handshake: refused and logged while the VIM keeps serving the others."""
import os
import socket
import subprocess
import time

from acstest import main, wait_until
from vimtest import VimTestCase


class AgentsTest(VimTestCase):
    PORTS = (17880, 17959)

    def test_vmm_killed_unreachable_then_readopted(self):
        self.start_vim(Placement="spread")
        vm1 = self.start_agent("vm1", containers=2, capacity=3)
        self.start_agent("vm2", containers=1, capacity=3)
        self.wait_state(lambda s: s["service"]["ready"] == 3, 10, "both VMs registered")
        ids_before = sorted(c["id"] for c in self.vm("vm1")["containers"])
        _, backends_before = self.backends()
        self.assertEqual(len(backends_before), 3)

        vm1.kill9()
        t = time.monotonic()
        self.wait_state(lambda s: self.vm("vm1", s)["state"] == "unreachable", 4, "vm1 unreachable")
        self.assertLess(time.monotonic() - t, 2.0 + 1.0 + 0.5, "grace (2 s) + 1 s")
        self.wait_event("vm-unreachable", r"vm1.*no metrics for")
        # its containers still serve as far as the VIM can tell: the proxy's checks decide
        _, backends = self.backends()
        self.assertTrue(set(backends_before) <= set(backends), "vm1's backends stay listed")
        # the lost capacity is replaced on vm2
        self.wait_state(lambda s: s["service"]["running"] >= 3 and len(self.vm("vm2", s)["containers"]) == 3, 10,
                        "vm1's two containers replaced on vm2")

        # back: same containers, re-registered, adopted, no add order to vm1
        vm1b = self.start_agent("vm1", containers=2, capacity=3)
        self.wait_state(lambda s: self.vm("vm1", s)["state"] == "active", 10, "vm1 back")
        self.assertEqual(sorted(c["id"] for c in self.vm("vm1")["containers"]), ids_before)
        self.assertRegex(self.vim.output(), r"VM vm1 registered from .*: active, capacity 3, 2 containers reported")
        self.wait_decisions(2)
        self.assertNotIn("order add", vm1b.output())
        # what it kept running joins the count: nothing is drained at once (the window decides)
        self.assertNotIn("order drain", vm1b.output())
        self.wait_event("adopt", r"2 containers of VM vm1 are back")

    def test_no_orders_to_an_unreachable_vm(self):
        self.start_vim(Placement="spread")
        vm1 = self.start_agent("vm1", containers=1, capacity=4)
        self.start_agent("vm2", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 2, 10, "registered")
        vm1.signal(19)  # SIGSTOP: connected but silent, as a hung VM
        try:
            self.wait_state(lambda s: self.vm("vm1", s)["state"] == "unreachable", 5, "vm1 unreachable")
            self.set_cpu(0.95)
            self.wait_state(lambda s: len(self.vm("vm2", s)["containers"]) >= 3, 10, "scale-out on vm2 only")
            self.set_cpu(0.6)
        finally:
            vm1.signal(18)  # SIGCONT
        self.wait_event("vm-reachable", "vm1")
        self.wait_state(lambda s: self.vm("vm1", s)["state"] == "active", 5, "vm1 reporting again")
        # nothing was queued for vm1 while it was unreachable
        self.wait_decisions(2)
        self.assertNotIn("order", vm1.output())

    def test_restart_rebuilds_the_model_without_recreating(self):
        self.start_vim()
        vm1 = self.start_agent("vm1", containers=2, capacity=3)
        vm2 = self.start_agent("vm2", containers=1, capacity=3)
        self.wait_state(lambda s: s["service"]["ready"] == 3, 10, "registered")
        wait_until(lambda: len(self.backends()[1]) == 3, 10, what="the three backends published")
        generation_before, before = self.backends()

        self.vim.stop()
        self.start_vim()
        self.wait_state(lambda s: s["service"]["ready"] == 3, 15, "re-registered after the restart")
        self.wait_decisions(2, timeout=15)     # past the settle period: decisions run again
        generation_after, after = self.backends()
        self.assertEqual(after, before)
        self.assertGreater(int(generation_after), int(generation_before))
        self.assertNotIn("order add", vm1.output() + vm2.output())
        self.assertIn("Cluster model rebuilt from 2 VMs", self.vim.output())

    def test_refused_agents_while_serving_the_others(self):
        self.start_vim()
        self.start_agent("good", containers=1, capacity=2)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "good registered")

        # a key for vm1 that the VIM does not have (the VIM knows another one)
        self.start_agent("vm1", containers=1)  # writes the VIM's key for vm1
        self.wait_state(lambda s: self.vm("vm1", s) is not None, 10, "vm1 registered")
        self.agents["vm1"].stop()
        other = os.path.join(self.tmpdir, "other-keys")
        os.makedirs(other, mode=0o700)
        impostor = self.start_agent("vm1", containers=1, key_dir=other)
        # and a VM the VIM has no key for
        self.start_agent("ghost", containers=1, key_dir=other)
        self.vim.wait_for_output(r"as VM vm1", timeout=10)
        self.vim.wait_for_output(r"ghost", timeout=10)
        self.assertIsNone(self.vm("ghost"))

        # stalled handshake: connect, send nothing; closed after HandshakeTimeout=1s
        with socket.create_connection(("127.0.0.1", self.agent_port), timeout=5) as s:
            t = time.monotonic()
            self.assertEqual(s.recv(100), b"")
            self.assertLess(time.monotonic() - t, 3)
        # not TLS at all: the server ends the stream (a recv() that times out fails the test)
        with socket.create_connection(("127.0.0.1", self.agent_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            t = time.monotonic()
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - t, 3)
        self.assertTrue(self.vim.alive())

        # garbage after a good handshake, with a key the VIM knows
        key = os.urandom(32).hex()
        path = os.path.join(self.keys, "garbage.key")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(key + "\n")
        subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.agent_port}", "-tls1_3",
                        "-psk_identity", "garbage", "-psk", key, "-ciphersuites", "TLS_AES_128_GCM_SHA256",
                        "-quiet"], input=b"\x00\x00\x00\x05hello", capture_output=True, timeout=10)
        self.vim.wait_for_output(r"VM garbage .*refused message: invalid JSON.*closing the connection", timeout=5)
        self.assertIsNone(self.vm("garbage"), "no register, no VM")

        # through all of it the good VM kept reporting and stays active
        self.wait_decisions(2)
        self.assertEqual(self.vm("good")["state"], "active")
        self.assertEqual(self.state()["service"]["ready"], 1 + (1 if self.vm("vm1")["state"] != "unreachable" else 0))
        self.assertTrue(impostor.alive())


if __name__ == "__main__":
    main()
