#!/usr/bin/env bash
# `npm run bench`: installs what the benchmark needs (Debian 12, as root), builds ftpmasq and the
# benchmark, and runs it. Arguments go to bench/run.ts: --quick, --rounds N, --only a,b,
# --variants a,b, --cpu-prof, --held N, --held-proftpd N, --transfer-mib N, --world-only.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "npm run bench must run as root: it installs Debian packages, creates network namespaces and runs ProFTPD." >&2
  echo "Without root, the control-path micro-benchmark runs: npm run bench:control-path" >&2
  exit 2
fi

# proftpd-mod-proxy: the (d) comparison; proftpd-mod-crypto: mod_tls.so, which carries the OpenSSL
# symbols mod_proxy.so needs; time: /usr/bin/time for curl's CPU; util-linux: prlimit.
packages=(proftpd-basic proftpd-mod-proxy proftpd-mod-crypto curl lftp python3 iproute2 iptables openssl time util-linux)
bash .ci/install-debian-packages.sh "${packages[@]}"

[ -d node_modules ] || npm ci --no-audit --no-fund
# The project's pinned Node (the `node` dev dependency), also when this script runs outside npm.
export PATH="$PWD/node_modules/.bin:$PATH"
npm run build
tsc -p tsconfig.bench.json
exec node dist-bench/bench/run.js "$@"
