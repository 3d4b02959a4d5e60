#!/usr/bin/env bash
# Installs the Debian packages listed in tools/apt-packages.txt that are not installed yet.
# Runs apt-get only when something is missing, so a prepared machine starts the tests at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/apt-packages.txt" | grep -v '^$')
# A name counts as present when a package of that name is installed or an installed package
# provides it: NodeSource's nodejs provides (and conflicts with) Debian's npm, for example, and
# asking apt for npm on such a machine fails with "held broken packages".
provided=$(dpkg-query -W -f='${db:Status-Status} ${Package}, ${Provides}\n' 2>/dev/null |
        sed -n 's/^installed //p' | tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/[[:space:]]//g' -e 's/:.*//' |
        grep -v '^$' | sort -u)
missing=()
for p in "${wanted[@]}"; do
        grep -qxF "$p" <<<"$provided" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
        echo "install-deps: all ${#wanted[@]} packages present"
        exit 0
fi

if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing packages (run as root to install): ${missing[*]}" >&2
        exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
