#!/bin/sh
# Samples 100 containers' cgroups per round, as acs-vmm does every second: synthetic cgroupfs
# trees, then the machine's real cgroupfs. Exits non-zero when a round costs 5 ms of CPU or more.
set -eu
build_dir=${1:-build}
"$build_dir/bench/vmm-sampling/vmm-sampling" --containers 100 --rounds 2000
"$build_dir/bench/vmm-sampling/vmm-sampling" --containers 100 --rounds 2000 --real
