#!/usr/bin/env python3
"""acs-vmm's link to the VIM, against a stand-in VIM: `openssl s_server` speaking TLS 1.3 with
the VM's pre-shared key, driven by the test. The stand-in injects what a real VIM never sends
(garbage frames, malformed orders) or does not know the key at all; the VMM must refuse, log,
close that connection, and carry on. Docker is not needed: its socket is absent on purpose."""
import json
import os
import queue
import secrets
import struct
import subprocess
import threading
import time

from acstest import free_port, main, wait_until
from vmmtest import VIM_PORTS, VmmTestCase


class StandInVim:
    def __init__(self, port, key_hex, identity, logdir):
        self.log = open(os.path.join(logdir, f"stand-in-vim-{port}.log"), "ab")
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-naccept", "1", "-nocert",
             "-psk", key_hex, "-psk_identity", identity, "-tls1_3",
             "-ciphersuites", "TLS_AES_128_GCM_SHA256", "-quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        self.frames = queue.Queue()
        self.received = []      # every message, also those next() skipped
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            header = out.read(4)
            if len(header) < 4:
                self.frames.put(None)
                return
            (n,) = struct.unpack(">I", header)
            self.frames.put(json.loads(out.read(n)))

    def next(self, type_, timeout=10):
        """The next message of this type the VMM sent (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.frames.get(timeout=max(0.01, deadline - time.monotonic()))
            if m is None:
                raise EOFError("the VMM closed the connection")
            self.received.append(m)
            if m["type"] == type_:
                return m

    def closed(self, timeout=10):
        """True once the VMM closed the connection."""
        try:
            while self.frames.get(timeout=timeout) is not None:
                pass
            return True
        except queue.Empty:
            return False

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message):
        body = json.dumps(message, separators=(",", ":")).encode()
        self.send_raw(struct.pack(">I", len(body)) + body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.log):
            f.close()


class VmmUplinkTest(VmmTestCase):
    def setUp(self):
        super().setUp()
        self.key = secrets.token_hex(32)
        self.key_path = os.path.join(self.tmpdir, "vmm.key")
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (self.key + "\n").encode())
        os.close(fd)
        # The VMM dials this port before the stand-in listens: start the search at a place of
        # this process's own, so that tests running side by side do not pick the same one.
        first = VIM_PORTS[0] + os.getpid() % (VIM_PORTS[1] - VIM_PORTS[0])
        self.vim_port = free_port(first, VIM_PORTS[1])
        self.bus = self.start_bus()
        config = self.write_config(capacity=3, minimum=1, vim=f"127.0.0.1:{self.vim_port}", key=self.key_path,
                                   socket=os.path.join(self.tmpdir, "no-docker.sock"))
        self.vmm = self.start_vmm(self.bus, config)
        self.wait_vmm_on_bus(self.bus)

    def stand_in(self, key=None):
        return self.own(StandInVim(self.vim_port, key or self.key, self.vm, self.tmpdir))

    def connected(self):
        vim = self.stand_in()
        reg = vim.next("register")
        self.assertEqual((reg["vm"], reg["capacity"], reg["min"], reg["state"]), (self.vm, 3, 1, "active"))
        wait_until(lambda: self.vmm_property(self.bus, "VimConnected"), 10, what="VimConnected")
        return vim

    def assert_unharmed(self):
        self.assertTrue(self.vmm.alive())
        self.assertEqual(self.vmm_property(self.bus, "Name"), self.vm)
        self.assertEqual(self.vmm_property(self.bus, "Capacity"), 3)

    def test_orders_are_carried_out_and_acked(self):
        vim = self.connected()
        metrics = vim.next("metrics")
        self.assertEqual(metrics["vm"], self.vm)

        vim.send({"v": 1, "type": "order", "seq": 7, "order": "scale", "count": 2, "container": "", "timeout_ms": 0})
        ack = vim.next("ack")
        self.assertEqual((ack["ack"], ack["result"]), (7, 0))
        self.assertEqual(self.vmm_property(self.bus, "DesiredContainers"), 2)

        # A well-formed order the VM cannot follow is refused in the ack, the link stays up.
        vim.send({"v": 1, "type": "order", "seq": 8, "order": "scale", "count": 9, "container": "", "timeout_ms": 0})
        ack = vim.next("ack")
        self.assertEqual(ack["ack"], 8)
        self.assertLess(ack["result"], 0)
        self.assertIn("capacity is 3", ack["message"])
        self.assertEqual(self.vmm_property(self.bus, "DesiredContainers"), 2)

        vim.send({"v": 1, "type": "order", "seq": 9, "order": "standby", "count": 0, "container": "", "timeout_ms": 0})
        self.assertEqual(vim.next("ack")["result"], 0)
        self.assertEqual(self.vmm_property(self.bus, "State"), "standby")
        # It re-registered with its new state (before acking the order).
        self.assertEqual([m["state"] for m in vim.received if m["type"] == "register"], ["active", "standby"])
        # A clean exit on SIGTERM (under the sanitizers: no leak, no error).
        self.assertEqual(self.vmm.stop(), 0)

    def test_garbage_frames_close_the_connection_only(self):
        # Not JSON.
        vim = self.connected()
        vim.send_raw(struct.pack(">I", 5) + b"hello")
        self.assertTrue(vim.closed())
        self.vmm.wait_for_output(r"refused message")
        self.assert_unharmed()

        # An order with a key that does not belong there is not carried out.
        vim = self.connected()
        vim.send({"v": 1, "type": "order", "seq": 1, "order": "scale", "count": 3, "container": "", "timeout_ms": 0,
                  "image": "evil:latest"})
        self.assertTrue(vim.closed())
        self.assertEqual(self.vmm_property(self.bus, "DesiredContainers"), 1)

        # A frame over the size limit.
        vim = self.connected()
        vim.send_raw(struct.pack(">I", 0x7FFFFFFF) + b"{" * 1024)
        self.assertTrue(vim.closed())
        self.assert_unharmed()
        self.assertEqual(self.vmm_property(self.bus, "DesiredContainers"), 1)
        self.assertEqual(self.vmm.stop(), 0)

    def test_vim_without_the_key_cannot_give_orders(self):
        vim = self.stand_in(key=secrets.token_hex(32))
        vim.send({"v": 1, "type": "order", "seq": 1, "order": "scale", "count": 3, "container": "", "timeout_ms": 0})
        self.assertTrue(vim.closed())
        wait_until(lambda: "handshake" in self.vmm.output().lower(), 10, what="the failed handshake logged")
        self.assertFalse(self.vmm_property(self.bus, "VimConnected"))
        self.assertEqual(self.vmm_property(self.bus, "DesiredContainers"), 1)
        self.assert_unharmed()


if __name__ == "__main__":
    main()
