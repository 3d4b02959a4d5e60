#!/usr/bin/env python3
"""acs-vmm from the command line: --help, --version, and configuration errors that say
file:line and exit with 78 before anything starts."""
import os
import subprocess

from acstest import binary, main
from vmmtest import VmmTestCase


class VmmCliTest(VmmTestCase):
    def run_vmm(self, *args):
        return subprocess.run([binary("src/vmm/acs-vmm"), *args], capture_output=True, text=True, timeout=20)

    def test_help_and_version(self):
        r = self.run_vmm("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--bus-address", r.stdout)
        r = self.run_vmm("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^acs-vmm \d+\.\d+")

    def bad_config(self, text):
        path = os.path.join(self.tmpdir, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        r = self.run_vmm("--config", path, "--bus-address=unix:path=/nonexistent")
        return path, r

    def test_bad_value_names_file_line_and_exits_78(self):
        path, r = self.bad_config("[VM]\nName=vm1\n# comment\nCapacity=many\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}:4: [VM] Capacity=many: expected an integer in 1..256", r.stderr)

    def test_unknown_key_is_refused(self):
        # Nothing in the file can ask for a privileged container.
        path, r = self.bad_config("[Docker]\nPrivileged=yes\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}:2: unknown key Privileged in section [Docker]", r.stderr)

    def test_inconsistent_values_are_refused(self):
        path, r = self.bad_config("[VM]\nCapacity=2\nMinContainers=5\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}: [VM] MinContainers=5 is above Capacity=2", r.stderr)

    def test_missing_config_file(self):
        r = self.run_vmm("--config", os.path.join(self.tmpdir, "absent.conf"))
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("absent.conf", r.stderr)

    def test_bad_option(self):
        r = self.run_vmm("--bus=session")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--bus=session: expected system or user", r.stderr)


if __name__ == "__main__":
    main()
