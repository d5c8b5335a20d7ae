#!/usr/bin/env bash
# Build the systemd Debian test host image once: debootstrap rootfs (cached) → docker import
# → Dockerfile. Re-running is cheap: every step is skipped when its result exists.
#
#   tests/hosts/build.sh            # prints the image name on the last line
#   VERSAHUB_TESTHOST_REBUILD=1 …   # rebuild the image (keeps the cached rootfs)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${VERSAHUB_CACHE:-$HOME/.cache/versahub}"
SUITE=bookworm
MIRROR="${VERSAHUB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TARBALL="$CACHE/rootfs/$SUITE-minbase.tar"   # shared with `versahub images bootstrap`
ROOTFS_IMAGE="versahub/testhost-rootfs:$SUITE"
recipe="$(sha256sum "$HERE/Dockerfile" | cut -c1-12)"
IMAGE="versahub/testhost:$SUITE-$recipe"

log() { echo "testhost: $*" >&2; }

if [ ! -f "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  mkdir -p "$CACHE/rootfs"
  tmp="$(mktemp -d "$CACHE/rootfs/testhost-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  log "debootstrap --variant=minbase $SUITE (about 30 s)"
  debootstrap --variant=minbase "$SUITE" "$tmp/root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 \
    || { tail -n 20 "$tmp/debootstrap.log" >&2; exit 1; }
  tar --numeric-owner -C "$tmp/root" -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$TARBALL"
fi
if ! docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
  log "docker import $TARBALL -> $ROOTFS_IMAGE"
  docker import "$TARBALL" "$ROOTFS_IMAGE" >/dev/null
fi
if [ "${VERSAHUB_TESTHOST_REBUILD:-0}" = 1 ] || ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "docker build -> $IMAGE"
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$ROOTFS_IMAGE" -t "$IMAGE" "$HERE" >/dev/null
fi
echo "$IMAGE"
