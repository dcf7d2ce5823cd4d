# shellcheck shell=bash
# shellcheck disable=SC2154  # region and log come from the sourcing script
# The record of what ran where, kept in the shared ECR repository itself: an
# environment that deployed a digest and verified it under traffic tags it
# verified-<env>-<first 12 hex of the digest>. ECR's tags are immutable, so
# the record cannot be moved to another image later, and it lives next to
# the image, readable by every environment's deploy role (promotion checks
# it: release/deploy.sh --require-verified ENV).
#
#   mark_tag ENV DIGEST              prints the tag name
#   mark_points_at REPO TAG DIGEST   does TAG exist and name DIGEST?
#   mark_digest REPO DIGEST TAG      writes TAG (idempotent); logs why not
#
# Sourced by release/verify.sh (writes) and release/lib.sh (reads).

mark_tag() { printf 'verified-%s-%s' "$1" "${2:7:12}"; }

# tag_digest REPO TAG: the digest TAG names, empty when there is no such tag.
tag_digest() {
    local d
    d=$(aws ecr describe-images --region "$region" --repository-name "$1" --image-ids "imageTag=$2" \
        --query 'imageDetails[0].imageDigest' --output text 2>/dev/null) || return 0
    [[ $d == sha256:* ]] && printf '%s' "$d"
    return 0
}

mark_points_at() { [[ $(tag_digest "$1" "$2") == "$3" ]]; }

# mark_digest REPO DIGEST TAG: ecr put-image of DIGEST's own manifest (byte
# for byte, through a file: the digest is the hash of those bytes) under TAG.
mark_digest() {
    local repo=$1 digest=$2 tag=$3 existing
    existing=$(tag_digest "$repo" "$tag")
    if [[ $existing == "$digest" ]]; then
        log "record: $tag already names $digest"
        return 0
    elif [[ -n $existing ]]; then
        log "record: $tag names another image ($existing), not $digest: not written"
        return 1
    fi
    aws ecr batch-get-image --region "$region" --repository-name "$repo" --image-ids "imageDigest=$digest" \
        --output json >"$work/manifest.json" 2>"$work/mark.err" || {
        log "record: batch-get-image of $digest failed: $(head -c 300 "$work/mark.err")"
        return 1
    }
    python3 - "$work/manifest.json" "$work/manifest" "$work/media-type" <<'PY' || return 1
import json, sys
images = json.load(open(sys.argv[1])).get("images") or []
if not images:
    sys.exit("record: the repository has no image with that digest")
open(sys.argv[2], "w").write(images[0]["imageManifest"])
open(sys.argv[3], "w").write(images[0].get("imageManifestMediaType") or "")
PY
    local media=()
    [[ ! -s $work/media-type ]] || media=(--image-manifest-media-type "$(cat "$work/media-type")")
    if ! aws ecr put-image --region "$region" --repository-name "$repo" --image-tag "$tag" \
        --image-manifest "file://$work/manifest" "${media[@]}" >/dev/null 2>"$work/mark.err"; then
        # A concurrent run may have written it first: judged below.
        log "record: put-image: $(head -c 300 "$work/mark.err")"
    fi
    if mark_points_at "$repo" "$tag" "$digest"; then
        log "record: tagged $digest as $tag"
        return 0
    fi
    log "record: $tag does not name $digest after put-image"
    return 1
}
