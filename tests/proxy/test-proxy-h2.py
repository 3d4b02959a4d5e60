#!/usr/bin/env python3
"""acs-proxy speaking HTTP/2 to clients: curl over TLS (ALPN h2) and in clear text with prior
knowledge, bodies both ways, h2load with many streams; then a small client that builds frames by
hand sends what no real client sends: each malformed request of RFC 9113 8.1-8.3 must end its
stream with RST_STREAM PROTOCOL_ERROR, and each flood (rapid reset, CONTINUATION, SETTINGS,
PING) must end the connection and be counted in /metrics. After each, a real curl request must
still be served."""
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time
import urllib.request

from proxytest import ProxyTestCase, take_port
from acstest import binary, main, wait_port, wait_until
from tlstest import make_certificate

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PROTOCOL_ERROR, ENHANCE_YOUR_CALM = 1, 11
# nghttp2 sends :status 200 as the static table's entry 8, indexed.
OK200 = b"\x88"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack(fields):
    """Literal fields without indexing, new names, no Huffman: what the peer reads is exactly
    what the test wrote, uppercase and all."""
    out = b""
    for name, value in fields:
        name, value = name.encode(), value.encode()
        out += b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value
    return out


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


class RawH2:
    """One HTTP/2 connection, frames by hand."""

    def __init__(self, port, rcvbuf=None, tls=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        if tls:
            self.sock = tls.wrap_socket(self.sock, server_hostname="a.test")
            assert self.sock.selected_alpn_protocol() == "h2"
        self.buf = b""
        self.send(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        self.sock.sendall(data)

    def request(self, stream, fields, end_stream=True):
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, hpack(fields)))

    def next_frame(self, timeout=5):
        """(type, flags, stream, payload), or None when the connection closed."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                         self.buf[9:9 + n])
                    self.buf = self.buf[9 + n:]
                    return f
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.buf += data

    def wait_for(self, predicate, timeout=5):
        """The first frame for which predicate holds; None if the connection ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.next_frame(deadline - time.monotonic())
            if f is None or predicate(f):
                return f
        raise AssertionError("no such frame in time")

    def stream_end(self, stream):
        """RST_STREAM's error code, or the :status of the response, for stream."""
        f = self.wait_for(lambda f: f[2] == stream and f[0] in (RST_STREAM, HEADERS) or f[0] == GOAWAY)
        if f is None:
            return "closed"
        if f[0] == RST_STREAM:
            return ("rst", int.from_bytes(f[3], "big"))
        if f[0] == GOAWAY:
            return ("goaway", int.from_bytes(f[3][4:8], "big"))
        return ("headers", f[3][:1])  # its first byte

    def goaway_or_close(self, timeout=10):
        """The GOAWAY error code, or "closed" when the connection ended without one."""
        try:
            f = self.wait_for(lambda f: f[0] == GOAWAY, timeout)
        except (ConnectionResetError, socket.timeout):
            return "closed"
        return "closed" if f is None else int.from_bytes(f[3][4:8], "big")

    def close(self):
        self.sock.close()


GOOD = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a.test")]


class ProxyH2(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.crt, self.key = make_certificate(self.tmpdir, "a.test")
        self.backend_ = self.backend("b1")
        self.admin_port = take_port()
        self.proxy([self.backend_], extra=f"AdminListen=127.0.0.1:{self.admin_port}\n"
                   "[Http2]\nPriorKnowledge=yes\nMaxResetsPerSecond=50\n", workers=1)
        wait_port(self.admin_port)
        # The same proxy over TLS, for ALPN: a second one on its own port.
        self.tls_port = take_port()
        conf = os.path.join(self.tmpdir, "tls.conf")
        with open(conf, "w") as f:
            f.write(f"[Proxy]\nListen=127.0.0.1:{self.tls_port}\nSource=static\nWorkers=1\n"
                    f"Backend=127.0.0.1:{self.backend_.port}\nIdleTimeout=1s\n"
                    f"[Tls]\nCertificate={self.crt}\nKey={self.key}\n")
        self.tls_proc = self.start([binary("src/proxy/acs-proxy"), "--config", conf], name="acs-proxy-tls")
        wait_port(self.tls_port)

    def curl(self, *args, url=None):
        out = subprocess.run(["curl", "-sS", "--max-time", "20", *args, url or self.url("/")],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def curl_h2c(self, path="/"):
        """A real client still gets an answer over HTTP/2 from the proxy."""
        out = self.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                        url=self.url(path)).decode()
        self.assertEqual(out, "2 200")

    def metric(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        m = re.search("^" + re.escape(name) + r" (\d+)$", text, re.M)
        return int(m.group(1))

    # ---- real clients ----

    def test_curl_over_tls_alpn_and_h2c(self):
        https = [f"https://a.test:{self.tls_port}/tls{i}" for i in range(5)]
        out = self.curl("--http2", "--cacert", self.crt, "--resolve", f"a.test:{self.tls_port}:127.0.0.1",
                        "-w", "%{http_version} %{http_code}\n", *https[:-1], url=https[-1]).decode()
        self.assertEqual(re.findall(r"^2 200$", out, re.M), ["2 200"] * 5, out)
        # One connection carried all five: the backend saw them, over HTTP/1.1.
        paths = [r.target for r in self.backend_.requests]
        self.assertEqual(paths, [f"/tls{i}" for i in range(5)])
        self.assertTrue(all(r.version == "HTTP/1.1" for r in self.backend_.requests))
        first = self.backend_.requests[0]
        self.assertEqual((first.header("X-Forwarded-Proto"), first.header("Forwarded"), first.header("Via")),
                         ("https", "for=127.0.0.1;proto=https", "2 acs-proxy"))
        self.assertEqual(first.header("Host"), f"a.test:{self.tls_port}")
        self.curl_h2c()
        self.assertEqual(self.backend_.requests[-1].header("X-Forwarded-Proto"), "http")
        # Without h2 in ALPN the same TLS port still speaks HTTP/1.1.
        out = self.curl("--http1.1", "--cacert", self.crt, "--resolve", f"a.test:{self.tls_port}:127.0.0.1",
                        "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url=https[0]).decode()
        self.assertEqual(out, "1.1 200")

    def test_bodies_both_ways(self):
        body = os.urandom(3 << 20)
        path = os.path.join(self.tmpdir, "body")
        with open(path, "wb") as f:
            f.write(body)
        # With content-length, and without (sent chunked to the backend).
        answer = json.loads(self.curl("--http2-prior-knowledge", "--data-binary", f"@{path}", url=self.url("/up")))
        self.assertEqual((answer["body_len"], answer["body_sha256"]), (len(body), hashlib.sha256(body).hexdigest()))
        answer = json.loads(self.curl("--http2-prior-knowledge", "-H", "Transfer-Encoding:", "-H", "Content-Length:",
                                      "--data-binary", f"@{path}", url=self.url("/up")))
        self.assertEqual(answer["body_len"], len(body))
        big = self.curl("--http2-prior-knowledge", url=self.url(f"/big?n={5 << 20}"))
        self.assertEqual(len(big), 5 << 20)
        # A chunked response: its body in DATA frames, its trailer fields in a last HEADERS frame.
        out = self.curl("--http2-prior-knowledge", "-D", "-", url=self.url("/chunked")).decode()
        # (curl prints the trailer fields right after the body.)
        self.assertTrue(out.endswith("\r\n\r\nhello worldx-trailer: yes\r\n"), out)
        echoed = self.curl("--http2-prior-knowledge", "--data-binary", "ping", url=self.url("/echo"))
        self.assertEqual(echoed, b"ping")
        # Responses without a body, until close, with hop-by-hop fields, and none at all.
        for path, expected in [("/204", "204 0"), ("/304", "304 0"), ("/eof", "200 11"), ("/hop", "200 2"),
                               ("/die", "502 12")]:
            out = self.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                            url=self.url(path)).decode()
            self.assertEqual(out, expected, path)
        head = self.curl("--http2-prior-knowledge", "-I", url=self.url("/hop")).decode().lower()
        self.assertIn("content-length: 2", head)
        self.assertNotIn("keep-alive", head)
        self.assertNotIn("x-private", head)

    def test_h2load_many_streams(self):
        out = subprocess.run(["h2load", "-n", "3000", "-c", "4", "-m", "50", self.url("/")],
                             capture_output=True, text=True, timeout=60).stdout
        self.assertRegex(out, r"requests: 3000 total, 3000 started, 3000 done, 3000 succeeded, 0 failed")
        self.assertIn("status codes: 3000 2xx", out)
        self.assertGreaterEqual(self.metric("acs_proxy_h2_streams_total"), 3000)

    def test_local_answers(self):
        # No backend left: 503 on the stream, the connection goes on.
        self.backend_.stop()
        out = self.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                        url=self.url("/")).decode()
        self.assertIn(out, ("2 502", "2 503"))
        # A header list over MaxHeaderListSize=: 431.
        out = self.curl("--http2-prior-knowledge", "-H", "x-big: " + "a" * 20000, "-o", "/dev/null",
                        "-w", "%{http_version} %{http_code}", url=self.url("/")).decode()
        self.assertEqual(out, "2 431")

    def test_max_concurrent_streams(self):
        # MaxConcurrentStreams= (default 100): the 101st stream at once is refused. Before the
        # client acknowledged the setting, with RST_STREAM REFUSED_STREAM (the connection goes
        # on); after, nghttp2 makes it a connection error (RFC 9113 5.1.2 allows a stream error).
        slow = [(":method", "GET"), (":scheme", "http"), (":path", "/slow?ms=1500"), (":authority", "a.test")]
        burst = b"".join(frame(HEADERS, END_HEADERS | END_STREAM, s, hpack(slow)) for s in range(1, 203, 2))
        c = RawH2(self.proxy_port)
        c.send(burst)
        self.assertEqual(c.stream_end(201), ("rst", 7))
        wait_until(lambda: self.backend_.count() == 100, 10, what="100 streams at the backend")
        c.close()
        c = RawH2(self.proxy_port)
        c.send(frame(SETTINGS, ACK, 0))
        c.wait_for(lambda f: f[0] == SETTINGS and f[1] & ACK)      # ours, acknowledged by the proxy
        c.send(burst)
        self.assertEqual(c.stream_end(201), ("goaway", PROTOCOL_ERROR))
        c.close()
        self.curl_h2c()

    def test_shutdown_goaway(self):
        # SIGTERM: a GOAWAY NO_ERROR naming the last stream taken, the stream in progress
        # answered, then the connection closed and the proxy gone, well before IdleTimeout=.
        c = RawH2(self.proxy_port)
        c.send(frame(SETTINGS, ACK, 0))
        c.request(1, GOOD)
        self.assertEqual(c.stream_end(1), ("headers", OK200))
        slow = [(":method", "GET"), (":scheme", "http"), (":path", "/slow?ms=700"), (":authority", "a.test")]
        c.request(3, slow)
        wait_until(lambda: self.backend_.count() == 2, 5, what="the slow request at the backend")
        self.proxy_proc.signal(signal.SIGTERM)
        goaway = c.wait_for(lambda f: f[0] == GOAWAY, 5)
        self.assertEqual((int.from_bytes(goaway[3][:4], "big"), int.from_bytes(goaway[3][4:8], "big")), (3, 0))
        self.assertEqual(c.stream_end(3), ("headers", OK200))
        self.assertIsNone(c.wait_for(lambda f: False, 5))        # closed
        wait_until(lambda: not self.proxy_proc.alive(), 5, what="the proxy to exit")
        c.close()

    def test_idle_timeout_over_tls(self):
        # IdleTimeout= (1 s on the TLS proxy): a connection with no stream open gets GOAWAY
        # NO_ERROR and is closed; one with a stream in progress is not.
        ctx = ssl.create_default_context(cafile=self.crt)
        ctx.set_alpn_protocols(["h2"])
        c = RawH2(self.tls_port, tls=ctx)
        c.send(frame(SETTINGS, ACK, 0))
        c.request(1, [(":method", "GET"), (":scheme", "https"), (":path", "/slow?ms=1500"), (":authority", "a.test")])
        self.assertEqual(c.stream_end(1), ("headers", OK200))
        started = time.monotonic()
        self.assertEqual(c.goaway_or_close(timeout=5), 0)
        self.assertIsNone(c.wait_for(lambda f: False, 5))
        self.assertLess(time.monotonic() - started, 4)
        c.close()

    # ---- strict checks ----

    def check_refused(self, fields, end_stream=True, then=None):
        c = RawH2(self.proxy_port)
        c.request(1, fields, end_stream)
        if then:
            c.send(then)
        self.assertEqual(c.stream_end(1), ("rst", PROTOCOL_ERROR), fields)
        # The connection goes on: the next stream on it is served.
        c.request(3, GOOD)
        self.assertEqual(c.stream_end(3), ("headers", OK200))
        c.close()
        self.curl_h2c()

    def test_strict_pseudo_headers(self):
        no = lambda name: [f for f in GOOD if f[0] != name]
        self.check_refused(no(":method"))
        self.check_refused(no(":path"))
        self.check_refused(no(":scheme"))
        self.check_refused(GOOD + [(":path", "/again")])            # duplicate
        self.check_refused(GOOD + [(":foo", "bar")])                 # unknown
        self.check_refused(GOOD[:2] + [("accept", "*/*")] + GOOD[2:])  # pseudo after regular
        self.check_refused([(":method", "GET"), (":scheme", "http"), (":path", ""), (":authority", "a.test")])
        self.check_refused([(":method", "GET"), (":scheme", "http"), (":path", "no-slash"), (":authority", "a.test")])
        self.check_refused([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a b")])
        self.check_refused(GOOD + [(":status", "200")])                # a response field

    def test_strict_fields(self):
        for name, value in [("connection", "keep-alive"), ("keep-alive", "timeout=5"),
                            ("proxy-connection", "keep-alive"), ("transfer-encoding", "chunked"),
                            ("upgrade", "h2c"), ("te", "gzip"), ("X-Upper", "1"), ("x-bad", "a\x01b")]:
            self.check_refused(GOOD + [(name, value)])
        # TE: trailers is the one TE allowed.
        c = RawH2(self.proxy_port)
        c.request(1, GOOD + [("te", "trailers")])
        self.assertEqual(c.stream_end(1), ("headers", OK200))
        c.close()

    def test_strict_content_length(self):
        post = [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "a.test")]
        # Less DATA than announced, then more.
        self.check_refused(post + [("content-length", "10")], end_stream=False,
                           then=frame(DATA, END_STREAM, 1, b"abc"))
        self.check_refused(post + [("content-length", "2")], end_stream=False,
                           then=frame(DATA, END_STREAM, 1, b"abcdef"))
        self.assertEqual(len([r for r in self.backend_.requests if r.method == "POST" and r.body]), 0)

    # ---- floods ----

    def assert_refused_connection(self, c, reason, before, codes=(ENHANCE_YOUR_CALM,)):
        end = c.goaway_or_close()
        self.assertIn(end, (*codes, "closed"))
        c.close()
        wait_until(lambda: self.metric(f'acs_proxy_h2_connections_refused_total{{reason="{reason}"}}') > before,
                   5, what=f"{reason} counted")
        self.curl_h2c()
        return end

    def test_rapid_reset(self):
        before = self.metric('acs_proxy_h2_connections_refused_total{reason="rapid_reset"}')
        c = RawH2(self.proxy_port)
        burst = b"".join(frame(HEADERS, END_HEADERS | END_STREAM, s, hpack(GOOD)) +
                         frame(RST_STREAM, 0, s, struct.pack(">I", 8)) for s in range(1, 2001, 2))
        c.send(burst)
        self.assertEqual(self.assert_refused_connection(c, "rapid_reset", before), ENHANCE_YOUR_CALM)
        # Far fewer than the thousand streams reached a backend.
        self.assertLess(self.backend_.count(), 300)

    def test_continuation_flood(self):
        # CVE-2024-28182: a header block that never ends. nghttp2 (1.52.0-1+deb12u2 and later)
        # stops after 8 CONTINUATION frames.
        before = self.metric('acs_proxy_h2_connections_refused_total{reason="flood"}')
        c = RawH2(self.proxy_port)
        c.send(frame(HEADERS, 0, 1, hpack(GOOD)))
        try:
            for _ in range(50):
                c.send(frame(CONTINUATION, 0, 1, hpack([("x-a", "b")])))
        except OSError:
            pass        # closed already
        self.assert_refused_connection(c, "flood", before)
        self.assertEqual(self.backend_.count(), 1)     # only curl's request reached it

    def test_settings_too_many_entries(self):
        before = self.metric('acs_proxy_h2_connections_refused_total{reason="flood"}')
        c = RawH2(self.proxy_port)
        c.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100) * 40))
        self.assert_refused_connection(c, "flood", before)

    def test_ping_and_settings_flood(self):
        for flood in (frame(PING, 0, 0, b"12345678"), frame(SETTINGS, 0, 0)):
            before = self.metric('acs_proxy_h2_connections_refused_total{reason="flood"}')
            # A client that never reads: the acknowledgements pile up.
            c = RawH2(self.proxy_port, rcvbuf=4096)
            try:
                for _ in range(100):
                    c.send(flood * 1000)
            except OSError:
                pass
            self.assert_refused_connection(c, "flood", before)


if __name__ == "__main__":
    main()
