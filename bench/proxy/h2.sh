#!/bin/bash
# SPDX-License-Identifier: MIT
#
# acs-proxy against HAProxy speaking HTTP/2 over TLS (ALPN h2), on the same certificate (ECDSA
# P-256) and the same two bench-backend processes (HTTP/1.1 behind both): h2load with 16 kept
# connections of 32 concurrent streams each (requests per second), and with one request per
# connection, 500 connections (new connections, each a full handshake, per second). One worker
# each (acs-proxy Workers=1, HAProxy nbthread 1); h2load and the backends on CPU 0, the proxy on
# CPU 1. Reported as ratios to HAProxy, from one run.
#
#   bench/proxy/h2.sh [BUILD_DIR]        (default: build)
#
# Environment: DURATION (seconds of the kept-connection run, default 5). Writes the table to
# stdout and to $OUT/h2-results.md (default OUT=/tmp/acs-proxy-bench).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
OUT=${OUT:-/tmp/acs-proxy-bench}
DURATION=${DURATION:-5}
LOAD_CPU=0
PROXY_CPU=1
B1=17472 B2=17473 ACS=17483 HAP=17484

for tool in haproxy h2load openssl; do
        command -v $tool >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
mkdir -p "$OUT"
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

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/bench.key" \
        -out "$OUT/bench.crt" -days 2 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null
cat "$OUT/bench.crt" "$OUT/bench.key" >"$OUT/bench.pem"      # HAProxy takes both in one file

cat >"$OUT/acs-proxy-h2.conf" <<CONF
[Proxy]
Listen=127.0.0.1:$ACS
Source=static
Backend=127.0.0.1:$B1
Backend=127.0.0.1:$B2
Workers=1
Balance=roundrobin
[Tls]
Certificate=$OUT/bench.crt
Key=$OUT/bench.key
CONF

cat >"$OUT/haproxy-h2.cfg" <<CONF
global
        nbthread 1
        maxconn 9000
        ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
        mode http
        timeout connect 2s
        timeout client 30s
        timeout server 30s
        option http-keep-alive
        http-reuse always
frontend bench
        bind 127.0.0.1:$HAP ssl crt $OUT/bench.pem alpn h2,http/1.1
        default_backend backends
backend backends
        balance roundrobin
        server b1 127.0.0.1:$B1
        server b2 127.0.0.1:$B2
CONF

taskset -c $LOAD_CPU "$BUILD/bench/proxy/bench-backend" $B1 b1 >/dev/null & PIDS+=($!)
taskset -c $LOAD_CPU "$BUILD/bench/proxy/bench-backend" $B2 b2 >/dev/null & PIDS+=($!)
wait_port $B1; wait_port $B2

declare -A PORT=([acs-proxy]=$ACS [haproxy]=$HAP) RESULT
for target in acs-proxy haproxy; do
        case $target in
        acs-proxy) taskset -c $PROXY_CPU "$BUILD/src/proxy/acs-proxy" --config "$OUT/acs-proxy-h2.conf" --log-level warning & ;;
        haproxy)   taskset -c $PROXY_CPU haproxy -f "$OUT/haproxy-h2.cfg" -db >/dev/null 2>&1 & ;;
        esac
        pid=$!
        PIDS+=($pid)
        wait_port "${PORT[$target]}"
        url="https://127.0.0.1:${PORT[$target]}/"
        for mode in kept new; do
                if [ $mode = kept ]; then
                        args=(-t1 -c16 -m32 -D "$DURATION")
                        taskset -c $LOAD_CPU h2load -t1 -c16 -m32 -D 1 "$url" >/dev/null
                else
                        args=(-t1 -c500 -n500 -m1)
                fi
                out=$(taskset -c $LOAD_CPU h2load "${args[@]}" "$url")
                echo "$out" >"$OUT/h2load-$target-$mode.txt"
                RESULT[$target/$mode]=$(echo "$out" | awk '/^finished in/ {gsub(",", "", $4); printf "%.0f", $4}')
                echo "$out" | grep -q "h2" || echo "$target $mode: no HTTP/2" >&2
                failed=$(echo "$out" | awk '/^requests:/ {print $10}')
                [ "$failed" != 0 ] && echo "$target $mode: $failed failed" >&2
                echo "$target $mode: ${RESULT[$target/$mode]}/s" >&2
        done
        kill "$pid"; wait "$pid" 2>/dev/null || true
done

{
echo "| HTTP/2 over TLS 1.3, one worker | acs-proxy | HAProxy | acs-proxy / HAProxy |"
echo "|---|---:|---:|---:|"
for mode in kept new; do
        label="requests/s, 16 kept connections x 32 streams"
        [ $mode = new ] && label="new connections/s (one request each, 500)"
        a=${RESULT[acs-proxy/$mode]} b=${RESULT[haproxy/$mode]}
        echo "| $label | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') |"
done
} >"$OUT/h2-results.md"
cat "$OUT/h2-results.md"
