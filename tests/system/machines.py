"""Debian 12 machines booted with systemd-nspawn, for the ACS system test.

One debootstrap root (systemd, dbus, polkitd, docker.io and what the ACS packages link) is
built once per machine and kept under /var/cache/acs-test/, keyed by what goes into it. Each
machine boots from an overlayfs over that root, so it starts clean and the cache stays as built.

The host has no systemd as PID 1, so the machines run with --register=no --keep-unit (nspawn
then needs neither machined nor a system bus) and commands reach them with nsenter. They share
the host's network namespace and talk over loopback on ports of the system-test range.

Docker inside a machine needs the host's cgroup tree (--bind=/sys/fs/cgroup), every capability
and the keyring and bpf system calls. Each machine is started in a cgroup of its own in every
hierarchy, so its systemd takes that cgroup as its root and the machines never share units.
"""
import atexit
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CACHE_DIR = os.environ.get("ACS_TEST_CACHE", "/var/cache/acs-test")
MIRROR = os.environ.get("ACS_TEST_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"

# systemd, the bus, polkit and Docker, as a Debian 12 VM has them, plus the libraries the ACS
# packages link against, so that dpkg -i needs no network inside the machines; man-db to read
# the packaged manual pages as an operator does.
ROOT_PACKAGES = sorted([
    "systemd", "systemd-sysv", "libpam-systemd", "dbus", "polkitd", "docker.io",
    "iproute2", "curl", "ca-certificates", "procps", "man-db",
    "libcurl4", "libjson-c5", "libinih1", "libssl3", "libsystemd0",
])

DOCKER_DAEMON_JSON = '{"bridge":"none","iptables":false,"ip-masq":false,"storage-driver":"vfs"}\n'

# Raise the version to rebuild every cached root after a change to how it is made.
ROOT_RECIPE_VERSION = "1"


def log(msg):
    print(f"[machines {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def root_key():
    recipe = "\n".join([ROOT_RECIPE_VERSION, SUITE, MIRROR, DOCKER_DAEMON_JSON, *ROOT_PACKAGES])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def cached_root():
    """Path of the Debian 12 root, debootstrapped on first use (about a minute)."""
    path = os.path.join(CACHE_DIR, f"debian12-{root_key()}")
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isdir(path):
            log(f"using cached root {path}")
            return path
        staging = f"{path}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        log(f"debootstrap {SUITE} into {staging} (first run only)")
        started = time.monotonic()
        subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(ROOT_PACKAGES),
                        SUITE, staging, MIRROR], check=True, stdout=subprocess.DEVNULL)
        _prepare_root(staging)
        os.rename(staging, path)
        log(f"root built in {time.monotonic() - started:.0f}s")
        return path


def _prepare_root(root):
    """What every machine shares: Docker without networking of its own, no console login,
    an empty machine-id (each boot makes its own), no package downloads."""
    _write(root, "/etc/docker/daemon.json", DOCKER_DAEMON_JSON)
    _write(root, "/etc/machine-id", "")
    for unit in ["getty@.service", "console-getty.service", "apt-daily.timer", "apt-daily-upgrade.timer"]:
        target = os.path.join(root, "etc/systemd/system", unit)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        os.symlink("/dev/null", target)
    subprocess.run(["chroot", root, "apt-get", "clean"], check=True)


def _write(root, path, text, mode=0o644):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    os.chmod(full, mode)


def _cgroup_mounts():
    """Mount points of the cgroup hierarchies (v1 controllers, name=systemd, unified)."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2") and fields[4].startswith("/sys/fs/cgroup"):
                mounts.append(fields[4])
    return mounts


def _own_cgroup_base():
    """The deepest cgroup this process is in: machines go below it in every hierarchy, so
    none of them leaves a limit set on the test."""
    base = "/"
    with open("/proc/self/cgroup") as f:
        for line in f:
            path = line.rstrip("\n").split(":", 2)[2]
            if len(path) > len(base):
                base = path
    return base


class Machine:
    """One booted machine: an overlay over the cached root, systemd as its PID 1. It may be
    powered off and booted again: its changes (the upper layer) stay."""

    def __init__(self, name, root, workdir, binds=()):
        self.name = name
        self.binds = list(binds)  # (host directory, path in the machine)
        self.lower = root
        self.dir = os.path.join(workdir, name)
        self.root = os.path.join(self.dir, "root")
        self.console = os.path.join(self.dir, "console.log")
        self.nspawn = None
        self.leader = None
        self.cgroups = []

    # --- lifecycle ---

    def boot(self):
        self.leader = None
        self.cgroups = []
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={self.lower},upperdir={self.dir}/upper,workdir={self.dir}/work",
                        self.root], check=True)
        self.write("/etc/hostname", self.name + "\n")
        self._make_cgroups()
        argv = ["systemd-nspawn", "--quiet", "-D", self.root, "-M", self.name, "--boot",
                "--register=no", "--keep-unit", "--console=passive",
                "--capability=all", "--system-call-filter=@keyring bpf",
                f"--bind={self._cgroup_view()}:/sys/fs/cgroup",
                *[f"--bind={host}:{inside}" for host, inside in self.binds]]
        with open(self.console, "w") as out:
            self.nspawn = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True,
                                           preexec_fn=self._enter_cgroups)

    def wait_running(self, timeout=120):
        """Waits for the machine's systemd to finish booting; returns its state."""
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.nspawn.poll() is not None:
                raise RuntimeError(f"{self.name}: systemd-nspawn exited:\n{self.console_text()}")
            self.leader = self._find_leader()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no init process")
            time.sleep(0.1)
        while True:
            r = self.run("systemctl", "is-system-running", "--wait", check=False,
                         timeout=max(1, deadline - time.monotonic()))
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: system state {state!r}")
            time.sleep(0.5)

    def poweroff(self, timeout=30):
        if self.nspawn and self.nspawn.poll() is None:
            # nspawn turns SIGTERM into an orderly shutdown of the machine.
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()
        self._kill_leftovers()
        for mountpoint in (self.root, os.path.join(self.dir, "cgroup")):
            if os.path.ismount(mountpoint):
                subprocess.run(["umount", "--recursive", mountpoint], check=False)
        self._remove_cgroups()
        self.leader = None

    def running(self):
        return self.nspawn is not None and self.nspawn.poll() is None

    def _find_leader(self):
        """The machine's init: the descendant of nspawn that is PID 1 of its own PID namespace
        (nspawn's first child may be a short-lived intermediate one)."""
        todo = [self.nspawn.pid]
        while todo:
            pid = todo.pop()
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except FileNotFoundError:
                continue
            for child in children:
                with contextlib.suppress(FileNotFoundError), open(f"/proc/{child}/status") as f:
                    nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
                    if len(nspid) > 1 and nspid[-1] == "1":
                        return child
            todo += children
        return None

    # --- cgroups ---

    def _make_cgroups(self):
        rel = os.path.join(_own_cgroup_base(), f"acs-systest-{self.name}-{os.getpid()}").lstrip("/")
        for mount in _cgroup_mounts():
            path = mount
            for part in rel.split("/"):
                parent, path = path, os.path.join(path, part)
                if not os.path.isdir(path):
                    os.mkdir(path)
                    self._inherit_cpuset(parent, path)
            self.cgroups.append((mount, path))

    def _cgroup_view(self):
        """The machine's /sys/fs/cgroup: every hierarchy shows the machine's own subtree. nspawn
        roots the machine's cgroup namespace there too, so paths inside match this view."""
        view = os.path.join(self.dir, "cgroup")
        os.makedirs(view, exist_ok=True)
        if any(mount == "/sys/fs/cgroup" for mount, _ in self.cgroups):  # cgroup v2 only
            subprocess.run(["mount", "--bind", self.cgroups[0][1], view], check=True)
            return view
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "acs-cgroup", view], check=True)
        for entry in os.scandir("/sys/fs/cgroup"):
            if entry.is_symlink():  # cpu -> cpu,cpuacct
                os.symlink(os.readlink(entry.path), os.path.join(view, entry.name))
        for mount, path in self.cgroups:
            target = os.path.join(view, os.path.relpath(mount, "/sys/fs/cgroup"))
            os.mkdir(target)
            subprocess.run(["mount", "--bind", path, target], check=True)
        return view

    @staticmethod
    def _inherit_cpuset(parent, child):
        # A v1 cpuset cgroup takes no process until it has CPUs and memory nodes.
        for knob in ("cpuset.cpus", "cpuset.mems"):
            src, dst = os.path.join(parent, knob), os.path.join(child, knob)
            if not os.path.exists(dst):
                continue
            with open(dst) as d:
                if d.read().strip():
                    continue
            with open(src) as s, open(dst, "w") as d:
                d.write(s.read())

    def _enter_cgroups(self):
        for _, path in self.cgroups:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def _kill_leftovers(self):
        """Kills what is left in the machine's cgroups once nspawn is gone (a machine whose
        nspawn failed half-way can leave its init behind)."""
        for _, top in self.cgroups[:1]:
            for dirpath, _, _ in os.walk(top):
                with contextlib.suppress(OSError), open(os.path.join(dirpath, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.2)

    def _remove_cgroups(self):
        """Removes the machine's (now empty) cgroup trees, deepest first."""
        for _, top in self.cgroups:
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)

    # --- inside the machine ---

    def command(self, *argv, user=None):
        """The host command line that runs argv in the machine (its mount, PID, IPC, UTS and
        cgroup namespaces), with a clean environment, as root or as the uid `user`."""
        cmd = ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-p", "-C", "--",
               "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
               "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"]
        if user is not None:
            cmd += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
        return cmd + [str(a) for a in argv]

    def run(self, *argv, check=True, timeout=120, user=None, input=None):
        """Runs argv in the machine and waits for it; raises on failure when check is set."""
        r = subprocess.run(self.command(*argv, user=user), capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(map(str, argv))} exited {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def write(self, path, text, mode=0o644):
        _write(self.root, path, text, mode)

    def read(self, path):
        with open(os.path.join(self.root, path.lstrip("/"))) as f:
            return f.read()

    def copy_in(self, src, path):
        dst = os.path.join(self.root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(src, dst)

    def journal(self, *args):
        return self.run("journalctl", "--no-pager", "-o", "cat", *args, check=False).stdout

    def console_text(self):
        with open(self.console, errors="replace") as f:
            return f.read()


class Fleet:
    """Several machines booted together from the cached root, powered off together."""

    def __init__(self, names, binds=None):
        """binds: {machine name: [(host directory, path in the machine)]}."""
        self.workdir = tempfile.mkdtemp(prefix="acs-systest-")
        root = cached_root()
        self.machines = {n: Machine(n, root, self.workdir, (binds or {}).get(n, ())) for n in names}
        # Also when the test is cut short (meson's timeout sends SIGTERM): no machine is left
        # running, no mount or cgroup left behind.
        atexit.register(self.poweroff)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))

    def __getitem__(self, name):
        return self.machines[name]

    def boot(self, timeout=180):
        started = time.monotonic()
        for m in self.machines.values():
            m.boot()
        for m in self.machines.values():
            state = m.wait_running(timeout)
            log(f"{m.name}: {state} after {time.monotonic() - started:.1f}s")

    def poweroff(self):
        if not os.path.isdir(self.workdir):
            return
        for m in self.machines.values():
            m.poweroff()
        # Never remove through a mount that is still there.
        with open("/proc/self/mountinfo") as f:
            if self.workdir in f.read():
                log(f"{self.workdir} still has mounts: left in place")
                return
        shutil.rmtree(self.workdir, ignore_errors=True)
