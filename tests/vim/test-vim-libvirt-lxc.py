#!/usr/bin/env python3
"""The libvirt provider against a real hypervisor: Debian's libvirtd with its LXC driver
(lxc:///system) and Debian's libvirt-dbus (org.libvirt at /org/libvirt/LXC) on a private bus.
The test defines a domain whose init is the real acs-vmm from the build tree, in a small root
(the host's /usr and /etc read-only, the build tree read-only, the test's directory writable),
sharing the host's network namespace so that it reaches the test's acs-vim on 127.0.0.1.

acs-vim powers the VM on (Create) -> the domain runs in libvirt -> the guest's acs-vmm registers
-> acs-vim powers it off. How it goes off depends on [Libvirt] ShutdownMode=:
- signal: Shutdown sends SIGTERM to the container's init, acs-vmm exits, the domain stops;
- default: libvirt's LXC driver asks the container's initctl, and with none there it does
  nothing at all while answering success: the guest ignores the request, and acs-vim destroys the
  domain once PowerOffTimeout= passed.
Runs as root (libvirtd's LXC driver)."""
import os
import shlex
import signal

from acstest import binary, main, wait_until
from libvirtlxc import LxcLibvirt
from vimtest import VimTestCase

DOMAIN_XML = """<domain type='lxc'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <os><type>exe</type><init>{init}</init></os>
  <devices>
    <filesystem type='mount'><source dir='{root}'/><target dir='/'/></filesystem>
    <filesystem type='mount'><source dir='/usr'/><target dir='/usr'/><readonly/></filesystem>
    <filesystem type='mount'><source dir='/etc'/><target dir='/etc'/><readonly/></filesystem>
    <filesystem type='mount'><source dir='{build}'/><target dir='{build}'/><readonly/></filesystem>
    <filesystem type='mount'><source dir='{tmpdir}'/><target dir='{tmpdir}'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
"""


class LibvirtLxcTest(VimTestCase):
    PORTS = (18260, 18279)

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("libvirtd's LXC driver needs root")
        super().setUp()
        self.vms = os.path.join(self.tmpdir, "vms.d")
        os.makedirs(self.vms)
        self.vmm_log = os.path.join(self.tmpdir, "no-guest.log")
        self.libvirt = LxcLibvirt(self, self.bus)

    def tearDown(self):
        # The domains go before libvirtd does; their processes and cgroups must not survive it.
        for p in self.vims():
            p.stop()
        if self.has_failed():
            for name in self.libvirt.domains:
                print(f"----- libvirt's log of domain {name} -----\n{self.libvirt.log(name)[-4000:]}")
            print(f"----- the guest's acs-vmm -----\n{self.vmm_output()[-4000:]}")
        self.libvirt.cleanup()
        left = self.libvirt.leftovers()
        super().tearDown()
        self.assertEqual(left, [], "left behind by the domains")

    def guest(self, vm):
        """A domain whose init is the real acs-vmm for vm (its own bus, no Docker Engine)."""
        d = os.path.join(self.tmpdir, vm)
        root = os.path.join(d, "root")
        os.makedirs(root)
        # Debian's merged /usr: the usual top-level names lead into the read-only /usr.
        for link in ("bin", "sbin", "lib", "lib64"):
            os.symlink(f"usr/{link}", os.path.join(root, link))
        key = os.path.join(self.keys, f"{vm}.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        conf = os.path.join(d, "vmm.conf")
        with open(conf, "w") as f:
            f.write(f"""[VM]
Name={vm}
Address=127.0.0.1
Service=web
Capacity=2
MinContainers=0
State=active
PortRangeStart=18280
PortRangeEnd=18289
[Docker]
Socket={d}/no-docker.sock
Network=host
WebBinary={binary("src/web/acs-web")}
[Vim]
Address=127.0.0.1:{self.agent_port}
KeyFile={key}
[Monitor]
Interval=1s
""")
        # Its bus listens in the directory the guest shares (an abstract socket would do too,
        # the network namespace being the host's; the test's /tmp is not in the guest).
        vmm_bus = self.start_bus(listen=f"unix:dir={d}")
        self.vmm_log = os.path.join(d, "acs-vmm.log")
        init = os.path.join(d, "init")
        # The console is a pty nobody reads: acs-vmm logs to a file the test prints on failure.
        with open(init, "w") as f:
            f.write(f"#!/bin/sh\nexec {shlex.quote(binary('src/vmm/acs-vmm'))} --config {shlex.quote(conf)} "
                    f"--bus-address={shlex.quote(vmm_bus.address)} >>{shlex.quote(self.vmm_log)} 2>&1\n")
        os.chmod(init, 0o755)
        name = f"acs-test-{vm}"
        build = os.path.dirname(os.path.dirname(os.path.dirname(binary("src/vmm/acs-vmm"))))
        path = self.libvirt.define(name, DOMAIN_XML.format(name=name, init=init, root=root, build=build,
                                                           tmpdir=self.tmpdir))
        return name, path

    def declare(self, vm, domain, shutdown_mode=None):
        with open(os.path.join(self.vms, f"{vm}.conf"), "w") as f:
            f.write(f"[VM]\nProvider=libvirt\nCapacity=2\nBootTime=2s\nPowerOnTimeout=30s\nPowerOffTimeout=2s\n"
                    f"[Libvirt]\nDomain={domain}\nConnection=LXC\nBusAddress={self.bus.address}\n")
            if shutdown_mode:
                f.write(f"ShutdownMode={shutdown_mode}\n")

    def power(self, method, vm):
        self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", method, "s", vm)

    def vmm_output(self):
        try:
            with open(self.vmm_log) as f:
                return f.read()
        except OSError:
            return ""

    def power_on_until_registered(self, vm, domain, path):
        self.assertFalse(self.libvirt.domain_property(path, "Active"))
        self.start_vim(agents={"VmDirectory": self.vms}, MinActiveVms=0, VmHeadroom=0, MinReplicas=0)
        self.assertEqual((self.vm(vm)["state"], self.vm(vm)["provider"]), ("off", "libvirt"))

        self.power("PowerOn", vm)
        wait_until(lambda: self.libvirt.domain_property(path, "Active"), 30, interval=0.1,
                   what="the domain running in libvirt")
        pid = self.libvirt.controller_pid(domain)
        self.wait_event("vm-powered-on", f"{vm}: Create of domain {domain} done")
        # The guest's acs-vmm is the container's init, in the host's network namespace.
        self.wait_state(lambda s: self.vm(vm, s)["state"] == "active", 30, f"{vm} registered and active")
        self.wait_event("vm-booted", rf"{vm} registered [\d.]+ s after power-on")
        self.assertIn(f"serving VM {vm}", self.vmm_output())
        return pid

    def test_power_on_registered_shutdown_by_signal(self):
        domain, path = self.guest("vm7")
        self.declare("vm7", domain, shutdown_mode="signal")
        self.power_on_until_registered("vm7", domain, path)

        self.power("PowerOff", "vm7")
        self.vim.wait_for_output(r"vm7: Shutdown domain acs-test-vm7 \(ShutdownMode=signal\)")
        self.wait_state(lambda s: self.vm("vm7", s)["state"] == "off", 10, "vm7 off after the domain stopped")
        self.assertFalse(self.libvirt.domain_property(path, "Active"))
        self.wait_event("vm-off", r"powering-off -> off: the domain stopped \(shutdown\)")
        # The guest shut down by itself (acs-vmm ended on SIGTERM); nothing was forced.
        self.assertEqual(self.vim_events("vm-force-off"), [])
        # acs-vmm ended cleanly, under ASan too (no leak report at its exit)
        self.assertNotRegex(self.vmm_output(), "Sanitizer|runtime error")
        self.assertEqual(self.libvirt.virsh("domstate", "--reason", domain).stdout.strip(), "shut off (shutdown)")

    def test_domain_stopped_outside_is_off_then_powered_on_again(self):
        domain, path = self.guest("vm9")
        self.declare("vm9", domain, shutdown_mode="signal")
        first = self.power_on_until_registered("vm9", domain, path)

        # Stopped behind acs-vim's back: the stop event makes the VM off (not unreachable for
        # ever), so that it can be powered on again.
        self.libvirt.virsh("destroy", domain)
        self.wait_state(lambda s: self.vm("vm9", s)["state"] == "off", 10, "vm9 off after the outside stop")
        self.wait_event("vm-off", r"the domain stopped \(destroyed\), not by the VIM")
        self.power("PowerOn", "vm9")
        self.wait_state(lambda s: self.vm("vm9", s)["state"] == "active", 30, "vm9 registered again")
        self.assertNotEqual(self.libvirt.controller_pid(domain), first)
        self.assertEqual(len(self.vim_events("vm-booted")), 2)

    def test_power_on_registered_shutdown_ignored_then_destroyed(self):
        domain, path = self.guest("vm8")
        self.declare("vm8", domain)
        self.power_on_until_registered("vm8", domain, path)

        self.power("PowerOff", "vm8")
        # Shutdown asked the container's initctl; there is none, so libvirt did nothing.
        self.vim.wait_for_output(r"vm8: Shutdown domain acs-test-vm8 \(ShutdownMode=default\)")
        self.wait_event("vm-force-off", "VM vm8 did not power off within 2 s, forcing it off")
        self.wait_state(lambda s: self.vm("vm8", s)["state"] == "off", 10, "vm8 off after Destroy")
        # Destroy's answer or the stop event, whichever acs-vim read first
        self.wait_event("vm-off", r"powering-off -> off: (Destroy of domain acs-test-vm8 done|"
                        r"the domain stopped \(destroyed\))")
        self.assertFalse(self.libvirt.domain_property(path, "Active"))
        self.assertEqual(self.libvirt.virsh("domstate", "--reason", domain).stdout.strip(), "shut off (destroyed)")


def terminated(signum, frame):
    # meson's timeout sends SIGTERM: fail the test so that tearDown still removes the domains
    # (their libvirt_lxc processes outlive libvirtd).
    raise RuntimeError("terminated by SIGTERM")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, terminated)
    main()
