#!/usr/bin/env bash
# The README's test command: on a fresh Debian 12 machine (as root, or with sudo) it installs
# what the tests need, starts a Docker engine if none answers, installs the npm packages and
# runs every test: `npm test` (unit, medium and end-to-end tests against real servers), then
# `npm run test:compose` (the real docker-compose.yml, started and driven through its ports).
# `.ci/run` calls exactly this. Set MLPL_SKIP_COMPOSE_TEST=1 to run `npm test` only.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node itself is the one prerequisite not installed here: Debian 12's own nodejs is 18, too old.
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  echo "scripts/test.sh: Node.js 20 or later with npm is needed on the host (found: $(node --version 2>/dev/null || echo none)); the images bring their own Node 24" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# Debian packages the tests use: a throwaway MariaDB server, headless Chromium, the
# Fashion-MNIST IDX files (real IDX data for the training service's parser tests), a Docker
# engine, docker-compose (v1, the one Debian ships: it validates the compose files and runs the
# compose test), docker-registry (a local registry for the push test), busybox-static for the
# local Node base image (scripts/make-base-image.sh) and debootstrap for the Debian base of the
# compose test's stand-in images (scripts/compose-test/); haproxy runs the Docker API proxy's config
# (deploy/docker-proxy/haproxy.cfg) in the Docker tests and the local stack; curl runs the
# README's API examples.
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } || need+=(mariadb-server)
command -v mariadb-install-db >/dev/null 2>&1 || need+=(mariadb-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
# Handwriting fonts (0.7 MB): the out-of-MNIST digits of bench/learn and the learning test
# (scripts/src/font-digits.ts, FONT_PACKAGES).
for font in fonts-dkg-handwriting fonts-breip fonts-bwht fonts-dancingscript fonts-humor-sans \
  fonts-kaushanscript fonts-kristi fonts-tomsontalks fonts-havana fonts-sjfonts; do
  dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q 'install ok installed' || need+=("$font")
done
for idx in {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz; do
  [ -f "/usr/share/datasets/fashion-mnist/$idx" ] || { need+=(dataset-fashion-mnist); break; }
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "--- apt-get install ${need[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# No image registry is reached here: the tests make their base images locally
# (scripts/make-base-image.sh, scripts/compose-test/build-standins.sh).
if ! docker info >/dev/null 2>&1; then
  echo "--- starting dockerd"
  $sudo sh -c 'dockerd > /tmp/mlpl-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { cat /tmp/mlpl-dockerd.log; echo "dockerd did not start"; exit 1; }
fi

echo "--- docker-compose config"
docker-compose -f docker-compose.yml config -q
docker-compose -f Registry/docker-compose.yml config -q

echo "--- npm ci"
npm ci --no-audit --no-fund

echo "--- npm test"
npm test

if [ "${MLPL_SKIP_COMPOSE_TEST:-}" != 1 ]; then
  echo "--- npm run test:compose"
  npm run test:compose
fi
