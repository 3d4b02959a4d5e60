#!/usr/bin/env bash
# Builds the Debian packages (acs-common, acs-vim, acs-proxy, acs-vmm) from this source tree:
# copies the tree to a temporary directory, puts packaging/debian there as debian/ and runs
# dpkg-buildpackage. The .deb files (and the .changes/.buildinfo) land in OUTDIR.
#
#   tools/build-deb.sh [--head] [OUTDIR]        default OUTDIR: build-deb/
#
# --head builds what is committed (git archive HEAD) instead of the work tree.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
from_head=false
if [ "${1:-}" = --head ]; then
        from_head=true
        shift
fi
out=$(realpath -m "${1:-$src/build-deb}")
work=$(mktemp -d /tmp/acs-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$out" "$work/acs"

# The files git knows of (tracked, and new ones not ignored), so build trees never come along.
if $from_head; then
        git -C "$src" archive HEAD | tar -xf - -C "$work/acs"
elif git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard |
                tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) |
                tar -xf - -C "$work/acs"
else
        tar -C "$src" --exclude='./build*' --exclude='./node_modules' -cf - . | tar -xf - -C "$work/acs"
fi
rm -rf "$work/acs/debian"
cp -a "$work/acs/packaging/debian" "$work/acs/debian"

(cd "$work/acs" && dpkg-buildpackage -us -uc -b -j2)

cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
ls -1 "$out"/*.deb
