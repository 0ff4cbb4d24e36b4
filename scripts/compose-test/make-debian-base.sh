#!/bin/sh
# Build a minimal Debian bookworm base image from the host's configured apt mirror
# (debootstrap --variant=minbase) and import it as mlpl-test/debian:bookworm.
# Idempotent: skipped when an image with the same recipe hash label exists.
# Usage: make-debian-base.sh [--force]      Prints the image tag on stdout (progress on stderr).
# Env:   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR override the mirrors read from the host's apt sources.
set -eu
TAG="${MLPL_TEST_BASE_TAG:-mlpl-test/debian:bookworm}"
SUITE=bookworm
VARIANT=minbase

# The host's mirror: first deb822 URIs line (sources.list.d/*.sources) or one-line format.
mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{print $2}' | grep -v -- '-security' | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^https?:/){print $i; exit}}' | grep -v -- '-security' | head -n1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror)
# The security archive, when the host uses one (same host names as the host's sources).
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
  | grep -v '^[[:space:]]*#' | grep -o 'https\?://[^ ]*debian-security[^ ]*' | head -n1 || true)}"
RECIPE_HASH=$(printf '%s\n' "v4 $SUITE $VARIANT $MIRROR $SECURITY_MIRROR" | sha256sum | cut -c1-16)

if [ "${1:-}" != "--force" ]; then
  have=$(docker image inspect -f '{{ index .Config.Labels "org.mlpl.recipe-hash" }}' "$TAG" 2>/dev/null || true)
  if [ "$have" = "$RECIPE_HASH" ]; then
    echo "base image $TAG up to date (recipe $RECIPE_HASH), skipped" >&2
    echo "$TAG"; exit 0
  fi
fi

start=$(date +%s)
ROOT=$(mktemp -d /tmp/mlpl-debian-root.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT INT TERM
echo "debootstrap --variant=$VARIANT $SUITE from $MIRROR ..." >&2
debootstrap --variant="$VARIANT" "$SUITE" "$ROOT" "$MIRROR" >&2
# Same mirror inside (plain HTTP), no recommends, smaller apt footprint.
printf 'deb %s %s main\ndeb %s %s-updates main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" > "$ROOT/etc/apt/sources.list"
if [ -n "$SECURITY_MIRROR" ]; then
  printf 'deb %s %s-security main\n' "$SECURITY_MIRROR" "$SUITE" >> "$ROOT/etc/apt/sources.list"
fi
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' > "$ROOT/etc/apt/apt.conf.d/90mlpl-no-recommends"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/tmp/* || true
tar -C "$ROOT" --numeric-owner -c . | docker import \
  --change "LABEL org.mlpl.recipe-hash=$RECIPE_HASH" \
  --change "LABEL org.mlpl.mirror=$MIRROR" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$TAG" >&2
echo "base image $TAG built in $(( $(date +%s) - start ))s" >&2
echo "$TAG"
