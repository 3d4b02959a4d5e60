#!/usr/bin/env python3
"""acs-vmm asks a real polkitd (run on the test's private bus, as the system bus it serves)
before any change by an unprivileged caller, and never for root."""
import os

from acstest import Monitor, main, wait_until
from vmmtest import VmmTestCase

POLKITD = "/usr/lib/polkit-1/polkitd"


class VmmPolkitTest(VmmTestCase):
    def test_polkit_is_asked_for_unprivileged_callers_only(self):
        self.assertTrue(os.access(POLKITD, os.X_OK), f"{POLKITD} is missing (Debian package polkitd)")
        bus = self.start_bus()
        self.start([POLKITD, "--no-debug"], name="polkitd", env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address})
        wait_until(lambda: "org.freedesktop.PolicyKit1" in bus.busctl("list", "--acquired").stdout, 20,
                   what="polkitd on the bus")
        config = self.write_config(capacity=3, minimum=1, socket=os.path.join(self.tmpdir, "no-docker.sock"))
        self.start_vmm(bus, config)
        self.wait_vmm_on_bus(bus)
        monitor = self.own(Monitor(bus, "--match=type='method_call',member='CheckAuthorization'",
                                   "--match=type='error'"))
        checks = lambda: monitor.messages() and [m for m in monitor.messages()
                                                 if m.get("member") == "CheckAuthorization"]
        # The monitor listens once it sees the error of a call to a method that does not exist.
        def monitor_sees_error():
            bus.busctl("call", "org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", "NoSuchMethod", check=False)
            return any(m.get("type") == "error" for m in monitor.messages())
        wait_until(monitor_sees_error, 10, interval=0.2, what="the bus monitor")

        # Root: allowed at once, polkit is not asked.
        self.vmm_call(bus, "ScaleTo", "u", 2)
        self.assertEqual(self.vmm_property(bus, "DesiredContainers"), 2)

        # Anyone else: polkit decides about the caller's own bus name and this action; the
        # action is not installed on this machine, so the answer is a refusal that says so.
        r = bus.busctl("call", "org.acs.VMM1", "/org/acs/VMM1", "org.acs.VMM1", "Drain", "s", "0" * 64,
                       check=False, user=65534)
        self.assertNotEqual(r.returncode, 0)
        check = wait_until(checks, 10, what="a CheckAuthorization call")
        self.assertEqual(len(check), 1)
        subject, action = check[0]["payload"]["data"][0], check[0]["payload"]["data"][1]
        self.assertEqual(subject[0], "system-bus-name")
        self.assertEqual(action, "org.acs.drain")
        self.assertIn("Could not check whether you may drain a container of this VM (polkit action org.acs.drain)",
                      r.stderr)
        self.assertEqual(self.vmm_property(bus, "DesiredContainers"), 2)


if __name__ == "__main__":
    main()
