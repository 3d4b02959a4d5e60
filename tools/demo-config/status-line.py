#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One line of the demo's live summary from acs-vim's /api/v1/state:
  21:14:05 users=12 rps=11.8 p99=640ms | vm1 4 (0.38 CPU) | vm2 3 (0.29 CPU) | vm3 standby | desired 7
Users and p99 come from the demo's own acs-load (--load) while it runs, else from acs-vim."""
import json
import re
import sys
import time
import urllib.request


def demo_load(load_log):
    """(users, p99_ms) from the last per-second line of the demo's own acs-load, if it runs."""
    try:
        with open(load_log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("summary:"):
            return None
        m = re.match(r"t=\d+ users=(\d+) .*p99_ms=([\d.]+)", line)
        if m:
            return int(m.group(1)), float(m.group(2))
    return None


def main():
    url, load_log = sys.argv[1], sys.argv[2]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1) as r:
            state = json.load(r)
    except Exception as e:  # the VIM may be busy or restarting: say so and go on
        print(f"{time.strftime('%H:%M:%S')} (no state from acs-vim: {e})", flush=True)
        return
    proxy = state.get("proxy") or {}
    service = state.get("service") or {}
    users, p99 = (state.get("load") or {}).get("users", 0), proxy.get("p99_ms", 0)
    mine = demo_load(load_log)
    if mine:
        users, p99 = mine
    parts = [f"{time.strftime('%H:%M:%S')} users={users}"
             f" rps={proxy.get('requests_per_s', 0):.1f} p99={p99:.0f}ms"]
    for vm in state.get("vms", []):
        n = len(vm.get("containers", []))
        if vm.get("state") == "active" or n:
            parts.append(f"{vm['name']} {n} ({vm.get('cpu', 0):.2f} CPU)")
        else:
            parts.append(f"{vm['name']} {vm.get('state')}")
    parts.append(f"desired {service.get('desired', '?')}, ready {service.get('ready', '?')}")
    print(" | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
