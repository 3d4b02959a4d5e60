#!/bin/bash
# SPDX-License-Identifier: MIT
#
# acs-proxy against HAProxy and nginx, side by side, and direct to a backend: two bench-backend
# processes on loopback, wrk with 1 and 64 connections, small responses and responses that cost
# 5 ms of backend CPU. Pinned: wrk and the backends on CPU 0, the proxy on CPU 1. Every proxy
# runs one worker with keep-alive to the backends and round robin.
#
#   bench/proxy/run.sh [BUILD_DIR]        (default: build)
#
# Environment: DURATION (seconds per run, default 5), CALLGRIND=0 to skip the instruction
# counts, RSS=0 to skip the 10,000 idle connections. Writes the table to stdout and to
# $OUT/results.md (default OUT=/tmp/acs-proxy-bench).
set -euo pipefail

. "$(dirname "$0")/common.sh" "$@"
CALLGRIND=${CALLGRIND:-1}
RSS=${RSS:-1}
B1=17450 B2=17451 ACS=17460 HAP=17461 NGX=17462

# The peers are Debian's; the benchmark installs them when missing (make check does not need them).
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
[ "$CALLGRIND" = 1 ] && ! command -v valgrind >/dev/null && missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || { echo "missing: ${missing[*]} (run as root to install them)" >&2; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

mkdir -p "$OUT/nginx/logs"
write_proxy_conf "$OUT/acs-proxy.conf" $B1 $B2 $ACS

write_haproxy_conf "$OUT/haproxy.cfg" $B1 $B2 $HAP

cat >"$OUT/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
error_log stderr warn;
pid $OUT/nginx/nginx.pid;
events { worker_connections 9000; }
http {
        access_log off;
        client_body_temp_path $OUT/nginx/body;
        proxy_temp_path $OUT/nginx/proxy;
        upstream backends {
                server 127.0.0.1:$B1;
                server 127.0.0.1:$B2;
                keepalive 64;
        }
        server {
                listen 127.0.0.1:$NGX;
                keepalive_requests 1000000;
                location / {
                        proxy_pass http://backends;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                }
        }
}
CONF

start_backends $B1 $B2

declare -A PORT=([direct]=$B1 [acs-proxy]=$ACS [haproxy]=$HAP [nginx]=$NGX)

start_proxy() {
        case "$1" in
        acs-proxy) taskset -c $PROXY_CPU "$BUILD/src/proxy/acs-proxy" --config "$OUT/acs-proxy.conf" --log-level warning & ;;
        haproxy)   taskset -c $PROXY_CPU haproxy -f "$OUT/haproxy.cfg" -db >/dev/null 2>&1 & ;;
        nginx)     taskset -c $PROXY_CPU nginx -c "$OUT/nginx.conf" -p "$OUT/nginx" 2>/dev/null & ;;
        direct)    return 0 ;;
        esac
        PROXY_PID=$!
        PIDS+=($PROXY_PID)
        wait_port "${PORT[$1]}"
}

stop_proxy() {
        [ "$1" = direct ] && return 0
        kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
}

# wrk latency figures in ms, whatever unit wrk chose.
to_ms() {
        awk -v v="$1" 'BEGIN {
                if (v ~ /us$/) printf "%.3f", substr(v, 1, length(v) - 2) / 1000;
                else if (v ~ /ms$/) printf "%.3f", substr(v, 1, length(v) - 2);
                else if (v ~ /s$/) printf "%.3f", substr(v, 1, length(v) - 1) * 1000;
                else print v }'
}

declare -A RPS P50 P99
for target in direct acs-proxy haproxy nginx; do
        start_proxy $target
        for conns in 1 64; do
                for work in small cost5; do
                        path=/; [ $work = cost5 ] && path="/?cost_ms=5"
                        taskset -c $LOAD_CPU wrk -t1 -c$conns -d1s "http://127.0.0.1:${PORT[$target]}$path" >/dev/null
                        out=$(taskset -c $LOAD_CPU wrk -t1 -c$conns -d${DURATION}s --latency "http://127.0.0.1:${PORT[$target]}$path")
                        echo "$out" >"$OUT/wrk-$target-$conns-$work.txt"
                        key="$target/$conns/$work"
                        RPS[$key]=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
                        P50[$key]=$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
                        P99[$key]=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
                        errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
                        [ -n "$errors" ] && echo "$target c$conns $work: $errors" >&2
                        echo "$key: ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms" >&2
                done
        done
        stop_proxy $target
done

{
echo "| target | conns | work | requests/s | p50 ms | p99 ms | req/s vs HAProxy |"
echo "|---|---:|---|---:|---:|---:|---:|"
for work in small cost5; do
        for conns in 1 64; do
                for target in direct acs-proxy haproxy nginx; do
                        key="$target/$conns/$work"
                        ratio=$(awk -v a="${RPS[$key]}" -v b="${RPS[haproxy/$conns/$work]}" 'BEGIN { printf "%.2f", a / b }')
                        label=$work; [ $work = cost5 ] && label="5 ms CPU"
                        echo "| $target | $conns | $label | ${RPS[$key]} | ${P50[$key]} | ${P99[$key]} | $ratio |"
                done
        done
done
echo
for conns in 1 64; do
        echo "5 ms CPU, $conns connection(s): acs-proxy reaches $(awk -v a="${RPS[acs-proxy/$conns/cost5]}" -v b="${RPS[direct/$conns/cost5]}" 'BEGIN { printf "%.1f", 100 * a / b }')% of direct throughput."
done
} >"$OUT/results.md"

# User-space instructions per proxied request (callgrind counts are deterministic where
# wall-clock figures are not): two runs of N1 and N2 keep-alive requests, the difference
# divided by N2 - N1, so start-up and shutdown cancel out.
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null; then
        N1=500 N2=2500
        count_ir() {    # target, requests -> Ir
                local target=$1 n=$2 cg="$OUT/callgrind-$1-$2.out" pid
                case $target in
                acs-proxy) valgrind --tool=callgrind --callgrind-out-file="$cg" "$BUILD/src/proxy/acs-proxy" --config "$OUT/acs-proxy.conf" --log-level warning >/dev/null 2>&1 & ;;
                haproxy) valgrind --tool=callgrind --callgrind-out-file="$cg" haproxy -f "$OUT/haproxy.cfg" -db >/dev/null 2>&1 & ;;
                nginx) valgrind --tool=callgrind --callgrind-out-file="$cg" nginx -c "$OUT/nginx.conf" -p "$OUT/nginx" >/dev/null 2>&1 & ;;
                esac
                pid=$!
                wait_port "${PORT[$target]}"
                python3 - "${PORT[$target]}" "$n" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for _ in range(int(sys.argv[2])):
    c.request("GET", "/")
    r = c.getresponse()
    r.read()
PY
                kill -INT $pid; sleep 0.5; kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
                awk '/^summary:/ {print $2}' "$cg"
        }
        {
        echo
        echo "| proxy | instructions per request (callgrind) |"
        echo "|---|---:|"
        for target in acs-proxy haproxy nginx; do
                i1=$(count_ir $target $N1); i2=$(count_ir $target $N2)
                echo "| $target | $(( (i2 - i1) / (N2 - N1) )) |"
        done
        } >>"$OUT/results.md"
fi

# Memory: 10,000 idle keep-alive client connections (each served one request first).
if [ "$RSS" = 1 ]; then
        "$BUILD/src/proxy/acs-proxy" --config "$OUT/acs-proxy.conf" --log-level warning & PROXY_PID=$!
        PIDS+=($PROXY_PID)
        wait_port $ACS
        rss_before=$(awk '/VmRSS/ {print $2}' /proc/$PROXY_PID/status)
        python3 - $ACS $PROXY_PID "$OUT/rss.txt" <<'PY'
import resource, socket, sys, time
port, pid, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for i in range(10000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
time.sleep(1.5)   # the proxy hands idle buffers back on its next tick
rss = int([l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0])
open(out, "w").write(str(rss))
PY
        rss=$(cat "$OUT/rss.txt")
        echo >>"$OUT/results.md"
        echo "10,000 idle keep-alive client connections: acs-proxy RSS $((rss / 1024)) MiB (${rss_before} KiB before)." >>"$OUT/results.md"
        kill $PROXY_PID; wait $PROXY_PID 2>/dev/null || true
fi

cat "$OUT/results.md"
