#!/usr/bin/env bash
# Builds the image from the Dockerfile and the assembled root filesystem.
#
#   image/build.sh [TAG...]        default tag: items-api:dev
#   image/build.sh --labels        print the label values and exit (no build)
#
# Needs build/image/rootfs (image/assemble-rootfs.sh, or `make image` which
# runs both). The engine is docker or podman (image/engine.sh). Labels:
#   VERSION   default: git describe           (org.opencontainers.image.version)
#   REVISION  default: git rev-parse HEAD      (org.opencontainers.image.revision)
#   SOURCE    default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY, else the origin URL
#             (user name, password or token in the URL removed: the label is
#             public to whoever can pull the image)
# Prints the image's size at the end.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# without_credentials URL: URL without its user info (scheme://user:token@host/
# -> scheme://host/), its query and its fragment; scp-like remotes
# (git@host:path) carry no secret and stay as they are.
without_credentials() {
    local url=$1 scheme rest authority path
    if [[ $url =~ ^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$ ]]; then
        scheme=${BASH_REMATCH[1]}
        rest=${BASH_REMATCH[2]}
        authority=${rest%%[/?#]*}
        path=${rest:${#authority}}
        path=${path%%[?#]*}
        url=$scheme${authority##*@}$path
    fi
    printf '%s\n' "$url"
}

labels_only=0
if [[ ${1:-} == --labels ]]; then
    labels_only=1
    shift
fi

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=${REVISION:-$(git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)}
if [[ -n ${SOURCE:-} ]]; then
    source_url=$SOURCE
elif [[ -n ${GITHUB_REPOSITORY:-} ]]; then
    source_url=${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY
else
    source_url=$(git config --get remote.origin.url 2>/dev/null || echo unknown)
fi
source_url=$(without_credentials "$source_url")
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
if ((labels_only)); then
    printf 'org.opencontainers.image.%s=%s\n' version "$version" revision "$revision" source "$source_url" created "$created"
    exit 0
fi

# shellcheck source=image/engine.sh
source image/engine.sh

tags=("$@")
((${#tags[@]} > 0)) || tags=(items-api:dev)

if [[ ! -x build/image/rootfs/usr/local/bin/items-api ]]; then
    echo "build.sh: build/image/rootfs is missing: run image/assemble-rootfs.sh (or make image)" >&2
    exit 1
fi

args=(build --file Dockerfile
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
    --build-arg "SOURCE=$source_url" --build-arg "CREATED=$created")
for t in "${tags[@]}"; do args+=(--tag "$t"); done
if [[ $ENGINE == podman ]]; then
    # Docker image format: the OCI format has no HEALTHCHECK.
    args+=(--format docker --pull=never --network none --layers=false)
fi

echo "image: $ENGINE build ${tags[*]} (version $version, revision $revision)"
engine "${args[@]}" .
if [[ $ENGINE == podman ]]; then
    # The store is this project's own (image/engine.sh): drop the untagged
    # images earlier builds of items-api:dev left behind.
    engine image prune -f >/dev/null
fi

bytes=$(engine image inspect --format '{{.Size}}' "${tags[0]}")
printf 'image: %s is %s bytes (%s MB)\n' "${tags[0]}" "$bytes" "$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1000000}')"
