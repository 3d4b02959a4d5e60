#!/bin/sh
# SPDX-License-Identifier: MIT
# The VIM agent benchmark: N simulated VMMs (default 1000) with 10 containers each report once a
# second over the real link; prints the VIM's CPU use and the latency from a metrics frame that
# changes the backend set to the BackendsChanged signal.
#   bench/vim-agents/run.sh [BUILD_DIR] [AGENTS] [SECONDS]
set -eu
build=${1:-build}
agents=${2:-1000}
seconds=${3:-30}   # measured, after all agents connected
work=$(mktemp -d /tmp/acs-bench-vim-agents.XXXXXX)
agent_port=18190
api_port=18191

cleanup() {
        [ -n "${vim_pid:-}" ] && kill "$vim_pid" 2>/dev/null || true
        [ -n "${bus_pid:-}" ] && kill "$bus_pid" 2>/dev/null || true
        wait 2>/dev/null || true
        [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -m 0700 "$work/keys"
cat >"$work/vim.conf" <<CONF
[Agents]
Listen=127.0.0.1:$agent_port
KeyDirectory=$work/keys
AllowHostAddresses=yes
[Scaling]
# 10 containers per agent at 30% against a 30% target: the policy holds, the load is the model.
TargetCpu=0.3
MinReplicas=0
MaxReplicas=10000
[Api]
Listen=127.0.0.1:$api_port
CONF

dbus-daemon --session --nofork --print-address=1 >"$work/bus" 2>/dev/null &
bus_pid=$!
while [ ! -s "$work/bus" ]; do sleep 0.1; done
bus=$(head -n1 "$work/bus")

"$build/src/vim/acs-vim" --config "$work/vim.conf" --bus-address="$bus" --log-level=warning 2>"$work/vim.log" &
vim_pid=$!
sleep 0.5

"$build/bench/vim-agents/vim-agents-load" --port "$agent_port" --agents "$agents" --containers 10 \
        --key-dir "$work/keys" --generate-keys --cpu 0.3 --duration "$seconds" \
        --bus-address "$bus" --flips 5 --vim-pid "$vim_pid" 2>"$work/load.log"
echo "acs-vim log lines: $(wc -l <"$work/vim.log") (warnings and errors)"
