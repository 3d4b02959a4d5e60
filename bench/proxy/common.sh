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
CPU_CGROUP=
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        if [ -n "$CPU_CGROUP" ]; then rmdir "$CPU_CGROUP" 2>/dev/null || true; fi
}

# CPU time (user + system) a process has used so far, in clock ticks (USER_HZ, 100 a second).
cpu_ticks() {           # PID
        awk '{ print $14 + $15 }' "/proc/$1/stat"
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

# The acs-proxy configuration every comparison uses: one worker, round robin over the two
# backends, listening on $3; with "tls", the certificate of make_certificate.
write_proxy_conf() {    # FILE B1 B2 LISTEN_PORT [tls]
        {
                printf '[Proxy]\nListen=127.0.0.1:%s\nSource=static\n' "$4"
                printf 'Backend=127.0.0.1:%s\nBackend=127.0.0.1:%s\n' "$2" "$3"
                printf 'Workers=1\nBalance=roundrobin\n'
                if [ "${5:-}" = tls ]; then
                        printf '[Tls]\nCertificate=%s\nKey=%s\n' "$OUT/bench.crt" "$OUT/bench.key"
                fi
        } >"$1"
}

# A throw-away ECDSA P-256 certificate for bench.test: bench.crt and bench.key for acs-proxy,
# bench.pem (both in one file) for HAProxy.
make_certificate() {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/bench.key" \
                -out "$OUT/bench.crt" -days 2 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null
        cat "$OUT/bench.crt" "$OUT/bench.key" >"$OUT/bench.pem"
}

# HAProxy in front of the two backends, one thread: plain HTTP, or terminating TLS with the
# certificate of make_certificate when ALPN (e.g. "http/1.1", "h2,http/1.1") is given.
write_haproxy_conf() {  # FILE B1 B2 LISTEN_PORT [ALPN]
        local tls_global="" tls_bind=""
        if [ -n "${5:-}" ]; then
                tls_global="ssl-default-bind-options ssl-min-ver TLSv1.2"
                tls_bind="ssl crt $OUT/bench.pem alpn $5"
        fi
        cat >"$1" <<CONF
global
        nbthread 1
        maxconn 9000
        $tls_global
defaults
        mode http
        timeout connect 2s
        timeout client 30s
        timeout server 30s
        option http-keep-alive
        http-reuse always
frontend bench
        bind 127.0.0.1:$4 $tls_bind
        default_backend backends
backend backends
        balance roundrobin
        server b1 127.0.0.1:$2
        server b2 127.0.0.1:$3
CONF
}

# Starts acs-proxy or haproxy on the proxy's CPU with the given configuration; its pid in
# $pid (and in PIDS), once its port answers.
start_target() {        # acs-proxy|haproxy CONFIG PORT
        case $1 in
        acs-proxy) taskset -c $PROXY_CPU "$BUILD/src/proxy/acs-proxy" --config "$2" --log-level warning & ;;
        haproxy)   taskset -c $PROXY_CPU haproxy -f "$2" -db >/dev/null 2>&1 & ;;
        esac
        pid=$!
        PIDS+=($pid)
        [ -n "${PROXY_CPU_QUOTA:-}" ] && cap_cpu "$pid"
        wait_port "$3"
}

# PROXY_CPU_QUOTA=N holds the proxy to N % of one CPU (a cpu cgroup, v2 or v1), so that the
# proxy and not the load generator bounds the rate: on two cores, wrk's handshakes and the
# backends share one CPU and cannot keep an unbounded proxy busy.
cap_cpu() {             # PID
        local cg
        if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
                cg=/sys/fs/cgroup/acs-bench-proxy
                mkdir -p $cg
                echo "$((PROXY_CPU_QUOTA * 1000)) 100000" >$cg/cpu.max
        else
                cg=/sys/fs/cgroup/cpu/acs-bench-proxy
                mkdir -p $cg
                echo 100000 >$cg/cpu.cfs_period_us
                echo $((PROXY_CPU_QUOTA * 1000)) >$cg/cpu.cfs_quota_us
        fi
        echo "$1" >$cg/cgroup.procs
        CPU_CGROUP=$cg
}

# The table of a two-mode comparison from RESULT[acs-proxy/MODE] and RESULT[haproxy/MODE]
# (an associative array of the caller), modes "kept" and "new", with the ratio of the two.
ratio_table() {         # TITLE KEPT_LABEL NEW_LABEL
        local mode label a b
        echo "| $1 | acs-proxy | HAProxy | acs-proxy / HAProxy |"
        echo "|---|---:|---:|---:|"
        for mode in kept new; do
                label=$2
                if [ $mode = new ]; then label=$3; fi
                a=${RESULT[acs-proxy/$mode]} b=${RESULT[haproxy/$mode]}
                echo "| $label | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') |"
        done
}
