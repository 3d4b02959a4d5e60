#!/usr/bin/env python3
"""acsctl's bash and zsh completion as an operator meets it: a partial command, a VM name and a
container id completed from a real acs-vim on a real private dbus-daemon, with simulated VMMs
on the real link. The bus is the one named on the command line being completed. bash's
completion function is called as bash's loop calls it; zsh's is reached by typing the line and
a Tab into an interactive zsh on a pseudo-terminal (zsh-complete.zsh)."""
import os
import shlex
import subprocess
import unittest

from acstest import SOURCE_DIR, binary, main
from vimtest import VimTestCase

BASH_COMPLETION = os.path.join(SOURCE_DIR, "shell-completion/bash/acsctl")
ZSH_COMPLETION = os.path.join(SOURCE_DIR, "shell-completion/zsh/_acsctl")
ZSH_DRIVER = os.path.join(SOURCE_DIR, "tests/ctl/zsh-complete.zsh")


def bash_words(line):
    """COMP_WORDS and COMP_CWORD as bash makes them: words also break at '=' and ':', which
    stand as words of their own."""
    words = []
    for w in line.split():
        part = ""
        for ch in w:
            if ch in "=:":
                if part:
                    words.append(part)
                words.append(ch)
                part = ""
            else:
                part += ch
        if part:
            words.append(part)
    if line.endswith(" ") or not words:
        words.append("")
    return words, len(words) - 1


class CompletionTest(VimTestCase):
    # Its own slice of the class's default range, so acsctl's test beside it never races for a port.
    PORTS = (18090, 18099)

    def setUp(self):
        super().setUp()
        self.start_vim()
        self.start_agent("web-a", containers=1, capacity=3)
        self.start_agent("web-b", containers=0, capacity=3, standby=True)
        self.wait_state(lambda s: len(s["vms"]) == 2 and s["service"]["ready"] == 1, 10, "two VMs registered")
        self.path = os.path.dirname(binary("src/ctl/acsctl")) + ":" + os.environ["PATH"]

    def complete_bash(self, line):
        """What bash offers for the word at the end of line, as the shell's own loop calls _acsctl."""
        words, cword = bash_words(line)
        script = (f"source {shlex.quote(BASH_COMPLETION)}\n"
                  f"COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n"
                  f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={cword}\n"
                  "_acsctl acsctl\n"
                  "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                           timeout=30, env={**os.environ, "PATH": self.path})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        return sorted(w for w in r.stdout.splitlines() if w)

    def test_partial_command(self):
        bus = f"--bus-address={self.bus.address}"
        self.assertEqual(self.complete_bash(f"acsctl {bus} st"), ["standby", "status"])
        self.assertEqual(self.complete_bash("acsctl ac"), ["activate"])
        self.assertEqual(self.complete_bash("acsctl power-o"), ["power-off", "power-on"])
        self.assertEqual(self.complete_bash("acsctl --vmm st"), ["state", "status"])
        self.assertEqual(self.complete_bash("acsctl --lo"), ["--log-level="])
        self.assertEqual(self.complete_bash("acsctl --bus=u"), ["user"])
        self.assertEqual(self.complete_bash("acsctl --vmm state s"), ["standby"])

    def test_vm_names_from_the_running_vim(self):
        bus = f"--bus-address={self.bus.address}"
        self.assertEqual(self.complete_bash(f"acsctl {bus} activate "), ["web-a", "web-b"])
        self.assertEqual(self.complete_bash(f"acsctl {bus} standby web-b"), ["web-b"])
        self.assertEqual(self.complete_bash(f"acsctl {bus} power-on web-"), ["web-a", "web-b"])
        # One VM per command: nothing after it.
        self.assertEqual(self.complete_bash(f"acsctl {bus} activate web-a "), [])
        # Another bus, where no VIM runs: nothing, and no error on the terminal.
        self.assertEqual(self.complete_bash("acsctl --bus-address=unix:path=/nonexistent activate "), [])

    def test_container_ids_from_the_running_vim(self):
        container = self.vm("web-a")["containers"][0]["id"]
        bus = f"--bus-address={self.bus.address}"
        self.assertEqual(self.complete_bash(f"acsctl {bus} drain "), [container])
        self.assertEqual(self.complete_bash(f"acsctl {bus} drain {container[:3]}"), [container])
        # The completed id is one acsctl takes.
        out = subprocess.run([binary("src/ctl/acsctl"), bus, "list-containers"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
        self.assertEqual(out, container + "\n")

    def test_policy_keys_from_the_running_vim(self):
        bus = f"--bus-address={self.bus.address}"
        self.assertEqual(self.complete_bash(f"acsctl {bus} policy target_c"), ["target_cpu="])
        self.assertIn("placement=", self.complete_bash(f"acsctl {bus} policy "))

    def complete_zsh(self, line):
        """What zsh's completion system offers after line and a Tab, as the user sees it."""
        r = subprocess.run(["zsh", "-f", ZSH_DRIVER, os.path.dirname(ZSH_COMPLETION), self.tmpdir, line],
                           capture_output=True, text=True, timeout=30, env={**os.environ, "PATH": self.path})
        self.assertEqual(r.returncode, 0, f"zsh completion of {line!r} did not finish: {r.stderr}")
        return sorted(set(w for w in r.stdout.splitlines() if w))

    def test_zsh_partial_command(self):
        self.assertEqual(self.complete_zsh("acsctl power-o"), ["power-off", "power-on"])
        self.assertEqual(self.complete_zsh("acsctl st"), ["standby", "status"])
        self.assertEqual(self.complete_zsh("acsctl --vmm st"), ["state", "status"])
        self.assertEqual(self.complete_zsh("acsctl --vmm state s"), ["standby"])
        self.assertEqual(self.complete_zsh("acsctl --bus=u"), ["user"])

    def test_zsh_names_from_the_running_vim(self):
        bus = f"--bus-address={self.bus.address}"
        self.assertEqual(self.complete_zsh(f"acsctl {bus} power-on web-"), ["web-a", "web-b"])
        self.assertEqual(self.complete_zsh(f"acsctl {bus} power-off web-b"), ["web-b"])
        self.assertEqual(self.complete_zsh(f"acsctl {bus} activate "), ["web-a", "web-b"])
        container = self.vm("web-a")["containers"][0]["id"]
        self.assertEqual(self.complete_zsh(f"acsctl {bus} drain {container[:3]}"), [container])
        self.assertEqual(self.complete_zsh(f"acsctl {bus} policy target_c"), ["target_cpu"])
        # Another bus, where no VIM runs: nothing offered.
        self.assertEqual(self.complete_zsh("acsctl --bus-address=unix:path=/nonexistent power-on "), [])

if __name__ == "__main__":
    main()
