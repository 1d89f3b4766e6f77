#!/usr/bin/env bash
# Stages the relay image's contents in relay/docker/.context: @kofn/relay and @kofn/shared packed by npm,
# installed with production dependencies only (no dev tools, no sources, no tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ctx="$here/.context"
rm -rf "$ctx"
mkdir -p "$ctx/app"
(cd "$repo" && npm run build -w @kofn/shared -w @kofn/relay >/dev/null)
(cd "$repo/shared" && npm pack --silent --pack-destination "$ctx" >/dev/null)
(cd "$repo/relay" && npm pack --silent --pack-destination "$ctx" >/dev/null)
cd "$ctx/app"
printf '{ "name": "kofn-relay-image", "private": true }\n' > package.json
npm install --silent --omit=dev --no-audit --no-fund --ignore-scripts ../kofn-shared-*.tgz ../kofn-relay-*.tgz
rm -f ../*.tgz
cp "$repo/relay/Dockerfile" "$ctx/Dockerfile"
echo "context: $ctx ($(du -sh "$ctx" | cut -f1))"
