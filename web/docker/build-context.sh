#!/usr/bin/env bash
# Stages the coordinator image's contents in web/docker/.context: the built app (adapter-node), its SQL
# migrations, @kofn/shared packed by npm, and production dependencies only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ctx="$here/.context"
rm -rf "$ctx"
mkdir -p "$ctx/app"
# Always a production build: a build for tests also trusts the TEST-ONLY licence key (issue #13 item 8a).
(cd "$repo" && env -u KOFN_TEST_BUILD npm run build -w @kofn/shared -w @kofn/web >/dev/null)
test_key=$(sed -n 2p "$repo/web/src/lib/server/testing/TEST-ONLY-vendor-license-public.pem")
if grep -rqF "$test_key" "$repo/web/build"; then
  echo "build-context: web/build trusts the TEST-ONLY licence key; refusing to package it" >&2
  exit 1
fi
(cd "$repo/shared" && npm pack --silent --pack-destination "$ctx" >/dev/null)
cp -r "$repo/web/build" "$ctx/app/build"
cp -r "$repo/web/drizzle" "$ctx/app/drizzle"
node -e '
  const p = require(process.argv[1]);
  const deps = { ...p.dependencies };
  delete deps["@kofn/shared"];
  process.stdout.write(JSON.stringify({ name: "kofn-coordinator-image", private: true, type: "module", dependencies: deps }, null, 2));
' "$repo/web/package.json" > "$ctx/app/package.json"
(cd "$ctx/app" && npm install --silent --omit=dev --no-audit --no-fund --ignore-scripts ../kofn-shared-*.tgz)
rm -f "$ctx"/*.tgz
cp "$repo/web/Dockerfile" "$ctx/Dockerfile"
echo "context: $ctx ($(du -sh "$ctx" | cut -f1))"
