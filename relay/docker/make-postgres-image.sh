#!/usr/bin/env bash
# Makes, on this machine, the PostgreSQL image relay/docker-compose.yml names (postgres:15-bookworm) when it
# cannot be pulled (no container registry here): Debian bookworm's own postgresql-15 in a minbase root made
# with debootstrap from the machine's Debian mirror, behind a small entry point that keeps the official
# image's interface (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA=/var/lib/postgresql/data, the
# server runs as the postgres user, uid 999). Operators with a registry pull the official image instead.
# The debootstrapped root is kept as a tarball under KOFN_DOCKER_CACHE (default /var/cache/kofn-docker), so
# an engine whose images were wiped gets the image back in seconds, not minutes.
set -euo pipefail
TAG=${1:-postgres:15-bookworm}
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "PostgreSQL image $TAG: present"
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
cache=${KOFN_DOCKER_CACHE:-/var/cache/kofn-docker}
tarball="$cache/postgres-15-bookworm-rootfs.tar"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap; }
  mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  root="$work/root"
  mkdir "$root"
  echo "PostgreSQL image $TAG: debootstrap bookworm + postgresql-15 from $mirror"
  debootstrap --variant=minbase --include=postgresql-15 bookworm "$root" "$mirror" >/dev/null
  # The official image's postgres uid/gid, so a data volume can move between it and this one.
  old_uid=$(chroot "$root" id -u postgres)
  old_gid=$(chroot "$root" id -g postgres)
  chroot "$root" groupmod -g 999 postgres
  chroot "$root" usermod -u 999 -g 999 postgres
  chroot "$root" find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 999:999 {} +
  # Debian's package made a cluster of its own under /var/lib/postgresql/15: the entry point makes its own.
  rm -rf "$root"/var/lib/postgresql/15 "$root"/etc/postgresql/15
  install -d -o 999 -g 999 -m 0700 "$root/var/lib/postgresql/data"
  install -d -o 999 -g 999 -m 2775 "$root/var/run/postgresql"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  mkdir -p "$cache"
  tar -C "$root" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
else
  echo "PostgreSQL image $TAG: from the cached root $tarball"
fi
# The entry point goes on top of the cached root, so changing it needs no new debootstrap.
docker import "$tarball" "kofn/postgres-rootfs:15-bookworm" >/dev/null
ctx="$work/context"
mkdir "$ctx"
cp "$here/postgres-entrypoint.sh" "$ctx/"
cat >"$ctx/Dockerfile" <<EOF
FROM kofn/postgres-rootfs:15-bookworm
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data \\
    LANG=C.UTF-8
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
docker build -q -t "$TAG" "$ctx" >/dev/null
echo "PostgreSQL image $TAG: made ($(docker run --rm --entrypoint postgres "$TAG" --version))"
