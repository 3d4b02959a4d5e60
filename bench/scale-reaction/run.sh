#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/scale-reaction: how fast ACS reacts to a step of load. Five runs of the demo cluster
# (tools/demo.sh: acs-vim, three acs-vmm, acs-proxy, acs-web containers) under acs-load's
# profile 1 user -> 12 users; for each, the time from the step to the first new container
# ready and serving, and until the per-second p99 is back under its bound. Prints a Markdown
# table with the medians. Needs root, dockerd and a build (make build).
#   bench/scale-reaction/run.sh [BUILD_DIR] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
export ACS_SOURCE_DIR=$source_dir
export ACS_BUILD_DIR=$(realpath "${1:-$source_dir/build}")
export PYTHONPATH=$source_dir/tests/lib:$source_dir/tests/scenario
"$source_dir/tools/ensure-dockerd.sh" start >/dev/null
exec python3 "$here/scale_reaction.py" "${2:-5}"
