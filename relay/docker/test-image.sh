#!/usr/bin/env bash
# Builds the relay image and runs it (relay/docker/check-image.mjs): health, a token-authorised PUT and
# GET, data on the volume owned by the unprivileged user, Docker's own healthcheck. Starts a Docker engine
# when one is installed but stopped (installing docker.io with apt where it can). Skips, saying why, only
# where no engine can run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
engine_up() { docker info >/dev/null 2>&1; }
if ! engine_up; then
  if ! command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io; } >/tmp/kofn-docker-install.log 2>&1 || true
  fi
  if command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # No bridge or iptables: containers use the host network (loopback only in this test).
    dockerd --bridge=none --iptables=false --ip6tables=false --pidfile /tmp/kofn-dockerd.pid >/tmp/kofn-dockerd.log 2>&1 &
    started_pid=$!
    # Stop the engine this script started, by its PID, whatever happens next.
    trap 'kill "$started_pid" 2>/dev/null; wait "$started_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 1 30); do engine_up && break; sleep 1; done
  fi
fi
if ! engine_up; then
  echo "docker image test SKIPPED: no Docker engine can run here (docker info fails; see /tmp/kofn-dockerd.log)"
  exit 0
fi
"$here/make-base-image.sh"
"$here/build-context.sh"
docker build -q -t kofn/relay:test "$here/.context" >/dev/null
echo "image kofn/relay:test: $(docker image inspect kofn/relay:test --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
node "$here/check-image.mjs" kofn/relay:test
