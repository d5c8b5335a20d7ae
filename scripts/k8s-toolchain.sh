#!/usr/bin/env bash
# Build the Kubernetes/Pulumi toolchain VersaHub's cluster path is tested with, from the Go
# module proxy, into a cache outside the work tree. Idempotent: a tool whose stamp matches its
# pinned version is skipped. Cold: ~45-60 min on 2 cores; warm: seconds.
#
#   scripts/k8s-toolchain.sh          # build what is missing, link it into .tools/k8s/bin
#   scripts/k8s-toolchain.sh --check  # exit 0 when everything is built, 1 otherwise
#
# Tools (pinned; see docs/deploy-kubernetes.md for why these versions):
#   pulumi CLI, the Python language host (the last one published as a Go module, sdk/v3 v3.79.0)
#   and its exec shim, pulumi-resource-kubernetes (schema embedded from the module zip, stamped
#   with the version of the pip SDK), kube-apiserver, kube-controller-manager, kube-scheduler and
#   kubectl (one k8s.io/kubernetes wrapper module), etcd, kwok (a simulated node).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VERSAHUB_CACHE:-$HOME/.cache/versahub}/k8s"
BIN="$CACHE/bin"
SRC="$CACHE/src"
LINK="$ROOT/.tools/k8s/bin"

PULUMI_VERSION=v3.274.1
LANGPY_VERSION=v3.79.0
K8S_PROVIDER_MODULE=v4.0.0-20260115033456-f47bc2d6f199
K8S_PROVIDER_SDK=v4.24.0
K8S_PROVIDER_VERSION=4.25.0   # must equal pip pulumi-kubernetes (pyproject.toml)
KUBE_VERSION=v1.36.3
KUBE_STAGING=v0.36.3
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="-buildvcs=false -p=2"

step() { printf '\n==> %s\n' "$*"; }
stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" > "$BIN/$1.version"; }
fail_log() { echo "error: step failed; the end of $1:" >&2; tail -n 30 "$1" >&2; exit 1; }

# run CMD... in the background, printing a line every 30 s so long builds show they are alive
with_progress() {
  local label="$1"; shift
  local t0; t0=$(date +%s)
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    local s=$(( $(date +%s) - t0 ))
    if kill -0 "$pid" 2>/dev/null && [ $((s % 30)) -lt 5 ]; then echo "    … $label ($s s)"; fi
  done
  wait "$pid"
  echo "    $label done in $(( $(date +%s) - t0 )) s"
}

wanted=(pulumi:$PULUMI_VERSION pulumi-language-python:$LANGPY_VERSION
        pulumi-resource-kubernetes:$K8S_PROVIDER_VERSION kube-apiserver:$KUBE_VERSION
        kube-controller-manager:$KUBE_VERSION kube-scheduler:$KUBE_VERSION kubectl:$KUBE_VERSION
        etcd:$ETCD_VERSION kwok:$KWOK_VERSION)

all_built() {
  local item
  for item in "${wanted[@]}"; do stamp_ok "${item%%:*}" "${item#*:}" || return 1; done
  [ -x "$BIN/pulumi-language-python-exec" ]
}

if [ "${1:-}" = "--check" ]; then
  all_built
  exit $?
fi

command -v go >/dev/null || { echo "error: the Go toolchain (/usr/local/go/bin/go) is needed" >&2; exit 1; }
mkdir -p "$BIN" "$SRC" "$LINK"
T0=$(date +%s)

# A wrapper module per tool: go.mod written here, `go get` at pinned versions, `go build`.
module() {  # module NAME GO_VERSION [extra go.mod lines...]
  local dir="$SRC/$1" go="$2"; shift 2
  rm -rf "$dir"; mkdir -p "$dir"
  { printf 'module versahub.local/%s\n\ngo %s\n' "$(basename "$dir")" "$go"; printf '%s\n' "$@"; } > "$dir/go.mod"
  echo "$dir"
}

if ! stamp_ok etcd $ETCD_VERSION; then
  step "etcd $ETCD_VERSION"
  d=$(module etcd 1.26.0 "replace (" \
      "	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION" \
      "	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION" \
      "	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION" \
      "	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION" ")")
  ( cd "$d" && go get go.etcd.io/etcd/server/v3@$ETCD_VERSION go.etcd.io/etcd/api/v3@$ETCD_VERSION \
      go.etcd.io/etcd/client/pkg/v3@$ETCD_VERSION go.etcd.io/etcd/client/v3@$ETCD_VERSION \
      go.etcd.io/etcd/pkg/v3@$ETCD_VERSION ) >"$CACHE/go-get.log" 2>&1 || fail_log "$CACHE/go-get.log"
  with_progress "go build etcd" bash -c "cd '$d' && nice -n 19 go build -ldflags '-s -w' -o '$BIN/etcd' go.etcd.io/etcd/server/v3"
  stamp etcd $ETCD_VERSION
fi

kube_missing=()
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  stamp_ok $c $KUBE_VERSION || kube_missing+=("$c")
done
if [ ${#kube_missing[@]} -gt 0 ]; then
  step "Kubernetes $KUBE_VERSION: ${kube_missing[*]}"
  modinfo=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json k8s.io/kubernetes@$KUBE_VERSION)
  gomod=$(printf '%s' "$modinfo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  replaces=$(sed -n '/^replace (/,/^)/p' "$gomod" | awk '/=> .\/staging/ {print "\t" $1 " => " $1 " '$KUBE_STAGING'"}')
  d=$(module kube 1.26.0 "godebug default=go1.26" "" "replace (" "$replaces" ")")
  ( cd "$d" && go get k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION \
      k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION \
      k8s.io/kubernetes/cmd/kube-scheduler@$KUBE_VERSION k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION ) >"$CACHE/go-get.log" 2>&1 || fail_log "$CACHE/go-get.log"
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  LD="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LD="$LD -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  for c in "${kube_missing[@]}"; do
    with_progress "go build $c" bash -c "cd '$d' && nice -n 19 go build -ldflags '$LD' -o '$BIN/$c' k8s.io/kubernetes/cmd/$c"
    stamp $c $KUBE_VERSION
  done
fi

if ! stamp_ok kwok $KWOK_VERSION; then
  step "kwok $KWOK_VERSION (simulated node)"
  with_progress "go install kwok" bash -c "cd /tmp && GOBIN='$BIN' GOFLAGS='-buildvcs=false -p=2 -mod=mod' nice -n 19 go install -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  stamp kwok $KWOK_VERSION
fi
# kwok's stage definitions (fast node start, pods Ready/Complete/Delete) come from its module zip
kwok_src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json sigs.k8s.io/kwok@$KWOK_VERSION | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
stages="$CACHE/kwok-stages.yaml"
if [ ! -s "$stages" ]; then
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml \
           pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$kwok_src/kustomize/stage/$f"; echo "---"
  done > "$stages.tmp"
  mv "$stages.tmp" "$stages"
fi

if ! stamp_ok pulumi $PULUMI_VERSION; then
  step "Pulumi CLI $PULUMI_VERSION (about 10 min cold)"
  d=$(module pulumicli 1.26.6 "" "replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e")
  ( cd "$d" && go get github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION \
      github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION ) >"$CACHE/go-get.log" 2>&1 || fail_log "$CACHE/go-get.log"
  with_progress "go build pulumi" bash -c "cd '$d' && nice -n 19 go build -ldflags '-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION' -o '$BIN/pulumi' github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
  stamp pulumi $PULUMI_VERSION
fi

if ! stamp_ok pulumi-language-python $LANGPY_VERSION || [ ! -x "$BIN/pulumi-language-python-exec" ]; then
  step "Pulumi Python language host $LANGPY_VERSION (the last published as a Go module) + exec shim"
  d=$(module langpy 1.21 "" "replace golang.org/x/text => golang.org/x/text v0.3.6")
  ( cd "$d" && go get github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@$LANGPY_VERSION ) >"$CACHE/go-get.log" 2>&1 || fail_log "$CACHE/go-get.log"
  with_progress "go build pulumi-language-python" bash -c "cd '$d' && nice -n 19 go build -ldflags '-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LANGPY_VERSION' -o '$BIN/pulumi-language-python' github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"
  sdkdir=$(cd "$d" && go mod download -json github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  install -m 755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
  stamp pulumi-language-python $LANGPY_VERSION
fi

if ! stamp_ok pulumi-resource-kubernetes $K8S_PROVIDER_VERSION; then
  step "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION (about 20 min cold)"
  d=$(module k8sprov 1.24.7)
  ( cd "$d" && go get github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes@$K8S_PROVIDER_MODULE \
      github.com/pulumi/pulumi-kubernetes/sdk/v4@$K8S_PROVIDER_SDK ) >"$CACHE/go-get.log" 2>&1 || fail_log "$CACHE/go-get.log"
  up=$(cd "$d" && go list -m -json github.com/pulumi/pulumi-kubernetes/provider/v4 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/cmd/pulumi-resource-kubernetes
  mkdir -p "$d/cmd/pulumi-resource-kubernetes"
  # upstream's main embeds a schema generated at build time; generate it the same way from the
  # schema.json that ships in the module zip, stamped with the version the pip SDK declares
  python3 - "$up" "$d/cmd/pulumi-resource-kubernetes" "$K8S_PROVIDER_VERSION" <<'EOF'
import json, sys
src, dst, version = sys.argv[1:]
schema = json.load(open(f"{src}/schema.json")); schema["version"] = version
json.dump(schema, open(f"{dst}/schema-embed.json", "w"), separators=(",", ":"))
json.dump(json.load(open(f"{src}/terraform-mapping.json")), open(f"{dst}/terraform-mapping-embed.json", "w"), separators=(",", ":"))
EOF
  cat > "$d/cmd/pulumi-resource-kubernetes/main.go" <<'EOF'
// Same as upstream cmd/pulumi-resource-kubernetes/main.go; the embedded files are generated
// by scripts/k8s-toolchain.sh from the module zip's schema.json.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
EOF
  with_progress "go build pulumi-resource-kubernetes" bash -c "cd '$d' && nice -n 19 go build -ldflags '-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION' -o '$BIN/pulumi-resource-kubernetes' ./cmd/pulumi-resource-kubernetes"
  stamp pulumi-resource-kubernetes $K8S_PROVIDER_VERSION
fi

for f in "$BIN"/*; do
  case "$f" in *.version) continue ;; esac
  ln -sf "$f" "$LINK/$(basename "$f")"
done
ln -sf "$stages" "$ROOT/.tools/k8s/kwok-stages.yaml"
echo "    toolchain in $BIN ($(du -sh "$BIN" | cut -f1)), linked into .tools/k8s/bin; $(( $(date +%s) - T0 )) s"
