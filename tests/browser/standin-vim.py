#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for acs-vim's HTTP API, for working on the dashboard's layout without a cluster.

It serves the built dashboard and made-up (but well-formed) /api/v1/state and /api/v1/events
answers. It is a development aid only: the registered browser tests run against the real acs-vim.

  standin-vim.py --port 18600 --dashboard build/dashboard [--token secret]
"""
import argparse
import contextlib
import http.server
import json
import math
import mimetypes
import os
import random
import threading
import time

LOCK = threading.Lock()
STATE = {}
LOG = []          # (sequence number, event)
SEQ = 0
TOKEN = "secret"


def container(vm_index, n, state="ready"):
    cid = f"{vm_index:02x}{n:02x}" + "c0ffee" * 10
    return {"id": cid[:64], "address": "127.0.0.1", "port": 9100 + vm_index * 10 + n, "state": state,
            "cpu": 0.0, "cpu_limit": 0.5, "mem": 6 * 1024 * 1024, "in_flight": 0}


def log_event(event, message, vm=None, cont=None, level="info", locked=False):
    global SEQ
    with contextlib.nullcontext() if locked else LOCK:
        SEQ += 1
        LOG.append((SEQ, {"time": time.time(), "level": level, "event": event, "vm": vm,
                          "container": cont, "message": message}))
        del LOG[:-100]


def initial_state():
    return {
        "generation": 1, "time": time.time(),
        "policy": {"target_cpu": 0.6, "target_inflight": 1.0, "tolerance": 0.1, "min_replicas": 1,
                   "max_replicas": 12, "scale_down_window_s": 60, "placement": "spread",
                   "vm_headroom": 1, "dry_run": False},
        "service": {"desired": 3, "running": 3, "ready": 3},
        "proxy": {"requests_per_s": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "in_flight": 0,
                  "requests_total": 0, "errors_total": 0},
        "vms": [
            {"name": "vm1", "address": "127.0.0.1", "state": "active", "capacity": 4, "cpu": 0.0,
             "containers": [container(1, 0), container(1, 1)]},
            {"name": "vm2", "address": "127.0.0.1", "state": "active", "capacity": 4, "cpu": 0.0,
             "containers": [container(2, 0)]},
            {"name": "vm3", "address": "127.0.0.1", "state": "standby", "capacity": 4, "cpu": 0.0,
             "containers": []},
        ],
        "load": {"running": False, "users": 0, "remaining_s": 0},
        "proxy_url": "http://127.0.0.1:8080/",
    }


def tick():
    """Advances the made-up cluster by one second: load drives CPU, CPU drives scaling."""
    with LOCK:
        s = STATE
        s["time"] = time.time()
        load = s["load"]
        users = load["users"] if load["running"] else 0
        if load["running"]:
            load["remaining_s"] -= 1
            if load["remaining_s"] <= 0:
                load.update(running=False, users=0, remaining_s=0)
        conts = [c for vm in s["vms"] for c in vm["containers"]]
        per = users / max(1, len(conts))
        for vm in s["vms"]:
            for c in vm["containers"]:
                c["cpu"] = round(min(1.2, per * 0.5 / c["cpu_limit"] * random.uniform(0.85, 1.1)), 3)
                c["in_flight"] = int(per * random.uniform(0, 1.2))
                if c["state"] == "starting":
                    c["state"] = "ready"
            vm["cpu"] = round(sum(c["cpu"] * c["cpu_limit"] for c in vm["containers"]), 3)
        s["proxy"]["requests_per_s"] = round(users * random.uniform(0.95, 1.0), 2)
        s["proxy"]["in_flight"] = sum(c["in_flight"] for c in conts)
        s["proxy"]["requests_total"] += int(s["proxy"]["requests_per_s"])
        s["proxy"]["p50_ms"] = round(20 + per * 15, 1)
        s["proxy"]["p99_ms"] = round(45 + per * 40 + 10 * math.sin(time.time() / 7), 1)
        mean_cpu = sum(c["cpu"] for c in conts) / max(1, len(conts))
        pending = []
        if mean_cpu > s["policy"]["target_cpu"] * 1.1 and len(conts) < s["policy"]["max_replicas"]:
            want = min(s["policy"]["max_replicas"], math.ceil(len(conts) * mean_cpu / s["policy"]["target_cpu"]))
            pending.append(("scale-out", want, mean_cpu, len(conts)))
        elif users == 0 and len(conts) > s["policy"]["min_replicas"] and random.random() < 0.1:
            pending.append(("scale-in", len(conts) - 1, mean_cpu, len(conts)))
        for kind, want, cpu, have in pending:
            s["service"]["desired"] = want
            s["generation"] += 1
            if kind == "scale-out":
                for _ in range(want - have):
                    vm = min((v for v in s["vms"] if len(v["containers"]) < v["capacity"]),
                             key=lambda v: (v["state"] != "active", len(v["containers"])), default=None)
                    if not vm:
                        break
                    if vm["state"] == "standby":
                        vm["state"] = "active"
                        log_event("vm-activate", f"{vm['name']} activated: no free slot left on active VMs",
                                  vm=vm["name"], locked=True)
                    i = int(vm["name"][2:])
                    c = container(i, len(vm["containers"]) + random.randint(2, 200), "starting")
                    vm["containers"].append(c)
                    log_event("scale-out", f"scale-out {have} -> {want}: cpu {cpu:.2f} vs target "
                              f"{s['policy']['target_cpu']:.2f}, placed on {vm['name']} (spread)",
                              vm=vm["name"], cont=c["id"], locked=True)
            else:
                vm = max(s["vms"], key=lambda v: len(v["containers"]))
                c = vm["containers"].pop()
                log_event("scale-in", f"scale-in {have} -> {want}: cpu {cpu:.2f}, window passed",
                          vm=vm["name"], cont=c["id"], locked=True)
        conts = [c for vm in s["vms"] for c in vm["containers"]]
        s["service"]["running"] = len(conts)
        s["service"]["ready"] = sum(c["state"] == "ready" for c in conts)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    dashboard = "."

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        self.body = self.body_json()
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_json(401, {"error": "missing or wrong API token"})
            return False
        return True

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/api/v1/state":
            with LOCK:
                return self.send_json(200, STATE)
        if path == "/api/v1/events":
            return self.events()
        if path == "/":
            path = "/index.html"
        file = os.path.realpath(os.path.join(self.dashboard, path.lstrip("/")))
        if not file.startswith(os.path.realpath(self.dashboard)) or not os.path.isfile(file):
            return self.send_json(404, {"error": "not found"})
        with open(file, "rb") as f:
            data = f.read()
        ctype = mimetypes.guess_type(file)[0] or "application/octet-stream"
        if file.endswith(".js"):
            ctype = "text/javascript"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def events(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sent = 0
        try:
            while True:
                with LOCK:
                    state = json.dumps(STATE)
                    new = [e for seq, e in LOG if seq > sent]
                    sent = SEQ
                for e in new:
                    self.wfile.write(f"event: log\ndata: {json.dumps(e)}\n\n".encode())
                self.wfile.write(f"event: state\ndata: {state}\n\n".encode())
                self.wfile.flush()
                time.sleep(1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        path = self.path
        if path == "/api/v1/probe":
            with LOCK:
                ready = [(vm["name"], c) for vm in STATE["vms"] for c in vm["containers"] if c["state"] == "ready"]
            vm, c = random.choice(ready)
            return self.send_json(200, {"status": 200, "vm": vm, "container": c["id"][:12],
                                        "latency_ms": round(random.uniform(1, 9), 2),
                                        "body": {"vm": vm, "container": c["id"][:12], "service": "web",
                                                 "request": random.randint(1, 999), "cpu_ms": 2.0}})
        if path == "/api/v1/load":
            req = self.body_json()
            with LOCK:
                STATE["load"] = {"running": True, "users": int(req["users"]), "remaining_s": int(req["duration_s"])}
            log_event("load", f"load started: {req['users']} users for {req['duration_s']} s")
            return self.send_json(200, STATE["load"])
        if not self.authorized():
            return
        if path == "/api/v1/scale":
            req = self.body
            log_event("scale", f"scale to {req['replicas']} by {self.headers.get('X-ACS-User', 'api')}")
            return self.send_json(200, {"replicas": req["replicas"]})
        return self.send_json(200, {})

    def do_PUT(self):
        if not self.authorized():
            return
        req = self.body
        with LOCK:
            STATE["policy"].update(req)
        who = self.headers.get("X-ACS-User", "api")
        log_event("policy", f"policy changed by {who} ({self.client_address[0]}): "
                  + ", ".join(f"{k}={v}" for k, v in req.items()))
        return self.send_json(200, STATE["policy"])

    def do_DELETE(self):
        with LOCK:
            STATE["load"] = {"running": False, "users": 0, "remaining_s": 0}
        return self.send_json(200, {})


def main():
    global STATE, TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18600)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--token", default="secret")
    args = ap.parse_args()
    TOKEN = args.token
    STATE = initial_state()
    log_event("vm-register", "vm1 registered: 2 containers adopted", vm="vm1")
    log_event("vm-register", "vm2 registered: 1 container adopted", vm="vm2")
    Handler.dashboard = args.dashboard

    def ticker():
        while True:
            time.sleep(1)
            tick()
    threading.Thread(target=ticker, daemon=True).start()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
