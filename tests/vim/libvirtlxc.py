"""Debian's libvirtd with its LXC driver (lxc:///system), and Debian's libvirt-dbus in front of
it, for a test: both run in a private mount namespace whose /run, /etc/libvirt, /var/lib/libvirt,
/var/log/libvirt and /var/cache are empty tmpfs, so the host's libvirt state is neither read nor
written, and everything they leave goes away with the namespace. Needs root.

Why the namespace also unmounts /sys/fs/cgroup/unified: on a host with the hybrid cgroup layout
(v1 controllers, the v2 hierarchy at /sys/fs/cgroup/unified), libvirt 9.0's container setup
(virCgroupBindMount) runs its v2 backend before its v1 backend has put the tmpfs on the
container's /sys/fs/cgroup, and the domain fails to start with "Unable to create directory
/sys/fs/cgroup/unified". Without the v2 mount libvirt sees only v1 and the container starts; the
host's mount is untouched."""
import contextlib
import glob
import os
import signal
import subprocess

from acstest import wait_until

NS_SETUP = """set -e
for d in /run /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache; do
        mount -t tmpfs -o mode=0755 acs-test "$d"
done
if grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts; then
        umount /sys/fs/cgroup/unified
fi
exec "$@"
"""
# libvirtd must not find a system bus: it would ask systemd-machined for the container's cgroup.
NO_SYSTEM_BUS = "unix:path=/nonexistent/system_bus_socket"


def cgroup_v1_dirs(relative):
    """The directory of a cgroup in every mounted v1 hierarchy."""
    return sorted(glob.glob(f"/sys/fs/cgroup/*/{relative}"))


class LxcLibvirt:
    """Starts libvirtd, then libvirt-dbus on bus_address; domains are defined through org.libvirt
    at /org/libvirt/LXC. cleanup() destroys and undefines every domain, stops both daemons,
    kills what a domain left behind and removes the cgroups libvirt created for it."""

    CONNECT = ("org.libvirt", "/org/libvirt/LXC", "org.libvirt.Connect")

    def __init__(self, test, bus):
        self.test = test
        self.bus = bus
        self.tmpdir = test.tmpdir
        self.domains = {}           # name -> the controller pids seen while it ran
        # /machine is libvirt's default partition: removed at the end if this run made it.
        self.made_partition = not cgroup_v1_dirs("machine")
        conf = os.path.join(self.tmpdir, "libvirtd.conf")
        with open(conf, "w") as f:
            f.write(f'log_outputs="3:file:{self.tmpdir}/libvirtd-debug.log"\n')
        setup = os.path.join(self.tmpdir, "libvirt-ns.sh")
        with open(setup, "w") as f:
            f.write(NS_SETUP)
        env = {"DBUS_SYSTEM_BUS_ADDRESS": NO_SYSTEM_BUS, "LIBVIRT_DEFAULT_URI": ""}
        self.libvirtd = test.start(["unshare", "--mount", "--propagation", "private", "sh", setup,
                                    "libvirtd", "-f", conf], name="libvirtd", env=env)
        sock = f"/proc/{self.libvirtd.pid}/root/run/libvirt/libvirt-sock"
        wait_until(lambda: self.virsh("uri", check=False).returncode == 0, 30, interval=0.1,
                   what="libvirtd answering on lxc:///system" + ("" if os.path.exists(sock) else f" ({sock})"))
        self.dbus = test.start(["nsenter", f"--target={self.libvirtd.pid}", "--mount", "libvirt-dbus", "--system"],
                               name="libvirt-dbus", env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address})
        wait_until(lambda: bus.busctl("status", "org.libvirt", check=False).returncode == 0, 10,
                   interval=0.1, what="org.libvirt on the bus")

    def virsh(self, *args, check=True):
        """virsh on lxc:///system inside libvirtd's mount namespace (for what D-Bus does not show)."""
        return subprocess.run(["nsenter", f"--target={self.libvirtd.pid}", "--mount", "virsh", "-q", "-c",
                               "lxc:///system", *map(str, args)], capture_output=True, text=True, check=check,
                              timeout=30)

    def define(self, name, xml):
        path = self.bus.call_json(*self.CONNECT, "DomainDefineXML", "s", xml)["data"][0]
        self.domains[name] = set()
        return path

    def domain_property(self, path, prop):
        return self.bus.get_property_json("org.libvirt", path, "org.libvirt.Domain", prop)["data"]

    def controller_pid(self, name):
        """The domain's libvirt_lxc process (a running LXC domain's id), remembered for the cleanup."""
        out = self.virsh("domid", name).stdout.strip()
        if not out.isdigit():
            return None
        self.domains[name].add(int(out))
        return int(out)

    def domain_cgroup(self, name, pid):
        return f"machine/lxc-{pid}-{name}.libvirt-lxc"

    def log(self, name):
        with contextlib.suppress(OSError):
            with open(f"/proc/{self.libvirtd.pid}/root/var/log/libvirt/lxc/{name}.log") as f:
                return f.read()
        return ""

    def cleanup(self):
        for name in self.domains:
            if self.libvirtd.alive():
                with contextlib.suppress(Exception):
                    if self.virsh("domstate", name, check=False).stdout.strip() != "shut off":
                        self.controller_pid(name)
                        self.virsh("destroy", name, check=False)
                    self.virsh("undefine", name, check=False)
        self.dbus.stop()
        self.libvirtd.stop()
        # Whatever a domain left (libvirtd was killed, destroy failed) is killed and its cgroups go.
        for name, pid in ((n, p) for n, pids in self.domains.items() for p in pids):
            dirs = cgroup_v1_dirs(self.domain_cgroup(name, pid))
            for d in dirs:
                with contextlib.suppress(OSError, ValueError):
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        for p in f.read().split():
                            os.kill(int(p), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not process_lives(pid), 10, interval=0.1, what=f"libvirt_lxc {pid} gone")
            wait_until(lambda: all(rmdir_ok(d) for d in dirs), 10, interval=0.1,
                       what=f"the cgroups of domain {name} removed")
        if self.made_partition:
            # Only if empty: a libvirtd of another test may have put a domain there meanwhile.
            for d in cgroup_v1_dirs("machine"):
                rmdir_ok(d)

    def leftovers(self):
        """Processes or cgroups of the domains that are still there (after cleanup(): none)."""
        left = []
        for name, pid in ((n, p) for n, pids in self.domains.items() for p in pids):
            if process_lives(pid):
                left.append(f"libvirt_lxc {pid} of {name}")
            left += cgroup_v1_dirs(self.domain_cgroup(name, pid))
        return left


def process_lives(pid):
    """False once pid is gone or a zombie (the orphaned controller is reaped by PID 1, late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def rmdir_ok(path):
    """True once path is gone; a cgroup still holding tasks stays (EBUSY) and is retried."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True
