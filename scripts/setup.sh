#!/usr/bin/env bash
# Install what VersaHub needs on this machine, skipping whatever is already there.
# Idempotent and re-runnable; downloads are cached outside the work tree
# (~/.cache/versahub, ~/.cache/pip, ~/.cache/go-build, ~/.npm).
#
#   scripts/setup.sh            # everything `make up` and `make test` need
#   VERSAHUB_SKIP_DOCKER=1 …    # skip the Docker engine (unit tests only)
#   VERSAHUB_SKIP_K8S=1 …       # skip the Kubernetes/Pulumi toolchain (tests/kubernetes skipped)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VERSAHUB_CACHE:-$HOME/.cache/versahub}"
OPA_VERSION="${VERSAHUB_OPA_VERSION:-v1.22.3}"
CHP_VERSION="${VERSAHUB_CHP_VERSION:-5.3.0}"
PY="${PYTHON:-python3}"
TOOLS="$ROOT/.tools"

step() { printf '\n==> %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
elapsed() { echo "    done in $(( $(date +%s) - $1 )) s"; }

mkdir -p "$CACHE/tools" "$TOOLS"

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then
    echo "    apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  echo "    apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

step "Debian packages (git, iproute2, debootstrap, docker-registry, chromium)"
t=$(date +%s)
apt_install git iproute2 debootstrap docker-registry ca-certificates curl chromium
elapsed "$t"

step "Python environment (.venv, versahub[test])"
t=$(date +%s)
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "$PY" -m venv "$ROOT/.venv"
fi
stamp="$ROOT/.venv/.versahub-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  "$ROOT/.venv/bin/pip" install -q --upgrade pip
  "$ROOT/.venv/bin/pip" install -q -e "$ROOT[test]"
  touch "$stamp"
else
  echo "    up to date"
fi
elapsed "$t"

step "OPA $OPA_VERSION (built from the Go module proxy, cached in $CACHE/tools)"
t=$(date +%s)
opa_bin="$CACHE/tools/opa-$OPA_VERSION"
if [ ! -x "$opa_bin" ]; then
  have go || { echo "error: the Go toolchain is needed to build OPA" >&2; exit 1; }
  echo "    go install github.com/open-policy-agent/opa@$OPA_VERSION (a few minutes the first time)"
  tmpbin="$(mktemp -d)"
  ( cd "$tmpbin" && GOBIN="$tmpbin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@$OPA_VERSION" ) &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do sleep 15; kill -0 "$pid" 2>/dev/null && echo "    … still building OPA ($(( $(date +%s) - t )) s)"; done
  wait "$pid"
  mv "$tmpbin/opa" "$opa_bin"
  rm -rf "$tmpbin"
fi
ln -sf "$opa_bin" "$TOOLS/opa"
echo "    $("$TOOLS/opa" version | sed -n 1p)"
elapsed "$t"

step "configurable-http-proxy $CHP_VERSION (npm, into .tools/chp)"
t=$(date +%s)
chp="$TOOLS/chp/node_modules/.bin/configurable-http-proxy"
if [ ! -x "$chp" ] || [ "$("$chp" --version 2>/dev/null)" != "$CHP_VERSION" ]; then
  have npm || apt_install nodejs npm
  npm install --prefix "$TOOLS/chp" --no-fund --no-audit --loglevel=error "configurable-http-proxy@$CHP_VERSION" >/dev/null
fi
echo "    configurable-http-proxy $("$chp" --version)"
elapsed "$t"

if [ "${VERSAHUB_SKIP_DOCKER:-0}" != 1 ] && [ -f "$ROOT/scripts/docker.sh" ]; then
  step "Docker engine and buildx"
  t=$(date +%s)
  bash "$ROOT/scripts/docker.sh"
  elapsed "$t"
fi

step "Kubernetes and Pulumi toolchain (scripts/k8s-toolchain.sh, cached in $CACHE/k8s)"
t=$(date +%s)
if [ "${VERSAHUB_SKIP_K8S:-0}" = 1 ]; then
  echo "    skipped (VERSAHUB_SKIP_K8S=1): the kubernetes tests (tests/kubernetes) will be skipped"
else
  # cold: ~45-60 min of Go builds on 2 cores, with progress; warm: seconds
  bash "$ROOT/scripts/k8s-toolchain.sh"
fi
elapsed "$t"

step "Setup complete"
