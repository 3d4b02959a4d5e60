"""A VIM under test: a real private dbus-daemon, a real acs-vim, and simulated VMMs
(bench/vim-agents/vim-agents-load) that speak the real link protocol and carry out orders."""
import json
import os
import re
import shlex
import subprocess
import time

from acstest import BUILD_DIR, DaemonTestCase, binary, free_port, http_get, http_json, wait_port, wait_until

class VimTestCase(DaemonTestCase):
    # Each test file takes its own part of the VIM's range (17800-18199), so files that meson
    # runs in parallel never race for the same free port: scaling 17800-17879, agents
    # 17880-17959, api 17960-18039, docker 18040-18079 (containers 18100-18159); other users of
    # this class (tests/ctl) get 18080-18099 unless they name their own; tls takes 18650-18699,
    # power 18200-18239, libvirt 18240-18259, libvirt-lxc 18260-18279 (its guest's containers
    # 18280-18289).
    PORTS = (18080, 18099)

    def setUp(self):
        super().setUp()
        self.bus = self.start_bus()
        self.keys = os.path.join(self.tmpdir, "agents.d")
        os.makedirs(self.keys, mode=0o700)
        self.cpu_file = os.path.join(self.tmpdir, "cpu")
        self.set_cpu(0.6)
        self.agent_port = free_port(*self.PORTS)
        self.api_port = free_port(self.agent_port + 1, self.PORTS[1])
        self.token = "t0ken-" + os.urandom(8).hex()
        self.agents = {}
        self.vim = None

    def set_cpu(self, utilization):
        with open(self.cpu_file + ".new", "w") as f:
            f.write(f"{utilization}\n")
        os.replace(self.cpu_file + ".new", self.cpu_file)

    def start_vim(self, proxy_url=None, agents=None, api=None, extra_conf="", state_dir=None, **scaling):
        conf = {
            "Placement": "binpack", "ScaleDownWindow": "3s", "VmStandbyDelay": "2s", "DrainTimeout": "3s",
            "MinReplicas": "1", "MaxReplicas": "12", "TargetInflight": "0",
        }
        conf.update({k: str(v) for k, v in scaling.items()})
        path = os.path.join(self.tmpdir, "vim.conf")
        with open(path, "w") as f:
            f.write(f"[Agents]\nListen=127.0.0.1:{self.agent_port}\nKeyDirectory={self.keys}\n"
                    "GracePeriod=2s\nHandshakeTimeout=1s\n")
            # Every simulated VM is this host; tests/security checks the refusals without it.
            f.writelines(f"{k}={v}\n" for k, v in {"AllowHostAddresses": "yes", **(agents or {})}.items())
            f.write("[Scaling]\n")
            f.writelines(f"{k}={v}\n" for k, v in conf.items())
            api_conf = {"IdleTimeout": "2s", "RequestTimeout": "2s", **(api or {})}
            f.write(f"[Api]\nListen=127.0.0.1:{self.api_port}\nToken={self.token}\n")
            f.writelines(f"{k}={v}\n" for k, v in api_conf.items())
            f.write(f"[Dashboard]\nDirectory={self.tmpdir}/dashboard\n"
                    f"LoadCommand={os.path.join(BUILD_DIR, 'src/load/acs-load')}\nMaxLoadUsers=4\n"
                    "MaxLoadSeconds=30\n")
            if proxy_url:
                f.write(f"ProxyUrl={proxy_url}\n")
            f.write(extra_conf)
            if state_dir:
                f.write(f"[State]\nDirectory={state_dir}\n")
        os.makedirs(f"{self.tmpdir}/dashboard/assets", exist_ok=True)
        with open(f"{self.tmpdir}/dashboard/index.html", "w") as f:
            f.write("<!doctype html><title>ACS</title>\n")
        self.vim = self.start([binary("src/vim/acs-vim"), "--config", path,
                               f"--bus-address={self.bus.address}"], name=f"acs-vim-{len(self._owned)}")
        wait_port(self.api_port)
        # org.acs.VIM1 is taken once the VMMs had the grace period to register
        wait_until(lambda: self.bus.busctl("status", "org.acs.VIM1", check=False).returncode == 0, 10,
                   interval=0.1, what="org.acs.VIM1 on the bus")
        return self.vim

    def start_agent(self, name, containers=1, capacity=2, standby=False, key_dir=None, generate=True, minimum=0,
                    extra=()):
        argv = [binary("bench/vim-agents/vim-agents-load"), "--port", self.agent_port, "--name", name,
                "--containers", containers, "--capacity", capacity, "--key-dir", key_dir or self.keys,
                "--cpu-file", self.cpu_file, "--obey", "--min", minimum,
                "--base-port", 30000 + 100 * (sum(map(ord, name)) % 300)]
        if generate and not os.path.exists(os.path.join(key_dir or self.keys, f"{name}.key")):
            argv.append("--generate-keys")
        if standby:
            argv.append("--standby")
        argv += extra
        p = self.start(argv, name=f"agent-{name}-{len(self._owned)}")
        self.agents[name] = p
        return p

    # --- looking at the VIM

    def state(self):
        status, body = http_json(f"http://127.0.0.1:{self.api_port}/api/v1/state")
        self.assertEqual(status, 200)
        return body

    def vm(self, name, state=None):
        for v in (state or self.state())["vms"]:
            if v["name"] == name:
                return v
        return None

    def wait_state(self, predicate, timeout, what):
        return wait_until(lambda: predicate(self.state()), timeout, interval=0.2, what=what)

    def decisions(self, api_port=None):
        """How many scaling decisions the VIM made so far (acs_decisions_total, all kinds)."""
        status, _, body = http_get(f"http://127.0.0.1:{api_port or self.api_port}/metrics")
        self.assertEqual(status, 200)
        return sum(int(m) for m in re.findall(r'^acs_decisions_total\{[^}]*\} (\d+)$', body.decode(), re.M))

    def wait_decisions(self, n=2, timeout=10, api_port=None):
        """Waits until the VIM has decided n more times: what it did not do by then, it chose not
        to do with the current inputs before it (the positive marker for "nothing happens")."""
        start = self.decisions(api_port)
        wait_until(lambda: self.decisions(api_port) >= start + n, timeout, interval=0.1,
                   what=f"{n} more scaling decisions")

    def backends(self):
        generation, backends = self.bus.call_json("org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1",
                                                  "GetBackends")["data"]
        return generation, sorted(tuple(b) for b in backends)

    def vim_events(self, event):
        """Lines the VIM logged with ACS_EVENT=event, in order."""
        return [l for l in self.vim.output().splitlines() if f"[{event}]" in l]

    def wait_event(self, event, pattern=".*", timeout=10):
        rx = re.compile(pattern)
        return wait_until(lambda: [l for l in self.vim_events(event) if rx.search(l)], timeout,
                          interval=0.1, what=f"ACS_EVENT={event} /{pattern}/")

    def vims(self):
        return [p for p in self._owned if getattr(p, "name", "").startswith("acs-vim")]

    def tearDown(self):
        # Every acs-vim must end cleanly on SIGTERM: exit 0, and under ASan no leak or error report.
        problems = []
        for p in self.vims():
            rc = p.stop()
            out = p.output()
            if rc != 0 or "Sanitizer" in out or "runtime error" in out:
                problems.append(f"{p.name} exited {rc}: " + out[-3000:])
        if self.has_failed():
            for p in self._owned:
                if hasattr(p, "output"):
                    print(f"----- {p.name} -----\n{p.output()[-6000:]}")
        super().tearDown()
        if problems:
            self.fail("\n".join(problems))


class StandinSystemdMixin:
    """VMs declared in VmDirectory= with Provider=systemd, powered through the stand-in for
    systemd's manager (tests/vim/standin-systemd), each unit a simulated VMM."""

    def setUp(self):
        super().setUp()
        self.vms = os.path.join(self.tmpdir, "vms.d")

    def declare(self, name, capacity=2, boot="2s", timeout="20s"):
        os.makedirs(self.vms, exist_ok=True)
        with open(os.path.join(self.vms, f"{name}.conf"), "w") as f:
            f.write(f"[VM]\nProvider=systemd\nCapacity={capacity}\nBootTime={boot}\nPowerOnTimeout={timeout}\n"
                    f"PowerOffTimeout=10s\n[Systemd]\nUnit=acs-{name}.service\nBusAddress={self.bus.address}\n")

    def vmm_command(self, name, capacity=2):
        argv = [binary("bench/vim-agents/vim-agents-load"), "--port", self.agent_port, "--name", name,
                "--containers", 0, "--capacity", capacity, "--key-dir", self.keys, "--cpu-file", self.cpu_file,
                "--obey", "--min", 0, "--base-port", 30000 + 100 * (sum(map(ord, name)) % 300),
                "--generate-keys"]
        return " ".join(shlex.quote(str(a)) for a in argv)

    def start_systemd(self, units, fail=(), refuse=(), commands=None):
        argv = [binary("tests/vim/standin-systemd"), f"--bus-address={self.bus.address}"]
        argv += [f"--unit=acs-{n}.service={self.vmm_command(n)}" for n in units]
        argv += [f"--unit=acs-{n}.service={c}" for n, c in (commands or {}).items()]
        argv += [f"--fail=acs-{n}.service" for n in fail]
        argv += [f"--refuse=acs-{n}.service" for n in refuse]
        self.systemd = self.start(argv, name="standin-systemd")
        wait_until(lambda: "ready" in self.systemd.output(), 10, interval=0.1, what="stand-in systemd")

    def calls(self):
        return [l for l in self.systemd.output().splitlines() if l.startswith(("StartUnit", "StopUnit"))]
