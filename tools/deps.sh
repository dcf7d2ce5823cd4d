#!/usr/bin/env bash
# Installs the Debian packages a make target needs, and says what it installs.
# Usage: tools/deps.sh GROUP...   (groups below; "all" = every group)
# Idempotent and quiet when everything is present, so targets can call it every time.
set -euo pipefail

declare -A GROUPS_PKGS=(
    [build]="gcc make pkg-config libpq-dev libsqlite3-dev libssl-dev libseccomp-dev"
    [test]="libcmocka-dev postgresql-15 python3 python3-yaml python3-jsonschema nodejs npm clang-14 libclang-rt-14-dev"
    [lint]="clang-format clang-tidy cppcheck shellcheck nodejs npm python3-yaml"
    [fuzz]="clang-14 libclang-rt-14-dev libfuzzer-14-dev"
    [bench]="wrk nginx-light postgresql-15 procps python3"
    [stack]="haproxy nftables iproute2 slowhttptest procps postgresql-15 python3 dnsmasq-base gnuplot-nox"
    [image]="podman buildah runc uidmap slirp4netns fuse-overlayfs apt-utils curl"
    [docs]="graphviz"
)

want=()
for group in "$@"; do
    if [[ $group == all ]]; then
        for g in "${!GROUPS_PKGS[@]}"; do
            read -r -a pk <<<"${GROUPS_PKGS[$g]}"
            want+=("${pk[@]}")
        done
        continue
    fi
    if [[ -z ${GROUPS_PKGS[$group]:-} ]]; then
        echo "deps.sh: unknown group '$group' (known: ${!GROUPS_PKGS[*]} all)" >&2
        exit 2
    fi
    read -r -a pk <<<"${GROUPS_PKGS[$group]}"
    want+=("${pk[@]}")
done

# Packages that other distributions of the same tool satisfy (Node.js from
# NodeSource bundles npm; a python3 on PATH is enough): check the command.
declare -A BY_COMMAND=([nodejs]=node [npm]=npm [python3]=python3)

missing=()
for p in "${want[@]}"; do
    if [[ -n ${BY_COMMAND[$p]:-} ]] && command -v "${BY_COMMAND[$p]}" >/dev/null 2>&1; then
        continue
    fi
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
# Deduplicate while keeping order.
if ((${#missing[@]} == 0)); then
    exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')

echo "deps.sh: installing Debian packages: ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "deps.sh: not root and no sudo; install these yourself: ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
echo "deps.sh: installed: ${missing[*]}" >&2
