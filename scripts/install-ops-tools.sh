#!/usr/bin/env bash
# Install the Debian packages that the ops tests use: promtool (rule checks and rule unit
# tests), Prometheus, Pushgateway and Alertmanager (end-to-end tests start their own binaries
# on loopback ports with temp dirs) and Chromium (dashboard screenshots).
#
#   scripts/install-ops-tools.sh                 # all of them
#   scripts/install-ops-tools.sh prometheus      # a subset
#
# Idempotent: installs only what is missing, runs `apt-get update` once and only then, and
# is a quick no-op when everything is present. Never starts the packages' services: a
# temporary policy-rc.d forbids it while apt runs (the services stay as Debian configures
# them for the next boot). Recommends are not installed, so prometheus-node-exporter
# (port 9100) does not come along.
set -euo pipefail

ALL_PACKAGES=(prometheus prometheus-pushgateway prometheus-alertmanager chromium)
DEFAULT_PORTS=(9090 9091 9093 9100)

binaries_of() {
    case "$1" in
        prometheus) echo /usr/bin/prometheus /usr/bin/promtool ;;
        prometheus-pushgateway) echo /usr/bin/prometheus-pushgateway ;;
        prometheus-alertmanager) echo /usr/bin/prometheus-alertmanager /usr/bin/amtool ;;
        chromium) echo /usr/bin/chromium ;;
    esac
}

usage() {
    echo "usage: $0 [PACKAGE...]   (PACKAGE one of: ${ALL_PACKAGES[*]}; default: all)" >&2
}

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    usage
    exit 0
fi

if [[ $# -eq 0 ]]; then
    wanted=("${ALL_PACKAGES[@]}")
else
    wanted=()
    for pkg in "$@"; do
        if [[ " ${ALL_PACKAGES[*]} " != *" $pkg "* ]]; then
            echo "unknown package: $pkg" >&2
            usage
            exit 2
        fi
        wanted+=("$pkg")
    done
fi

missing=()
for pkg in "${wanted[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-ops-tools: already installed: ${wanted[*]}"
else
    if [[ $EUID -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "install-ops-tools: need root (or sudo) to install: ${missing[*]}" >&2
            exit 1
        fi
        SUDO=(sudo)
    else
        SUDO=()
    fi

    # Forbid service starts (invoke-rc.d and deb-systemd-invoke both honour policy-rc.d),
    # unless the machine already has its own policy, which is then left alone.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# install-ops-tools.sh: no service starts during install\nexit 101\n' \
            | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        trap '"${SUDO[@]}" rm -f "$policy"' EXIT
    fi

    echo "install-ops-tools: installing: ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

status=0
for pkg in "${wanted[@]}"; do
    for bin in $(binaries_of "$pkg"); do
        if [[ ! -x $bin ]]; then
            echo "install-ops-tools: $pkg is installed but $bin is missing" >&2
            status=1
        fi
    done
done

# Tests use their own ports; a daemon on a default port is only worth knowing about.
if command -v ss >/dev/null; then
    for port in "${DEFAULT_PORTS[@]}"; do
        if ss -Hltn "sport = :$port" | grep -q .; then
            echo "install-ops-tools: note: something listens on default port $port" \
                 "(a Debian service? see: systemctl status prometheus*); tests use other ports" >&2
        fi
    done
fi

exit $status
