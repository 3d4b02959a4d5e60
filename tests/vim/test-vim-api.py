#!/usr/bin/env python3
"""org.acs.VIM1 and the HTTP API: reads are open, every change is refused without polkit's
consent (bus) or the bearer token (HTTP) and logged with who made it; GetBackends and
BackendsChanged as the proxy uses them; the event stream replays the last events; /metrics;
static files without path traversal."""
import json
import re
import socket
import time

from acstest import (Monitor, binary, free_port, http_get, http_json, main, prometheus_text_problems, wait_port,
                     wait_until)
from vimtest import VimTestCase

VIM = ("org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1")


class BusApiTest(VimTestCase):
    PORTS = (17960, 18039)

    def test_backends_and_signals(self):
        self.start_vim()
        monitor = self.own(Monitor(self.bus, "--match", "type='signal',interface='org.acs.VIM1'"))
        self.start_agent("vm1", containers=2, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 2, 10, "registered")
        wait_until(lambda: monitor.signals("BackendsChanged"), 5, what="BackendsChanged")
        generation, backends = self.backends()
        self.assertEqual(len(backends), 2)
        for address, port, weight, state, vm, container in backends:
            self.assertEqual((address, vm, state, weight), ("127.0.0.1", "vm1", "ready", 100))
            self.assertEqual(len(container), 64)
        self.assertEqual(int(monitor.signals("BackendsChanged")[-1]["payload"]["data"][0]), int(generation))

        # a drain shows as "draining" in the set, with a newer generation, before removal
        container = backends[0][5]
        r = self.bus.busctl("call", *VIM, "Drain", "s", container)
        self.assertEqual(r.returncode, 0)
        g2, after = self.backends()
        self.assertGreater(int(g2), int(generation))
        self.assertIn("draining", [b[3] for b in after if b[5] == container])
        self.wait_event("drain", r"requested by bus uid 0")
        wait_until(lambda: container not in [b[5] for b in self.backends()[1]], 10, what="drained container removed")

        props = self.bus.get_property_json(*VIM, "VMs")["data"]
        self.assertEqual(props[0][0:4], ["vm1", "127.0.0.1", "active", 4])

    def test_changes_need_authorization(self):
        self.start_vim()
        self.start_agent("vm1", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "registered")
        # reads are open to anyone
        r = self.bus.busctl("call", *VIM, "GetBackends", user=65534, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.bus.busctl("get-property", *VIM, "Policy", user=65534, check=False).returncode, 0)
        # changes are not: no polkit on this bus, so an unprivileged caller is refused
        for args in (("Scale", "u", "3"), ("SetPolicy", "a{sv}", "1", "dry_run", "b", "true"),
                     ("Activate", "s", "vm1"), ("Standby", "s", "vm1")):
            r = self.bus.busctl("call", *VIM, *args, user=65534, check=False)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn("Access denied", r.stderr + r.stdout, args)
        self.wait_decisions(1)
        self.assertEqual(self.state()["service"]["desired"], 1)
        self.assertFalse(self.state()["policy"]["dry_run"])
        # bad arguments are refused before anything else
        r = self.bus.busctl("call", *VIM, "SetPolicy", "a{sv}", "1", "target_cpu", "d", "7", check=False)
        self.assertIn("target_cpu must be in 0.05..1", r.stderr)
        r = self.bus.busctl("call", *VIM, "SetPolicy", "a{sv}", "1", "no_such_key", "u", "1", check=False)
        self.assertIn("Unknown policy key", r.stderr)
        r = self.bus.busctl("call", *VIM, "Scale", "u", "99", check=False)
        self.assertIn("outside min_replicas..max_replicas", r.stderr)
        # root may
        monitor = self.own(Monitor(self.bus, "--match", "type='signal',member='PropertiesChanged'"))
        self.bus.busctl("call", *VIM, "SetPolicy", "a{sv}", "2", "target_cpu", "d", "0.5", "placement", "s", "spread")
        policy = self.bus.get_property_json(*VIM, "Policy")["data"]
        self.assertEqual(policy["target_cpu"]["data"], 0.5)
        self.assertEqual(policy["placement"]["data"], "spread")
        self.wait_event("policy", r"Policy changed by bus uid 0 .*\"target_cpu\":0.5")
        wait_until(lambda: monitor.signals("PropertiesChanged"), 5, what="PropertiesChanged for Policy")


class HttpApiTest(VimTestCase):
    PORTS = (17960, 18039)

    def url(self, path):
        return f"http://127.0.0.1:{self.api_port}{path}"

    def test_metrics_of_three_vms_pass_promtool(self):
        self.start_vim()
        for i, n in enumerate((2, 1, 3)):
            self.start_agent(f"vm{i + 1}", containers=n, capacity=4)
        self.wait_state(lambda s: len(s["vms"]) == 3 and s["service"]["ready"] == 6, 15, "three VMs registered")
        status, _, body = http_get(self.url("/metrics"))
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertEqual(len(re.findall(r"^acs_vm_capacity\{", text, re.M)), 3)
        self.assertEqual(len(re.findall(r"^acs_container_cpu\{", text, re.M)), 6)
        self.assertEqual(prometheus_text_problems(text), [], text)

    def test_state_metrics_and_static(self):
        self.start_vim()
        self.start_agent("vm1", containers=2, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 2, 10, "registered")
        s = self.state()
        for key in ("generation", "time", "policy", "service", "proxy", "vms", "load", "proxy_url"):
            self.assertIn(key, s)
        self.assertEqual(s["policy"]["target_cpu"], 0.6)
        self.assertEqual(s["policy"]["placement"], "binpack")
        vm = self.vm("vm1", s)
        self.assertEqual((vm["state"], vm["capacity"], len(vm["containers"])), ("active", 4, 2))
        c = vm["containers"][0]
        self.assertEqual(set(c), {"id", "address", "port", "state", "cpu", "cpu_limit", "mem", "in_flight"})
        self.assertAlmostEqual(c["cpu"], 0.6)

        status, headers, body = http_get(self.url("/metrics"))
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertIn("acs_containers_ready 2\n", text)
        self.assertRegex(text, r'acs_vm_up\{vm="vm1",state="active"\} 1')
        self.assertRegex(text, r'acs_container_cpu\{vm="vm1",container="[0-9a-f]{12}",state="ready"\} 0\.6')
        self.assertRegex(text, r'acs_decisions_total\{decision="none"\} \d+')

        status, headers, body = http_get(self.url("/"))
        self.assertEqual((status, headers["Content-Type"]), (200, "text/html; charset=utf-8"))
        self.assertIn(b"<title>ACS</title>", body)
        for bad in ("/../vim.conf", "/assets/../../vim.conf", "/.hidden", "/%2e%2e/vim.conf", "/nope.js"):
            self.assertEqual(http_get(self.url(bad))[0], 404, bad)
        self.assertEqual(http_get(self.url("/api/v1/nothing"))[0], 404)
        self.assertEqual(http_get(self.url("/api/v1/state"), method="POST", data=b"")[0], 405)
        # a malformed request gets a 4xx and the server keeps serving
        with socket.create_connection(("127.0.0.1", self.api_port), timeout=5) as sock:
            sock.sendall(b"GET /api/v1/state HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
            self.assertRegex(sock.recv(4096), rb"^HTTP/1.1 4\d\d ")
        self.assertEqual(http_json(self.url("/api/v1/state"))[0], 200)
        # silent clients are closed after [Api] IdleTimeout=2s, so they cannot hold every slot
        with socket.create_connection(("127.0.0.1", self.api_port), timeout=10) as sock:
            sock.sendall(b"GET /api/v1/sta")
            t = time.monotonic()
            self.assertEqual(sock.recv(4096), b"")
            self.assertLess(time.monotonic() - t, 5)

    def test_mutations_need_the_token(self):
        self.start_vim()
        self.start_agent("vm1", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "registered")
        container = self.vm("vm1")["containers"][0]["id"]
        attempts = [
            ("PUT", "/api/v1/policy", {"dry_run": True}),
            ("POST", "/api/v1/scale", {"replicas": 3}),
            ("POST", "/api/v1/vms/vm1/standby", None),
            ("POST", f"/api/v1/containers/{container}/drain", None),
        ]
        for auth in (None, "Bearer wrong", "Basic " + self.token, "Bearer " + self.token + "x"):
            for method, path, body in attempts:
                headers = {"Content-Type": "application/json"}
                if auth:
                    headers["Authorization"] = auth
                status, reply = http_json(self.url(path), method=method, headers=headers,
                                          data=json.dumps(body).encode() if body else b"")
                self.assertEqual(status, 401, (auth, path))
                self.assertIn("error", reply)
        self.wait_decisions(1)
        s = self.state()
        self.assertEqual((s["service"]["desired"], s["policy"]["dry_run"], self.vm("vm1", s)["state"]), (1, False, "active"))
        self.assertTrue(self.vim_events("access-denied"))

        auth = {"Authorization": "Bearer " + self.token, "X-ACS-User": "alice", "Content-Type": "application/json"}
        status, reply = http_json(self.url("/api/v1/policy"), method="PUT", headers=auth,
                                  data=b'{"target_cpu":0.7,"scale_down_window_s":30}')
        self.assertEqual((status, reply), (200, {"ok": True}))
        self.assertEqual(self.state()["policy"]["target_cpu"], 0.7)
        self.wait_event("policy", r"Policy changed by alice \(api 127\.0\.0\.1:\d+\)")
        status, reply = http_json(self.url("/api/v1/policy"), method="PUT", headers=auth, data=b'{"tolerance":"x"}')
        self.assertEqual(status, 400)
        self.assertIn("tolerance", reply["error"])
        status, _ = http_json(self.url("/api/v1/scale"), method="POST", headers=auth, data=b'{"replicas":3}')
        self.assertEqual(status, 200)
        self.wait_event("scale", r"Scale to 3 requested by alice")
        self.wait_state(lambda s: s["service"]["ready"] == 3, 10, "scaled to 3")
        status, _ = http_json(self.url("/api/v1/vms/nope/activate"), method="POST", headers=auth, data=b"")
        self.assertEqual(status, 404)
        # standby of a VM that runs containers: it drains first, logged with who asked
        status, _ = http_json(self.url("/api/v1/vms/vm1/standby"), method="POST", headers=auth, data=b"")
        self.assertEqual(status, 200)
        self.wait_event("standby", r"VM vm1: active -> draining: requested by alice \(api 127\.0\.0\.1:\d+\)")
        self.assertEqual(self.vm("vm1")["state"], "draining")
        status, _ = http_json(self.url("/api/v1/vms/vm1/activate"), method="POST", headers=auth, data=b"")
        self.assertEqual(status, 200)

    def test_event_stream_replays_then_streams(self):
        self.start_vim()
        self.start_agent("vm1", containers=1, capacity=4)
        self.wait_state(lambda s: s["service"]["ready"] == 1, 10, "registered")
        with socket.create_connection(("127.0.0.1", self.api_port), timeout=5) as sock:
            sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and data.count(b"event: state") < 2:
                data += sock.recv(65536)
        head, _, stream = data.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Type: text/event-stream", head)
        events = [e for e in stream.decode().split("\n\n") if e.strip()]
        logs = [json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: log")]
        states = [json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: state")]
        self.assertTrue(any(l["event"] == "vm-registered" and l["vm"] == "vm1" for l in logs), logs)
        for l in logs:
            self.assertEqual(set(l), {"time", "level", "event", "vm", "container", "message"})
        self.assertGreaterEqual(len(states), 2, "a state event every second")
        self.assertEqual(states[-1]["service"]["ready"], 1)

    def test_probe_and_load_through_the_proxy_url(self):
        web_port = free_port(self.api_port + 1, self.PORTS[1])
        web = self.start([binary("src/web/acs-web"), f"--port={web_port}", "--listen=127.0.0.1", "--workers=1"],
                         env={"ACS_VM": "vm7", "ACS_CONTAINER": "c0ffee", "ACS_SERVICE": "web"}, name="acs-web")
        wait_port(web_port)
        self.start_vim(proxy_url=f"http://127.0.0.1:{web_port}/")
        auth = {"Authorization": "Bearer " + self.token, "Content-Type": "application/json"}
        status, reply = http_json(self.url("/api/v1/probe"), method="POST", headers=auth, data=b"")
        self.assertEqual(status, 200, reply)
        self.assertEqual((reply["status"], reply["vm"], reply["container"]), (200, "vm7", "c0ffee"))
        self.assertGreater(reply["latency_ms"], 0)
        self.assertEqual(reply["body"]["service"], "web")

        # bounded by [Dashboard] MaxLoadUsers=4
        status, reply = http_json(self.url("/api/v1/load"), method="POST", headers=auth, data=b'{"users":5,"duration_s":5}')
        self.assertEqual(status, 400)
        status, _ = http_json(self.url("/api/v1/load"), method="POST", headers=auth, data=b'{"users":2,"duration_s":20}')
        self.assertEqual(status, 200)
        load = self.state()["load"]
        self.assertEqual((load["running"], load["users"]), (True, 2))
        self.assertGreater(load["remaining_s"], 15)
        status, _ = http_json(self.url("/api/v1/load"), method="POST", headers=auth, data=b'{"users":1,"duration_s":5}')
        self.assertEqual(status, 409, "one run at a time")
        status, _ = http_json(self.url("/api/v1/load"), method="DELETE", headers=auth)
        self.assertEqual(status, 200)
        self.wait_state(lambda s: not s["load"]["running"], 5, "the load run stopped")
        self.wait_event("load", r"Load run of 2 users ended")
        web.stop()
        # the proxy gone: the probe says so
        status, reply = http_json(self.url("/api/v1/probe"), method="POST", headers=auth, data=b"")
        self.assertEqual(status, 502)
        self.assertIn("Probe of the proxy failed", reply["error"])


if __name__ == "__main__":
    main()
