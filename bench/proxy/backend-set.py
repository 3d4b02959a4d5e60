#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How fast acs-proxy takes a large backend set and then changes to it.

A private dbus-daemon, the tests' stand-in controller (tests/proxy/fake-controller) serving N
backends from a file, and acs-proxy with Source=vim. The first set, then CHANGES changes (one
backend out, one in, as a scale step does), each announced with BackendsChanged. acs-proxy logs,
per set, the time from its GetBackends() call to the set in force, and how much of that it
spent itself reading the reply and installing the set.

    bench/proxy/backend-set.py [BUILD_DIR] [N] [CHANGES]      (default: build 5000 20)
"""
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
N = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
CHANGES = int(sys.argv[3]) if len(sys.argv) > 3 else 20
LINE = re.compile(r"Backend set generation (\d+) from \S+: (\d+) backend\(s\), in force ([\d.]+) ms "
                  r"after GetBackends\(\) \(([\d.]+) ms of it here\)")


def write_set(path, ports):
    with open(path + ".new", "w") as f:
        f.writelines(f"127.0.0.1 {p} 1 ready vm1 c{p}\n" for p in ports)
    os.rename(path + ".new", path)


def wait_line(log, generation, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log) as f:
            for m in LINE.finditer(f.read()):
                if int(m.group(1)) == generation:
                    return int(m.group(2)), float(m.group(3)), float(m.group(4))
        time.sleep(0.02)
    raise RuntimeError(f"generation {generation} not in force after {timeout} s")


def main():
    tmp = tempfile.mkdtemp(prefix="acs-backend-set-")
    procs = []
    try:
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"],
                               stdout=subprocess.PIPE, text=True)
        procs.append(bus)
        address = bus.stdout.readline().strip()
        set_file = os.path.join(tmp, "backends")
        ports = list(range(20000, 20000 + N))
        write_set(set_file, ports)
        ctl = subprocess.Popen([os.path.join(BUILD, "tests/proxy/fake-controller"), f"--bus-address={address}",
                                f"--file={set_file}"], stdout=subprocess.PIPE, text=True)
        procs.append(ctl)
        ctl.stdout.readline()   # "ready"
        conf = os.path.join(tmp, "proxy.conf")
        with open(conf, "w") as f:
            f.write("[Proxy]\nListen=127.0.0.1:17490\nSource=vim\nWorkers=1\n")
        log = os.path.join(tmp, "proxy.log")
        proxy = subprocess.Popen([os.path.join(BUILD, "src/proxy/acs-proxy"), "--config", conf,
                                  f"--bus-address={address}"], stderr=open(log, "w"))
        procs.append(proxy)
        n, first, first_here = wait_line(log, 1)
        totals, heres = [], []
        for g in range(2, CHANGES + 2):
            ports = ports[1:] + [ports[-1] + 1]
            write_set(set_file, ports)
            ctl.send_signal(signal.SIGHUP)
            n, total, here = wait_line(log, g)
            totals.append(total)
            heres.append(here)
        print(f"first set of {n}: in force {first:.1f} ms after GetBackends() ({first_here:.1f} ms in acs-proxy)")
        print(f"a change (1 out, 1 in) to a set of {n}, {CHANGES} times: median {statistics.median(totals):.1f} ms "
              f"after GetBackends(), max {max(totals):.1f} ms; in acs-proxy median "
              f"{statistics.median(heres):.1f} ms, max {max(heres):.1f} ms")
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
