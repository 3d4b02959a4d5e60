#!/usr/bin/env python3
"""RFC 9110/9112 strictness of acs-proxy, checked at the recording backend.

Each malformed request goes over a keep-alive client connection right after a clean request
that warmed the backend pool. The proxy must answer the expected status and close, and the
next clean request (new client connection) must reach the backend intact and alone: on the
warm backend connection the backend saw exactly the warm request and then the clean one,
nothing before, between or after. Malformed responses must give 502 and drop that backend
connection.
"""
import socket

from proxytest import (BAD_RESPONSES, ProxyTestCase, connection_closed, read_response)
from acstest import main, wait_until

H = b"Host: example.test\r\n"

# name: (raw request, expected status)
BAD_REQUESTS = {
    "cl_and_te": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + H + b"\r\n", 400),
    "te_and_cl": (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                  b"0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + H + b"\r\n", 400),
    "differing_cl": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", 400),
    "malformed_cl": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5x\r\n\r\nabcde", 400),
    "negative_cl": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    "cl_list": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3, 4\r\n\r\nabcd", 400),
    "te_chunked_not_last": (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n"
                            b"0\r\n\r\n", 400),
    "te_gzip_only": (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc", 400),
    "te_chunked_twice": (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "te_in_http10": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "te_obfuscated": (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    "obs_fold": (b"GET / HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n", 400),
    "obs_fold_tab": (b"GET / HTTP/1.1\r\n" + H + b"X-Folded: a\r\n\tb\r\n\r\n", 400),
    "bare_lf_line": (b"GET / HTTP/1.1\n" + H + b"\r\n", 400),
    "bare_lf_field": (b"GET / HTTP/1.1\r\nHost: example.test\nX-A: b\r\n\r\n", 400),
    "bare_cr_field": (b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    "nul_in_value": (b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    "ctl_in_value": (b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    "del_in_value": (b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n", 400),
    "space_before_colon": (b"GET / HTTP/1.1\r\nHost : example.test\r\n\r\n", 400),
    "tab_before_colon": (b"GET / HTTP/1.1\r\n" + H + b"Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", 400),
    "space_in_name": (b"GET / HTTP/1.1\r\n" + H + b"X A: b\r\n\r\n", 400),
    "missing_host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "duplicate_host": (b"GET / HTTP/1.1\r\n" + H + b"Host: other.test\r\n\r\n", 400),
    "garbage_request_line": (b"GET/HTTP/1.1\r\n" + H + b"\r\n", 400),
    "bad_method": (b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "connect": (b"CONNECT example.test:443 HTTP/1.1\r\n" + H + b"\r\n", 501),
    "uri_too_long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    "head_too_large": (b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n", 431),
    "too_many_fields": (b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-F%d: v\r\n" % i for i in range(120)) + b"\r\n", 431),
    "http_1_2": (b"GET / HTTP/1.2\r\n" + H + b"\r\n", 505),
    "http_2_0": (b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    "http_0_9": (b"GET /\r\n\r\n", 400),
    "bare_lf_end_of_head": (b"GET / HTTP/1.1\r\n" + H + b"\n", 400),
    "leading_space_field": (b"GET / HTTP/1.1\r\n X-A: b\r\n" + H + b"\r\n", 400),
}

# A body that turns bad after the head was forwarded: the backend connection must be dropped
# (the partial request never completes there) and nothing after it may be read as a request.
BAD_BODIES = {
    "bad_chunk_size": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                           b"fffffffffffffffffff\r\nab\r\n0\r\n\r\n",
    "chunk_missing_crlf": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                          b"2\r\nabGET /smuggled HTTP/1.1\r\n" + H + b"\r\n0\r\n\r\n",
}


class Strictness(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.backend("b1")
        self.proxy([self.b])

    def assert_only_clean_requests(self, allow_partial=False):
        paths = [r.path for r in self.b.requests]
        self.assertEqual(paths, ["/warm", "/clean"], "the backend saw other requests")
        for rec in self.b.conns:
            framed = b"".join(r.raw for r in rec.requests)
            if allow_partial and not rec.requests[1:] and rec.closed_by_peer:
                continue  # the connection that carried the cut request, closed by the proxy
            self.assertEqual(bytes(rec.raw), framed, "unframed bytes reached the backend")
        # Intact: the clean request is exactly what the proxy builds, one request.
        clean = self.b.requests[-1]
        self.assertEqual(clean.method, "GET")
        self.assertEqual(clean.header("Host"), "example.test")
        self.assertEqual(clean.body, b"")

    def check_bad_request(self, raw, status):
        s = self.warm()
        s.sendall(raw)
        r = read_response(s)
        self.assertIsNotNone(r, "no response before close")
        self.assertEqual(r[0], status, r[3][:200])
        self.assertEqual((dict((k.lower(), v) for k, v in r[1])).get("connection"), "close")
        self.assertTrue(connection_closed(s), "client connection not closed after a refusal")
        s.close()
        self.clean()
        self.assert_only_clean_requests()
        # The clean request reused the warm backend connection: the pool survived.
        self.assertEqual(len([c for c in self.b.conns if c.requests]), 1)

    def check_bad_body(self, raw):
        s = self.warm()
        s.sendall(raw)
        r = read_response(s)
        if r is not None:
            self.assertIn(r[0], (400, 502))
        self.assertTrue(connection_closed(s))
        s.close()
        self.clean()
        paths = [r.path for r in self.b.requests]
        self.assertNotIn("/smuggled", paths)
        self.assertEqual(paths[0], "/warm")
        self.assertEqual(paths[-1], "/clean")
        # The connection that carried the cut body was closed by the proxy and the clean
        # request came alone on its own connection.
        carrier = [c for c in self.b.conns if c.requests and c.requests[0].path == "/warm"][0]
        wait_until(lambda: carrier.closed_by_peer, 5, what="the proxy to close the carrying connection")
        clean_conn = [c for c in self.b.conns if c.requests and c.requests[-1].path == "/clean"][0]
        self.assertEqual(bytes(clean_conn.raw), b"".join(r.raw for r in clean_conn.requests))


for _name, (_raw, _status) in BAD_REQUESTS.items():
    def _t(self, raw=_raw, status=_status):
        self.check_bad_request(raw, status)
    setattr(Strictness, f"test_request_{_name}", _t)

for _name, _raw in BAD_BODIES.items():
    def _t(self, raw=_raw):
        self.check_bad_body(raw)
    setattr(Strictness, f"test_body_{_name}", _t)


class ResponseStrictness(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.backend("b1")
        self.proxy([self.b])

    def check_bad_response(self, kind):
        s = self.connect()
        if kind == "bad-chunk":
            # The head went out before the body turned bad: the client sees a cut response.
            s.sendall(b"GET /bad?kind=bad-chunk HTTP/1.1\r\n" + H + b"\r\n")
            self.assertTrue(connection_closed(s))
            self.assertEqual(self.exchange(b"GET /clean HTTP/1.1\r\n" + H + b"\r\n")[0], 200)
            bad_conn = [c for c in self.b.conns if c.requests and c.requests[0].path == "/bad"][0]
            self.assertEqual(len(bad_conn.requests), 1)
            return
        st, _, _, _ = self.exchange(b"GET /bad?kind=" + kind.encode() + b" HTTP/1.1\r\n" + H + b"\r\n", sock=s)
        self.assertEqual(st, 502)
        # The client connection stays usable: its request was complete.
        st, _, _, _ = self.exchange(b"GET /clean HTTP/1.1\r\n" + H + b"\r\n", sock=s)
        self.assertEqual(st, 200)
        s.close()
        bad_conn = [c for c in self.b.conns if c.requests and c.requests[0].path == "/bad"][0]
        self.assertEqual(len(bad_conn.requests), 1, "a connection that sent a bad response was reused")
        self.assertEqual(self.b.requests[-1].path, "/clean")


for _kind in BAD_RESPONSES:
    def _t(self, kind=_kind):
        self.check_bad_response(kind)
    setattr(ResponseStrictness, f"test_response_{_kind.replace('-', '_')}", _t)


if __name__ == "__main__":
    main()
