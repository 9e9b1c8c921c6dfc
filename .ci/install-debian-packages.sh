#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (as root).
# Shared by test/run-everything.sh and bench/run.sh.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt-get (an unattended upgrade) may hold the dpkg lock for a while: wait for it.
  apt-get -o DPkg::Lock::Timeout=300 update -q
  # ProFTPD's package starts a system daemon where it can; tests and bench run their own in namespaces.
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
fi
