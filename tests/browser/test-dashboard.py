#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The dashboard in a real browser against a real cluster.

One cluster for the whole file: a front dbus-daemon and one per VM, acs-vim, three acs-vmm
(vm1 and vm2 active, vm3 standby, capacity 4) running acs-web containers in the local Docker
engine, and the front acs-proxy fed by the VIM. The configuration is the demo's
(tools/demo-config/*.in), on ports of the dashboard range. Each test runs one scenario of
dashboard-scenarios.mjs in Debian's chromium through playwright-core; the scenario asks this
harness to kill or start acs-vim when it needs to (lines "@@ kill-vim" / "@@ start-vim").

Screenshots are saved in the build directory (tests/browser/artifacts/).
"""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import acstest
from acstest import Bus, Process, binary, docker, free_port, http_json, wait_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_CONFIG = os.path.join(acstest.SOURCE_DIR, "tools", "demo-config")
ARTIFACTS = os.path.join(acstest.BUILD_DIR, "tests", "browser", "artifacts")
NODE_MODULES = os.environ.get("ACS_BROWSER_NODE_MODULES",
                              os.path.join(acstest.BUILD_DIR, "tests", "browser", "npm", "node_modules"))
VMS = [("dash-vm1", "active", 1), ("dash-vm2", "active", 1), ("dash-vm3", "standby", 0)]
SCENARIO_TIMEOUT = 150


def render(template, out, **values):
    """Fills the @KEY@ placeholders of a demo configuration template."""
    with open(os.path.join(DEMO_CONFIG, template)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    left = re.search(r"^[^#\n]*(@[A-Z_]+@)", text, re.M)   # comments may name @KEY@ themselves
    if left:
        raise RuntimeError(f"{template}: placeholder {left.group(1)} left unfilled")
    with open(out, "w") as f:
        f.write(text)
    return out


def remove_containers():
    for vm, _, _ in VMS:
        ids = docker("ps", "-aq", "--filter", "label=org.acs.managed=1",
                     "--filter", f"label=org.acs.vmm={vm}", check=False).stdout.split()
        if ids:
            docker("rm", "-f", *ids, check=False)


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="acs-dashboard-")
        self.owned = []
        self.token = secrets.token_hex(16)
        self.proxy_port = free_port(18600, 18649)
        self.api_port = free_port(self.proxy_port + 1, 18649)
        self.agent_port = free_port(self.api_port + 1, 18649)
        self.proxy_admin_port = free_port(self.agent_port + 1, 18649)
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.vim = None

    def own(self, thing):
        self.owned.append(thing)
        return thing

    def start_process(self, argv, name):
        return self.own(Process(argv, name=name, logdir=self.dir))

    def start(self):
        remove_containers()
        build = acstest.BUILD_DIR
        agents = os.path.join(self.dir, "vim", "agents.d")
        os.makedirs(agents, mode=0o700)
        self.front_bus = self.own(Bus())
        self.vm_buses = []
        for i, (vm, state, min_containers) in enumerate(VMS):
            vm_dir = os.path.join(self.dir, vm)
            os.makedirs(vm_dir)
            key = secrets.token_hex(32) + "\n"
            for path in (os.path.join(vm_dir, "vmm.key"), os.path.join(agents, f"{vm}.key")):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                    f.write(key)
            ports = 18700 + i * 20
            render("vmm.conf.in", os.path.join(vm_dir, "vmm.conf"), VM=vm, STATE=state,
                   MIN_CONTAINERS=min_containers, PORT_START=ports, PORT_END=ports + 19, CPU_LIMIT=0.1,
                   BUILD_DIR=build, AGENT_PORT=self.agent_port, DEMO_DIR=self.dir)
            self.vm_buses.append(self.own(Bus()))
        self.vim_conf = render("vim.conf.in", os.path.join(self.dir, "vim", "vim.conf"),
                               AGENT_PORT=self.agent_port, DEMO_DIR=self.dir, SCALE_DOWN_WINDOW="20s",
                               PLACEMENT="spread", STANDBY_DELAY="10s", FRONT_BUS=self.front_bus.address,
                               API_PORT=self.api_port, TOKEN=self.token, BUILD_DIR=build,
                               PROXY_PORT=self.proxy_port, POLICY="acs")
        # Three containers from the start, so that requests have more than one place to go.
        os.makedirs(self.vim_conf + ".d")
        with open(os.path.join(self.vim_conf + ".d", "50-dashboard-test.conf"), "w") as f:
            f.write("[Scaling]\nMinReplicas=3\n")
        proxy_conf = render("proxy-front.conf.in", os.path.join(self.dir, "proxy.conf"),
                            PROXY_PORT=self.proxy_port, PROXY_ADMIN_PORT=self.proxy_admin_port,
                            FRONT_BUS=self.front_bus.address)

        self.start_vim()
        for (vm, _, _), bus in zip(VMS, self.vm_buses):
            self.start_process([binary("src/vmm/acs-vmm"), "--config", os.path.join(self.dir, vm, "vmm.conf"),
                                f"--bus-address={bus.address}"], name=f"acs-vmm-{vm}")
        self.start_process([binary("src/proxy/acs-proxy"), "--config", proxy_conf,
                            f"--bus-address={self.front_bus.address}"], name="acs-proxy")
        wait_port(self.proxy_port, timeout=20)
        wait_until(lambda: self.ready_containers() >= 3, 90, interval=0.5, what="three ready containers")

    def start_vim(self):
        self.vim = self.start_process([binary("src/vim/acs-vim"), "--config", self.vim_conf,
                                       f"--bus-address={self.front_bus.address}"], name="acs-vim")
        wait_until(lambda: http_json(f"{self.api}/api/v1/state", timeout=1)[0] == 200, 20,
                   interval=0.2, what="acs-vim's API")

    def kill_vim(self):
        self.vim.kill9()

    def state(self):
        return http_json(f"{self.api}/api/v1/state", timeout=2)[1]

    def ready_containers(self):
        return sum(c["state"] == "ready" for vm in self.state()["vms"] for c in vm["containers"])

    def stop(self):
        for thing in reversed(self.owned):
            try:
                thing.stop()
            except Exception as e:  # keep stopping the others
                print(f"stopping {thing}: {e}", file=sys.stderr)
        remove_containers()

    def print_logs(self):
        for thing in self.owned:
            if isinstance(thing, Process):
                print(f"----- {thing.name} log ({thing.logpath}) -----")
                print(thing.output()[-6000:])


class DashboardTest(unittest.TestCase):
    cluster = None
    failed = False

    @classmethod
    def setUpClass(cls):
        os.makedirs(ARTIFACTS, exist_ok=True)
        cls.cluster = Cluster()
        try:
            cls.cluster.start()
        except BaseException:
            cls.cluster.print_logs()
            cls.cluster.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.failed:
            cls.cluster.print_logs()
        cls.cluster.stop()
        if not cls.failed:
            shutil.rmtree(cls.cluster.dir, ignore_errors=True)

    def scenario(self, name):
        """Runs one browser scenario; fails the test with its output when it fails."""
        env = dict(os.environ, ACS_DASHBOARD_URL=f"{self.cluster.api}/", ACS_API_TOKEN=self.cluster.token,
                   ACS_ARTIFACT_DIR=ARTIFACTS, ACS_BROWSER_NODE_MODULES=NODE_MODULES)
        node = subprocess.Popen(["node", os.path.join(HERE, "dashboard-scenarios.mjs"), name],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=env, text=True, bufsize=1)
        output = []
        deadline = time.monotonic() + SCENARIO_TIMEOUT
        try:
            for line in node.stdout:
                output.append(line)
                request = line.strip()
                if request == "@@ kill-vim":
                    self.cluster.kill_vim()
                    node.stdin.write("ok\n")
                elif request == "@@ start-vim":
                    self.cluster.start_vim()
                    node.stdin.write("ok\n")
                if time.monotonic() > deadline:
                    node.kill()
                    output.append(f"(scenario killed after {SCENARIO_TIMEOUT}s)\n")
                    break
            rc = node.wait(timeout=30)
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
        text = "".join(output)
        print(text, end="")
        if rc != 0:
            DashboardTest.failed = True   # the daemons' logs are printed at the end
        self.assertEqual(rc, 0, f"scenario {name} failed:\n{text}")
        results = [json.loads(l[3:]) for l in output if l.startswith("@= ")]
        return results[-1] if results else {}

    # The order matters a little: load last, since it scales the cluster out.
    def test_1_page_shows_the_cluster(self):
        r = self.scenario("cluster")
        api_vms = {vm["name"] for vm in self.cluster.state()["vms"]}
        self.assertEqual(set(r["vms"]), api_vms)

    def test_2_send_request_shows_who_answered(self):
        r = self.scenario("probe")
        self.assertGreater(len(set(r["containers"])), 1, r)

    def test_3_changes_need_the_token(self):
        self.scenario("policy")
        self.assertAlmostEqual(self.cluster.state()["policy"]["target_cpu"], 0.6, places=3)
        # The drained container is replaced (MinReplicas=3) before the next scenario.
        wait_until(lambda: self.cluster.ready_containers() >= 3, 60, interval=0.5, what="three ready containers again")

    def test_4_page_recovers_when_the_vim_restarts(self):
        self.scenario("restart")
        self.assertTrue(self.cluster.vim.alive())

    def test_5_load_from_the_page_scales_out(self):
        r = self.scenario("load")
        self.assertGreater(r["containers_after"], r["containers_before"], r)


def serve():
    """--serve: starts the cluster and keeps it up until SIGINT/SIGTERM (to look at the page)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    cluster = Cluster()
    try:
        cluster.start()
        print(f"dashboard {cluster.api}/  token {cluster.token}  logs {cluster.dir}", flush=True)
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        unittest.main(verbosity=2)
