#!/usr/bin/env python3
"""acs-proxy out of file descriptors: with a limit of 64 and 200 clients connected, the listener
pauses instead of spinning on a socket that stays readable (a core burnt and millions of log
lines before), and serves again once the clients leave. The admin port the same; and a global
MaxConnections= makes the proxy stop accepting with one clear log line."""
import os
import socket
import time

from acstest import binary, http_get, main, wait_until
from proxytest import ProxyTestCase, take_port


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ProxyFdTest(ProxyTestCase):
    def start_limited_proxy(self, extra="", nofile=64):
        b = self.backend()
        self.proxy_port, self.admin_port = take_port(), take_port()
        conf = os.path.join(self.tmpdir, "proxy.conf")
        with open(conf, "w") as f:
            f.write(f"[Proxy]\nListen=127.0.0.1:{self.proxy_port}\nAdminListen=127.0.0.1:{self.admin_port}\n"
                    f"Source=static\nWorkers=1\nBackend=127.0.0.1:{b.port}\n{extra}\n")
        self.proxy_proc = self.start(["prlimit", f"--nofile={nofile}:{nofile}", binary("src/proxy/acs-proxy"),
                                      "--config", conf], name="acs-proxy")
        wait_until(lambda: http_get(f"http://127.0.0.1:{self.proxy_port}/", timeout=2)[0] == 200, 10,
                   interval=0.2, what="the proxy serving")

    def flood(self, port, n):
        clients = []
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))   # the kernel's backlog takes them all
            clients.append(s)
        self.addCleanup(lambda: [s.close() for s in clients])
        return clients

    def assert_idle_while_saturated(self, pattern):
        wait_until(lambda: pattern in self.proxy_proc.output(), 10, interval=0.1, what=pattern)
        before, t = cpu_seconds(self.proxy_proc.pid), time.monotonic()
        time.sleep(3)
        used = (cpu_seconds(self.proxy_proc.pid) - before) / (time.monotonic() - t)
        print(f"acs-proxy CPU while saturated: {used:.1%} of a core (loaded machine)")
        self.assertLess(used, 0.05)
        self.assertLess(self.proxy_proc.output().count(pattern), 3, "one warning per 10 s, not per attempt")

    def test_out_of_fds_pauses_then_serves_again(self):
        self.start_limited_proxy()
        clients = self.flood(self.proxy_port, 200)
        self.assert_idle_while_saturated("Cannot accept client connections")
        for s in clients:
            s.close()
        t = time.monotonic()
        wait_until(lambda: http_get(f"http://127.0.0.1:{self.proxy_port}/", timeout=2)[0] == 200, 10,
                   interval=0.1, what="the proxy serving again")
        self.assertLess(time.monotonic() - t, 3)

    def test_admin_port_out_of_fds(self):
        self.start_limited_proxy()
        clients = self.flood(self.admin_port, 200)
        wait_until(lambda: "admin connections" in self.proxy_proc.output(), 10, interval=0.1,
                   what="the admin listener paused")
        before, t = cpu_seconds(self.proxy_proc.pid), time.monotonic()
        time.sleep(2)
        self.assertLess((cpu_seconds(self.proxy_proc.pid) - before) / (time.monotonic() - t), 0.05)
        for s in clients:
            s.close()
        wait_until(lambda: http_get(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=2)[0] == 200, 15,
                   interval=0.2, what="the admin port serving again")

    def test_connection_limit_logged_and_held(self):
        self.start_limited_proxy("MaxConnections=20", nofile=1024)
        clients = self.flood(self.proxy_port, 100)
        self.assert_idle_while_saturated("Connection limit of 20 client connections reached")
        for s in clients:
            s.close()
        wait_until(lambda: http_get(f"http://127.0.0.1:{self.proxy_port}/", timeout=2)[0] == 200, 10,
                   interval=0.1, what="the proxy serving again")


class SlowBodyTest(ProxyTestCase):
    """A body trickled a byte at a time, each pause shorter than ClientBodyTimeout=: before,
    the pause timer restarted on every byte and the request held its backend connection and the
    in-flight count (the VIM's scale-out signal) for as long as the client liked. With the
    shipped ClientBodyMinRate= it gets 408 soon after its first ClientBodyTimeout=."""

    def in_flight(self):
        status, _, body = http_get(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=2)
        self.assertEqual(status, 200)
        return sum(float(l.split()[-1]) for l in body.decode().splitlines()
                   if l.startswith("acs_proxy_backend_in_flight{"))

    def test_trickled_body_cut_and_backend_released(self):
        b = self.backend()
        self.admin_port = take_port()
        self.proxy([b], extra=f"AdminListen=127.0.0.1:{self.admin_port}\nClientBodyTimeout=1s\n")
        s = self.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        start, status = time.monotonic(), None
        s.settimeout(0.5)
        while time.monotonic() - start < 15:
            try:
                s.send(b"a")                      # every 0.5 s: never a pause of ClientBodyTimeout=
                data = s.recv(4096)
            except socket.timeout:
                if time.monotonic() - start > 0.7:
                    self.assertEqual(self.in_flight(), 1)    # the request did reach a backend
                continue
            except OSError:
                break
            status = data.split(b" ")[1] if data else status
            break
        elapsed = time.monotonic() - start
        print(f"trickled body answered {status} after {elapsed:.1f} s (loaded machine)")
        self.assertEqual(status, b"408")
        self.assertLess(elapsed, 4)
        wait_until(lambda: b.conns and b.conns[0].closed_by_peer, 5, what="the backend connection closed")
        wait_until(lambda: self.in_flight() == 0, 5, interval=0.1, what="no request in flight")
        self.assertIn("request body too slow", self.proxy_proc.output())
        # and the proxy serves the next client at once
        self.assertEqual(http_get(self.url("/after"), timeout=5)[0], 200)


if __name__ == "__main__":
    main()
