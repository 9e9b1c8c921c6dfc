#!/usr/bin/env bash
# Installs everything the tests need on Debian 12 (as root) and runs every tier:
# unit, integration, end-to-end (network namespaces, real ProFTPD, curl, ftplib, lftp, Prometheus,
# headless chromium for the live page).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "test:everything must run as root: it installs Debian packages and creates network namespaces." >&2
  echo "For the tiers that need neither, run: npm ci && npm test" >&2
  exit 2
fi

# npm test itself needs systemd-analyze (systemd) and promtool (prometheus) for the deploy/ checks;
# the container build and run need podman, runc and debootstrap (deploy/docker/build-image.sh);
# the live view's browser test needs chromium; the PROXY protocol e2e needs haproxy; the Java FTPS
# client test needs a JDK and Apache Commons Net.
packages=(proftpd-basic proftpd-mod-crypto curl lftp python3 iproute2 iptables nftables procps openssl prometheus systemd chromium podman runc debootstrap haproxy openjdk-17-jdk-headless libcommons-net-java)
bash .ci/install-debian-packages.sh "${packages[@]}"

npm ci --no-audit --no-fund
npm test
npm run test:e2e
# The package and the container as an operator installs them (deploy/README.md).
npm run test:package
npm run container:build
npm run container:test
