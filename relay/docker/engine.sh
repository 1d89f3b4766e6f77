# Sourced by test-image.sh and test-compose.sh: makes sure a Docker engine answers, starting one when the
# engine is installed but stopped (installing docker.io with apt where it can). Defines kofn_stop_engine,
# which stops only an engine this script started, by its PID; callers run it on exit.
#
# The engine started here (measured in this sandbox, issue #22): no default docker0 bridge, no iptables and
# no IP forwarding. User-defined bridge networks still work (containers reach each other by name and alias
# on the bridge), and ports published on 127.0.0.1 work through Docker's userland proxy; without forwarding
# or NAT no container can send a packet past this machine. --network host works too (test-image.sh).
kofn_engine_up() { docker info >/dev/null 2>&1; }
kofn_started_engine=
kofn_start_engine() {
  kofn_engine_up && return 0
  if ! command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io; } >/tmp/kofn-docker-install.log 2>&1 || true
  fi
  if command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false --pidfile /tmp/kofn-dockerd.pid >/tmp/kofn-dockerd.log 2>&1 &
    kofn_started_engine=$!
    for _ in $(seq 1 30); do kofn_engine_up && break; sleep 1; done
  fi
  kofn_engine_up
}
kofn_stop_engine() {
  if [ -n "$kofn_started_engine" ]; then
    kill "$kofn_started_engine" 2>/dev/null || true
    wait "$kofn_started_engine" 2>/dev/null || true
    kofn_started_engine=
  fi
}
# Images of earlier runs that a rebuild untagged (dangling), kofn's own only: they would fill the disk run by run.
kofn_prune_images() { docker image prune -f --filter label=org.opencontainers.image.vendor=kofn >/dev/null 2>&1 || true; }
