#!/usr/bin/env bash
# Stages the relay image's contents in relay/docker/.context: @kofn/relay and @kofn/shared packed by npm, over
# their production dependencies only (no dev tools, no sources, no tests) at the versions package-lock.json pins
# (locked-deps.mjs: what the tests ran against, never whatever the registry has newest that day).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ctx="$here/.context"
rm -rf "$ctx"
mkdir -p "$ctx/app"
(cd "$repo" && npm run build -w @kofn/shared -w @kofn/relay >/dev/null)
(cd "$repo/shared" && npm pack --silent --pack-destination "$ctx" >/dev/null)
(cd "$repo/relay" && npm pack --silent --pack-destination "$ctx" >/dev/null)
node "$here/locked-deps.mjs" "$ctx/app" relay shared >/dev/null
(cd "$ctx/app" && npm ci --silent --omit=dev --no-audit --no-fund --ignore-scripts && rm package-lock.json)
for p in shared relay; do
  mkdir -p "$ctx/app/node_modules/@kofn/$p"
  tar -xzf "$ctx"/kofn-"$p"-*.tgz -C "$ctx/app/node_modules/@kofn/$p" --strip-components=1
done
rm -f "$ctx"/*.tgz
cp "$repo/relay/Dockerfile" "$ctx/Dockerfile"
echo "context: $ctx ($(du -sh "$ctx" | cut -f1))"
