#!/bin/bash
# SPDX-License-Identifier: MIT
#
# acs-proxy against HAProxy terminating TLS, on the same certificate (ECDSA P-256) and the same
# two bench-backend processes: wrk over TLS with 64 kept connections (requests per second), and
# with "Connection: close" so that every request is a new connection and a full handshake
# (handshakes per second). One worker each (acs-proxy Workers=1, HAProxy nbthread 1); wrk and the
# backends on CPU 0, the proxy on CPU 1. Reported as ratios to HAProxy, from one run.
#
#   bench/proxy/tls.sh [BUILD_DIR]        (default: build)
#
# Environment: DURATION (seconds per run, default 5); PROXY_CPU_QUOTA=N holds each proxy to N %
# of one CPU (see common.sh), so that the proxy and not wrk bounds the rate. Writes the table to stdout and to
# $OUT/tls-results.md (default OUT=/tmp/acs-proxy-bench).
set -euo pipefail

. "$(dirname "$0")/common.sh" "$@"
B1=17452 B2=17453 ACS=17463 HAP=17464

for tool in haproxy wrk openssl; do
        command -v $tool >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
mkdir -p "$OUT"
make_certificate
write_proxy_conf "$OUT/acs-proxy-tls.conf" $B1 $B2 $ACS tls
write_haproxy_conf "$OUT/haproxy-tls.cfg" $B1 $B2 $HAP http/1.1

start_backends $B1 $B2

declare -A PORT=([acs-proxy]=$ACS [haproxy]=$HAP) RESULT
for target in acs-proxy haproxy; do
        case $target in
        acs-proxy) start_target acs-proxy "$OUT/acs-proxy-tls.conf" $ACS ;;
        haproxy)   start_target haproxy "$OUT/haproxy-tls.cfg" $HAP ;;
        esac
        url="https://127.0.0.1:${PORT[$target]}/"
        for mode in kept new; do
                args=(-t1 -c64); [ $mode = new ] && args=(-t1 -c16 -H "Connection: close")
                taskset -c $LOAD_CPU wrk "${args[@]}" -d1s "$url" >/dev/null
                ticks=$(cpu_ticks "$pid")
                out=$(taskset -c $LOAD_CPU wrk "${args[@]}" -d${DURATION}s "$url")
                ticks=$(($(cpu_ticks "$pid") - ticks))
                echo "$out" >"$OUT/wrk-tls-$target-$mode.txt"
                RESULT[$target/$mode]=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
                errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
                [ -n "$errors" ] && echo "$target $mode: $errors" >&2
                # The proxy's own CPU per request: equal costs with unequal rates mean the client
                # bounds the rate, not the proxy.
                echo "$target $mode: ${RESULT[$target/$mode]}/s, proxy CPU $(awk -v t="$ticks" -v r="${RESULT[$target/$mode]}" \
                        -v d="$DURATION" 'BEGIN { printf "%.0f %% of a core, %.0f us per request", t / d, t * 10000 / (r * d) }')" >&2
        done
        kill "$pid"; wait "$pid" 2>/dev/null || true
done

ratio_table "TLS 1.3, one worker" "requests/s, 64 kept connections" \
        "handshakes/s (a new connection per request, 16 at once)" >"$OUT/tls-results.md"
cat "$OUT/tls-results.md"
