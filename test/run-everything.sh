#!/usr/bin/env bash
# Installs everything the tests need on Debian 12 (as root) and runs every tier:
# unit, integration, end-to-end (network namespaces, real ProFTPD, curl, ftplib, lftp, Prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "test:everything must run as root: it installs Debian packages and creates network namespaces." >&2
  echo "For the tiers that need neither, run: npm ci && npm test" >&2
  exit 2
fi

# npm test itself needs systemd-analyze (systemd) and promtool (prometheus) for the deploy/ checks.
packages=(proftpd-basic curl lftp python3 iproute2 iptables nftables procps openssl prometheus systemd)
bash .ci/install-debian-packages.sh "${packages[@]}"

npm ci --no-audit --no-fund
npm test
npm run test:e2e
