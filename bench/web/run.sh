#!/usr/bin/env bash
# bench/web/run.sh [BUILD_DIR]
#
# Requests per second of acs-web with cost_ms=0 on one core, against nginx on the same core
# serving a small static response of about the same size, in the same run, measured by wrk
# pinned to another core. Prints a Markdown table with the ratio (goal: acs-web >= 0.8x nginx),
# and, when valgrind is installed, the instructions each server executes per request.
#
# Environment: DURATION (s per round, default 4), ROUNDS (5), CONNECTIONS (50), SERVER_CPU (0),
# CLIENT_CPU (1).
set -euo pipefail

build=${1:-build}
duration=${DURATION:-4}
rounds=${ROUNDS:-5}
connections=${CONNECTIONS:-50}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
web=$build/src/web/acs-web

for tool in wrk nginx taskset; do
        if ! command -v "$tool" >/dev/null && ! [ -x "/usr/sbin/$tool" ]; then
                echo "bench/web: $tool is missing (apt-get install wrk nginx-light util-linux)" >&2
                exit 1
        fi
done
[ -x "$web" ] || { echo "bench/web: $web is not built" >&2; exit 1; }

free_port() {
        local p
        for p in $(seq "$1" "$2"); do
                if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                        echo "$p"
                        return
                fi
        done
        return 1
}

tmp=$(mktemp -d /tmp/acs-bench-web.XXXXXX)
pids=()
cleanup() {
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null || true
        done
        wait 2>/dev/null || true
        rm -rf "$tmp"
}
trap cleanup EXIT

wait_http() {
        for _ in $(seq 1 50); do
                curl -sf -o /dev/null "$1" && return 0
                sleep 0.1
        done
        echo "bench/web: $1 does not answer" >&2
        return 1
}

web_port=$(free_port 17180 17189)
ACS_PORT=$web_port ACS_WEB_LISTEN=127.0.0.1 ACS_WEB_COST_MS=0 ACS_WEB_WORKERS=1 ACS_VM=vm1 \
        taskset -c "$server_cpu" "$web" 2>"$tmp/acs-web.log" &
pids+=($!)

nginx_port=$(free_port 17190 17199)
# The same body acs-web sends, as a fixed string: nginx answers it without touching a file.
body=$(printf '{"vm":"vm1","container":"%s","service":"web","request":1,"cpu_ms":0.000}' "$(hostname)")
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
        access_log off;
        client_body_temp_path $tmp;
        proxy_temp_path $tmp;
        fastcgi_temp_path $tmp;
        uwsgi_temp_path $tmp;
        scgi_temp_path $tmp;
        keepalive_requests 1000000;
        server {
                listen 127.0.0.1:$nginx_port;
                location / {
                        default_type application/json;
                        return 200 '$body\n';
                }
        }
}
CONF
taskset -c "$server_cpu" nginx -c "$tmp/nginx.conf" -p "$tmp" 2>"$tmp/nginx.log" &
pids+=($!)

wait_http "http://127.0.0.1:$web_port/healthz"
wait_http "http://127.0.0.1:$nginx_port/"

# wrk's --latency report: "Requests/sec:  12345.67" and "50%  1.23ms" / "99%  4.56ms".
run_wrk() {
        taskset -c "$client_cpu" wrk -t1 -c"$connections" -d"${duration}s" --latency "$1" >"$tmp/wrk.out"
        awk '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
             / Non-2xx/ { bad = $NF } END { print rps, p50, p99, bad + 0 }' "$tmp/wrk.out"
}

# The machine may be shared: measure in alternating rounds, so that both servers see the same
# background, and report the median of each column over the rounds.
median() {
        sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# wrk prints latencies with units (us, ms, s); convert to ms for the medians.
to_ms() {
        awk '{ v = $1; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000;
               printf "%.3f\n", v }'
}

: >"$tmp/web.rounds"
: >"$tmp/nginx.rounds"
run_wrk "http://127.0.0.1:$web_port/?cost_ms=0" >/dev/null    # warm-up
run_wrk "http://127.0.0.1:$nginx_port/" >/dev/null
for _ in $(seq 1 "$rounds"); do
        run_wrk "http://127.0.0.1:$web_port/?cost_ms=0" >>"$tmp/web.rounds"
        run_wrk "http://127.0.0.1:$nginx_port/" >>"$tmp/nginx.rounds"
done

for name in web nginx; do
        if awk '$4 != 0 { bad = 1 } END { exit !bad }' "$tmp/$name.rounds"; then
                echo "bench/web: $name gave non-2xx answers" >&2
                exit 1
        fi
done
web_rps=$(awk '{ print $1 }' "$tmp/web.rounds" | median)
web_p50=$(awk '{ print $2 }' "$tmp/web.rounds" | to_ms | median)
web_p99=$(awk '{ print $3 }' "$tmp/web.rounds" | to_ms | median)
ngx_rps=$(awk '{ print $1 }' "$tmp/nginx.rounds" | median)
ngx_p50=$(awk '{ print $2 }' "$tmp/nginx.rounds" | to_ms | median)
ngx_p99=$(awk '{ print $3 }' "$tmp/nginx.rounds" | to_ms | median)

# Instructions per request, from callgrind: two runs of N1 and N2 sequential keep-alive
# requests on one connection, the difference divided by N2 - N1, so start-up and exit cancel out.
# Unlike requests/s, this does not depend on what else the machine is doing.
keepalive_client() {
        python3 - "$@" <<'PY'
import socket, sys
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
for _ in range(n):
    s.sendall(request)
    assert f.readline().startswith(b"HTTP/1.1 200"), "not a 200"
    length = 0
    while (line := f.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    f.read(length)
PY
}

# callgrind_run NAME PORT PATH N STOPSIGNAL CMD...: prints the instructions of the whole run.
callgrind_run() {
        local name=$1 port=$2 path=$3 n=$4 sig=$5 pid
        shift 5
        valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.$n.out" "$@" 2>"$tmp/$name.$n.vg" &
        pid=$!
        wait_http "http://127.0.0.1:$port$path" >/dev/null
        keepalive_client "$port" "$n" "$path"
        kill -"$sig" "$pid"
        wait "$pid" || true
        awk '/^(summary|totals):/ { print $2; exit }' "$tmp/$name.$n.out"
}

instructions_per_request() {
        local name=$1 port=$2 path=$3 sig=$4 a b
        shift 4
        a=$(callgrind_run "$name" "$port" "$path" 500 "$sig" "$@")
        b=$(callgrind_run "$name" "$port" "$path" 2500 "$sig" "$@")
        # wait_http's own request counts in both runs alike.
        echo $(( (b - a) / 2000 ))
}

web_ipr=n/a
ngx_ipr=n/a
if command -v valgrind >/dev/null; then
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null || true
        done
        wait 2>/dev/null || true
        pids=()
        web_ipr=$(ACS_PORT=$web_port ACS_WEB_LISTEN=127.0.0.1 ACS_WEB_COST_MS=0 ACS_WEB_WORKERS=1 \
                  instructions_per_request acs-web "$web_port" "/?cost_ms=0" TERM "$web")
        ngx_ipr=$(instructions_per_request nginx "$nginx_port" "/" QUIT nginx -c "$tmp/nginx.conf" -p "$tmp")
fi

ratio=$(awk -v a="$web_rps" -v b="$ngx_rps" 'BEGIN { printf "%.2f", a / b }')
echo "wrk -t1 -c$connections, $rounds alternating rounds of ${duration}s (medians), server on CPU $server_cpu," \
     "wrk on CPU $client_cpu, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)"
echo
echo "| server | requests/s | p50 ms | p99 ms | vs nginx | instructions per request |"
echo "|---|---:|---:|---:|---:|---:|"
printf '| acs-web %s (cost_ms=0, 1 worker) | %.0f | %s | %s | %sx | %s |\n' \
        "$("$web" --version | awk '{print $2}')" "$web_rps" "$web_p50" "$web_p99" "$ratio" "$web_ipr"
printf '| nginx %s (return 200, 1 worker) | %.0f | %s | %s | 1.00x | %s |\n' \
        "$(nginx -v 2>&1 | sed 's|.*/||')" "$ngx_rps" "$ngx_p50" "$ngx_p99" "$ngx_ipr"
echo
echo "requests/s per round: acs-web $(awk '{ printf "%.0f ", $1 }' "$tmp/web.rounds")/ nginx $(awk '{ printf "%.0f ", $1 }' "$tmp/nginx.rounds")"
