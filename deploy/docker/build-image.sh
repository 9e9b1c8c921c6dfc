#!/usr/bin/env bash
# npm run container:build: builds localhost/ftpmasq:<version> with podman, without any registry.
#   1. the base image localhost/debian-base:bookworm: Debian 12 minbase by debootstrap from the
#      mirror in /etc/apt/sources.list.d/debian.sources, imported; built once, then reused;
#   2. the build context in .container/context: the package exactly as `npm pack` makes it, its
#      production dependencies from package-lock.json (`npm ci --omit=dev`), and the Node binary
#      of the pinned `node` package (node_modules/node/bin/node, from the npm registry);
#   3. podman build of deploy/docker/Dockerfile with BASE_IMAGE set to that base;
#   4. localhost/ftpmasq-legacy-proftpd:bookworm, the legacy ProFTPD of compose.yaml, on that base.
# Needs root and the Debian packages podman, runc and debootstrap. FTPMASQ_BASE_IMAGE names another
# base (it must exist in the project's storage; no registry is asked: --pull=never).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
podman="$root/deploy/docker/podman.sh"
state="$root/.container"
version="$(node -p 'require("./package.json").version')"
image="localhost/ftpmasq:$version"
base="${FTPMASQ_BASE_IMAGE:-localhost/debian-base:bookworm}"

if [ "$(id -u)" != 0 ]; then
  echo "container:build runs as root (debootstrap, rootful podman)" >&2
  exit 2
fi
for program in podman runc debootstrap; do
  command -v "$program" >/dev/null || { echo "$program not found: apt-get install podman runc debootstrap" >&2; exit 2; }
done

if ! "$podman" image exists "$base"; then
  if [ "$base" != localhost/debian-base:bookworm ]; then
    echo "$base is not in the project's podman storage ($state/storage)" >&2
    exit 2
  fi
  mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
  [ -n "$mirror" ] || { echo "no URIs: line in /etc/apt/sources.list.d/debian.sources" >&2; exit 2; }
  rootfs="$state/rootfs-bookworm"
  rm -rf "$rootfs"
  echo "debootstrap: Debian 12 minbase from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 ||
    { tail -20 "$state/debootstrap.log" >&2; exit 1; }
  # The package lists and caches are of no use in an image that never runs apt.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$podman" import - "$base" >/dev/null
  rm -rf "$rootfs"
  echo "imported $base"
fi

context="$state/context"
rm -rf "$context"
mkdir -p "$context/app"
npm pack --silent --pack-destination "$state" >/dev/null
tarball="$state/ftpmasq-$version.tgz"
tar -xzf "$tarball" -C "$context/app" --strip-components=1
cp package-lock.json "$context/app/"
# What `npm install --omit=dev` of the tarball installs, at the versions the lock file pins.
(cd "$context/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
rm "$context/app/package-lock.json"
cp node_modules/node/bin/node "$context/node"

"$podman" build --pull=never --format docker --build-arg "BASE_IMAGE=$base" \
  --label "org.opencontainers.image.version=$version" \
  -f deploy/docker/Dockerfile -t "$image" "$context"
# The legacy server of compose.yaml, which container:test also puts behind the image. Its apt-get
# layer is cached: after the first build this takes a second.
"$podman" build --pull=never --build-arg "BASE_IMAGE=$base" -t localhost/ftpmasq-legacy-proftpd:bookworm \
  deploy/docker/proftpd >/dev/null
# The build stage's image is of no use once the final one exists; without this, each build
# would leave some 400 MB behind in .container/.
"$podman" image prune -f >/dev/null
echo "built $image"
