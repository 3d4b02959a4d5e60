#!/usr/bin/env python3
"""The libvirt provider against the real libvirt-dbus (Debian's org.libvirt) on a private bus.
libvirt-dbus serves libvirt's own in-process test driver (test:///default) at /org/libvirt/Test,
so Create, Shutdown, DomainLookupByName and the DomainEvent signals are libvirt's, while neither
libvirtd nor a hypervisor (/dev/kvm, the LXC driver's cgroups) is needed.
A domain the test defines is powered on by acs-vim; a simulated VMM then registers as its guest
would; powered off, the domain's stop event brings the VM to off."""
import os
import subprocess

from acstest import main, wait_until
from vimtest import VimTestCase

DOMAIN_XML = ("<domain type='test'><name>{name}</name><memory>65536</memory>"
              "<os><type>hvm</type></os></domain>")
CONNECT = ("org.libvirt", "/org/libvirt/Test", "org.libvirt.Connect")


class LibvirtTest(VimTestCase):
    PORTS = (18240, 18259)

    def setUp(self):
        super().setUp()
        self.vms = os.path.join(self.tmpdir, "vms.d")
        os.makedirs(self.vms)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.libvirt = self.start(["libvirt-dbus", "--system"], name="libvirt-dbus", env=env)
        wait_until(lambda: self.bus.busctl("status", "org.libvirt", check=False).returncode == 0, 10,
                   interval=0.1, what="org.libvirt on the bus")

    def define(self, name):
        return self.bus.call_json(*CONNECT, "DomainDefineXML", "s", DOMAIN_XML.format(name=name))["data"][0]

    def active(self, path):
        return self.bus.get_property_json("org.libvirt", path, "org.libvirt.Domain", "Active")["data"]

    def declare(self, name, domain, timeout="20s"):
        with open(os.path.join(self.vms, f"{name}.conf"), "w") as f:
            f.write(f"[VM]\nProvider=libvirt\nCapacity=2\nBootTime=1s\nPowerOnTimeout={timeout}\n"
                    f"PowerOffTimeout=10s\n[Libvirt]\nDomain={domain}\nConnection=Test\n"
                    f"BusAddress={self.bus.address}\n")

    def power(self, method, vm):
        self.bus.busctl("call", "org.acs.VIM1", "/org/acs/VIM1", "org.acs.VIM1", method, "s", vm)

    def test_power_on_registered_power_off_through_org_libvirt(self):
        path = self.define("acs-vm4")
        self.assertFalse(self.active(path))
        self.declare("vm4", "acs-vm4")
        self.start_vim(agents={"VmDirectory": self.vms}, MinActiveVms=0, VmHeadroom=0, MinReplicas=0)
        self.assertEqual(self.vm("vm4")["state"], "off")
        self.assertEqual(self.vm("vm4")["provider"], "libvirt")
        # no slots while off, but the API says what it brings once up
        self.assertEqual((self.vm("vm4")["capacity"], self.vm("vm4")["declared_capacity"]), (0, 2))

        self.power("PowerOn", "vm4")
        wait_until(lambda: self.active(path), 10, interval=0.1, what="the domain running in libvirt")
        self.wait_event("vm-powered-on", "vm4: Create of domain acs-vm4 done")
        self.assertEqual(self.vm("vm4")["state"], "booting")
        # the guest's VMM comes up and registers
        self.start_agent("vm4", containers=0, capacity=2)
        self.wait_state(lambda s: self.vm("vm4", s)["state"] == "active", 10, "vm4 registered and active")
        self.wait_event("vm-booted", r"vm4 registered [\d.]+ s after power-on")

        self.power("PowerOff", "vm4")
        self.wait_state(lambda s: self.vm("vm4", s)["state"] == "off", 10, "vm4 off after the domain stopped")
        self.assertFalse(self.active(path))
        self.wait_event("vm-off", "powering-off -> off: the domain stopped")

    def test_unknown_domain_and_refused_create_fail_the_vm(self):
        self.declare("vm5", "no-such-domain")
        path = self.define("acs-vm6")
        self.declare("vm6", "acs-vm6")
        self.start_vim(agents={"VmDirectory": self.vms}, MinActiveVms=0, VmHeadroom=0, MinReplicas=0)
        self.power("PowerOn", "vm5")
        self.wait_state(lambda s: self.vm("vm5", s)["state"] == "failed", 10, "vm5 failed")
        self.assertRegex(self.vm("vm5")["failure"], r"^DomainLookupByName of domain no-such-domain: Domain not found")
        # a domain already running behind our back: libvirt refuses Create, the VM is failed
        self.bus.busctl("call", "org.libvirt", path, "org.libvirt.Domain", "Create", "u", 0)
        self.power("PowerOn", "vm6")
        self.wait_state(lambda s: self.vm("vm6", s)["state"] == "failed", 10, "vm6 failed")
        self.assertRegex(self.vm("vm6")["failure"], r"^Create of domain acs-vm6: .*running")


if __name__ == "__main__":
    main()
