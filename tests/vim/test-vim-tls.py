#!/usr/bin/env python3
"""The VIM's dashboard, API and event stream over TLS: the certificate chosen by the name the
client asks for (two names, two certificates), TLS 1.2 and 1.3 only, ALPN, resumption with a
session ticket, the token accepted over TLS, and nothing answered in clear on the TLS port.
Clients: Python's ssl module and curl."""
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess

from acstest import main, wait_until
from tlstest import bundle, check_versions_and_alpn, make_certificate
from vimtest import VimTestCase


class VimTlsTest(VimTestCase):
    # Ports of its own, outside the VIM tests' range (full), so no test beside it races for them.
    PORTS = (18650, 18699)

    def setUp(self):
        super().setUp()
        self.certs = {name: make_certificate(self.tmpdir, name) for name in ("a.test", "b.test")}
        self.ca = bundle(os.path.join(self.tmpdir, "ca.pem"), [crt for crt, _ in self.certs.values()])
        tls = "[Tls]\n" + "".join(f"Certificate={crt}\nKey={key}\n" for crt, key in self.certs.values())
        self.start_vim(extra_conf=tls)

    def context(self, **kw):
        ctx = ssl.create_default_context(cafile=self.ca)
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx

    def connect(self, name, ctx=None, session=None):
        sock = socket.create_connection(("127.0.0.1", self.api_port), timeout=5)
        return (ctx or self.context()).wrap_socket(sock, server_hostname=name, session=session)

    def request(self, name, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.api_port, timeout=5, context=self.context())
        # The name the client asks for (SNI and the certificate check) is the one given here.
        conn._server_hostname = name  # noqa: the address stays 127.0.0.1
        conn.sock = self.connect(name)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data

    def test_certificate_by_name(self):
        for name in ("a.test", "b.test"):
            with self.connect(name) as s:
                subject = dict(x[0] for x in s.getpeercert()["subject"])
                self.assertEqual(subject["commonName"], name)
        # A name no certificate holds gets the first one (and so fails the client's check).
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.connect("c.test")

    def test_api_and_token_over_tls(self):
        status, body = self.request("a.test", "GET", "/api/v1/state")
        self.assertEqual(status, 200)
        self.assertIn("policy", json.loads(body))
        headers = {"Authorization": "Bearer " + self.token, "Content-Type": "application/json"}
        status, body = self.request("b.test", "PUT", "/api/v1/policy", body=b'{"target_cpu":0.7}', headers=headers)
        self.assertEqual((status, json.loads(body)), (200, {"ok": True}))
        status, _ = self.request("b.test", "PUT", "/api/v1/policy", body=b'{"target_cpu":0.5}',
                                 headers={"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)
        # curl, as an operator would use it.
        out = subprocess.run(["curl", "-sS", "--fail", "--cacert", self.ca, "--resolve",
                              f"a.test:{self.api_port}:127.0.0.1", f"https://a.test:{self.api_port}/api/v1/state"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        self.assertEqual(json.loads(out)["policy"]["target_cpu"], 0.7)

    def test_protocol_versions_and_alpn(self):
        check_versions_and_alpn(self, self.connect, self.context)

    def test_session_resumption(self):
        ctx = self.context(maximum_version=ssl.TLSVersion.TLSv1_2)
        with self.connect("a.test", ctx) as s:
            session = s.session
        self.assertTrue(session.has_ticket)
        with self.connect("a.test", ctx, session=session) as s:
            self.assertTrue(s.session_reused)
        # TLS 1.3: the ticket comes after the handshake, with the first answer.
        ctx = self.context(minimum_version=ssl.TLSVersion.TLSv1_3)
        with self.connect("a.test", ctx) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
            session = s.session
        with self.connect("a.test", ctx, session=session) as s:
            self.assertTrue(s.session_reused)

    def test_reload_swaps_a_certificate(self):
        def fingerprint():
            with self.connect("a.test") as s:
                return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

        before = fingerprint()
        kept = self.connect("b.test")
        crt, key = make_certificate(self.tmpdir, "a.test", tag="-next")
        with open(self.ca, "a") as f, open(crt) as c:
            f.write(c.read())
        os.replace(crt, self.certs["a.test"][0])
        os.replace(key, self.certs["a.test"][1])
        self.vim.signal(signal.SIGHUP)
        wait_until(lambda: fingerprint() != before, 10, what="the new certificate after SIGHUP")
        # A connection made before the reload still gets answers.
        kept.sendall(b"GET /api/v1/state HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
        self.assertTrue(kept.recv(4096).startswith(b"HTTP/1.1 200"))
        kept.close()

    def test_nothing_in_clear(self):
        with socket.create_connection(("127.0.0.1", self.api_port), timeout=5) as s:
            s.sendall(b"GET /api/v1/state HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while chunk := s.recv(4096):
                    data += chunk
            except ConnectionResetError:
                pass
        self.assertNotIn(b"HTTP/1.1 200", data)
        self.assertNotIn(b"policy", data)
        # And the VIM still serves TLS clients after it.
        wait_until(lambda: self.request("a.test", "GET", "/api/v1/state")[0] == 200, 5, what="TLS after clear text")


if __name__ == "__main__":
    main()
