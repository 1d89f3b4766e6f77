#!/usr/bin/env bash
# Stages the coordinator image's contents: the built app (adapter-node), its SQL migrations, @kofn/shared
# packed by npm, and production dependencies only.
#   web/docker/build-context.sh               a production build, in web/docker/.context (the image operators run)
#   web/docker/build-context.sh --test-build  the build for tests already in web/build (KOFN_TEST_BUILD=1, which
#                                             npm test makes), in web/docker/.context-test, for the compose test
#                                             only: it also trusts the TEST-ONLY licence key, so five relays can
#                                             enroll under a test licence. It never rebuilds web/build, which the
#                                             Playwright suite may be using at the same time. Exit 3: web/build
#                                             is not a build for tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
test_key=$(sed -n 2p "$repo/web/src/lib/server/testing/TEST-ONLY-vendor-license-public.pem")
trusts_test_key() { grep -rqF "$test_key" "$repo/web/build"; }
if [ "${1:-}" = --test-build ]; then
  ctx="$here/.context-test"
  if [ ! -d "$repo/web/build" ] || ! trusts_test_key; then
    echo "build-context: web/build is not a build for tests; run KOFN_TEST_BUILD=1 npm run build first" >&2
    exit 3
  fi
  (cd "$repo" && npm run build -w @kofn/shared >/dev/null)
else
  ctx="$here/.context"
  # Always a production build: a build for tests also trusts the TEST-ONLY licence key (issue #13 item 8a).
  (cd "$repo" && env -u KOFN_TEST_BUILD npm run build -w @kofn/shared -w @kofn/web >/dev/null)
  if trusts_test_key; then
    echo "build-context: web/build trusts the TEST-ONLY licence key; refusing to package it" >&2
    exit 1
  fi
fi
rm -rf "$ctx"
mkdir -p "$ctx/app"
(cd "$repo/shared" && npm pack --silent --pack-destination "$ctx" >/dev/null)
cp -r "$repo/web/build" "$ctx/app/build"
cp -r "$repo/web/drizzle" "$ctx/app/drizzle"
# Production dependencies of web and shared at the versions package-lock.json pins (relay/docker/locked-deps.mjs:
# what the tests ran against, never whatever the registry has newest that day).
node "$repo/relay/docker/locked-deps.mjs" "$ctx/app" web shared >/dev/null
if [ "$ctx" = "$here/.context-test" ]; then
  # The compose test runs in every npm test: the dependencies are installed once per lock and kept under
  # KOFN_DOCKER_CACHE (an install took 1-2 min on the loaded 2-core machine; a copy, seconds).
  cache=${KOFN_DOCKER_CACHE:-/var/cache/kofn-docker}/coordinator-deps
  key=$(node -e '
    const lock = require("node:fs").readFileSync(process.argv[1]);
    process.stdout.write(require("node:crypto").createHash("sha256").update(process.versions.node.split(".")[0]).update(lock).digest("hex").slice(0, 16));
  ' "$ctx/app/package-lock.json")
  if [ ! -d "$cache/$key/node_modules" ]; then
    mkdir -p "$cache"
    making=$(mktemp -d "$cache/making-XXXXXX")
    cp "$ctx/app/package.json" "$ctx/app/package-lock.json" "$making/"
    (cd "$making" && npm ci --silent --omit=dev --no-audit --no-fund --ignore-scripts) || { rm -rf "$making"; exit 1; }
    rm -rf "${cache:?}/$key" && mv "$making" "$cache/$key"
  fi
  # Hard links where the cache shares the file system (17,000 files: a copy took a minute under load).
  cp -al "$cache/$key/node_modules" "$ctx/app/node_modules" 2>/dev/null || cp -a "$cache/$key/node_modules" "$ctx/app/node_modules"
else
  (cd "$ctx/app" && npm ci --silent --omit=dev --no-audit --no-fund --ignore-scripts)
fi
rm -f "$ctx/app/package-lock.json"
mkdir -p "$ctx/app/node_modules/@kofn/shared"
tar -xzf "$ctx"/kofn-shared-*.tgz -C "$ctx/app/node_modules/@kofn/shared" --strip-components=1
rm -f "$ctx"/*.tgz
cp "$repo/web/Dockerfile" "$ctx/Dockerfile"
if [ "$ctx" = "$here/.context-test" ]; then
  printf 'LABEL org.kofn.test-only="trusts the TEST-ONLY licence key; never ship"\n' >> "$ctx/Dockerfile"
fi
echo "context: $ctx ($(du -sh "$ctx" | cut -f1))"
