"""Helpers for the acs-proxy tests: a recording backend that keeps exactly the bytes that
reached it, a proxy started from a config text, and raw HTTP/1.1 exchanges over sockets.

The recording backend is deliberately simple and strict: it frames requests by
Content-Length or chunked encoding, answers according to the path, and keeps per connection
the raw bytes, the requests it framed and whatever was left over, so that a test can assert
that a request arrived intact and alone (nothing smuggled before or after it).
"""
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from acstest import (DaemonTestCase, binary, free_port, wait_port, wait_until)  # noqa: E402

PORT_LO, PORT_HI = 17200, 17499
_port_lock = threading.Lock()
_next_port = [PORT_LO + (os.getpid() * 7) % 200]


def take_port():
    """A free port in the proxy range, different on each call within this process, spread by
    pid so that test programs running in parallel rarely race for the same one."""
    with _port_lock:
        for _ in range(PORT_HI - PORT_LO):
            p = _next_port[0]
            _next_port[0] = PORT_LO + (p + 1 - PORT_LO) % (PORT_HI - PORT_LO)
            try:
                return free_port(p, p)
            except RuntimeError:
                continue
    raise RuntimeError("no free port")


class Request:
    def __init__(self, method, target, version, headers, body, raw, chunked, trailers):
        self.method, self.target, self.version = method, target, version
        self.headers, self.body, self.raw = headers, body, raw
        self.chunked, self.trailers = chunked, trailers

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None

    @property
    def path(self):
        return urllib.parse.urlsplit(self.target).path


class ConnRecord:
    def __init__(self):
        self.raw = bytearray()
        self.requests = []
        self.closed_by_peer = False
        self.garbage = b""


class BadFraming(Exception):
    pass


def _parse_one(buf):
    """(Request, rest) or (None, buf) when incomplete; raises BadFraming."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    head = buf[:end].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise BadFraming("request line")
    headers = []
    for line in lines[1:]:
        if ":" not in line or line[0] in " \t":
            raise BadFraming("field")
        k, v = line.split(":", 1)
        headers.append((k, v.strip()))
    pos = end + 4
    hmap = {}
    for k, v in headers:
        hmap.setdefault(k.lower(), []).append(v)
    chunked = "transfer-encoding" in hmap
    trailers = []
    if chunked:
        if hmap["transfer-encoding"] != ["chunked"] or "content-length" in hmap:
            raise BadFraming("te")
        body = bytearray()
        while True:
            le = buf.find(b"\r\n", pos)
            if le < 0:
                return None, buf
            size = int(buf[pos:le].split(b";")[0], 16)
            pos = le + 2
            if size == 0:
                break
            if len(buf) < pos + size + 2:
                return None, buf
            body += buf[pos:pos + size]
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise BadFraming("chunk end")
            pos += size + 2
        while True:
            le = buf.find(b"\r\n", pos)
            if le < 0:
                return None, buf
            line = buf[pos:le].decode("latin-1")
            pos = le + 2
            if not line:
                break
            k, v = line.split(":", 1)
            trailers.append((k, v.strip()))
        body = bytes(body)
    else:
        cl = hmap.get("content-length", ["0"])
        if len(cl) != 1 or not cl[0].isdigit():
            raise BadFraming("cl")
        n = int(cl[0])
        if len(buf) < pos + n:
            return None, buf
        body = bytes(buf[pos:pos + n])
        pos += n
    return Request(parts[0], parts[1], parts[2], headers, body, bytes(buf[:pos]), chunked, trailers), buf[pos:]


BAD_RESPONSES = {
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "bad-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nab",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nab",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nab",
    "space-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nab",
    "nul": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nab",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nab",
    "bad-status": b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "bad-version": b"HTTP/2.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "garbage": b"hello there\r\n\r\n",
}


class RecordingBackend:
    """A threaded HTTP/1.1 backend on 127.0.0.1 that records everything it receives.

    Paths: / (JSON naming the backend), /echo (the body back), /healthz (200, or 503 when
    .healthy is false), /die (a reset without answer), /big?n=N, /chunked (chunked
    with a trailer), /eof (no framing, closes), /204, /304, /hop (hop-by-hop fields in the
    response), /slow?ms=N, /hang (never answers), /close (answers and closes),
    /bad?kind=K (a malformed response, see BAD_RESPONSES).
    """

    def __init__(self, name="b1", port=None):
        self.name = name
        self.delay = 0.0        # seconds before each answer
        self.healthy = True     # what /healthz says
        self.dying = False      # reset every request without an answer, as a killed process
        self.unavailable = False  # answer every request but /healthz with 503
        self.port = port or take_port()
        self.conns = []
        self.requests = []
        self.busy = 0
        self.max_busy = 0           # the most requests being answered at the same time
        self.lock = threading.Lock()
        self._answering = threading.local()     # per serving thread: is its request counted busy
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(256)
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self):
        self.running = False
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            pass
        self.sock.close()

    def count(self):
        with self.lock:
            return len(self.requests)

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if not self.running:
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        rec = ConnRecord()
        with self.lock:
            self.conns.append(rec)
        buf = b""
        sent_continue = False
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = conn.recv(262144)
                if not data:
                    rec.closed_by_peer = True
                    break
                rec.raw += data
                buf += data
                while True:
                    try:
                        req, buf = _parse_one(buf)
                    except BadFraming:
                        rec.garbage = buf
                        conn.close()
                        return
                    if req is None:
                        if not sent_continue and b"\r\n\r\n" in buf and b"100-continue" in buf.split(b"\r\n\r\n")[0].lower():
                            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                            sent_continue = True
                        break
                    sent_continue = False
                    with self.lock:
                        rec.requests.append(req)
                        self.requests.append(req)
                        n = len(self.requests)
                        self.busy += 1
                        self.max_busy = max(self.max_busy, self.busy)
                    self._answering.counted = True
                    try:
                        keep = self._respond(conn, req, n)
                    finally:
                        self._done_answering()
                    if not keep:
                        conn.close()
                        return
            rec.garbage = buf
        except OSError:
            rec.closed_by_peer = True
        finally:
            conn.close()

    def _done_answering(self):
        """Ends the busy period of the request this thread answers (once)."""
        if getattr(self._answering, "counted", False):
            self._answering.counted = False
            with self.lock:
                self.busy -= 1

    def _respond(self, conn, req, n):
        """Sends the answer; False to close the connection afterwards."""
        url = urllib.parse.urlsplit(req.target)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        extra = f"X-Backend: {self.name}\r\n"
        if path == "/healthz":
            code = "200 OK" if self.healthy else "503 Unavailable"
            conn.sendall(f"HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n".encode())
            return True
        if self.unavailable:
            conn.sendall(f"HTTP/1.1 503 Service Unavailable\r\n{extra}Content-Length: 0\r\n\r\n".encode())
            return True
        if path == "/die" or self.dying:
            # Gone mid-request, as a killed process: a reset, no response byte.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if path == "/echo":
            body = req.body
        elif path == "/big":
            body = (b"0123456789abcdef" * (int(q.get("n", "1024")) // 16 + 1))[:int(q.get("n", "1024"))]
        elif path == "/chunked":
            conn.sendall(("HTTP/1.1 200 OK\r\n" + extra + "Transfer-Encoding: chunked\r\n\r\n").encode()
                         + b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n")
            return True
        elif path == "/eof":
            conn.sendall(("HTTP/1.1 200 OK\r\n" + extra + "\r\n").encode() + b"until close")
            return False
        elif path in ("/204", "/304"):
            conn.sendall(f"HTTP/1.1 {path[1:]} X\r\n{extra}\r\n".encode())
            return True
        elif path == "/hop":
            conn.sendall(("HTTP/1.1 200 OK\r\n" + extra + "Connection: X-Private\r\nX-Private: 1\r\n"
                          "Keep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok").encode())
            return True
        elif path == "/hang":
            time.sleep(float(q.get("s", "30")))
            return False
        elif path == "/bad":
            conn.sendall(BAD_RESPONSES[q["kind"]])
            time.sleep(0.2)
            return False
        else:
            if path == "/slow":
                time.sleep(int(q.get("ms", "100")) / 1000)
            body = (json.dumps({"backend": self.name, "path": req.target, "n": n,
                                "method": req.method, "body_len": len(req.body),
                                "body_sha256": hashlib.sha256(req.body).hexdigest()}) + "\n").encode()
        if self.delay:
            time.sleep(self.delay)
        # Done before the answer leaves: once it is out, the proxy may hand this backend its
        # next request on another connection before this thread runs again.
        self._done_answering()
        close = path == "/close"
        head = (f"HTTP/1.1 200 OK\r\n{extra}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n")
        if req.method == "HEAD":
            conn.sendall(head.encode())
        else:
            conn.sendall(head.encode() + body)
        return not close


def read_response(sock, head_only=False, timeout=5):
    """Reads one HTTP/1.x response from sock: (status, headers list, body, raw), or None on EOF.
    1xx responses are returned like any other. Chunked bodies are decoded; trailers are appended
    to headers."""
    sock.settimeout(timeout)
    f = sock.makefile("rb")
    try:
        return read_response_file(f, head_only)
    finally:
        f.close()


def read_response_file(f, head_only=False):
    """read_response() on a buffered file, to read several pipelined responses."""
    line = f.readline()
    if not line:
        return None
    raw = bytearray(line)
    status = int(line.split(b" ")[1])
    headers = []
    while True:
        line = f.readline()
        raw += line
        if line in (b"\r\n", b"\n", b""):
            break
        k, v = line.decode("latin-1").split(":", 1)
        headers.append((k.strip(), v.strip()))
    h = {k.lower(): v for k, v in headers}
    body = b""
    if head_only or status < 200 or status in (204, 304):
        pass
    elif h.get("transfer-encoding", "").lower() == "chunked":
        chunks = bytearray()
        while True:
            size_line = f.readline()
            raw += size_line
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            data = f.read(size + 2)
            raw += data
            chunks += data[:-2]
        while True:
            line = f.readline()
            raw += line
            if line in (b"\r\n", b""):
                break
            k, v = line.decode("latin-1").split(":", 1)
            headers.append((k.strip(), v.strip()))
        body = bytes(chunks)
    elif "content-length" in h:
        body = f.read(int(h["content-length"]))
        raw += body
    else:
        body = f.read()
        raw += body
    return status, headers, body, bytes(raw)


def header(headers, name):
    vals = [v for k, v in headers if k.lower() == name.lower()]
    return ", ".join(vals) if vals else None


def connection_closed(sock, timeout=3):
    """True when the peer closed sock (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class ProxyTestCase(DaemonTestCase):
    """Starts backends and an acs-proxy in front of them. At the end the proxy must stop
    cleanly on SIGTERM (exit 0: under the sanitizers, also no leak and no error report)."""

    proxy_proc = None

    def tearDown(self):
        rc = self.proxy_proc.stop() if self.proxy_proc else 0
        log = self.proxy_proc.output()[-4000:] if self.proxy_proc else ""
        super().tearDown()
        if rc != 0:
            raise AssertionError(f"acs-proxy exited with {rc}:\n{log}")

    def backend(self, name="b1"):
        b = RecordingBackend(name)
        self.own(b)
        return b

    def bench_backend(self, name):
        port = take_port()
        p = self.start([binary("tests/proxy/bench-backend"), port, name], name=f"backend-{name}")
        p.wait_for_output("ready")
        p.port = port
        return p

    def proxy(self, backends=(), extra="", workers=1, source="static", args=()):
        self.proxy_port = take_port()
        lines = ["[Proxy]", f"Listen=127.0.0.1:{self.proxy_port}", f"Source={source}",
                 f"Workers={workers}"]
        lines += [f"Backend=127.0.0.1:{b.port}" if isinstance(b, (RecordingBackend,)) or hasattr(b, "port")
                  else f"Backend={b}" for b in backends]
        conf = os.path.join(self.tmpdir, "proxy.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra + "\n")
        p = self.start([binary("src/proxy/acs-proxy"), "--config", conf, "--log-level", "debug", *args],
                       name="acs-proxy")
        wait_port(self.proxy_port)
        self.proxy_proc = p
        return p

    def restart_behind_held_socket(self, conf, request, args=(), restarts=3, clients=4):
        """As systemd does for acs-proxy.socket: the test holds the listening socket, which
        outlives each acs-proxy it passes it to (LISTEN_FDS, name "http"); connection attempts
        during a restart wait in its backlog for the next instance. Runs `clients` threads
        calling request() in a loop across `restarts` restarts; returns their results."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.proxy_port))
        listener.listen(1024)
        self.addCleanup(listener.close)

        def start():
            # LISTEN_PID must name the service itself: the shell sets it, then execs.
            return self.start(["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", binary("src/proxy/acs-proxy"),
                               "--config", conf, *args], name="acs-proxy",
                              env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "http"},
                              pass_fds=(3,), preexec_fn=lambda: os.dup2(listener.fileno(), 3))

        stop = threading.Event()
        results = []

        def loop():
            while not stop.is_set():
                try:
                    results.append(request())
                except OSError as e:
                    results.append(repr(e))

        self.proxy_proc = start()
        threads = [threading.Thread(target=loop) for _ in range(clients)]
        for t in threads:
            t.start()
        for _ in range(restarts):
            time.sleep(0.5)
            self.assertEqual(self.proxy_proc.stop(), 0)
            self.proxy_proc = start()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        return results

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.proxy_port}{path}"

    def exchange(self, raw, sock=None, head_only=False):
        """Sends raw on sock (a new connection when None) and reads one response."""
        s = sock or self.connect()
        s.sendall(raw)
        r = read_response(s, head_only=head_only)
        if sock is None:
            s.close()
        return r

    def warm(self):
        """A client connection whose clean request (GET /warm) warmed the backend pool."""
        s = self.connect()
        st, _, _, _ = self.exchange(b"GET /warm HTTP/1.1\r\nHost: example.test\r\n\r\n", sock=s)
        self.assertEqual(st, 200)
        return s

    def clean(self):
        """A clean request (GET /clean) on a new client connection; returns the body."""
        st, _, body, _ = self.exchange(b"GET /clean HTTP/1.1\r\nHost: example.test\r\n\r\n")
        self.assertEqual(st, 200)
        return body
