# SPDX-License-Identifier: MIT
#
# Sourced by run.sh and tls.sh: the build and output folders, the CPUs each side is pinned to,
# the processes to end on exit, and the two bench-backend processes both compare proxies over.
#
#   . "$(dirname "$0")/common.sh" "$@"      then: start_backends PORT1 PORT2

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
OUT=${OUT:-/tmp/acs-proxy-bench}
DURATION=${DURATION:-5}
LOAD_CPU=0
PROXY_CPU=1

PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() {
        for _ in $(seq 100); do
                (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
                sleep 0.1
        done
        echo "port $1 did not open" >&2
        return 1
}

# Two backends on the load generator's CPU, named b1 and b2 in their answers.
start_backends() {
        taskset -c $LOAD_CPU "$BUILD/bench/proxy/bench-backend" "$1" b1 >/dev/null & PIDS+=($!)
        taskset -c $LOAD_CPU "$BUILD/bench/proxy/bench-backend" "$2" b2 >/dev/null & PIDS+=($!)
        wait_port "$1"
        wait_port "$2"
}
