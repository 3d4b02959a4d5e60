#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Installs a package's pinned npm dependencies reproducibly (`npm ci` with the committed
lockfile) into a build directory, then copies the files the build needs out of node_modules.

npm-ci.py --npm NPM --package-dir DIR --work DIR [--copy FILE]... [--to DIR] [--stamp FILE]
  --copy FILE  a path inside node_modules (e.g. uplot/dist/uPlot.esm.js), copied into --to
               under its base name;
  --stamp FILE touched when the install succeeded (for build steps that use node_modules where
               it is, like the browser tests).
The source tree is never written: package.json and the lockfile are copied to --work first.
"""
import argparse
import os
import shutil
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npm", required=True)
    ap.add_argument("--package-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--copy", action="append", default=[])
    ap.add_argument("--to")
    ap.add_argument("--stamp")
    args = ap.parse_args()
    if args.copy and not args.to:
        ap.error("--copy needs --to")

    os.makedirs(args.work, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(args.package_dir, name), os.path.join(args.work, name))

    # --ignore-scripts: nothing from the registry runs at build time; --prefer-offline lets a
    # machine with a warm npm cache build without reaching the registry.
    r = subprocess.run([args.npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts",
                        "--prefer-offline", "--loglevel=error"],
                       cwd=args.work, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit(f"npm-ci: `npm ci` failed in {args.work} (exit status {r.returncode})")

    for f in args.copy:
        shutil.copyfile(os.path.join(args.work, "node_modules", f),
                        os.path.join(args.to, os.path.basename(f)))
    if args.stamp:
        with open(args.stamp, "w") as stamp:
            stamp.write("npm ci done\n")


if __name__ == "__main__":
    main()
