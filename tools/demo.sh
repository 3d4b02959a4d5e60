#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tools/demo.sh: a whole ACS cluster on one machine, on loopback (`make demo` runs it).
#
#   acs-vim + the front acs-proxy (:8080) + three simulated VMs: vm1 and vm2 active, vm3
#   standby, each an acs-vmm with capacity 4 on a D-Bus bus of its own, running acs-web
#   containers in the local Docker engine. --two-tier adds a VM-side acs-proxy per VM.
#   --vm-provider systemd makes vm3 a VM that acs-vim powers: off at start, its acs-vmm a
#   systemd unit that acs-vim starts under load and stops once vm3 is idle.
#
# It stays in the foreground with a line a second (users, containers and CPU per VM, p99), and
# on Ctrl-C stops everything it started and removes every container it created.
# Everything a person or a script needs to reach the parts is in $DIR/env (/run/acs-demo/env).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/.." && pwd)
config_dir=$here/demo-config

build_dir=$source_dir/build
demo_dir=/run/acs-demo
two_tier=0
placement=spread
policy=acs
scale_down_window=30s
standby_delay=10s
cpu_limit=0.1
base_port=
vm_prefix=
load_profile=
setup=1
quiet=0
front_bus_kind=system
system_bus_socket=/run/dbus/system_bus_socket
system_bus_policy=/etc/dbus-1/system.d/acs-demo.conf
vm_provider=agent
systemd_bus=
runtime_unit_dir=/run/systemd/system
installed_unit=

usage() {
        cat <<EOF
usage: tools/demo.sh [OPTIONS]      (make demo DEMO_ARGS="OPTIONS")

  --two-tier               A VM-side acs-proxy per VM, fed by its VMM (the original design)
  --placement P            spread (default) or binpack
  --policy P               acs (default), hpa-default or seed (acs-vim.conf(5) Policy=)
  --scale-down-window T    How long load must stay low before scale-in (default $scale_down_window)
  --standby-delay T        How long an emptied VM stays active (default $standby_delay)
  --cpu-limit CPUS         CPU share of each container (default $cpu_limit)
  --load PROFILE           Also run acs-load with this profile, e.g. 0:1,30:12,90:1,150:1
  --dir DIR                Where configs, keys, logs and env go (default $demo_dir)
  --build-dir DIR          Meson build directory (default build/)
  --base-port N            Ports N.. instead of 8080/8081/7070/8090+n/9100+ (for tests)
  --vm-prefix P            Name the VMs P-vm1... (for tests running beside other clusters)
  --front-bus KIND         system (default: the machine's system bus, started if none runs, as
                           on a real front host) or private (a bus of the demo's own, for tests)
  --vm-provider P          agent (default: vm3 is a standby VM, always up) or systemd: vm3
                           starts off; acs-vim starts its acs-vmm as a unit (StartUnit on
                           org.freedesktop.systemd1) under load and stops it when vm3 is idle.
                           Needs systemd as PID 1: the unit file goes to $runtime_unit_dir
  --systemd-bus ADDR       With --vm-provider systemd: ask the systemd at ADDR instead; the unit
                           file is then only written to DIR/units, for whoever serves ADDR to
                           load (tests/scenario runs a stand-in there)
  --no-setup               Do not install packages, build or start dockerd
  --quiet                  No live summary line
EOF
}

while (($#)); do
        case "$1" in
        --two-tier) two_tier=1 ;;
        --placement) placement=$2; shift ;;
        --policy) policy=$2; shift ;;
        --scale-down-window) scale_down_window=$2; shift ;;
        --standby-delay) standby_delay=$2; shift ;;
        --cpu-limit) cpu_limit=$2; shift ;;
        --load) load_profile=$2; shift ;;
        --dir) demo_dir=$2; shift ;;
        --build-dir) build_dir=$(realpath -m "$2"); shift ;;
        --base-port) base_port=$2; shift ;;
        --vm-prefix) vm_prefix=$2-; shift ;;
        --front-bus) front_bus_kind=$2; shift ;;
        --vm-provider) vm_provider=$2; shift ;;
        --systemd-bus) systemd_bus=$2; shift ;;
        --no-setup) setup=0 ;;
        --quiet) quiet=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "demo: unknown option $1" >&2; usage >&2; exit 2 ;;
        esac
        shift
done
case "$placement" in spread|binpack) ;; *) echo "demo: --placement is spread or binpack" >&2; exit 2 ;; esac
case "$policy" in acs|hpa-default|seed) ;; *) echo "demo: --policy is acs, hpa-default or seed" >&2; exit 2 ;; esac
case "$front_bus_kind" in system|private) ;; *) echo "demo: --front-bus is system or private" >&2; exit 2 ;; esac
case "$vm_provider" in agent|systemd) ;; *) echo "demo: --vm-provider is agent or systemd" >&2; exit 2 ;; esac
# sd_booted()'s test. Without systemd there is nothing to start vm3's VMM as a unit: refuse now,
# before anything is started, rather than leave vm3 failed.
if [ "$vm_provider" = systemd ] && [ -z "$systemd_bus" ] && [ ! -d /run/systemd/system ]; then
        echo "demo: --vm-provider systemd needs systemd as PID 1, and this machine runs $(cat /proc/1/comm 2>/dev/null || echo 'something else') as PID 1:" >&2
        echo "demo: acs-vim would power vm3 on with StartUnit on org.freedesktop.systemd1, which nothing here serves." >&2
        echo "demo: Run the demo without --vm-provider (vm3 is then a standby VM, always up), or on a machine booted with systemd." >&2
        exit 2
fi

if [ -n "$base_port" ]; then
        proxy_port=$base_port api_port=$((base_port + 1)) agent_port=$((base_port + 2))
        proxy_admin_port=$((base_port + 3)) vm_proxy_base=$((base_port + 10)) container_base=$((base_port + 100))
else
        proxy_port=8080 api_port=8081 agent_port=7070
        proxy_admin_port=8082 vm_proxy_base=8090 container_base=9100
fi
vms=("${vm_prefix}vm1" "${vm_prefix}vm2" "${vm_prefix}vm3")
vm_states=(active active standby)
# With a power provider vm3's VMM runs only while vm3 is on, and is active from its start.
[ "$vm_provider" = agent ] || vm_states[2]=active
vm3_unit=acs-demo-${vms[2]}.service

log() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# --- what we start, so that Ctrl-C stops exactly that -------------------------------------------
pids=()
names=()
started_dockerd=0
installed_bus_policy=0

remove_demo_containers() {
        local vm ids
        command -v docker >/dev/null || return 0
        for vm in "${vms[@]}"; do
                ids=$(docker ps -aq --filter label=org.acs.managed=1 --filter "label=org.acs.vmm=$vm" 2>/dev/null || true)
                [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
        done
}

cleanup() {
        local i pid
        trap - INT TERM EXIT
        echo
        log "stopping"
        # Reverse order: load and proxies first, the buses last.
        for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
                kill -TERM "${pids[i]}" 2>/dev/null || true
        done
        for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
                pid=${pids[i]}
                for _ in $(seq 1 40); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.25
                done
                if kill -0 "$pid" 2>/dev/null; then
                        log "${names[i]} (pid $pid) did not stop, killing it"
                        kill -KILL "$pid" 2>/dev/null || true
                fi
                wait "$pid" 2>/dev/null || true
        done
        if [ -n "$installed_unit" ]; then
                systemctl stop "$vm3_unit" >/dev/null 2>&1 || true
                rm -f "$installed_unit"
                systemctl daemon-reload || true
        fi
        remove_demo_containers
        ((started_dockerd)) && "$source_dir/tools/ensure-dockerd.sh" stop || true
        if ((installed_bus_policy)); then
                rm -f "$system_bus_policy"
                reload_system_bus
        fi
        rm -f "$demo_dir/env"
        log "stopped; logs are kept in $demo_dir/logs"
}

# start NAME COMMAND...: runs a daemon in the background, its output in logs/NAME.log.
start() {
        local name=$1
        shift
        "$@" >>"$demo_dir/logs/$name.log" 2>&1 </dev/null &
        pids+=($!)
        names+=("$name")
}

# wait_for WHAT SECONDS COMMAND...: polls until COMMAND succeeds; on time-out shows the logs.
wait_for() {
        local what=$1 timeout=$2 i
        shift 2
        for ((i = 0; i < timeout * 10; i++)); do
                "$@" >/dev/null 2>&1 && return 0
                check_alive
                sleep 0.1
        done
        for i in "${names[@]}"; do
                echo "----- $i: tail of $demo_dir/logs/$i.log" >&2
                tail -15 "$demo_dir/logs/$i.log" >&2 || true
        done
        die "timed out after ${timeout}s waiting for $what"
}

# Every part must keep running; acs-load ends with its profile.
check_alive() {
        local i
        for i in "${!pids[@]}"; do
                [ "${names[i]}" = acs-load ] && continue
                if ! kill -0 "${pids[i]}" 2>/dev/null; then
                        echo "----- ${names[i]} exited; tail of $demo_dir/logs/${names[i]}.log" >&2
                        tail -25 "$demo_dir/logs/${names[i]}.log" >&2 || true
                        die "${names[i]} exited"
                fi
        done
}

# render TEMPLATE OUT KEY=VALUE...: fills @KEY@ placeholders.
render() {
        local template=$1 out=$2 kv
        shift 2
        local text
        text=$(<"$template")
        for kv in "$@"; do
                text=${text//@${kv%%=*}@/${kv#*=}}
        done
        if [[ "$text" =~ @[A-Z_]+@ ]]; then
                die "$template: placeholder ${BASH_REMATCH[0]} left unfilled"
        fi
        printf '%s\n' "$text" >"$out"
}

bus_up() { busctl --address="$1" list --no-pager >/dev/null 2>&1; }
reload_system_bus() {
        busctl --address="unix:path=$system_bus_socket" call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus ReloadConfig >/dev/null 2>&1 || true
}
name_on_bus() { busctl --address="$1" status "$2" >/dev/null 2>&1; }
http_ok() { curl -sf --noproxy '*' --max-time 1 -o /dev/null "$1"; }

# --- setup ---------------------------------------------------------------------------------------
if ((setup)); then
        [ "$(id -u)" = 0 ] || die "run as root: the demo starts Docker containers and daemons that own bus names"
        "$source_dir/tools/install-deps.sh"
        [ -f "$build_dir/build.ninja" ] || meson setup "$build_dir" "$source_dir"
        ninja -C "$build_dir"
        if ! curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
                "$source_dir/tools/ensure-dockerd.sh" start
                started_dockerd=1
        fi
fi
for b in src/vim/acs-vim src/vmm/acs-vmm src/proxy/acs-proxy src/web/acs-web src/load/acs-load; do
        [ -x "$build_dir/$b" ] || die "$build_dir/$b is not built"
done

trap cleanup EXIT
trap 'exit 130' INT TERM

umask 077
mkdir -p "$demo_dir/logs" "$demo_dir/vim/agents.d" "$demo_dir/vim/vms.d" "$demo_dir/front"
rm -f "$demo_dir/vim/vms.d/"*.conf
rm -f "$demo_dir/logs/"*.log "$demo_dir/env"
# Containers a previous demo left behind (one killed with -9) would be adopted; start clean.
remove_demo_containers

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
if [ "$front_bus_kind" = system ]; then
        front_bus="unix:path=$system_bus_socket"
        front_bus_option= front_busctl_option=--system
else
        front_bus="unix:path=$demo_dir/front/bus.socket"
        front_bus_option=--bus-address=$front_bus front_busctl_option=--address=$front_bus
fi

# --- the simulated VMs: a bus, a key, a config each -----------------------------------------------
vm_buses=()
for i in "${!vms[@]}"; do
        vm=${vms[i]} n=$((i + 1))
        mkdir -p "$demo_dir/$vm"
        rm -f "$demo_dir/$vm/bus.socket"
        vm_buses+=("unix:path=$demo_dir/$vm/bus.socket")
        # A PSK: 32 random bytes as 64 hex characters, one line, mode 0600, on both ends.
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo_dir/$vm/vmm.key"
        echo >>"$demo_dir/$vm/vmm.key"
        install -m 0600 "$demo_dir/$vm/vmm.key" "$demo_dir/vim/agents.d/$vm.key"
        render "$config_dir/vmm.conf.in" "$demo_dir/$vm/vmm.conf" \
                VM="$vm" STATE="${vm_states[i]}" MIN_CONTAINERS=$((n == 1 ? 1 : 0)) \
                PORT_START=$((container_base + i * 20)) PORT_END=$((container_base + i * 20 + 19)) \
                CPU_LIMIT="$cpu_limit" BUILD_DIR="$build_dir" AGENT_PORT="$agent_port" DEMO_DIR="$demo_dir"
done

# vm3 powered through systemd: its VMM is a unit (a runtime one, gone with the next boot, and
# removed on Ctrl-C), and its file in vms.d tells acs-vim so.
if [ "$vm_provider" = systemd ]; then
        mkdir -p "$demo_dir/units"
        vm3_unit_file=$demo_dir/units/$vm3_unit
        {
                echo "[Unit]"
                echo "Description=ACS demo: the VMM of ${vms[2]}, powered on and off by acs-vim"
                echo "[Service]"
                echo "ExecStart=$build_dir/src/vmm/acs-vmm --config $demo_dir/${vms[2]}/vmm.conf --bus-address=${vm_buses[2]}"
        } >"$vm3_unit_file"
        chmod 0644 "$vm3_unit_file"
        {
                echo "[VM]"
                echo "Provider=systemd"
                echo "Capacity=4"
                echo "BootTime=2s"
                echo "PowerOnTimeout=60s"
                echo "[Systemd]"
                echo "Unit=$vm3_unit"
                [ -z "$systemd_bus" ] || echo "BusAddress=$systemd_bus"
        } >"$demo_dir/vim/vms.d/${vms[2]}.conf"
        if [ -z "$systemd_bus" ]; then
                installed_unit=$runtime_unit_dir/$vm3_unit
                install -m 0644 "$vm3_unit_file" "$installed_unit"
                systemctl daemon-reload
        fi
fi

render "$config_dir/vim.conf.in" "$demo_dir/vim/vim.conf" \
        AGENT_PORT="$agent_port" DEMO_DIR="$demo_dir" SCALE_DOWN_WINDOW="$scale_down_window" \
        PLACEMENT="$placement" POLICY="$policy" STANDBY_DELAY="$standby_delay" FRONT_BUS="$front_bus" API_PORT="$api_port" \
        TOKEN="$token" BUILD_DIR="$build_dir" PROXY_PORT="$proxy_port"

if ((two_tier)); then
        backends=
        for i in "${!vms[@]}"; do
                backends+="Backend=127.0.0.1:$((vm_proxy_base + i + 1))"$'\n'
                render "$config_dir/proxy-vm.conf.in" "$demo_dir/${vms[i]}/proxy.conf" \
                        VM_PROXY_PORT=$((vm_proxy_base + i + 1)) VM_BUS="${vm_buses[i]}"
        done
        render "$config_dir/proxy-front-two-tier.conf.in" "$demo_dir/front/proxy.conf" \
                PROXY_PORT="$proxy_port" PROXY_ADMIN_PORT="$proxy_admin_port" VM_PROXY_BACKENDS="${backends%$'\n'}"
else
        render "$config_dir/proxy-front.conf.in" "$demo_dir/front/proxy.conf" \
                PROXY_PORT="$proxy_port" PROXY_ADMIN_PORT="$proxy_admin_port" FRONT_BUS="$front_bus"
fi

# --- start: buses, the VIM, the VMMs, the proxies -------------------------------------------------
if [ "$front_bus_kind" = system ]; then
        # The front host's daemons own their names on the system bus, as installed ones do. The
        # packaged policy lets only user acs own them; the demo runs them as root, so it adds a
        # policy of its own for as long as it runs.
        install -m 0644 "$config_dir/system-bus-policy.conf" "$system_bus_policy"
        installed_bus_policy=1
        if bus_up "$front_bus"; then
                reload_system_bus
        else
                log "no system bus is running: starting one (stopped again on Ctrl-C)"
                mkdir -p "$(dirname "$system_bus_socket")"
                rm -f "$system_bus_socket"
                start system-bus dbus-daemon --system --nofork --nopidfile
        fi
else
        rm -f "$demo_dir/front/bus.socket"
        start front-bus dbus-daemon --config-file="$config_dir/bus.conf" --address="$front_bus" --nofork --nopidfile
fi
for i in "${!vms[@]}"; do
        start "${vms[i]}-bus" dbus-daemon --config-file="$config_dir/bus.conf" --address="${vm_buses[i]}" \
                --nofork --nopidfile
done
wait_for "the front bus" 10 bus_up "$front_bus"
for b in "${vm_buses[@]}"; do
        wait_for "$b" 10 bus_up "$b"
done

start acs-vim "$build_dir/src/vim/acs-vim" --config "$demo_dir/vim/vim.conf" --bus-address="$front_bus"
wait_for "acs-vim's API" 20 http_ok "http://127.0.0.1:$api_port/api/v1/state"

# The VMs that are always up; a powered vm3's VMM is started by acs-vim, through systemd.
up_vms=("${!vms[@]}")
[ "$vm_provider" = agent ] || up_vms=(0 1)
for i in "${up_vms[@]}"; do
        start "${vms[i]}-vmm" "$build_dir/src/vmm/acs-vmm" --config "$demo_dir/${vms[i]}/vmm.conf" \
                --bus-address="${vm_buses[i]}"
done
for i in "${up_vms[@]}"; do
        wait_for "${vms[i]}'s acs-vmm on its bus" 30 name_on_bus "${vm_buses[i]}" org.acs.VMM1
done

if ((two_tier)); then
        for i in "${!vms[@]}"; do
                start "${vms[i]}-proxy" "$build_dir/src/proxy/acs-proxy" --config "$demo_dir/${vms[i]}/proxy.conf" \
                        --bus-address="${vm_buses[i]}"
        done
fi
# The front proxy owns org.acs.Proxy1 on the front bus, where the VIM reads its counts.
start acs-proxy "$build_dir/src/proxy/acs-proxy" --config "$demo_dir/front/proxy.conf" --bus-address="$front_bus"


# --- where to look --------------------------------------------------------------------------------
{
        echo "ACS_DEMO_DIR=$demo_dir"
        echo "ACS_PROXY_URL=http://127.0.0.1:$proxy_port/"
        echo "ACS_DASHBOARD_URL=http://127.0.0.1:$api_port/"
        echo "ACS_API_URL=http://127.0.0.1:$api_port/api/v1"
        echo "ACS_API_TOKEN=$token"
        echo "ACS_PROXY_METRICS_URL=http://127.0.0.1:$proxy_admin_port/metrics"
        echo "ACS_FRONT_BUS=$front_bus"
        for i in "${!vms[@]}"; do
                key=$(echo "${vms[i]}" | tr 'a-z-' 'A-Z_')
                echo "ACS_${key}_BUS=${vm_buses[i]}"
                ((two_tier)) && echo "ACS_${key}_PROXY_URL=http://127.0.0.1:$((vm_proxy_base + i + 1))/"
        done
        echo "ACS_VMS=\"${vms[*]}\""
        echo "ACS_TWO_TIER=$two_tier"
        echo "ACS_PLACEMENT=$placement"
        echo "ACS_POLICY=$policy"
        echo "ACS_VM_PROVIDER=$vm_provider"
        [ "$vm_provider" = agent ] || echo "ACS_VM3_UNIT=$vm3_unit"
        echo "ACS_LOG_DIR=$demo_dir/logs"
        echo "ACS_LOAD=$build_dir/src/load/acs-load"
        echo "ACS_PIDS=\"${pids[*]}\""
} >"$demo_dir/env.tmp"
chmod 0644 "$demo_dir/env.tmp"

wait_for "the first container to answer through the proxy" 60 http_ok "http://127.0.0.1:$proxy_port/"
mv "$demo_dir/env.tmp" "$demo_dir/env"

cat <<EOF

ACS demo is up ($( ((two_tier)) && echo two-tier || echo direct) routing, $placement placement, policy $policy).
  proxy       http://127.0.0.1:$proxy_port/          curl http://127.0.0.1:$proxy_port/
  dashboard   http://127.0.0.1:$api_port/          API: curl http://127.0.0.1:$api_port/api/v1/state
  add load    $build_dir/src/load/acs-load --url http://127.0.0.1:$proxy_port/ --users 12 --duration 60 --count-backends
              or: curl -X POST -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' -d '{"users":12,"duration_s":60}' http://127.0.0.1:$api_port/api/v1/load
  watch       $build_dir/src/ctl/acsctl $front_bus_option top
              $build_dir/src/ctl/acsctl --vmm --bus-address=${vm_buses[0]} status
              busctl $front_busctl_option introspect org.acs.VIM1 /org/acs/VIM1
              busctl --address=${vm_buses[0]} get-property org.acs.VMM1 /org/acs/VMM1 org.acs.VMM1 Containers
              tail -f $demo_dir/logs/acs-vim.log       (all logs: $demo_dir/logs/)
  everything  $demo_dir/env   (source it: . $demo_dir/env)
Ctrl-C stops the cluster and removes its containers.

EOF

if [ -n "$load_profile" ]; then
        start acs-load "$build_dir/src/load/acs-load" --url "http://127.0.0.1:$proxy_port/" \
                --profile "$load_profile" --count-backends --json "$demo_dir/load.json"
fi

# --- the live line --------------------------------------------------------------------------------
while :; do
        check_alive
        if ((!quiet)); then
                python3 "$config_dir/status-line.py" "http://127.0.0.1:$api_port/api/v1/state" \
                        "$demo_dir/logs/acs-load.log" || true
        fi
        sleep 1
done
