#!/usr/bin/env bash
# Assembles the runtime root filesystem of the items-api image from Debian
# packages: the one recipe behind every image, here (podman) and in GitHub
# Actions (a debian:12 container, then docker build).
#
#   image/assemble-rootfs.sh [BINARY [OUT]]     defaults: build/items-api build/image/rootfs
#
# For each shared library the binary needs (ldd, the dynamic loader included)
# the owning package is found with `dpkg -S`, fetched with `apt-get download`
# (the archive's current bookworm version, security fixes included), unpacked
# with `dpkg-deb -x`, and only the needed .so files are copied. Added: the CA
# bundle from Debian's ca-certificates (what update-ca-certificates would
# generate), a minimal /etc/passwd and /etc/group with the non-root user
# 10001, /etc/nsswitch.conf, each package's copyright file, and a manifest of
# the packages (/usr/share/items-api/packages.tsv). No shell, no package
# manager. OUT.data is the (empty) data directory the Dockerfile copies to
# /var/lib/items-api owned by 10001.
#
# Ownership: OUT and OUT.data belong to IMAGE_OWNER (uid:gid; default the
# owner of the checkout), so that whoever runs `docker build` can read the
# build context (CI assembles as root in a container, then builds as the
# runner user). Ownership on disk never reaches the image: COPY makes every
# file root's, and the Dockerfile gives the data directory to 10001 with
# COPY --chown (only the directory itself: /var/lib is in this tree, root's,
# so the engine does not create /var and /var/lib with that owner); the
# files' modes (0644/0755) are kept.
#
# Needs a Debian system (dpkg, apt-get) and root (chroot, chown). Downloaded
# .deb files are cached in IMAGE_DEB_CACHE (default build/image/debs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/build/items-api}
out=${2:-$root/build/image/rootfs}
cache=${IMAGE_DEB_CACHE:-$root/build/image/debs}
app_uid=10001
data_dir=/var/lib/items-api
owner=${IMAGE_OWNER:-$(stat -c %u:%g "$root")}

log() { printf 'assemble-rootfs: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

[[ -x $bin ]] || die "$bin is not built (make build)"
for tool in ldd dpkg dpkg-query dpkg-deb apt-get apt-cache sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found: this script needs a Debian system"
done
[[ $(id -u) -eq 0 ]] || die "run as root (dpkg-deb, chroot, chown)"
[[ $owner =~ ^[0-9]+:[0-9]+$ ]] || die "IMAGE_OWNER must be numeric uid:gid, not '$owner'"

work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

# --- 1. the libraries: "soname => path" lines plus the loader's own line -----
declare -a libs=()
loader=
while read -r line; do
    case $line in
    *"=> not found"*) die "ldd: $line" ;;
    *"=> /"*) libs+=("$(awk '{print $3}' <<<"$line")") ;;
    /*) # the dynamic loader (PT_INTERP)
        loader=$(awk '{print $1}' <<<"$line")
        libs+=("$loader")
        ;;
    esac
done < <(ldd "$bin")
[[ -n $loader ]] || die "ldd found no dynamic loader: is $bin dynamically linked?"

# Package owning each library, in one dpkg call. With merged /usr, dpkg knows a
# file under the name its package shipped it with (/lib/x/libfoo.so or
# /usr/lib/x/libfoo.so): ask for both.
declare -a queries=()
for lib in "${libs[@]}"; do
    queries+=("$lib")
    if [[ $lib == /usr/* ]]; then queries+=("${lib#/usr}"); else queries+=("/usr$lib"); fi
done
declare -A owner_of=()
while IFS= read -r line; do
    # "libpq5:amd64: /usr/lib/x86_64-linux-gnu/libpq.so.5"
    owner_of[${line#*: }]=${line%%: *}
done < <(dpkg -S "${queries[@]}" 2>/dev/null || true)

declare -A pkg_of=()
declare -a pkgs=()
for lib in "${libs[@]}"; do
    if [[ $lib == /usr/* ]]; then twin=${lib#/usr}; else twin=/usr$lib; fi
    pkg=${owner_of[$lib]:-${owner_of[$twin]:-}}
    [[ -n $pkg ]] || die "no Debian package owns $lib"
    pkg_of[$lib]=$pkg
    [[ " ${pkgs[*]} " == *" $pkg "* ]] || pkgs+=("$pkg")
done
pkgs+=("ca-certificates")

# --- 2. download (cached) and unpack each package ----------------------------
# The archive's current version (the candidate) rather than the installed one:
# the image gets Debian's latest security fixes for bookworm, and the image
# test runs what ships. apt-get update only when the lists lack a package.
declare -A candidate_of=()
candidates() {
    local pkg=
    while read -r key value _; do
        case $key in
        *:) [[ $key != Candidate: && $key != Installed: && $key != Version ]] && pkg=${key%:} ;;
        esac
        if [[ $key == Candidate: && $value != "(none)" && -n $pkg ]]; then
            candidate_of[$pkg]=$value
        fi
    done < <(apt-cache policy "$@" 2>/dev/null)
}
declare -a names=()
for pkg in "${pkgs[@]}"; do names+=("${pkg%%:*}"); done
candidates "${names[@]}"
for name in "${names[@]}"; do
    if [[ -z ${candidate_of[$name]:-} ]]; then
        log "apt-get update (no candidate for $name)"
        apt-get update -qq >/dev/null
        candidates "${names[@]}"
        break
    fi
done

fetch() {
    local name=$1 arch version deb
    version=${candidate_of[$name]:-}
    [[ -n $version ]] || die "apt knows no candidate for $name"
    # apt names files <name>_<version, ':' as %3a>_<arch>.deb
    deb=$(find "$cache" -maxdepth 1 -name "${name}_${version//:/%3a}_*.deb" | head -n 1)
    if [[ -z $deb ]]; then
        (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$name=$version" >/dev/null) ||
            die "apt-get download $name=$version failed"
        deb=$(find "$cache" -maxdepth 1 -name "${name}_${version//:/%3a}_*.deb" | head -n 1)
    fi
    [[ -s $deb ]] || die "apt-get download left no .deb for $name=$version in $cache"
    arch=$(dpkg-deb -f "$deb" Architecture)
    mkdir -p "$work/x/$name"
    dpkg-deb -x "$deb" "$work/x/$name"
    printf '%s\t%s\t%s\t%s\n' "$name" "$version" "$arch" "$(sha256sum "$deb" | awk '{print $1}')" >>"$work/packages.tsv"
}

for name in "${names[@]}"; do
    fetch "$name"
done

# --- 3. the root filesystem --------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
install -d -m 0755 "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/usr/share/items-api" "$out/usr/share/doc" \
    "$out/var/lib"

# A file of package $1 at path $2 (or its /usr twin), dereferenced to one file.
copy_from_pkg() {
    local name=${1%%:*} path=$2 candidate
    for candidate in "$path" "/usr$path" "${path#/usr}"; do
        if [[ -e $work/x/$name$candidate ]]; then
            install -D -m 0644 "$(readlink -f "$work/x/$name$candidate")" "$out$path"
            return 0
        fi
    done
    die "$path is not in package $name"
}

for lib in "${libs[@]}"; do
    copy_from_pkg "${pkg_of[$lib]}" "$lib"
done
# The kernel maps the loader as the program's interpreter.
chmod 0755 "$out$loader"

install -m 0755 "$bin" "$out/usr/local/bin/items-api"

# CA bundle: what update-ca-certificates builds from the default selection
# (every certificate Debian ships under mozilla/).
find "$work/x/ca-certificates/usr/share/ca-certificates/mozilla" -name '*.crt' -print0 |
    sort -z | xargs -0 cat >"$out/etc/ssl/certs/ca-certificates.crt"
grep -q 'BEGIN CERTIFICATE' "$out/etc/ssl/certs/ca-certificates.crt" || die "empty CA bundle"
chmod 0644 "$out/etc/ssl/certs/ca-certificates.crt"

cat >"$out/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
items-api:x:$app_uid:$app_uid:items-api:$data_dir:/sbin/nologin
EOF
cat >"$out/etc/group" <<EOF
root:x:0:
nogroup:x:65534:
items-api:x:$app_uid:
EOF
# glibc >= 2.34 has the files and dns NSS modules built in: no libnss_*.so.
cat >"$out/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf"

# The only writable place, /var/lib/items-api (a volume: SQLite), is not
# part of this tree: COPY resets ownership to root, so the Dockerfile creates
# it with COPY --chown from the empty directory $out.data (sibling of $out).
rm -rf "$out.data"
install -d -m 0750 "$out.data"

# Licences and the package manifest.
while IFS=$'\t' read -r name _; do
    if [[ -f $work/x/$name/usr/share/doc/$name/copyright ]]; then
        install -D -m 0644 "$work/x/$name/usr/share/doc/$name/copyright" "$out/usr/share/doc/$name/copyright"
    fi
done <"$work/packages.tsv"
{
    printf 'package\tversion\tarchitecture\tdeb_sha256\n'
    sort -u "$work/packages.tsv"
} >"$out/usr/share/items-api/packages.tsv"
chmod 0644 "$out/usr/share/items-api/packages.tsv"

# Readable by the user who builds the image (see Ownership above).
chown -R "$owner" "$out" "$out.data"
# Same inputs, same layer: every timestamp is the commit's (SOURCE_DATE_EPOCH).
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
find "$out" "$out.data" -exec touch -h -d "@$epoch" {} +

# --- 4. prove the closure: the binary runs inside the tree alone --------------
if command -v chroot >/dev/null; then
    chroot --userspec="$app_uid:$app_uid" "$out" /usr/local/bin/items-api version >/dev/null 2>&1 ||
        die "items-api does not run inside $out (missing library?)"
fi

size=$(du -sk "$out" | awk '{print $1}')
log "$out: $(find "$out" -type f | wc -l) files, ${size} KiB, $(($(wc -l <"$out/usr/share/items-api/packages.tsv") - 1)) packages"
