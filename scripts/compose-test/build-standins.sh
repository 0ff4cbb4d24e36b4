#!/bin/sh
# Builds the local stand-ins for the compose file's third-party images (no registry needed):
#   mlpl-test/debian:bookworm (debootstrap base), then mlpl-test/proxy, mlpl-test/mysql,
#   mlpl-test/minio, mlpl-test/adminer, mlpl-test/docker-proxy (all :latest).
# Usage: build-standins.sh [proxy|mysql|minio|adminer|docker-proxy ...]     (default: all five)
# Env:   CA_BUNDLE=/path/ca.pem  CA certificates for npm inside the minio build (default: the
#        host's /etc/ssl/certs/ca-certificates.crt); VERBOSE=1 shows the docker build output;
#        DOCKER_BUILDKIT (default 0: the classic builder, whose layer cache makes reruns fast);
#        NO_CACHE=1 rebuilds everything (base included) without the cache: a cold build.
# Idempotent: the base is skipped when up to date, the images come from the layer cache.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"
IMAGES="${*:-proxy mysql minio adminer docker-proxy}"
LOG=$(mktemp /tmp/mlpl-standins-build.XXXXXX)
trap 'rm -f "$LOG"' EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
SUMMARY=""
total_start=$(now)

t=$(now)
if [ "${NO_CACHE:-0}" = 1 ]; then FORCE=--force; NO_CACHE_ARG=--no-cache; else FORCE=; NO_CACHE_ARG=; fi
if [ "${VERBOSE:-0}" = 1 ]; then
  BASE=$(./make-debian-base.sh $FORCE)
elif ! BASE=$(./make-debian-base.sh $FORCE 2>"$LOG"); then
  cat "$LOG" >&2; echo "base image failed" >&2; exit 1
fi
SUMMARY="$SUMMARY$(printf '%-28s %6ss' "$BASE" "$(secs "$t" "$(now)")")\n"

for name in $IMAGES; do
  case "$name" in
    proxy)   for_image='nginx:1.30.4-alpine' ;;
    mysql)   for_image='mysql:8.4.11' ;;
    minio)   for_image='quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z, quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z' ;;
    adminer) for_image='adminer:5.4.2' ;;
    docker-proxy) for_image='haproxy:3.2.21-alpine' ;;
    *) echo "unknown stand-in: $name (proxy, mysql, minio, adminer, docker-proxy)" >&2; exit 2 ;;
  esac
  if [ "$name" = minio ]; then
    # npm inside the build reaches the registry with the host's CA bundle (the same need as
    # behind a TLS-intercepting proxy). Copied only when it changed, so the cache holds.
    ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
    if [ -r "$ca" ]; then
      cmp -s "$ca" minio/ca.pem 2>/dev/null || cp "$ca" minio/ca.pem
    else
      [ -e minio/ca.pem ] || : > minio/ca.pem
    fi
  fi
  tag="mlpl-test/$name:latest"
  t=$(now)
  echo "building $tag ..." >&2
  if [ "${VERBOSE:-0}" = 1 ]; then
    docker build $NO_CACHE_ARG --label "org.mlpl.standin-for=$for_image" -t "$tag" "$name" >&2
  elif ! docker build $NO_CACHE_ARG --label "org.mlpl.standin-for=$for_image" -t "$tag" "$name" >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "build of $tag failed" >&2
    exit 1
  fi
  size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1000000 }')
  SUMMARY="$SUMMARY$(printf '%-28s %6ss  %8s  (for %s)' "$tag" "$(secs "$t" "$(now)")" "$size" "$for_image")\n"
done

printf '\nstand-ins built in %ss:\n%b' "$(secs "$total_start" "$(now)")" "$SUMMARY"
