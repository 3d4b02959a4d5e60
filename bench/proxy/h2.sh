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

. "$(dirname "$0")/common.sh" "$@"
B1=17472 B2=17473 ACS=17483 HAP=17484

for tool in haproxy h2load openssl; do
        command -v $tool >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
mkdir -p "$OUT"
make_certificate
write_proxy_conf "$OUT/acs-proxy-h2.conf" $B1 $B2 $ACS tls
write_haproxy_conf "$OUT/haproxy-h2.cfg" $B1 $B2 $HAP h2,http/1.1

start_backends $B1 $B2

declare -A PORT=([acs-proxy]=$ACS [haproxy]=$HAP) RESULT
for target in acs-proxy haproxy; do
        case $target in
        acs-proxy) start_target acs-proxy "$OUT/acs-proxy-h2.conf" $ACS ;;
        haproxy)   start_target haproxy "$OUT/haproxy-h2.cfg" $HAP ;;
        esac
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

ratio_table "HTTP/2 over TLS 1.3, one worker" "requests/s, 16 kept connections x 32 streams" \
        "new connections/s (one request each, 500)" >"$OUT/h2-results.md"
cat "$OUT/h2-results.md"
