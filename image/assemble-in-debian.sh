#!/usr/bin/env bash
# Where the host is not Debian (GitHub's Ubuntu runners): build the binary and
# assemble the image's root filesystem inside a debian:12 container, with the
# same scripts as `make image` here (tools/deps.sh, make build,
# image/assemble-rootfs.sh). Leaves build/items-api and build/image/rootfs in
# the working tree for image/build.sh.
#
# The container runs as root; everything it writes under build/ is handed to
# the owner of the checkout (the runner user in CI), so that `docker build`
# and later steps, run as that user, can read it (image/assemble-rootfs.sh:
# Ownership; the files inside the image are root's all the same).
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
# shellcheck disable=SC2016  # the script is expanded by the container's bash
engine run --rm --volume "$root:/src" --workdir /src \
    --env SOURCE_DATE_EPOCH="$epoch" --env DEBIAN_FRONTEND=noninteractive \
    "${DEBIAN_IMAGE:-debian:12}" bash -euo pipefail -c '
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends git ca-certificates make >/dev/null
        git config --global --add safe.directory /src
        tools/deps.sh build
        make --no-print-directory build
        owner=$(stat -c %u:%g /src)
        IMAGE_OWNER=$owner image/assemble-rootfs.sh build/items-api build/image/rootfs
        chown -R "$owner" build
    '
