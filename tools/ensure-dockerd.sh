#!/usr/bin/env bash
# ensure-dockerd.sh start|stop
# start: makes sure a Docker engine answers on /var/run/docker.sock; when none does, starts
#        Debian's dockerd without bridge or iptables (test containers use host networking on
#        loopback ports) and records that we started it.
# stop:  stops the engine only if `start` started it.
set -euo pipefail
state=/run/acs-test-dockerd
sock=/var/run/docker.sock

engine_answers() {
        curl -sf --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
}

case "${1:-start}" in
start)
        if engine_answers; then
                echo "ensure-dockerd: a Docker engine is already running"
                exit 0
        fi
        mkdir -p "$state"
        dockerd --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
                --host "unix://$sock" --pidfile "$state/dockerd.pid" \
                >"$state/dockerd.log" 2>&1 &
        echo $! >"$state/started-by-us"
        for _ in $(seq 1 60); do
                if engine_answers; then
                        echo "ensure-dockerd: started dockerd (pid $(cat "$state/started-by-us"), log $state/dockerd.log)"
                        exit 0
                fi
                sleep 0.5
        done
        echo "ensure-dockerd: dockerd did not come up; last lines of its log:" >&2
        tail -20 "$state/dockerd.log" >&2 || true
        exit 1
        ;;
stop)
        [ -f "$state/started-by-us" ] || exit 0
        pid=$(cat "$state/started-by-us")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.25
        done
        rm -f "$state/started-by-us"
        ;;
*)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
