#!/usr/bin/env bash
# Makes, on this machine, the base image relay/Dockerfile names (node:20-bookworm-slim) when it cannot be
# pulled (no container registry here): a Debian bookworm minbase root made with debootstrap from the
# machine's Debian mirror, plus this machine's Node.js 20 binary. Operators with a registry never need it.
# The image is also saved under KOFN_DOCKER_CACHE (default /var/cache/kofn-docker), named by the Node
# version in it, so an engine whose images were wiped (or a second engine) loads it in seconds instead of
# running debootstrap again (minutes).
set -euo pipefail
TAG=${1:-node:20-bookworm-slim}
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG: present"
  exit 0
fi
node_bin=$(command -v node)
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "need Node >= 20 on this machine, have $("$node_bin" --version)" >&2; exit 1; }
cache=${KOFN_DOCKER_CACHE:-/var/cache/kofn-docker}
saved="$cache/$(echo "$TAG" | tr ':/' '--')-node$("$node_bin" --version).image.tar"
if [ -s "$saved" ]; then
  docker load -q -i "$saved" >/dev/null
  echo "base image $TAG: loaded from $saved"
  exit 0
fi
command -v debootstrap >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap; }
mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "base image $TAG: debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=ca-certificates,libstdc++6 bookworm "$root" "$mirror" >/dev/null
install -m 0755 "$node_bin" "$root/usr/local/bin/node"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["node"]' - "$TAG" >/dev/null
mkdir -p "$cache"
docker save -o "$saved.partial" "$TAG" && mv "$saved.partial" "$saved"
echo "base image $TAG: made ($("$node_bin" --version)), saved in $saved"
