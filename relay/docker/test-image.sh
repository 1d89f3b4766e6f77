#!/usr/bin/env bash
# Builds the relay image and runs it (relay/docker/check-image.mjs): health, a token-authorised PUT and
# GET, data on the volume owned by the unprivileged user, Docker's own healthcheck. Starts a Docker engine
# when one is installed but stopped (engine.sh). Skips, saying why, only where no engine can run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=engine.sh
. "$here/engine.sh"
trap kofn_stop_engine EXIT
if ! kofn_start_engine; then
  echo "docker image test SKIPPED: no Docker engine can run here (docker info fails; see /tmp/kofn-dockerd.log)"
  exit 0
fi
"$here/make-base-image.sh"
"$here/build-context.sh"
docker build -q -t kofn/relay:test "$here/.context" >/dev/null
kofn_prune_images
echo "image kofn/relay:test: $(docker image inspect kofn/relay:test --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
node "$here/check-image.mjs" kofn/relay:test
