#!/usr/bin/env bash
# The compose test (issue #22): builds what relay/docker-compose.yml runs and drives it from Chromium on
# the host (e2e/compose/compose.spec.ts). Starts a Docker engine when one is installed but stopped
# (engine.sh); skips, saying why, only where no engine can run.
#   KOFN_REUSE_RELAY_IMAGE=1   use kofn/relay:test as test-image.sh just built it (npm test sets this)
# The base images (node:20-bookworm-slim, postgres:15-bookworm) are made once and kept by the engine; the
# PostgreSQL root is also cached under /var/cache/kofn-docker (make-postgres-image.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=engine.sh
. "$here/engine.sh"
trap kofn_stop_engine EXIT
if ! kofn_start_engine; then
  echo "docker compose test SKIPPED: no Docker engine can run here (docker info fails; see /tmp/kofn-dockerd.log)"
  exit 0
fi
if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker-compose; } >/tmp/kofn-docker-compose-install.log 2>&1 || true
fi
command -v docker-compose >/dev/null 2>&1 || { echo "docker-compose is missing and could not be installed (see /tmp/kofn-docker-compose-install.log)" >&2; exit 1; }
started=$(date +%s)
step() { echo "[$(($(date +%s) - started)) s] $*"; }

step "base images"
"$here/make-base-image.sh"
"$here/make-postgres-image.sh"
if [ "${KOFN_REUSE_RELAY_IMAGE:-}" = 1 ] && docker image inspect kofn/relay:test >/dev/null 2>&1; then
  step "relay image: kofn/relay:test as the image test built it"
else
  step "relay image: building kofn/relay:test"
  "$here/build-context.sh"
  docker build -q -t kofn/relay:test "$here/.context" >/dev/null
fi
step "coordinator image: kofn/coordinator:test from the build for tests in web/build"
made=0
"$repo/web/docker/build-context.sh" --test-build 2>/dev/null || made=$?
if [ "$made" = 3 ]; then
  step "web/build is not a build for tests: building it (KOFN_TEST_BUILD=1)"
  (cd "$repo" && KOFN_TEST_BUILD=1 npm run build -w @kofn/shared -w @kofn/web >/dev/null)
  "$repo/web/docker/build-context.sh" --test-build
elif [ "$made" != 0 ]; then
  "$repo/web/docker/build-context.sh" --test-build
fi
docker build -q -t kofn/coordinator:test "$repo/web/docker/.context-test" >/dev/null
kofn_prune_images
step "compose test (Playwright, Chromium on the host)"
code=0
(cd "$repo" && KOFN_RELAY_IMAGE=kofn/relay:test KOFN_COORDINATOR_IMAGE=kofn/coordinator:test \
  npx playwright test -c e2e/playwright.compose.config.ts) || code=$?
step "done (exit $code)"
exit "$code"
