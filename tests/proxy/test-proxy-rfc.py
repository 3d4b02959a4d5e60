#!/usr/bin/env python3
"""RFC 9110/9112 to the letter, class by class, written from the RFC text.

Each refused request is sent twice, in one write and byte by byte, on a client connection
whose backend connection was warmed by a clean request first. The recording backend must see
nothing of it: only the warm request and a clean one after, intact and alone on their
connection. Each valid request is sent the same two ways and must arrive as the RFC says a
proxy forwards it. Bounds: MaxBodySize= (413 before anything reaches a backend, or a chunked
body stopped as it grows), the chunk-size line, ClientHeadTimeout= and ClientBodyTimeout=.
"""
import json
import socket
import time

from proxytest import ProxyTestCase, connection_closed, header, read_response, read_response_file
from acstest import main, wait_until

H = b"Host: example.test\r\n"
MAX_BODY = 4096

# RFC 9112 3: request-line = method SP request-target SP HTTP-version, one SP each.
REQUEST_LINE = {
    "two_sp_after_method": b"GET  / HTTP/1.1\r\n" + H + b"\r\n",
    "two_sp_after_target": b"GET /  HTTP/1.1\r\n" + H + b"\r\n",
    "trailing_sp": b"GET / HTTP/1.1 \r\n" + H + b"\r\n",
    "leading_sp": b" GET / HTTP/1.1\r\n" + H + b"\r\n",
    "tab_separator": b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n",
    "fragment": b"GET /page#frag HTTP/1.1\r\n" + H + b"\r\n",
    "fragment_absolute": b"GET http://example.test/#f HTTP/1.1\r\n" + H + b"\r\n",
    "asterisk_get": b"GET * HTTP/1.1\r\n" + H + b"\r\n",
    "asterisk_post": b"POST * HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n",
    "authority_form_get": b"GET example.test:80 HTTP/1.1\r\n" + H + b"\r\n",
    "relative_target": b"GET page HTTP/1.1\r\n" + H + b"\r\n",
    "absolute_other_scheme": b"GET ftp://example.test/ HTTP/1.1\r\n" + H + b"\r\n",
    "absolute_userinfo": b"GET http://user@example.test/ HTTP/1.1\r\n" + H + b"\r\n",
    "absolute_empty_host": b"GET http:///p HTTP/1.1\r\n" + H + b"\r\n",
    "http09": b"GET /\r\n",
    "http09_blank": b"GET /\r\n\r\n",
}

# RFC 9110 7.2, RFC 9112 3.2: exactly one Host, a valid uri-host [":" port].
HOST = {
    "missing": b"GET / HTTP/1.1\r\n\r\n",
    "twice": b"GET / HTTP/1.1\r\n" + H + H + b"\r\n",
    "comma_list": b"GET / HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n",
    "userinfo": b"GET / HTTP/1.1\r\nHost: user@a.test\r\n\r\n",
    "inner_space": b"GET / HTTP/1.1\r\nHost: a .test\r\n\r\n",
    "bad_port": b"GET / HTTP/1.1\r\nHost: a.test:8o\r\n\r\n",
    "two_ports": b"GET / HTTP/1.1\r\nHost: a.test:80:81\r\n\r\n",
    "unclosed_literal": b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
    "slash": b"GET / HTTP/1.1\r\nHost: a.test/x\r\n\r\n",
}

# MaxBodySize=: a Content-Length over it is refused before anything is forwarded.
BODY_SIZE = {
    "content_length": b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1) + b"x" * 64,
    "content_length_huge": b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 999999999999\r\n\r\n",
}

# (raw, status, backend request target, Host at the backend, body at the backend)
VALID = {
    "chunk_ext_bws_quoted_trailers": (
        b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
        b"5 ; a=1 ;b\r\nhello\r\n6;q=\"x y;\\\"z\"\r\n world\r\n0 ;last\r\nX-Sum: 1\r\nX-More: two\r\n\r\n",
        "/echo", "example.test", b"hello world"),
    "absolute_form": (b"GET http://other.test:8080/p?q=1 HTTP/1.1\r\nHost: other.test:8080\r\n\r\n",
                      "/p?q=1", "other.test:8080", b""),
    "absolute_form_disagreeing_host": (b"GET http://other.test/x HTTP/1.1\r\n" + H + b"\r\n",
                                       "/x", "other.test", b""),
    "absolute_form_no_path": (b"GET HTTP://Other.Test HTTP/1.1\r\n" + H + b"\r\n", "/", "Other.Test", b""),
    "absolute_form_query_only": (b"GET http://other.test?a=b HTTP/1.1\r\n" + H + b"\r\n",
                                 "/?a=b", "other.test", b""),
    "options_asterisk": (b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", "*", "example.test", b""),
    "options_absolute_no_path": (b"OPTIONS http://other.test:81 HTTP/1.1\r\n" + H + b"\r\n",
                                 "*", "other.test:81", b""),
    "host_ipv6_literal": (b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "/", "[::1]:8080", b""),
    "host_ipv4_port": (b"GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n", "/", "192.0.2.1:80", b""),
    "host_pct_encoded": (b"GET / HTTP/1.1\r\nHost: ex%41mple.test\r\n\r\n", "/", "ex%41mple.test", b""),
    "body_at_the_limit": (b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % MAX_BODY + b"y" * MAX_BODY,
                          "/echo", "example.test", b"y" * MAX_BODY),
}


def send_bytewise(sock, raw):
    """Sends raw one byte per write; the proxy may close before the end."""
    try:
        for i in range(len(raw)):
            sock.send(raw[i:i + 1])
    except OSError:
        pass


class RfcCase(ProxyTestCase):
    extra = f"MaxBodySize={MAX_BODY}\n"

    def setUp(self):
        super().setUp()
        self.b = self.backend("b1")
        self.proxy([self.b], extra=self.extra)

    def send(self, s, raw, bytewise):
        if bytewise:
            send_bytewise(s, raw)
        else:
            try:
                s.sendall(raw)
            except OSError:
                pass

    def assert_backend_saw_only_clean(self, n_rounds):
        paths = [r.path for r in self.b.requests]
        self.assertEqual(paths, ["/warm", "/clean"] * n_rounds, "the backend saw other requests")
        for rec in self.b.conns:
            self.assertEqual(bytes(rec.raw), b"".join(r.raw for r in rec.requests),
                             "bytes of a refused request reached the backend")

    def check_refused(self, raw, status):
        for rnd, bytewise in enumerate((False, True)):
            s = self.warm()
            self.send(s, raw, bytewise)
            r = read_response(s)
            self.assertIsNotNone(r, "no response before close")
            self.assertEqual(r[0], status, r[3][:200])
            self.assertEqual(header(r[1], "Connection"), "close")
            self.assertTrue(connection_closed(s), "client connection not closed after a refusal")
            s.close()
            self.clean()
            self.assert_backend_saw_only_clean(rnd + 1)
        # Both clean requests reused the warm backend connection: the pool survived.
        self.assertEqual(len([c for c in self.b.conns if c.requests]), 1)

    def check_valid(self, raw, target, host, body):
        for bytewise in (False, True):
            s = self.warm()
            self.send(s, raw, bytewise)
            r = read_response(s)
            self.assertIsNotNone(r)
            self.assertEqual(r[0], 200, r[3][:200])
            req = self.b.requests[-1]
            self.assertEqual(req.target, target)
            self.assertEqual([v for k, v in req.headers if k.lower() == "host"], [host])
            self.assertEqual(req.body, body)
            # Still usable afterwards.
            self.assertEqual(self.exchange(b"GET /after HTTP/1.1\r\n" + H + b"\r\n", sock=s)[0], 200)
            s.close()


class RequestLine(RfcCase):
    pass


class Host(RfcCase):
    pass


class BodySize(RfcCase):
    def check_chunked_stopped(self, raw):
        for bytewise in (False, True):
            s = self.warm()
            self.send(s, raw, bytewise)
            r = read_response(s)
            if r is not None:
                self.assertIn(r[0], (400, 413))
            self.assertTrue(connection_closed(s))
            s.close()
            carrier = [c for c in self.b.conns if c.requests and c.requests[0].path == "/warm"][-1]
            wait_until(lambda: carrier.closed_by_peer, 5, what="the proxy to close the backend connection")
            self.assertEqual(len(carrier.requests), 1, "the cut request completed at the backend")
            self.clean()
            self.assertEqual(self.b.requests[-1].path, "/clean")
        self.assertNotIn("/echo", [r.path for r in self.b.requests])

    def test_chunked_growing_past_the_limit(self):
        chunk = b"800\r\n" + b"z" * 0x800 + b"\r\n"
        self.check_chunked_stopped(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                                   + chunk * 3 + b"0\r\n\r\n")

    def test_chunk_extension_too_long(self):
        self.check_chunked_stopped(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                                   b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n")

    def test_chunk_extension_invalid(self):
        self.check_chunked_stopped(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                                   b"5;a=\"open\r\nhello\r\n0\r\n\r\n")


class Valid(RfcCase):
    def test_trailers_forwarded_without_framing_and_routing_fields(self):
        raw = (b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
               b"2;x=y\r\nhi\r\n0\r\nX-Sum: 1\r\nContent-Length: 99\r\nHost: evil.test\r\n"
               b"X-More: two\r\n\r\n")
        for bytewise in (False, True):
            s = self.connect()
            self.send(s, raw, bytewise)
            r = read_response(s)
            self.assertEqual(r[0], 200)
            self.assertEqual(r[2], b"hi")
            self.assertEqual(self.b.requests[-1].trailers, [("X-Sum", "1"), ("X-More", "two")])
            s.close()

    def test_pipelined_valid_forms_in_one_write(self):
        s = self.warm()
        s.sendall(b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n"
                  b"GET http://other.test/abs HTTP/1.1\r\n" + H + b"\r\n"
                  b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3 ;e\r\nabc\r\n0\r\n\r\n")
        f = s.makefile("rb")
        statuses = [read_response_file(f)[0] for _ in range(3)]
        f.close()
        self.assertEqual(statuses, [200, 200, 200])
        self.assertEqual([r.target for r in self.b.requests[-3:]], ["*", "/abs", "/echo"])
        s.close()


class Unbounded(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.backend("b1")
        self.proxy([self.b], extra="MaxBodySize=0\n")

    def test_8mib_both_ways_chunked_without_limit(self):
        body = bytes(range(256)) * (8 * 4096)
        s = self.connect()
        chunks = b"".join(b"%x;n=1\r\n" % (1 << 20) + body[i:i + (1 << 20)] + b"\r\n"
                          for i in range(0, len(body), 1 << 20))
        s.sendall(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        r = read_response(s, timeout=30)
        self.assertEqual(r[0], 200)
        self.assertEqual(r[2], body)
        s.close()


class Timeouts(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.backend("b1")
        # No minimum rate here: tests/security checks ClientBodyMinRate=.
        self.proxy([self.b], extra="ClientHeadTimeout=1s\nClientBodyTimeout=1s\nClientBodyMinRate=0\n")

    def test_head_trickling_gets_408(self):
        s = self.connect()
        start = time.monotonic()
        status = None
        head = b"GET /slow-head HTTP/1.1\r\n" + H + b"X-Long: " + b"a" * 200
        s.settimeout(0.2)
        for i in range(len(head)):
            try:
                s.send(head[i:i + 1])
                data = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            status = data.split(b" ")[1] if data else status
            break
        elapsed = time.monotonic() - start
        self.assertEqual(status, b"408")
        self.assertLess(elapsed, 5)
        self.assertGreater(elapsed, 0.9)
        self.assertTrue(connection_closed(s))
        self.assertEqual(self.b.requests, [])

    def check_body_stall(self, raw):
        s = self.connect()
        st, _, _, _ = self.exchange(b"GET /warm HTTP/1.1\r\n" + H + b"\r\n", sock=s)
        self.assertEqual(st, 200)
        start = time.monotonic()
        s.sendall(raw)
        r = read_response(s, timeout=10)
        self.assertEqual(r[0], 408)
        self.assertLess(time.monotonic() - start, 5)
        self.assertTrue(connection_closed(s))
        carrier = self.b.conns[0]
        wait_until(lambda: carrier.closed_by_peer, 5, what="the backend request to be aborted")
        self.assertEqual([r.path for r in self.b.requests], ["/warm"])
        self.assertEqual(self.exchange(b"GET /clean HTTP/1.1\r\n" + H + b"\r\n")[0], 200)
        self.assertEqual(len([c for c in self.b.conns if c.requests]), 2, "the cut connection was reused")

    def test_body_shorter_than_content_length(self):
        self.check_body_stall(b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nabc")

    def test_chunked_body_without_last_chunk(self):
        self.check_body_stall(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")

    def test_slow_body_that_keeps_coming_is_not_cut(self):
        s = self.connect()
        s.sendall(b"POST /slow-body HTTP/1.1\r\n" + H + b"Content-Length: 6\r\n\r\n")
        for ch in b"abcdef":
            time.sleep(0.4)
            s.send(bytes([ch]))
        r = read_response(s)
        self.assertEqual(r[0], 200)
        self.assertEqual(json.loads(r[2])["body_len"], 6)


for _cls, _cases, _status in ((RequestLine, REQUEST_LINE, 400), (Host, HOST, 400), (BodySize, BODY_SIZE, 413)):
    for _name, _raw in _cases.items():
        def _t(self, raw=_raw, status=_status):
            self.check_refused(raw, status)
        setattr(_cls, f"test_refused_{_name}", _t)

for _name, (_raw, _target, _host, _body) in VALID.items():
    def _t(self, raw=_raw, target=_target, host=_host, body=_body):
        self.check_valid(raw, target, host, body)
    setattr(Valid, f"test_valid_{_name}", _t)


if __name__ == "__main__":
    main()
