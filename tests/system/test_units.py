#!/usr/bin/env python3
"""The installed units, bus policy and polkit files as their consumers read them, without
booting anything: systemd-analyze's offline security review of each service, the socket names
the daemons look for, and the XML of the D-Bus and polkit files.

The booted check of the same files is test_system.py.
"""
import configparser
import os
import re
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import acstest  # noqa: E402

UNITS_SRC = os.path.join(acstest.SOURCE_DIR, "units")
UNITS_BUILT = os.path.join(acstest.BUILD_DIR, "units")
SERVICES_BUILT = os.path.join(acstest.BUILD_DIR, "services")
POLKIT_SRC = os.path.join(acstest.SOURCE_DIR, "polkit")

EXPOSURE_TARGET = {"acs-vim.service": 2.0, "acs-proxy.service": 2.0, "acs-proxy@.service": 2.0,
                   "acs-vmm.service": 2.0}
# FileDescriptorName= of each socket unit, as the daemons' sd_listen_fds_with_names() expects.
SOCKET_NAMES = {"acs-vim.socket": ("acs-vim.service", "agent"),
                "acs-vim-http.socket": ("acs-vim.service", "http"),
                "acs-proxy.socket": ("acs-proxy.service", "http"),
                "acs-proxy@.socket": ("acs-proxy@%i.service", "http")}


def unit_file(name):
    for d in (UNITS_BUILT, UNITS_SRC):
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(name)


def read_unit(name):
    # Units repeat keys (SystemCallFilter=); keep the last, which is enough for these checks.
    p = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    p.optionxform = str
    with open(unit_file(name)) as f:
        p.read_file(f)
    return p


class UnitFiles(unittest.TestCase):
    def test_security_exposure_offline(self):
        for unit, target in EXPOSURE_TARGET.items():
            r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit_file(unit)],
                               capture_output=True, text=True, cwd=UNITS_BUILT)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            self.assertIsNotNone(m, r.stdout + r.stderr)
            level = float(m.group(1))
            print(f"{unit:22} exposure {level:.1f} (target {target:.1f})")
            self.assertLessEqual(level, target, unit)

    def test_socket_names_match_the_daemons(self):
        for sock, (service, fdname) in SOCKET_NAMES.items():
            u = read_unit(sock)
            self.assertEqual(u["Socket"]["FileDescriptorName"], fdname, sock)
            self.assertEqual(u["Socket"]["Service"], service, sock)
            self.assertEqual(u["Install"]["WantedBy"], "sockets.target", sock)

    def test_services_notify_with_watchdog(self):
        # The internet-facing proxy runs as a user of its own, which cannot read the VMs' keys.
        users = {"acs-vim.service": "acs", "acs-proxy.service": "acs-proxy", "acs-proxy@.service": "acs-proxy",
                 "acs-vmm.service": "acs"}
        for service, user in users.items():
            s = read_unit(service)["Service"]
            self.assertEqual(s["Type"], "notify", service)
            self.assertTrue(s["WatchdogSec"], service)
            self.assertEqual(s["Restart"], "on-failure", service)
            self.assertEqual(s["User"], user, service)
            self.assertIn("--bus=system", s["ExecStart"], service)
        # The VMM's containers are Docker's: stopping the agent must not touch them.
        vmm = read_unit("acs-vmm.service")
        self.assertIn("docker.service", vmm["Unit"]["After"])
        self.assertEqual(vmm["Service"]["SupplementaryGroups"], "docker")

    def test_bus_policy(self):
        for name, user in (("org.acs.VIM1", "acs"), ("org.acs.VMM1", "acs"), ("org.acs.Proxy1", "acs-proxy")):
            root = ET.parse(os.path.join(SERVICES_BUILT, name + ".conf")).getroot()
            owners = [p.get("user") for p in root.iter("policy") for a in p.iter("allow") if a.get("own") == name]
            self.assertEqual(owners, [user], name)
            default = [p for p in root.iter("policy") if p.get("context") == "default"][0]
            allowed = {(a.get("send_interface"), a.get("send_member")) for a in default.iter("allow")}
            self.assertIn((name, None), allowed)
            self.assertIn(("org.freedesktop.DBus.Properties", "Get"), allowed)
            self.assertNotIn(("org.freedesktop.DBus.Properties", "Set"), allowed)
            self.assertNotIn(("org.freedesktop.DBus.Properties", None), allowed)
            activation = configparser.ConfigParser(interpolation=None)
            activation.optionxform = str
            activation.read(os.path.join(SERVICES_BUILT, name + ".service"))
            self.assertEqual(activation["D-BUS Service"]["Name"], name)
            self.assertTrue(activation["D-BUS Service"]["SystemdService"].endswith(".service"))

    def test_polkit_actions(self):
        root = ET.parse(os.path.join(POLKIT_SRC, "org.acs.policy")).getroot()
        actions = {a.get("id"): a for a in root.iter("action")}
        self.assertEqual(set(actions), {"org.acs.scale", "org.acs.drain", "org.acs.manage"})
        for aid, a in actions.items():
            for key in ("allow_any", "allow_inactive", "allow_active"):
                self.assertEqual(a.find("defaults").findtext(key), "auth_admin_keep", aid)
            # The daemons run as acs and ask about their callers: polkit lets only the owner do that.
            owners = [n.text for n in a.iter("annotate") if n.get("key") == "org.freedesktop.policykit.owner"]
            self.assertEqual(owners, ["unix-user:acs"], aid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
