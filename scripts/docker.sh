#!/usr/bin/env bash
# Make a working Docker engine available on this machine; safe to run again and again.
#
# - installs Debian's docker.io when dockerd is missing;
# - installs the docker buildx plugin (repo2docker needs it) from Debian trixie, pinned low so
#   that nothing else comes from trixie, when `docker buildx version` fails;
# - starts dockerd in the background when /var/run/docker.sock does not answer (no systemd here),
#   logging to $VERSAHUB_STATE_DIR/dockerd.log (default /var/log/versahub-dockerd.log);
# - waits for the socket, with progress, then prints the client/server versions.
#
# It never stops a running engine and never touches images or containers.
set -euo pipefail

SOCK=/var/run/docker.sock
LOG="${VERSAHUB_DOCKERD_LOG:-/var/log/versahub-dockerd.log}"
WAIT_SECONDS="${VERSAHUB_DOCKERD_WAIT:-60}"
# Debian's client (20.10) matches Debian's engine; a newer client elsewhere on PATH
# (e.g. /usr/local/bin/docker 28.x) would need DOCKER_API_VERSION. Prefer Debian's.
DOCKER=/usr/bin/docker

say() { printf 'docker.sh: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -q
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "$@"
}

# 1. The engine and Debian's client.
if ! command -v dockerd >/dev/null 2>&1 || [ ! -x "$DOCKER" ]; then
  say "installing docker.io"
  apt_install docker.io
fi

# 2. buildx, from trixie, pinned so that only docker-buildx is ever taken from there.
if ! "$DOCKER" buildx version >/dev/null 2>&1; then
  say "installing docker-buildx from Debian trixie (pinned low)"
  if [ ! -f /etc/apt/sources.list.d/versahub-trixie.sources ]; then
    as_root tee /etc/apt/sources.list.d/versahub-trixie.sources >/dev/null <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    as_root tee /etc/apt/preferences.d/versahub-trixie >/dev/null <<'EOF'
# VersaHub: take nothing from trixie unless asked for by name (docker-buildx only).
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: docker-buildx
Pin: release n=trixie
Pin-Priority: 500
EOF
    apt_updated=0
  fi
  apt_install -t trixie docker-buildx
  "$DOCKER" buildx version >/dev/null
fi

# 3. The daemon.
socket_answers() {
  "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if socket_answers; then
  say "dockerd already answers on $SOCK"
else
  if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd is running but $SOCK does not answer yet; waiting"
  else
    as_root mkdir -p "$(dirname "$LOG")"
    say "starting dockerd (log: $LOG)"
    # setsid + nohup: the daemon outlives this script and the shell that ran it.
    as_root setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
  fi
  waited=0
  until socket_answers; do
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      say "dockerd did not answer within ${WAIT_SECONDS}s; last log lines:"
      tail -n 20 "$LOG" >&2 || true
      exit 1
    fi
    if [ $((waited % 5)) = 0 ]; then say "waiting for $SOCK (${waited}s)"; fi
    sleep 1
    waited=$((waited + 1))
  done
fi

say "client $("$DOCKER" version --format '{{.Client.Version}}') /" \
  "server $("$DOCKER" version --format '{{.Server.Version}}') /" \
  "buildx $("$DOCKER" buildx version | awk '{print $2}')"
