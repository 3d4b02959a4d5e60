# SPDX-License-Identifier: MIT
"""A scenario run: the demo cluster (tools/demo.sh, every daemon a real process, acs-web in real
containers) under an acs-load profile, watched through acs-vim's /api/v1/state. Used by
test_scenario.py and by bench/scale-reaction/run.sh.

A run records:
  - samples: acs-vim's state every 0.2 s (time since the load started, per-VM state, containers
    with their state, CPU);
  - load: acs-load's per-second rows and summary (--json).
and turns them into a 1-second timeline (CSV) and a plot (gnuplot)."""
import json
import os
import signal
import subprocess
import threading
import time

import acstest

SAMPLE_INTERVAL = 0.2


def parse_profile(text):
    return [tuple(int(x) for x in p.split(":")) for p in text.split(",")]


def users_at(profile, t):
    users = 0
    for time_s, u in profile[:-1]:
        if time_s <= t:
            users = u
    return users if 0 <= t < profile[-1][0] else 0


def demo_containers_left(vms):
    ids = []
    for vm in vms:
        r = acstest.docker("ps", "-aq", "--filter", "label=org.acs.managed=1",
                           "--filter", f"label=org.acs.vmm={vm}", check=False)
        ids += r.stdout.split()
    return ids


class Cluster:
    """tools/demo.sh in a directory of its own, on ports base..base+160.

    vm_provider="systemd": vm3 is off until acs-vim starts its acs-vmm as a unit. The machines
    the tests run on have no systemd as PID 1, so tests/vim/standin-systemd serves
    org.freedesktop.systemd1 on a private dbus-daemon and runs the unit file the demo writes;
    everything else (the StartUnit/StopUnit calls and their jobs over D-Bus, acs-vmm, Docker)
    is real."""

    def __init__(self, workdir, base_port, vm_prefix, placement="spread", two_tier=False,
                 scale_down_window="10s", standby_delay="5s", cpu_limit="0.1", logdir=None, policy="acs",
                 vm_provider="agent"):
        self.dir = os.path.join(workdir, "demo")
        self.vms = [f"{vm_prefix}-vm{i}" for i in (1, 2, 3)]
        self.systemd_bus = self.systemd = None
        argv = [os.path.join(acstest.SOURCE_DIR, "tools", "demo.sh"), "--no-setup", "--quiet",
                "--build-dir", acstest.BUILD_DIR, "--dir", self.dir, "--base-port", base_port,
                "--front-bus", "private",
                "--vm-prefix", vm_prefix, "--placement", placement, "--policy", policy,
                "--scale-down-window", scale_down_window, "--standby-delay", standby_delay,
                "--cpu-limit", cpu_limit]
        if two_tier:
            argv.append("--two-tier")
        if vm_provider == "systemd":
            self.systemd_bus = acstest.Bus()
            self.systemd = acstest.Process([acstest.binary("tests/vim/standin-systemd"),
                                            f"--bus-address={self.systemd_bus.address}",
                                            f"--unit-path={os.path.join(self.dir, 'units')}"],
                                           name="standin-systemd", logdir=logdir or workdir)
            self.systemd.wait_for_output("ready")
            argv += ["--vm-provider", "systemd", "--systemd-bus", self.systemd_bus.address]
        self.process = acstest.Process(argv, name="demo", logdir=logdir or workdir)
        try:
            acstest.wait_until(lambda: os.path.exists(os.path.join(self.dir, "env")) or
                               not self.process.alive(), 120, interval=0.2, what="the demo to come up")
            if not self.process.alive():
                raise RuntimeError("tools/demo.sh exited:\n" + self.process.output()[-4000:])
        except Exception:
            self.stop()
            raise
        self.env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                self.env[k] = v.strip('"')
        self.proxy_url = self.env["ACS_PROXY_URL"]
        self.api_url = self.env["ACS_API_URL"]

    def state(self):
        status, st = acstest.http_json(self.api_url + "/state", timeout=2)
        if status != 200:
            raise RuntimeError(f"/api/v1/state answered {status}")
        return st

    def logs(self):
        out = []
        logdir = os.path.join(self.dir, "logs")
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            with open(os.path.join(logdir, name), errors="replace") as f:
                out.append(f"----- {name} -----\n" + f.read()[-6000:])
        return "\n".join(out)

    def stop(self):
        """Ctrl-C, as a person would; returns demo.sh's exit status."""
        self.process.signal(signal.SIGINT)
        try:
            self.process.proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
        status = self.process.stop()
        # The stand-in systemd ends the units it runs with it.
        if self.systemd:
            self.systemd.stop()
            self.systemd_bus.stop()
        return status

    def systemd_calls(self):
        """The StartUnit and StopUnit calls the stand-in systemd answered, one string each."""
        if not self.systemd:
            return []
        return [l for l in self.systemd.output().splitlines() if l.startswith(("StartUnit", "StopUnit"))]


class Recorder:
    """Samples acs-vim's state in the background, times relative to t0 (monotonic)."""

    def __init__(self, cluster, t0):
        self.cluster, self.t0 = cluster, t0
        self.samples = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic() - self.t0
            try:
                st = self.cluster.state()
                self.samples.append({"t": t, "state": st})
            except Exception:  # counted; a test decides what is acceptable
                self.errors += 1
            self._stop.wait(SAMPLE_INTERVAL)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def vm_view(state, name):
    for vm in state.get("vms", []):
        if vm["name"] == name:
            return vm
    return {"name": name, "state": "absent", "containers": [], "cpu": 0}


def count(state, name, states=("ready",)):
    return sum(1 for c in vm_view(state, name)["containers"] if c["state"] in states)


class Run:
    """One scenario run: cluster up, load profile, recording, cluster down."""

    def __init__(self, workdir, name, profile, base_port, vm_prefix, settle_after_load=25,
                 until=None, **cluster_kw):
        self.name, self.profile_text = name, profile
        self.profile = parse_profile(profile)
        self.workdir = workdir
        self.cluster = Cluster(workdir, base_port, vm_prefix, **cluster_kw)
        self.vms = self.cluster.vms
        self.load_json = os.path.join(workdir, f"{name}-load.json")
        self.stop_status = None
        try:
            self._run(settle_after_load, until)
        finally:
            self.cluster_logs = self.cluster.logs()
            self.stop_status = self.cluster.stop()
            self.containers_left = demo_containers_left(self.vms)
            self.systemd_calls = self.cluster.systemd_calls()

    def _run(self, settle_after_load, until):
        loadbin = acstest.binary("src/load/acs-load")
        # Load starts on a cluster at rest: one ready container, as the policy's minimum says.
        acstest.wait_until(lambda: sum(count(self.cluster.state(), vm) for vm in self.vms) >= 1, 60,
                           what="a ready container")
        self.t0 = time.monotonic()
        self.recorder = Recorder(self.cluster, self.t0)
        try:
            self.load = subprocess.run([loadbin, "--url", self.cluster.proxy_url, "--profile", self.profile_text,
                                        "--count-backends", "--json", self.load_json, "--json-latencies"],
                                       capture_output=True, text=True, timeout=self.profile[-1][0] + 60)
            # After the load: wait for the cluster to come back to rest (or a time limit).
            deadline = time.monotonic() + settle_after_load
            while time.monotonic() < deadline:
                if until and self.recorder.samples and until(self, self.recorder.samples[-1]["state"]):
                    break
                time.sleep(0.5)
        finally:
            self.recorder.stop()
        self.samples = self.recorder.samples
        with open(self.load_json) as f:
            self.report = json.load(f)

    # --- what happened when ---------------------------------------------------------------------
    def first_time(self, predicate, after=0.0):
        for s in self.samples:
            if s["t"] >= after and predicate(s["state"]):
                return s["t"]
        return None

    def first_serving(self, after):
        """When a container that did not exist at `after` answered its first request: the time
        that request was sent (since the load started), or None. acs-web names itself by its
        host name, Docker's short container id."""
        existing = set()
        for s in self.samples:
            if s["t"] <= after:
                existing = self.container_ids(s["state"], ("starting", "ready", "draining"))
        new = [sent for key, (sent, _) in self.report["summary"]["containers_first"].items()
               if sent >= after and not any(i.startswith(key.split("/", 1)[1]) for i in existing)]
        return min(new) if new else None

    def p99_ms(self, t_from, t_to):
        """Exact p99 (nearest rank) of the requests answered in seconds (t_from, t_to]."""
        xs = sorted(x for r in self.report["seconds"] if t_from < r["t"] <= t_to for x in r["latency_ms"])
        return xs[max(0, -(-99 * len(xs) // 100) - 1)] if xs else 0.0

    def container_ids(self, state, states=("ready",)):
        return {c["id"] for vm in state.get("vms", []) for c in vm["containers"] if c["state"] in states}

    def timeline(self):
        """1-second rows: t, users, containers per VM, CPU per VM, requests/s, p99 (from acs-load)."""
        rows = []
        for r in self.report["seconds"]:
            t = r["t"]
            # The last state sample in that second.
            st = None
            for s in self.samples:
                if s["t"] <= t:
                    st = s["state"]
            row = {"t_s": t, "users": r["users"]}
            for i, vm in enumerate(self.vms, 1):
                v = vm_view(st or {}, vm)
                row[f"containers_vm{i}"] = len([c for c in v["containers"] if c["state"] != "draining"])
                row[f"cpu_vm{i}"] = round(v.get("cpu", 0), 3)
                row[f"active_vm{i}"] = 1 if v["state"] == "active" else 0
            row["requests_per_s"] = r["ok"] + r["fail"]
            row["fail"] = r["fail"]
            row["p99_ms"] = r["p99_ms"]
            rows.append(row)
        return rows

    def write_timeline(self, outdir):
        os.makedirs(outdir, exist_ok=True)
        rows = self.timeline()
        csv = os.path.join(outdir, f"scenario-{self.name}.csv")
        with open(csv, "w") as f:
            f.write(",".join(rows[0].keys()) + "\n")
            for r in rows:
                f.write(",".join(str(v) for v in r.values()) + "\n")
        png = os.path.join(outdir, f"scenario-{self.name}.png")
        plot(csv, png, f"ACS scenario ({self.name}): {self.profile_text}")
        # Every state sample and acs-load's report, for a closer look than the 1-second timeline.
        with open(os.path.join(outdir, f"scenario-{self.name}-raw.json"), "w") as f:
            json.dump({"profile": self.profile_text, "samples": self.samples, "load": self.report}, f)
        return csv, png


GNUPLOT = r"""
set datafile separator ','
set terminal pngcairo size 1100,760 font 'DejaVu Sans,10'
set output '{png}'
set multiplot layout 3,1 title '{title}'
set key outside right
set grid
set xrange [0:*]
set ylabel 'users / containers'
set style fill solid 0.35 noborder
plot '{csv}' using 1:($3+$6+$9) with fillsteps lc rgb '#2ca02c' title 'containers vm3', \
     '' using 1:($3+$6) with fillsteps lc rgb '#ff7f0e' title 'containers vm2', \
     '' using 1:3 with fillsteps lc rgb '#1f77b4' title 'containers vm1', \
     '' using 1:2 with steps lw 2 lc rgb '#222222' title 'users'
set ylabel 'CPU (cores)'
plot '{csv}' using 1:4 with lines lw 2 lc rgb '#1f77b4' title 'CPU vm1', \
     '' using 1:7 with lines lw 2 lc rgb '#ff7f0e' title 'CPU vm2', \
     '' using 1:10 with lines lw 2 lc rgb '#2ca02c' title 'CPU vm3'
set xlabel 'seconds since the load started'
set ylabel 'p99 (ms)'
set y2label 'requests/s'
set y2tics
plot '{csv}' using 1:14 with steps lw 2 lc rgb '#d62728' title 'p99 ms', \
     '' using 1:12 axes x1y2 with steps lw 1 lc rgb '#7f7f7f' title 'requests/s'
unset multiplot
"""


def plot(csv, png, title):
    script = GNUPLOT.format(csv=csv, png=png, title=title.replace("'", ""))
    subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True, timeout=60)

