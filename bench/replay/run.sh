#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/replay: load traces (a step, a ramp, a diurnal curve compressed to 5 minutes, a flash
# crowd of 10x for 30 s, 20 s requests during scale-in) through the demo cluster under each
# scaling policy of acs-vim (Policy=acs, hpa-default, seed). Records per second the users, p99,
# failed requests, containers per VM and VMs up; prints one table (container-seconds, VM-seconds,
# share of seconds with p99 under --slo-ms, failed requests) and writes one plot per trace.
# Needs root, dockerd and a build (make build). About 41 minutes for everything on a quiet machine.
#   bench/replay/run.sh [--build-dir DIR] [--traces step,ramp,diurnal,flash,long]
#                       [--policies acs,hpa-default,seed] [--slo-ms 2000] [--out DIR]
#                       [--lock FILE] [--quick] [--report-only]
# --lock FILE holds FILE locked (flock) during each run, for a machine that others share.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
build_dir=$source_dir/build
args=()
while (($#)); do
        case "$1" in
        --build-dir) build_dir=$2; shift ;;
        *) args+=("$1") ;;
        esac
        shift
done
export ACS_SOURCE_DIR=$source_dir
export ACS_BUILD_DIR=$(realpath "$build_dir")
export PYTHONPATH=$source_dir/tests/lib:$source_dir/tests/scenario
"$source_dir/tools/ensure-dockerd.sh" start >/dev/null
exec python3 "$here/replay.py" "${args[@]}"
