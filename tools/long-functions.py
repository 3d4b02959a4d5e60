#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Lists the C functions longer than a limit (80 lines, signature to closing brace).

Tests (test-*.c, fuzz-*.c, tests/) are left out, and so is main() of the bench tools: a
benchmark's main reads best as one scenario from top to bottom. Exits 1 when it lists any.

    tools/long-functions.py [--max N] [DIR...]     (default: src bench)
"""
import argparse
import pathlib
import re
import sys

STRIP = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|//.*$')


def functions(text):
    """Yields (name, first line, last line) of each function definition in C source text."""
    depth = 0
    in_comment = False
    statement_start = None
    statement = ""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        code = line
        if in_comment:
            end = code.find("*/")
            if end < 0:
                continue
            code = code[end + 2:]
            in_comment = False
        code = re.sub(r"/\*.*?\*/", " ", STRIP.sub('""', code))
        if "/*" in code:
            code = code[:code.index("/*")]
            in_comment = True
        if depth == 0 and code.startswith("#"):
            continue
        for ch in code:
            if depth == 0 and statement_start is None and not ch.isspace():
                statement_start = number
            if ch == "{":
                if depth == 0:
                    match = re.search(r"(\w+)\s*\([^=]*\)\s*$", statement)
                    if match and "=" not in statement.split("(")[0]:
                        current = (match.group(1), statement_start)
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    if current:
                        yield current[0], current[1], number
                    current = None
                    statement, statement_start = "", None
            elif ch == ";" and depth == 0:
                statement, statement_start = "", None
            elif depth == 0:
                statement += ch
        if depth == 0 and statement_start is not None:
            statement += " "


def exempt(path, name):
    parts = path.parts
    if "tests" in parts or path.name.startswith(("test-", "fuzz-")):
        return True
    return "bench" in parts and name == "main"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=80)
    parser.add_argument("dirs", nargs="*", default=["src", "bench"])
    args = parser.parse_args()

    hits = []
    for directory in args.dirs:
        for path in sorted(pathlib.Path(directory).rglob("*.c")):
            for name, first, last in functions(path.read_text(errors="replace")):
                length = last - first + 1
                if length > args.max and not exempt(path, name):
                    hits.append((length, f"{path}:{first}", name))
    for length, where, name in sorted(hits, reverse=True):
        print(f"{length:4} {where} {name}()")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
