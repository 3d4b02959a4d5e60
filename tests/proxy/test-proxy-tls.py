#!/usr/bin/env python3
"""acs-proxy terminating TLS: the certificate chosen by the name the client asks for (two names),
TLS 1.2 and 1.3 only, ALPN, requests on new and kept connections (Python's ssl and curl), a
stalled handshake that blocks no one, SIGHUP swapping a certificate under load with no failed
request while a connection made before keeps working, and session tickets resuming across a
rotation of their keys (TicketKeyPeriod= shortened to seconds)."""
import hashlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

from proxytest import ProxyTestCase
from acstest import main, wait_until
from tlstest import bundle, check_versions_and_alpn, make_certificate, make_stapled_certificate


# Short, so that the ticket test sees keys rotate and expire; no other test depends on it.
TICKET_KEY_PERIOD = 3


class ProxyTls(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.certs = {name: make_certificate(self.tmpdir, name) for name in ("a.test", "b.test")}
        self.spare = make_certificate(self.tmpdir, "a.test", tag="-next")
        # First: a certificate with its OCSP response to staple (also what unknown names get).
        stapled_crt, stapled_key, ocsp, stapled_ca = make_stapled_certificate(self.tmpdir, "ocsp.test")
        self.ca = bundle(os.path.join(self.tmpdir, "ca.pem"),
                         [crt for crt, _ in self.certs.values()] + [self.spare[0], stapled_ca])
        tls = (f"[Tls]\nTicketKeyPeriod={TICKET_KEY_PERIOD}s\n"
               f"Certificate={stapled_crt}\nKey={stapled_key}\nOcspResponse={ocsp}\n" +
               "".join(f"Certificate={crt}\nKey={key}\n" for crt, key in self.certs.values()))
        self.backends = [self.bench_backend("b1"), self.bench_backend("b2")]
        self.proxy(self.backends, extra=tls, workers=2)

    def context(self, **kw):
        ctx = ssl.create_default_context(cafile=self.ca)
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx

    def connect_tls(self, name, ctx=None):
        sock = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=5)
        return (ctx or self.context()).wrap_socket(sock, server_hostname=name)

    def https(self, name, ctx=None):
        conn = http.client.HTTPSConnection(name, self.proxy_port, timeout=5, context=ctx or self.context())
        conn.sock = self.connect_tls(name, ctx)
        return conn

    def get(self, conn, path="/"):
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status

    def fingerprint(self, name):
        with self.connect_tls(name) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    def test_certificate_by_name_and_requests(self):
        for name in ("a.test", "b.test"):
            with self.connect_tls(name) as s:
                self.assertEqual(dict(x[0] for x in s.getpeercert()["subject"])["commonName"], name)
        conn = self.https("b.test")
        self.assertEqual([self.get(conn, f"/kept{i}") for i in range(20)], [200] * 20)
        conn.close()
        out = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}",
                              "--cacert", self.ca, "--resolve", f"a.test:{self.proxy_port}:127.0.0.1",
                              f"https://a.test:{self.proxy_port}/"], capture_output=True, text=True, timeout=30)
        self.assertEqual((out.returncode, out.stdout), (0, "200 0"), out.stderr)

    def test_ocsp_stapling(self):
        def status(name):
            return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.proxy_port}",
                                   "-servername", name, "-status", "-CAfile", self.ca],
                                  input="", capture_output=True, text=True, timeout=30).stdout

        out = status("ocsp.test")
        self.assertIn("OCSP Response Status: successful", out)
        self.assertIn("Cert Status: good", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertIn("OCSP response: no response sent", status("a.test"))

    def test_versions_alpn_and_clear_text(self):
        check_versions_and_alpn(self, self.connect_tls, self.context, alpn="h2")
        # Clear text on the TLS port gets no HTTP answer.
        with socket.create_connection(("127.0.0.1", self.proxy_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
        self.assertNotIn(b"HTTP/1.1", data)

    def test_stalled_handshakes_block_no_one(self):
        # 64 clients connect and never send a ClientHello; the workers keep serving the others.
        idle = [socket.create_connection(("127.0.0.1", self.proxy_port), timeout=5) for _ in range(64)]
        try:
            started = time.monotonic()
            for _ in range(10):
                conn = self.https("a.test")
                self.assertEqual(self.get(conn), 200)
                conn.close()
            self.assertLess(time.monotonic() - started, 5)
        finally:
            for s in idle:
                s.close()

    def resume(self, ctx, session=None):
        """One request on a new connection offering session; returns whether the server resumed
        it and the session (with the ticket the server issued) to offer next time."""
        sock = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=5)
        with ctx.wrap_socket(sock, server_hostname="a.test", session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:100])
            # Read to the end: a TLS 1.3 ticket arrives after the handshake.
            self.assertTrue(s.session.has_ticket)
            return s.session_reused, s.session

    def test_session_tickets_survive_a_key_rotation(self):
        period = TICKET_KEY_PERIOD
        contexts = {v: self.context(maximum_version=v) for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)}
        first, renewed = {}, {}
        before = time.monotonic()
        for v, ctx in contexts.items():
            reused, first[v] = self.resume(ctx)
            self.assertFalse(reused)
            self.assertEqual(self.resume(ctx, first[v])[0], True, f"{v.name}: resumed under the same key")
        after = time.monotonic()
        # The first ticket key was made between before and after; past its period, new tickets
        # are issued under a new key, and the old one still opens the tickets it issued.
        time.sleep(max(0.0, after + period + 0.3 - time.monotonic()))
        for v, ctx in contexts.items():
            reused, renewed[v] = self.resume(ctx, first[v])
            self.assertTrue(reused, f"{v.name}: a ticket issued before the rotation resumes after it")
        # Past two periods the first key is gone: its tickets are refused (a full handshake),
        # while the ticket issued on resumption, under the new key, still resumes.
        self.assertLess(time.monotonic() - before, 2 * period, "the machine was too slow for the test's timeline")
        time.sleep(max(0.0, after + 2 * period + 0.3 - time.monotonic()))
        for v, ctx in contexts.items():
            self.assertEqual(self.resume(ctx, first[v])[0], False, f"{v.name}: ticket under an expired key")
            self.assertEqual(self.resume(ctx, renewed[v])[0], True, f"{v.name}: ticket issued after the rotation")

    def reload_with(self, pair):
        crt, key = self.certs["a.test"]
        for src, dst in zip(pair, (crt, key)):
            with open(src, "rb") as f:
                data = f.read()
            with open(dst + ".tmp", "wb") as f:
                f.write(data)
            os.replace(dst + ".tmp", dst)
        self.proxy_proc.signal(signal.SIGHUP)

    def test_reload_swaps_a_certificate_under_load(self):
        before = self.fingerprint("a.test")
        kept = self.https("a.test")
        self.assertEqual(self.get(kept), 200)
        stop, results, lock = threading.Event(), [], threading.Lock()

        def new_connections():
            while not stop.is_set():
                try:
                    conn = self.https("a.test")
                    status = self.get(conn)
                    conn.close()
                except (OSError, http.client.HTTPException) as e:
                    status = repr(e)
                with lock:
                    results.append(status)

        def kept_connection():
            conn = self.https("b.test")
            while not stop.is_set():
                try:
                    status = self.get(conn)
                except (OSError, http.client.HTTPException) as e:
                    status = repr(e)
                    conn = self.https("b.test")
                with lock:
                    results.append(status)

        threads = [threading.Thread(target=new_connections) for _ in range(3)]
        threads.append(threading.Thread(target=kept_connection))
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(results) > 50, 20, what="requests before the reload")
            self.reload_with(self.spare)
            after = wait_until(lambda: (f := self.fingerprint("a.test")) != before and f, 10,
                               what="the new certificate on new connections")
            n = len(results)
            wait_until(lambda: len(results) > n + 50, 20, what="requests after the reload")
        finally:
            stop.set()
            for t in threads:
                t.join()
        spare_fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(self.spare[0]).read())).hexdigest()
        self.assertEqual(after, spare_fp)
        failed = [r for r in results if r != 200]
        self.assertEqual(failed, [], f"{len(failed)} of {len(results)} requests failed")
        # The connection made before the reload still works.
        self.assertEqual(self.get(kept), 200)
        kept.close()
        # A key that does not match its certificate is refused; the pair in force stays.
        self.reload_with((self.spare[0], self.certs["b.test"][1]))
        self.proxy_proc.wait_for_output("Keeping the certificates in force")
        self.assertEqual(self.fingerprint("a.test"), spare_fp)


if __name__ == "__main__":
    main()
