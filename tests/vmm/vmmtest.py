"""Helpers for the acs-vmm tests: a config file, a running acs-vmm on a private bus, and the
removal of every container a test's VM created, also when the test failed."""
import json
import os
import shutil
import subprocess

from acstest import (BUILD_DIR, DaemonTestCase, Process, binary, docker, port_is_free, wait_until)

# The vmm area is 17500-17799: containers (and a test's proxy) take ports from VMM_PORTS, the
# stand-in VIM of the uplink test from VIM_PORTS, so that tests running side by side never meet.
VMM_PORTS = (17500, 17779)
VIM_PORTS = (17780, 17799)


def test_image():
    """The image tag the docker tests use; acs-vmm builds it from the build tree's acs-web."""
    return "acs-web:0.1.0-vmmtest"


class VmmTestCase(DaemonTestCase):
    docker_socket = "/var/run/docker.sock"

    def setUp(self):
        super().setUp()
        self.vm = f"t-vmm-{os.getpid()}-{self.id().split('.')[-1][:20]}".replace("_", "-")

    def write_config(self, *, capacity=3, minimum=1, extra="", ports=None, vim=None, key=None,
                     socket=None, image=None, client_cost=True, web_binary=None):
        lo, hi = ports or self.port_range(capacity + 4)
        text = (f"[VM]\nName={self.vm}\nAddress=127.0.0.1\nCapacity={capacity}\nMinContainers={minimum}\n"
                f"PortRangeStart={lo}\nPortRangeEnd={hi}\n"
                f"[Docker]\nSocket={socket or self.docker_socket}\nNetwork=host\n"
                f"Image={image or test_image()}\n"
                f"WebBinary={web_binary or os.path.join(BUILD_DIR, 'src/web/acs-web')}\n"
                f"CpuLimit=0.5\nMemoryLimit=64M\nDrainTime=1s\nStopTimeout=2s\n"
                # The tests set a request's cost with ?cost_ms=, which the shipped default ignores.
                + ("[Web]\nClientCost=yes\n" if client_cost else "") +
                f"[Monitor]\nInterval=500ms\n[Policy]\nLocalScaling=no\n")
        if vim:
            text += f"[Vim]\nAddress={vim}\nKeyFile={key}\n"
        text += extra
        path = os.path.join(self.tmpdir, "vmm.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def port_range(self, n):
        """n consecutive free ports in the VMM range, different for each test process."""
        base = VMM_PORTS[0] + (os.getpid() % 25) * 10
        for lo in list(range(base, VMM_PORTS[1] - n, 10)) + list(range(VMM_PORTS[0], base, 10)):
            if all(port_is_free(p) for p in range(lo, lo + n)):
                self.ports = (lo, lo + n - 1)
                return self.ports
        raise RuntimeError("no free port range")

    def start_vmm(self, bus, config, name="acs-vmm"):
        return self.start([binary("src/vmm/acs-vmm"), "--config", config,
                           f"--bus-address={bus.address}", "--log-level=debug"], name=name)

    def vmm_call(self, bus, method, signature="", *args):
        """Calls a method; returns its JSON reply, or None for a method without results."""
        r = bus.busctl("--json=short", "call", "org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", method,
                       *([signature, *args] if signature else []))
        return json.loads(r.stdout) if r.stdout.strip() else None

    def vmm_property(self, bus, prop):
        return bus.get_property_json("org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", prop)["data"]

    def backends(self, bus):
        generation, backends = self.vmm_call(bus, "GetBackends")["data"]
        return generation, backends

    def ready_backends(self, bus):
        return [b for b in self.backends(bus)[1] if b[3] == "ready"]

    def wait_vmm_on_bus(self, bus, timeout=10):
        wait_until(lambda: self.vmm_property(bus, "Name") == self.vm, timeout, what="acs-vmm on the bus")

    def containers(self, socket=None, all_states=True):
        """Ids of the containers labeled for this test's VM, as Docker lists them."""
        env_args = ["-H", f"unix://{socket}"] if socket else []
        r = docker(*env_args, "ps", *(["-a"] if all_states else []), "--no-trunc", "-q",
                   "--filter", f"label=org.acs.vmm={self.vm}", check=False)
        return sorted(r.stdout.split())

    def remove_containers(self, socket=None):
        ids = self.containers(socket)
        if ids:
            env_args = ["-H", f"unix://{socket}"] if socket else []
            docker(*env_args, "rm", "-f", *ids, check=False)

    def failed(self):
        """Whether this test has failed so far (unittest records errors before tearDown)."""
        result = getattr(self._outcome, "result", None)
        return bool(result) and any(test is self for test, _ in result.errors + result.failures)

    def tearDown(self):
        if self.failed():
            self._outcome.success = False     # DaemonTestCase then prints the logs and keeps them
        try:
            super().tearDown()
        finally:
            self.remove_containers()


class Dockerd:
    """A second dockerd of the test's own (own data root, exec root, pid file and socket), so
    that a test may stop and restart it without touching the machine's Engine."""

    def __init__(self, root):
        self.root = root
        self.socket = os.path.join(root, "docker.sock")
        self.proc = None

    def start(self, timeout=60):
        self.proc = Process(["dockerd", f"--data-root={self.root}/data", f"--exec-root={self.root}/exec",
                             f"--pidfile={self.root}/dockerd.pid", f"-H=unix://{self.socket}",
                             "--bridge=none", "--iptables=false", "--ip-masq=false"],
                            name="dockerd", logdir=self.root)
        wait_until(lambda: self.docker("version", check=False).returncode == 0, timeout,
                   interval=0.2, what="the test's dockerd to answer")

    def docker(self, *args, check=True):
        return docker("-H", f"unix://{self.socket}", *args, check=check)

    def stop(self):
        if self.proc:
            self.proc.stop(timeout=60)

    def destroy(self):
        """Stops it with every container in it and removes its directories (and their mounts)."""
        if self.proc and self.proc.alive():
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        self.stop()
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(self.root + "/")]
        for m in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(self.root, ignore_errors=True)
