"""A real etcd cluster on loopback for the tests: three members (Debian's etcd-server), each
with its own client and peer port and data directory, started together and stopped with the
test. Nothing listens beyond 127.0.0.1."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

from acstest import Process, free_port, wait_until

ETCD_PORT_LO, ETCD_PORT_HI = 23700, 23999


class EtcdCluster:
    def __init__(self, members=3, prefix="/acs/"):
        self.dir = tempfile.mkdtemp(prefix="acs-etcd-")
        self.prefix = prefix
        self.names = [f"m{i}" for i in range(members)]
        self.client_ports, self.peer_ports = [], []
        # Test programs run in parallel: each starts looking at a place spread by its pid, so
        # two of them rarely race for the same free port.
        p = ETCD_PORT_LO + (os.getpid() * 37) % (ETCD_PORT_HI - ETCD_PORT_LO - 50)
        for _ in self.names:
            for kind in (self.client_ports, self.peer_ports):
                p = free_port(p, ETCD_PORT_HI)
                kind.append(p)
                p += 1
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))
        token = os.path.basename(self.dir)
        self.procs = []
        for n, cp, pp in zip(self.names, self.client_ports, self.peer_ports):
            self.procs.append(Process([
                shutil.which("etcd") or "/usr/bin/etcd", "--name", n,
                "--data-dir", os.path.join(self.dir, n),
                "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                "--listen-client-urls", f"http://127.0.0.1:{cp}",
                "--advertise-client-urls", f"http://127.0.0.1:{cp}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", token,
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--logger", "zap", "--log-level", "warn"],
                name=f"etcd-{n}", logdir=self.dir))
        wait_until(self.healthy, 30, what="the etcd cluster to elect a leader")

    @property
    def endpoints(self):
        return [f"http://127.0.0.1:{p}" for p in self.client_ports]

    def live_endpoints(self):
        return [e for e, p in zip(self.endpoints, self.procs) if p.alive()]

    def etcdctl(self, *args, endpoints=None, check=True):
        env = dict(os.environ, ETCDCTL_API="3")
        r = subprocess.run(["etcdctl", "--endpoints", ",".join(endpoints or self.live_endpoints()),
                            "--command-timeout", "3s", *args],
                           env=env, capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def healthy(self):
        out = self.etcdctl("endpoint", "status", "-w", "json", check=False)
        try:
            return any(s["Status"]["leader"] for s in json.loads(out))
        except (ValueError, KeyError, TypeError):
            return False

    def put(self, name, value, timeout=10):
        """Writes name, retried while the cluster elects a new leader after a kill."""
        def attempt():
            self.etcdctl("put", self.prefix + name, value)
            return True
        wait_until(attempt, timeout, what=f"etcd to accept {name}")

    def put_http(self, name, value):
        """Writes name through the JSON gateway of the first live member: much quicker than
        starting etcdctl, for tests that time what follows a write."""
        body = json.dumps({"key": base64.b64encode((self.prefix + name).encode()).decode(),
                           "value": base64.b64encode(value.encode()).decode()}).encode()
        req = urllib.request.Request(self.live_endpoints()[0] + "/v3/kv/put", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(json.load(r)["header"]["revision"])

    def get(self, name):
        out = self.etcdctl("get", "--print-value-only", self.prefix + name)
        return out[:-1] if out.endswith("\n") else out

    def config(self):
        """The [Cluster] section that points a daemon at this cluster."""
        return "[Cluster]\n" + "".join(f"Endpoints={e}\n" for e in self.endpoints) + \
            f"Prefix={self.prefix}\n"

    def kill9(self, i):
        self.procs[i].kill9()

    def stop(self):
        for p in self.procs:
            p.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        return "".join(p.output()[-3000:] for p in self.procs)
