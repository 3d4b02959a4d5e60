#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every key a configuration parser knows is documented in its man page, and no more.

test-config-keys-documented.py CONFIG-KEYS NAME:PAGE.scd ...

CONFIG-KEYS NAME prints the parser's keys as "Section Key" lines (from the parser's own table).
A page documents a key as a line of its own "*Key=*" under a heading "# [Section] SECTION".
"""
import re
import subprocess
import sys

SECTION = re.compile(r"^# \[(\w+)\] SECTION\b")
HEADING = re.compile(r"^# ")
KEY = re.compile(r"^\*(\w+)=\*\s*$")


def documented_keys(page):
    keys, section = [], None
    with open(page, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = SECTION.match(line)
            if m:
                section = m.group(1)
                continue
            if HEADING.match(line):
                section = None
                continue
            m = KEY.match(line)
            if m:
                if section is None:
                    raise SystemExit(f"{page}:{number}: key {m.group(1)}= outside a [Section] SECTION heading")
                keys.append((section, m.group(1)))
    return keys


def parser_keys(tool, name):
    out = subprocess.run([tool, name], check=True, capture_output=True, text=True).stdout
    return [tuple(line.split()) for line in out.splitlines()]


def main():
    tool, pages = sys.argv[1], sys.argv[2:]
    failed = False
    for arg in pages:
        name, page = arg.split(":", 1)
        known, documented = parser_keys(tool, name), documented_keys(page)
        if not known:
            print(f"{name}: the parser knows no key; is the table empty?")
            failed = True
        for section, key in sorted(set(known) - set(documented)):
            print(f"{page}: [{section}] {key}= is known to the parser but not documented")
            failed = True
        for section, key in sorted(set(documented) - set(known)):
            print(f"{page}: [{section}] {key}= is documented but the parser does not know it")
            failed = True
        for item in sorted({k for k in documented if documented.count(k) > 1}):
            print(f"{page}: [{item[0]}] {item[1]}= is documented twice")
            failed = True
        print(f"{name}: {len(set(known))} keys known, {len(set(documented))} documented")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
