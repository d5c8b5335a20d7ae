#!/usr/bin/env bash
# A local Kubernetes control plane on 127.0.0.1 for VersaHub's cluster tests
# (docs/kubernetes-local-cluster.md): etcd, kube-apiserver with its own PKI (RBAC + Node
# authorization), kube-controller-manager, kube-scheduler, and kwok with one simulated node
# (kwok-node-0) on which pods reach Running without any container behind them.
#
#   scripts/k8s-cluster.sh up     [--dir DIR]          # start, wait until usable (idempotent)
#   scripts/k8s-cluster.sh down   [--dir DIR] [--wipe] # stop every process; --wipe removes DIR
#   scripts/k8s-cluster.sh status [--dir DIR]          # exit 0 when all runs and /readyz is ok
#   scripts/k8s-cluster.sh env    [--dir DIR]          # eval "$(scripts/k8s-cluster.sh env)"
#
# DIR (--dir, $VERSAHUB_K8S_DIR or /tmp/versahub-k8s) holds kubeconfig, pki/, etcd/ (empty at
# every start: the cluster keeps no state across down/up, the PKI is kept), logs/ and run/*.pid.
# Binaries come from $VERSAHUB_K8S_BIN or .tools/k8s/bin (built by scripts/k8s-toolchain.sh).
# Ports on 127.0.0.1, from the environment, else from DIR/ports.env (written by `up`), else:
#   VERSAHUB_K8S_APISERVER_PORT=16443  VERSAHUB_K8S_ETCD_PORT=12379  VERSAHUB_K8S_ETCD_PEER_PORT=12380
#   VERSAHUB_K8S_CONTROLLER_MANAGER_PORT=20257  VERSAHUB_K8S_SCHEDULER_PORT=20259
#   VERSAHUB_K8S_KWOK_PORT=20247
# VERSAHUB_K8S_TIMEOUT (seconds, default 180) bounds each wait of `up`.
# Only processes whose PID file is in DIR and whose command line names DIR are ever signalled.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${VERSAHUB_K8S_BIN:-$ROOT/.tools/k8s/bin}"
TIMEOUT="${VERSAHUB_K8S_TIMEOUT:-180}"
NODE=kwok-node-0
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl)
PORT_VARS=(APISERVER_PORT ETCD_PORT ETCD_PEER_PORT CONTROLLER_MANAGER_PORT SCHEDULER_PORT KWOK_PORT)
declare -A PORT_DEFAULT=([APISERVER_PORT]=16443 [ETCD_PORT]=12379 [ETCD_PEER_PORT]=12380
  [CONTROLLER_MANAGER_PORT]=20257 [SCHEDULER_PORT]=20259 [KWOK_PORT]=20247)

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "error: $*" >&2; exit 1; }

cmd="${1:-}"; [ $# -gt 0 ] && shift
DIR="${VERSAHUB_K8S_DIR:-/tmp/versahub-k8s}"
WIPE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; DIR="$2"; shift 2 ;;
    --dir=*) DIR="${1#--dir=}"; shift ;;
    --wipe) WIPE=1; shift ;;
    -h|--help) usage ;;
    *) echo "error: unknown argument: $1" >&2; usage ;;
  esac
done
case "$cmd" in up|down|status|env) ;; -h|--help|"") usage ;; *) echo "error: unknown command: $cmd" >&2; usage ;; esac
[ "$WIPE" = 0 ] || [ "$cmd" = down ] || die "--wipe goes with down"
DIR="$(realpath -m -- "$DIR")"
PKI="$DIR/pki"; RUN="$DIR/run"; LOGS="$DIR/logs"
KUBECONFIG_FILE="$DIR/kubeconfig"
MARKER="$DIR/.versahub-k8s"

# --- ports: environment > DIR/ports.env > defaults ---------------------------------------
declare -A PORT
load_ports() {
  local var saved
  for var in "${PORT_VARS[@]}"; do PORT[$var]="${PORT_DEFAULT[$var]}"; done
  if [ -f "$DIR/ports.env" ]; then
    while IFS='=' read -r var saved; do
      var="${var#VERSAHUB_K8S_}"
      [ -n "${PORT_DEFAULT[$var]+x}" ] && PORT[$var]="$saved"
    done < "$DIR/ports.env"
  fi
  for var in "${PORT_VARS[@]}"; do
    saved="VERSAHUB_K8S_$var"
    [ -n "${!saved:-}" ] && PORT[$var]="${!saved}"
    [[ "${PORT[$var]}" =~ ^[0-9]+$ ]] && [ "${PORT[$var]}" -gt 0 ] && [ "${PORT[$var]}" -lt 65536 ] ||
      die "VERSAHUB_K8S_$var=${PORT[$var]} is not a port number"
  done
}
load_ports
port_of() {  # the port a component listens on (for messages)
  case "$1" in
    etcd) echo "${PORT[ETCD_PORT]}" ;; kube-apiserver) echo "${PORT[APISERVER_PORT]}" ;;
    kube-controller-manager) echo "${PORT[CONTROLLER_MANAGER_PORT]}" ;;
    kube-scheduler) echo "${PORT[SCHEDULER_PORT]}" ;; kwok) echo "${PORT[KWOK_PORT]}" ;;
  esac
}

# --- time -----------------------------------------------------------------------------------
now_ms() { local t="${EPOCHREALTIME//[.,]/}"; echo $(( t / 1000 )); }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d s' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }

# --- processes: only ours, recognised by PID file and DIR in the command line --------------
pid_of() {  # prints the PID of a running component of this DIR, or fails
  local pid
  pid="$(cat "$RUN/$1.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && still_ours "$pid" || return 1
  echo "$pid"
}
still_ours() {  # still_ours PID : alive (not a zombie) and started for this DIR
  local cmdline
  cmdline="$(tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline")" || return 1
  [[ "$cmdline" == *"$DIR/"* ]]
}
running() { pid_of "$1" >/dev/null; }

start() {  # start NAME CMD... : detached (own session), output to logs/NAME.log
  local name="$1" pid i; shift
  setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  pid=$!
  echo "$pid" > "$RUN/$name.pid"
  # Until the child has exec'd, /proc/PID/cmdline is still this script's, so `running` would
  # call it gone; on a loaded machine that window lasts long enough to be seen (CI once
  # reported "kube-apiserver exited" for a server that was starting). Wait for the exec, or
  # for the child to die, for at most 10 s.
  for (( i = 0; i < 200; i++ )); do
    still_ours "$pid" && return 0
    [ -d "/proc/$pid" ] || return 0
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
    sleep 0.05
  done
}

stop() {  # stop NAME... : SIGTERM them together, wait for each, SIGKILL after a bound
  local name pid t0 bound i
  local -a names=() pids=()
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then
      kill -TERM "$pid" 2>/dev/null || true
      names+=("$name"); pids+=("$pid")
    fi
  done
  t0=$(now_ms)
  for i in "${!names[@]}"; do
    name="${names[$i]}"; pid="${pids[$i]}"
    # the API server drains its requests for up to ~20 s after SIGTERM; the others exit at once
    bound=30; [ "$name" = kube-apiserver ] && bound=60
    while still_ours "$pid" && [ $(( $(now_ms) - t0 )) -lt $(( bound * 1000 )) ]; do sleep 0.2; done
    if still_ours "$pid"; then
      echo "    $name (pid $pid) still running after ${bound} s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while still_ours "$pid"; do sleep 0.1; done
    fi
    rm -f "$RUN/$name.pid"
    echo "    stopped $name (pid $pid) after $(since "$t0")"
  done
  for name in "$@"; do rm -f "$RUN/$name.pid"; done
}

stop_all() {
  stop kwok kube-scheduler kube-controller-manager
  stop kube-apiserver
  stop etcd
}

# --- checks ---------------------------------------------------------------------------------
curl_api() {  # curl_api PATH : GET on the API server as the admin
  curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:${PORT[APISERVER_PORT]}$1"
}
kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=10s "$@"; }
readyz() { [ "$(curl_api /readyz 2>/dev/null)" = ok ]; }
node_ready() {
  [ "$(kctl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
default_sa() { kctl get serviceaccount default -n default -o name >/dev/null 2>&1; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tools_present() {
  local t missing=()
  for t in "${TOOLS[@]}"; do [ -x "$BIN/$t" ] || missing+=("$t"); done
  [ -f "$STAGES" ] || missing+=("kwok-stages.yaml")
  [ ${#missing[@]} -eq 0 ] && return 0
  die "missing in $BIN: ${missing[*]} — run scripts/k8s-toolchain.sh (or set VERSAHUB_K8S_BIN)"
}
STAGES="${VERSAHUB_K8S_STAGES:-$(dirname "$BIN")/kwok-stages.yaml}"

# wait_for LABEL COMPONENT CHECK... : poll CHECK until it passes; fail early if COMPONENT died
wait_for() {
  local label="$1" component="$2"; shift 2
  local t0; t0=$(now_ms)
  until "$@"; do
    if [ -n "$component" ] && ! running "$component"; then
      fail "$component exited while waiting for $label" "$component"
    fi
    if [ $(( $(now_ms) - t0 )) -gt $(( TIMEOUT * 1000 )) ]; then
      fail "$label: not ready after $TIMEOUT s" "$component"
    fi
    sleep 0.2
  done
}

fail() {  # fail MESSAGE [COMPONENT] : show the end of its log, stop everything, exit 1
  trap - ERR
  set +e
  echo "error: $1" >&2
  if [ -n "${2:-}" ] && [ -f "$LOGS/$2.log" ]; then
    echo "--- the end of $LOGS/$2.log:" >&2
    tail -n 25 "$LOGS/$2.log" >&2
    echo "---" >&2
  fi
  echo "stopping what was started (logs stay in $LOGS)" >&2
  stop_all >&2
  exit 1
}

# --- PKI and kubeconfigs ----------------------------------------------------------------------
make_pki() {
  [ -f "$PKI/.complete" ] && return 0
  rm -rf "$PKI"; mkdir -p "$PKI"; chmod 700 "$PKI"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
    -subj "/CN=versahub-local-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  leaf() {  # leaf NAME SUBJECT EXTENSIONS
    openssl req "${ec[@]}" -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
      -CAserial "$PKI/ca.srl" -CAcreateserial -days 3650 -out "$PKI/$1.crt" \
      -extfile <(printf '%b' "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n$3") 2>/dev/null
    rm -f "$PKI/$1.csr"
  }
  local san="IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default"
  san="$san,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  leaf apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth\nsubjectAltName=$san"
  # every client is in system:masters: this cluster tests VersaHub's objects, not the
  # control plane's own RBAC; each has its own CN so the audit and logs tell them apart
  leaf admin "/O=system:masters/CN=versahub-admin" "extendedKeyUsage=clientAuth"
  leaf controller-manager "/O=system:masters/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  leaf scheduler "/O=system:masters/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  leaf kwok "/O=system:masters/CN=kwok-controller" "extendedKeyUsage=clientAuth"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
  touch "$PKI/.complete"
}

write_kubeconfig() {  # write_kubeconfig FILE CLIENT
  local b64=(base64 -w0)
  umask 077
  cat > "$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: versahub-local
  cluster:
    server: https://127.0.0.1:${PORT[APISERVER_PORT]}
    certificate-authority-data: $("${b64[@]}" < "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $("${b64[@]}" < "$PKI/$2.crt")
    client-key-data: $("${b64[@]}" < "$PKI/$2.key")
contexts:
- name: versahub-local
  context:
    cluster: versahub-local
    user: $2
    namespace: default
current-context: versahub-local
EOF
  mv "$1.tmp" "$1"
  umask 022
}

write_node() {
  cat > "$DIR/node.yaml" <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $NODE
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: $NODE
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
status:
  allocatable: {cpu: "32", memory: 256Gi, ephemeral-storage: 1Ti, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, ephemeral-storage: 1Ti, pods: "110"}
EOF
}

# --- commands ---------------------------------------------------------------------------------
cmd_status() {
  local name pid ok=0 ok_node
  echo "local Kubernetes control plane in $DIR"
  for name in "${COMPONENTS[@]}"; do
    if pid="$(pid_of "$name")"; then
      printf '  %-24s running   pid %-7s 127.0.0.1:%s\n' "$name" "$pid" "$(port_of "$name")"
    else
      printf '  %-24s stopped\n' "$name"; ok=1
    fi
  done
  if running kube-apiserver && readyz; then
    echo "  /readyz                  ok"
    if node_ready; then ok_node=Ready; else ok_node="not Ready"; fi
    printf '  %-24s %s\n' "node $NODE" "$ok_node"
  elif running kube-apiserver; then
    echo "  /readyz                  not ok"; ok=1
  fi
  [ $ok = 0 ] && echo "  kubeconfig               $KUBECONFIG_FILE"
  return $ok
}

all_running() {
  local name
  for name in "${COMPONENTS[@]}"; do running "$name" || return 1; done
  readyz
}

cmd_up() {
  tools_present
  if all_running; then
    echo "already running in $DIR (apiserver 127.0.0.1:${PORT[APISERVER_PORT]}); KUBECONFIG=$KUBECONFIG_FILE"
    return 0
  fi
  local name var t0 t
  t0=$(now_ms)
  echo "==> local Kubernetes control plane in $DIR"
  set -o errtrace
  trap 'fail "unexpected error in $0 line $LINENO"' ERR
  for name in "${COMPONENTS[@]}"; do
    if running "$name"; then
      echo "    part of an earlier start is still running: stopping it first"
      stop_all; break
    fi
  done
  for var in "${PORT_VARS[@]}"; do
    port_busy "${PORT[$var]}" &&
      die "127.0.0.1:${PORT[$var]} is in use by another program: set VERSAHUB_K8S_$var to a free port"
  done
  mkdir -p "$DIR" "$RUN" "$LOGS"
  touch "$MARKER"
  for var in "${PORT_VARS[@]}"; do echo "VERSAHUB_K8S_$var=${PORT[$var]}"; done > "$DIR/ports.env"

  t=$(now_ms)
  make_pki
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$PKI/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$PKI/scheduler.kubeconfig" scheduler
  write_kubeconfig "$PKI/kwok.kubeconfig" kwok
  write_node
  echo "    PKI and kubeconfigs ($(since "$t"))"

  rm -rf "$DIR/etcd"
  local etcd="http://127.0.0.1:${PORT[ETCD_PORT]}" peer="http://127.0.0.1:${PORT[ETCD_PEER_PORT]}"
  start etcd "$BIN/etcd" --name versahub --data-dir "$DIR/etcd" \
    --listen-client-urls "$etcd" --advertise-client-urls "$etcd" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "versahub=$peer" --unsafe-no-fsync --log-level warn
  wait_for "etcd /health" etcd bash -c "curl -sf --max-time 2 '$etcd/health' | grep -q '\"health\":\"true\"'"
  echo "    etcd ready on 127.0.0.1:${PORT[ETCD_PORT]} ($(since "$t0"))"

  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="$etcd" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="${PORT[APISERVER_PORT]}" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --cert-dir="$DIR/apiserver" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --endpoint-reconciler-type=none --profiling=false
  wait_for "kube-apiserver /readyz" kube-apiserver readyz
  echo "    kube-apiserver ready on 127.0.0.1:${PORT[APISERVER_PORT]} ($(since "$t0"))"

  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$PKI/controller-manager.kubeconfig" --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --bind-address=127.0.0.1 --secure-port="${PORT[CONTROLLER_MANAGER_PORT]}" \
    --cert-dir="$DIR/controller-manager" --cluster-name=versahub-local \
    --cluster-cidr=10.244.0.0/16 --service-cluster-ip-range=10.96.0.0/16 --profiling=false
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$PKI/scheduler.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="${PORT[SCHEDULER_PORT]}" \
    --cert-dir="$DIR/scheduler" --profiling=false
  mkdir -p "$DIR/kwok"
  HOME="$DIR/kwok" start kwok "$BIN/kwok" --config="$STAGES" --kubeconfig="$PKI/kwok.kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= \
    --disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom \
    --disregard-status-with-label-selector= \
    --cidr=10.0.0.1/24 --node-ip=10.0.0.1 --server-address="127.0.0.1:${PORT[KWOK_PORT]}"
  kctl apply -f "$DIR/node.yaml" >/dev/null || fail "could not create the node $NODE" kube-apiserver

  healthz() { [ "$(curl -sk --max-time 2 "https://127.0.0.1:$1/healthz" 2>/dev/null)" = ok ]; }
  wait_for "kube-controller-manager /healthz" kube-controller-manager healthz "${PORT[CONTROLLER_MANAGER_PORT]}"
  wait_for "kube-scheduler /healthz" kube-scheduler healthz "${PORT[SCHEDULER_PORT]}"
  # the service account controller creates it; without it no pod is admitted in `default`
  wait_for "the default service account" kube-controller-manager default_sa
  echo "    kube-controller-manager and kube-scheduler ready ($(since "$t0"))"
  wait_for "node $NODE Ready" kwok node_ready
  echo "    node $NODE Ready (kwok: pods reach Running, no container runs)"
  echo "cluster ready in $(since "$t0"): export KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_down() {
  local name any=0 t0
  t0=$(now_ms)
  for name in "${COMPONENTS[@]}"; do running "$name" && any=1; done
  if [ $any = 1 ]; then
    echo "==> stopping the local Kubernetes control plane in $DIR"
    stop_all
    echo "stopped in $(since "$t0")"
  else
    echo "not running ($DIR)"
    rm -f "$RUN"/*.pid 2>/dev/null || true
  fi
  if [ "$WIPE" = 1 ] && [ -d "$DIR" ]; then
    [ -f "$MARKER" ] || die "$DIR was not made by this script (no $(basename "$MARKER")): not removing it"
    rm -rf -- "$DIR"
    echo "removed $DIR"
  fi
}

cmd_env() {
  [ -f "$KUBECONFIG_FILE" ] || die "no kubeconfig in $DIR: run scripts/k8s-cluster.sh up${DIR:+ --dir $DIR}"
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
}

"cmd_$cmd"
