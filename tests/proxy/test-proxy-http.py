#!/usr/bin/env python3
"""HTTP/1.1 semantics through acs-proxy with real clients (curl, raw sockets) and the recording
backend: keep-alive, chunked bodies with extensions and trailers, pipelining, 100-continue,
HEAD/204/304, 8 MiB both ways, HTTP/1.0, hop-by-hop removal, forwarding headers."""
import hashlib
import json
import os
import socket
import subprocess

from proxytest import (ProxyTestCase, connection_closed, header, read_response, read_response_file,
                       take_port)
from acstest import binary, main, wait_until

H = b"Host: example.test\r\n"


class Semantics(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.backend("b1")
        self.proxy([self.b])

    def curl(self, *args):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_keep_alive_both_sides(self):
        s = self.connect()
        for i in range(5):
            st, hdrs, body, _ = self.exchange(b"GET /k%d HTTP/1.1\r\n" % i + H + b"\r\n", sock=s)
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body)["path"], f"/k{i}")
        s.close()
        # Five requests, one client connection, one backend connection.
        self.assertEqual(len([c for c in self.b.conns if c.requests]), 1)
        self.assertEqual(len(self.b.requests), 5)

    def test_chunked_request_with_extensions_and_trailers(self):
        raw = (b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
               b"5;name=value\r\nhello\r\n6;x\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n")
        st, _, body, _ = self.exchange(raw)
        self.assertEqual(st, 200)
        self.assertEqual(body, b"hello world")
        req = self.b.requests[-1]
        self.assertTrue(req.chunked)
        self.assertEqual(req.body, b"hello world")
        self.assertEqual(req.trailers, [("X-Checksum", "abc")])

    def test_chunked_response_with_trailers(self):
        st, hdrs, body, raw = self.exchange(b"GET /chunked HTTP/1.1\r\n" + H + b"\r\n")
        self.assertEqual(st, 200)
        self.assertEqual(header(hdrs, "Transfer-Encoding"), "chunked")
        self.assertEqual(body, b"hello world")
        self.assertEqual(header(hdrs, "X-Trailer"), "yes")

    def test_pipelined_requests_answered_in_order(self):
        s = self.connect()
        s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\n" % i + H + b"\r\n" for i in range(8)))
        f = s.makefile("rb")
        for i in range(8):
            st, _, body, _ = read_response_file(f)
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body)["path"], f"/p{i}")
        s.close()

    def test_expect_100_continue(self):
        s = self.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        st, _, _, _ = read_response(s)
        self.assertEqual(st, 100)
        s.sendall(b"hello")
        st, _, body, _ = read_response(s)
        self.assertEqual((st, body), (200, b"hello"))
        s.close()
        # And curl, which waits for the 100 before it sends the body.
        out = self.curl("-H", "Expect: 100-continue", "--data-binary", "x" * 2000, self.url("/echo"))
        self.assertEqual(out, b"x" * 2000)

    def test_head_has_no_body_and_keeps_the_connection(self):
        s = self.connect()
        st, hdrs, body, _ = self.exchange(b"HEAD / HTTP/1.1\r\n" + H + b"\r\n", sock=s, head_only=True)
        self.assertEqual(st, 200)
        self.assertGreater(int(header(hdrs, "Content-Length")), 0)
        st, _, body, _ = self.exchange(b"GET /after-head HTTP/1.1\r\n" + H + b"\r\n", sock=s)
        self.assertEqual(json.loads(body)["path"], "/after-head")
        s.close()

    def test_204_and_304_have_no_body(self):
        s = self.connect()
        for code in (204, 304):
            st, _, body, _ = self.exchange(b"GET /%d HTTP/1.1\r\n" % code + H + b"\r\n", sock=s)
            self.assertEqual((st, body), (code, b""))
        st, _, body, _ = self.exchange(b"GET /after HTTP/1.1\r\n" + H + b"\r\n", sock=s)
        self.assertEqual(json.loads(body)["path"], "/after")
        s.close()

    def test_8mib_both_ways(self):
        path = os.path.join(self.tmpdir, "big")
        data = os.urandom(8 << 20)
        with open(path, "wb") as f:
            f.write(data)
        out = self.curl("--data-binary", f"@{path}", "-H", "Content-Type: application/octet-stream",
                        self.url("/echo"))
        self.assertEqual(hashlib.sha256(out).hexdigest(), hashlib.sha256(data).hexdigest())
        # Chunked upload of the same body.
        out = self.curl("--data-binary", f"@{path}", "-H", "Transfer-Encoding: chunked", self.url("/echo"))
        self.assertEqual(len(out), 8 << 20)
        # And a large response alone.
        out = self.curl(self.url(f"/big?n={8 << 20}"))
        self.assertEqual(len(out), 8 << 20)

    def test_http10_client(self):
        s = self.connect()
        s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        st, hdrs, body, raw = read_response(s)
        self.assertEqual(st, 200)
        self.assertEqual(header(hdrs, "Connection"), "close")
        self.assertTrue(connection_closed(s))
        s.close()
        req = self.b.requests[-1]
        self.assertEqual(req.version, "HTTP/1.1")
        self.assertIsNotNone(req.header("Host"))
        self.assertIn("1.0 acs-proxy", req.header("Via"))

    def test_http10_keep_alive_and_dechunked_response(self):
        s = self.connect()
        s.sendall(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        st, hdrs, body, _ = read_response(s)
        self.assertEqual((st, header(hdrs, "Connection")), (200, "keep-alive"))
        # A chunked response cannot go to an HTTP/1.0 client: raw body, then close.
        s.sendall(b"GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        st, hdrs, body, _ = read_response(s)
        self.assertEqual((st, body), (200, b"hello world"))
        self.assertIsNone(header(hdrs, "Transfer-Encoding"))
        self.assertTrue(connection_closed(s))
        s.close()

    def test_close_delimited_response_becomes_chunked(self):
        st, hdrs, body, _ = self.exchange(b"GET /eof HTTP/1.1\r\n" + H + b"\r\n")
        self.assertEqual((st, body), (200, b"until close"))
        self.assertEqual(header(hdrs, "Transfer-Encoding"), "chunked")

    def test_hop_by_hop_fields_removed(self):
        raw = (b"GET / HTTP/1.1\r\n" + H + b"Connection: X-Secret, keep-alive\r\nX-Secret: 1\r\n"
               b"Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\n"
               b"Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n")
        st, _, _, _ = self.exchange(raw)
        self.assertEqual(st, 200)
        req = self.b.requests[-1]
        for name in ("Connection", "X-Secret", "Keep-Alive", "TE", "Upgrade", "Proxy-Connection"):
            self.assertIsNone(req.header(name), name)
        self.assertEqual(req.header("X-Kept"), "yes")
        st, hdrs, body, _ = self.exchange(b"GET /hop HTTP/1.1\r\n" + H + b"\r\n")
        self.assertEqual((st, body), (200, b"ok"))
        for name in ("X-Private", "Keep-Alive", "Connection"):
            self.assertIsNone(header(hdrs, name), name)

    def test_forwarding_fields(self):
        raw = (b"GET / HTTP/1.1\r\n" + H + b"X-Forwarded-For: 203.0.113.7\r\n"
               b"X-Forwarded-Proto: https\r\nVia: 1.1 edge\r\n\r\n")
        st, hdrs, _, _ = self.exchange(raw)
        self.assertEqual(st, 200)
        req = self.b.requests[-1]
        self.assertEqual(req.header("X-Forwarded-For"), "203.0.113.7, 127.0.0.1")
        self.assertEqual(req.header("X-Forwarded-Proto"), "http")
        self.assertEqual(req.header("Forwarded"), "for=127.0.0.1;proto=http")
        self.assertEqual(req.header("Via"), "1.1 edge, 1.1 acs-proxy")
        self.assertEqual(req.header("Host"), "example.test")
        self.assertEqual(header(hdrs, "Via"), "1.1 acs-proxy")

    def test_backend_pool_sized_to_client_concurrency(self):
        """32 client connections under wrk reuse about 32 backend connections; a pool smaller
        than the concurrency would open new ones all the time."""
        r = subprocess.run(["wrk", "-t1", "-c32", "-d2s", self.url("/")], capture_output=True, text=True,
                           timeout=30)
        requests = int(r.stdout.split(" requests in")[0].split()[-1])
        self.assertGreater(requests, 500, r.stdout)
        self.assertNotIn("Non-2xx", r.stdout)
        self.assertLessEqual(len(self.b.conns), 40, f"{len(self.b.conns)} backend connections for 32 clients")

    def test_ipv6_client(self):
        """Listening on [::1]: the forwarding fields carry the IPv6 client address, quoted in
        Forwarded as RFC 7239 asks."""
        b = self.backend("v6")
        port = take_port()
        conf = os.path.join(self.tmpdir, "v6.conf")
        with open(conf, "w") as f:
            f.write(f"[Proxy]\nListen=[::1]:{port}\nSource=static\nBackend=127.0.0.1:{b.port}\nWorkers=1\n")
        self.start([binary("src/proxy/acs-proxy"), "--config", conf], name="acs-proxy-v6")
        wait_until(lambda: socket.create_connection(("::1", port), timeout=0.5).close() or True, 10)
        out = self.curl("-g", f"http://[::1]:{port}/six")
        self.assertEqual(json.loads(out)["path"], "/six")
        req = b.requests[-1]
        self.assertEqual(req.header("X-Forwarded-For"), "::1")
        self.assertEqual(req.header("Forwarded"), 'for="[::1]";proto=http')

    def test_curl_get(self):
        out = json.loads(self.curl(self.url("/hello?x=1")))
        self.assertEqual(out["backend"], "b1")
        self.assertEqual(out["path"], "/hello?x=1")


if __name__ == "__main__":
    main()
