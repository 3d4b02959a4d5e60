#!/usr/bin/env python3
"""The acs-web image with the real Docker engine: built FROM scratch through the Engine API,
run with --cpus 0.5 on host networking; one user (a request a second) costs a quarter of a
CPU and two users the whole half, read from the container's own cgroup; `docker stop` during a
request lets it finish with 200."""
import json
import os
import re
import subprocess
import threading
import time
import unittest

# Ports 17150-17179: the web range is split so that the web tests and bench/web never collide.
from acstest import binary, docker, free_port, http_get, main, wait_until

RUN_LABEL = f"org.acs.test.run=web-{os.getpid()}"
TAG = f"acs-web:test-{os.getpid()}"
VERSION = "0.1.0-test"


def cgroup_cpu_seconds(pid):
    """CPU time used so far by the cgroup of a process (the container), in seconds."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.strip().split(":", 2) for line in f]
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype == "cgroup":
                for opt in fields[-1].split(","):
                    mounts.setdefault(opt, fields[4])
            elif fstype == "cgroup2":
                mounts.setdefault("cgroup2", fields[4])
    for hier, controllers, path in lines:
        if "cpuacct" in controllers.split(",") and "cpuacct" in mounts:
            with open(os.path.join(mounts["cpuacct"] + path, "cpuacct.usage")) as f:
                return int(f.read()) / 1e9
    for hier, controllers, path in lines:
        if hier == "0" and "cgroup2" in mounts:
            with open(os.path.join(mounts["cgroup2"] + path, "cpu.stat")) as f:
                usage = dict(line.split() for line in f)
            return int(usage["usage_usec"]) / 1e6
    raise RuntimeError(f"no CPU accounting cgroup for pid {pid}")


def remove_test_containers():
    ids = docker("ps", "-aq", "--filter", f"label={RUN_LABEL}").stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)


class WebDockerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        image_tool = binary("src/web/acs-web-image")
        web = binary("src/web/acs-web")
        r = subprocess.run([image_tool, "--binary", web, "--tag", TAG, "--image-version", VERSION],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"acs-web-image failed: {r.stdout}{r.stderr}")

    @classmethod
    def tearDownClass(cls):
        remove_test_containers()
        docker("rmi", TAG, check=False)

    def tearDown(self):
        failed = not getattr(self._outcome, "success", True)
        if failed:
            for cid in docker("ps", "-aq", "--filter", f"label={RUN_LABEL}").stdout.split():
                print(f"----- docker logs {cid[:12]} -----")
                print(docker("logs", cid, check=False).stdout[-4000:])
        remove_test_containers()

    def run_web(self, cpus="0.5", **env):
        port = free_port(17150, 17179)
        args = ["run", "-d", "--network", "host", "--cpus", cpus, "--label", "org.acs.test=web",
                "--label", RUN_LABEL, "-e", f"ACS_PORT={port}", "-e", "ACS_VM=vm-test"]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        cid = docker(*args, TAG).stdout.strip()
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(url + "/healthz", timeout=1)[0] == 200, 15, what="acs-web in the container")
        pid = int(docker("inspect", "-f", "{{.State.Pid}}", cid).stdout)
        return cid, url, pid

    def drive_users(self, url, users, seconds):
        """Each user sends one request a second, on schedule; returns the statuses and bodies."""
        results = []
        lock = threading.Lock()
        t0 = time.monotonic()

        def user():
            for i in range(seconds):
                delay = t0 + i - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                status, _, body = http_get(url + "/", timeout=10)
                with lock:
                    results.append((status, body))
        threads = [threading.Thread(target=user) for _ in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def measure(self, users):
        cid, url, pid = self.run_web(ACS_WEB_CLIENT_COST=1)
        doc = json.loads(http_get(url + "/?cost_ms=0")[2])
        self.assertEqual(doc["container"], cid, "the answer names the container")
        self.assertEqual(doc["vm"], "vm-test")

        before = cgroup_cpu_seconds(pid)
        results = self.drive_users(url, users, 10)
        used = cgroup_cpu_seconds(pid) - before
        self.assertEqual([s for s, _ in results], [200] * (10 * users))
        # Each request burned half of the 0.5 CPU share over a second: 250 ms.
        for _, body in results:
            self.assertAlmostEqual(json.loads(body)["cpu_ms"], 250, delta=25)
        return cid, used / 10.0

    def test_image_from_scratch(self):
        info = json.loads(docker("image", "inspect", TAG).stdout)[0]
        self.assertEqual(info["Config"]["Labels"]["org.acs.image"], "acs-web")
        self.assertEqual(info["Config"]["Labels"]["org.acs.version"], VERSION)
        self.assertEqual(info["Config"]["Healthcheck"]["Test"], ["CMD", "/acs-web", "--healthcheck"])
        self.assertEqual(info["Config"]["User"], "65534:65534")
        self.assertEqual(len(info["RootFS"]["Layers"]), 1, "FROM scratch plus one binary is one layer")
        self.assertLess(info["Size"], 16 * 1024 * 1024)

    def test_one_user_costs_a_quarter_cpu(self):
        cid, cpu = self.measure(users=1)
        print(f"1 user: {cpu:.3f} CPU")
        self.assertAlmostEqual(cpu, 0.25, delta=0.25 * 0.2)
        # The container ran long enough for its HEALTHCHECK (the binary itself) to pass.
        wait_until(lambda: docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip() == "healthy",
                   10, what="the container to be healthy")

    def test_two_users_saturate_the_limit(self):
        cid, cpu = self.measure(users=2)
        print(f"2 users: {cpu:.3f} CPU")
        self.assertAlmostEqual(cpu, 0.5, delta=0.5 * 0.2)
        logs = docker("logs", cid).stderr + docker("logs", cid).stdout
        self.assertRegex(logs, r"250\.0 ms of CPU per request \(0\.5 CPUs from cgroup v")

    def test_docker_stop_during_a_request(self):
        cid, url, pid = self.run_web(ACS_WEB_CLIENT_COST=1)
        answer = {}

        def slow():
            answer["r"] = http_get(url + "/?cost_ms=400", timeout=15)
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        docker("stop", "-t", "10", cid, timeout=30)
        stop_s = time.monotonic() - t0
        t.join()
        status, _, body = answer["r"]
        self.assertEqual(status, 200)
        self.assertGreaterEqual(json.loads(body)["cpu_ms"], 400)
        self.assertEqual(docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip(), "0")
        self.assertLess(stop_s, 8, "stopped well within the grace time, not killed")
        self.assertTrue(re.search(r"finishing 1 request", docker("logs", cid).stderr))


if __name__ == "__main__":
    main()
