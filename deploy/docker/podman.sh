#!/usr/bin/env bash
# podman with the project's own storage (.container/ in the clone, gitignored) and containers.conf,
# so that building and testing the image never touches the host's images, containers or settings.
# Every container script goes through here: deploy/docker/podman.sh images, ... ps -a, ... rm -f NAME.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${FTPMASQ_PODMAN_STATE:-$here/../../.container}"
mkdir -p "$state/storage" "$state/run" "$state/tmp"
state="$(cd "$state" && pwd)"
export CONTAINERS_CONF="$here/containers.conf"
exec podman --root "$state/storage" --runroot "$state/run" --tmpdir "$state/tmp" "$@"
