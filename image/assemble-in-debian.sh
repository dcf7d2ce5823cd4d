#!/usr/bin/env bash
# Where the host is not Debian (GitHub's Ubuntu runners): build the binary and
# assemble the image's root filesystem inside a debian:12 container, with the
# same scripts as `make image` here (scripts/deps.sh, make build,
# image/assemble-rootfs.sh). Leaves build/items-api and build/image/rootfs in
# the working tree for image/build.sh.
#
#   image/assemble-in-debian.sh          DEBIAN_IMAGE overrides debian:12
#
# Needs a container engine that can pull the image (image/engine.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=image/engine.sh
source image/engine.sh

epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
engine run --rm --volume "$root:/src" --workdir /src \
    --env SOURCE_DATE_EPOCH="$epoch" --env DEBIAN_FRONTEND=noninteractive \
    "${DEBIAN_IMAGE:-debian:12}" bash -euo pipefail -c '
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends git ca-certificates make >/dev/null
        git config --global --add safe.directory /src
        scripts/deps.sh build
        make --no-print-directory build
        image/assemble-rootfs.sh build/items-api build/image/rootfs
    '
