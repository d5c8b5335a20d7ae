#!/usr/bin/env bash
# End-to-end check of a VersaHub deployment on a real Kubernetes cluster (after `pulumi up`).
# What the local test cluster cannot show (its node runs no containers) is checked here:
# the pods run, the hub answers through the proxy, the login page, OPA's health and a
# decision, and one real launch through the hub's API (image build, pod, network policy),
# then its stop. Read-only apart from that one server, which it removes at the end.
#
#   scripts/k8s-smoke.sh --stack local --user alice                 # stack outputs via pulumi
#   scripts/k8s-smoke.sh --namespace versahub --url https://hub.example.org --token "$TOKEN"
#   scripts/k8s-smoke.sh --stack local --user alice --port-forward  # no route to the node port
#
# Needs: kubectl (pointing at the cluster), curl, python3; pulumi for --stack.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/k8s-smoke.sh [options]

Verify a VersaHub deployment end to end on a real cluster.

  --stack NAME        read hubUrl, namespace and adminSecret from `pulumi stack output`
  --namespace NS      the site's namespace (default: the stack's, else versahub)
  --url URL           the hub's public URL (default: the stack's hubUrl)
  --port-forward      reach the proxy through `kubectl port-forward svc/proxy-public`
                      instead of --url (for a node port or load balancer you cannot reach)
  --user NAME         log in as NAME with the demo password from the admin secret
  --password PW       the password (default: demo-password of the admin secret)
  --token TOKEN       a hub API token of the user instead of a login (SSO sites);
                      also VERSAHUB_SMOKE_TOKEN
  --repo URL          repository to launch (default: binder-examples/requirements)
  --ref REF           its ref (default: HEAD)
  --no-launch         check everything but the launch
  --timeout SECONDS   how long the launch (a first image build) may take (default: 1200)
  -h, --help          this help

The launched server has internet off: from inside it the hub must answer and an outside
address ($OUTSIDE, default 1.1.1.1:443), the cloud metadata address and OPA must not. That
fails on a cluster whose network plugin does not enforce NetworkPolicies.

Exit status: 0 when every check passed, 1 at the first failed check (named on stderr),
2 on bad usage.
EOF
}

STACK="" NS="" URL="" USER_NAME="" PASSWORD="" TOKEN="${VERSAHUB_SMOKE_TOKEN:-}"
REPO="https://github.com/binder-examples/requirements" REF="HEAD"
LAUNCH=1 TIMEOUT=1200 PORT_FORWARD=0 ADMIN_SECRET="versahub-hub"
SERVER="k8s-smoke"

while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK="${2:?--stack needs a name}"; shift 2 ;;
    --namespace) NS="${2:?--namespace needs a name}"; shift 2 ;;
    --url) URL="${2:?--url needs a URL}"; shift 2 ;;
    --port-forward) PORT_FORWARD=1; shift ;;
    --user) USER_NAME="${2:?--user needs a name}"; shift 2 ;;
    --password) PASSWORD="${2:?--password needs a value}"; shift 2 ;;
    --token) TOKEN="${2:?--token needs a value}"; shift 2 ;;
    --repo) REPO="${2:?--repo needs a URL}"; shift 2 ;;
    --ref) REF="${2:?--ref needs a ref}"; shift 2 ;;
    --no-launch) LAUNCH=0; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs seconds}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "k8s-smoke: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$TIMEOUT" in ''|*[!0-9]*) echo "k8s-smoke: --timeout must be seconds" >&2; exit 2 ;; esac

WORK="$(mktemp -d)"
PF_PIDS=()
cleanup() {
  local pid
  for pid in "${PF_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done  # only ours
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '==> %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() { printf 'k8s-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "k8s-smoke: $1 is not installed" >&2; exit 2; }; }
json() {  # json FILE EXPR: print a value of a JSON document (python3, stdlib only)
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2], {"d": d}); print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

need kubectl; need curl; need python3
[ -z "$STACK" ] || need pulumi

if [ -n "$STACK" ]; then
  step "stack $STACK: outputs"
  pulumi stack output --stack "$STACK" --json > "$WORK/outputs.json" \
    || fail "pulumi stack output --stack $STACK"
  [ -n "$NS" ] || NS="$(json "$WORK/outputs.json" 'd["namespace"]')"
  [ -n "$URL" ] || URL="$(json "$WORK/outputs.json" 'd["hubUrl"]')"
  ADMIN_SECRET="$(json "$WORK/outputs.json" 'd["adminSecret"]')"
  ok "namespace $NS, hub $URL, admin secret $ADMIN_SECRET"
fi
NS="${NS:-versahub}"
K=(kubectl -n "$NS")

step "components are rolled out"
for deployment in hub proxy opa; do
  "${K[@]}" rollout status "deployment/$deployment" --timeout=300s >/dev/null \
    || fail "deployment/$deployment is not available (kubectl -n $NS describe deployment/$deployment)"
  ok "deployment/$deployment"
done
if "${K[@]}" get deployment/registry >/dev/null 2>&1; then
  "${K[@]}" rollout status deployment/registry --timeout=300s >/dev/null \
    || fail "deployment/registry is not available"
  ok "deployment/registry"
fi
"${K[@]}" get networkpolicy default-deny >/dev/null 2>&1 || fail "no default-deny NetworkPolicy"
ok "networkpolicy/default-deny"

port_forward() {  # port_forward SERVICE REMOTE_PORT: prints the local port
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "${K[@]}" port-forward "svc/$1" "$port:$2" >"$WORK/pf-$1.log" 2>&1 &
  PF_PIDS+=("$!")
  for _ in $(seq 1 50); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then echo "$port"; return 0; fi
    sleep 0.2
  done
  fail "kubectl port-forward svc/$1 did not open (see $WORK/pf-$1.log)"
}

step "OPA: health and a decision"
OPA_PORT="$(port_forward opa 8181)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OPA_PORT/health")" = 200 ] \
  || fail "OPA /health does not answer 200"
ok "OPA /health"
curl -s -X POST -H 'Content-Type: application/json' \
  -d '{"input": {"spec": {}, "user": {"name": "k8s-smoke", "groups": [], "admin": false}}}' \
  "http://127.0.0.1:$OPA_PORT/v1/data/versahub/spawn/decision" > "$WORK/decision.json"
[ "$(json "$WORK/decision.json" '"allowed" in d.get("result", {})')" = "true" ] \
  || fail "OPA has no data.versahub.spawn.decision (policies not loaded?): $(head -c 300 "$WORK/decision.json")"
ok "data.versahub.spawn.decision is defined (an invalid input is denied: $(json "$WORK/decision.json" 'd["result"]["allowed"]'))"

if [ "$PORT_FORWARD" = 1 ]; then
  URL="http://127.0.0.1:$(port_forward proxy-public 80)"
fi
[ -n "$URL" ] || fail "no hub URL: give --url or --stack"
URL="${URL%/}"

step "the hub answers through the proxy at $URL"
code="$(curl -s -o /dev/null -w '%{http_code}' "$URL/hub/health")"
[ "$code" = 200 ] || fail "$URL/hub/health answered $code"
ok "/hub/health 200"
curl -s -c "$WORK/jar" -b "$WORK/jar" -o "$WORK/login.html" -w '%{http_code}' "$URL/hub/login" \
  > "$WORK/code" || true
[ "$(cat "$WORK/code")" = 200 ] || fail "$URL/hub/login answered $(cat "$WORK/code")"
grep -q 'name="password"\|/hub/oauth_login\|login' "$WORK/login.html" || fail "no login form at /hub/login"
ok "login page"

if [ "$LAUNCH" = 0 ]; then
  step "all checks passed (launch skipped)"
  exit 0
fi

api() {  # api METHOD PATH [JSON]: prints the status, the body in $WORK/body.json
  local args=(-s -o "$WORK/body.json" -w '%{http_code}' -X "$1" -H "Authorization: token $TOKEN")
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$URL$2"
}

if [ -z "$TOKEN" ]; then
  [ -n "$USER_NAME" ] || fail "give --user (demo login) or --token"
  if [ -z "$PASSWORD" ]; then
    PASSWORD="$("${K[@]}" get secret "$ADMIN_SECRET" -o jsonpath='{.data.demo-password}' | base64 -d)" \
      || fail "cannot read demo-password from secret $ADMIN_SECRET"
  fi
  step "log in as $USER_NAME and make a token"
  xsrf="$(sed -n 's/.*name="_xsrf" value="\([^"]*\)".*/\1/p' "$WORK/login.html" | head -n 1)"
  code="$(curl -s -c "$WORK/jar" -b "$WORK/jar" -o /dev/null -w '%{http_code}' \
    --data-urlencode "username=$USER_NAME" --data-urlencode "password=$PASSWORD" \
    --data-urlencode "_xsrf=$xsrf" "$URL/hub/login")"
  [ "$code" = 302 ] || fail "login as $USER_NAME answered $code (wrong password?)"
  cookie_xsrf="$(awk '$6 == "_xsrf" {print $7}' "$WORK/jar" | tail -n 1)"
  code="$(curl -s -b "$WORK/jar" -o "$WORK/token.json" -w '%{http_code}' -X POST \
    -H "X-XSRFToken: $cookie_xsrf" -H 'Content-Type: application/json' \
    -d '{"note": "k8s-smoke", "expires_in": 3600}' "$URL/hub/api/users/$USER_NAME/tokens")"
  [ "$code" = 201 ] || fail "token request answered $code: $(head -c 300 "$WORK/token.json")"
  TOKEN="$(json "$WORK/token.json" 'd["token"]')"
  ok "token (expires in an hour)"
fi
code="$(api GET /hub/api/user)"
[ "$code" = 200 ] || fail "GET /hub/api/user with the token answered $code"
USER_NAME="$(json "$WORK/body.json" 'd["name"]')"

SPEC="{\"repo\": \"$REPO\", \"ref\": \"$REF\", \"server_name\": \"$SERVER\", \"internet\": false}"
step "launch $REPO@$REF as $USER_NAME/$SERVER through the hub's API"
code="$(api POST /hub/api/versahub/check "{\"spec\": $SPEC}")"
[ "$code" = 200 ] || fail "check answered $code: $(head -c 300 "$WORK/body.json")"
[ "$(json "$WORK/body.json" 'd["decision"]["allowed"]')" = "true" ] \
  || fail "the site's policies deny this launch: $(json "$WORK/body.json" 'd["decision"]["deny"]')"
confirmation="$(json "$WORK/body.json" 'd.get("confirmation") or ""')"
code="$(api POST /hub/api/versahub/launch "{\"spec\": $SPEC, \"confirmation\": \"$confirmation\"}")"
case "$code" in
  200|202) ok "launch accepted ($(json "$WORK/body.json" 'd["status"]'))" ;;
  *) fail "launch answered $code: $(head -c 500 "$WORK/body.json")" ;;
esac

deadline=$(( $(date +%s) + TIMEOUT ))
status=starting
while [ "$status" = starting ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the launch did not finish in $TIMEOUT s"
  sleep 5
  api GET "/hub/api/versahub/launch/$SERVER" >/dev/null
  status="$(json "$WORK/body.json" 'd["status"]')"
  printf '    … %s %s\n' "$status" "$(json "$WORK/body.json" 'd.get("phase") or ""')"
done
[ "$status" = ready ] || fail "the launch ended $status: $(json "$WORK/body.json" 'd.get("message")')"
ok "server ready"

# the spawner labels a server's objects with versahub.org/server-id: sha256("owner/name")[:16]
SERVER_ID="$(python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16])' "$USER_NAME/$SERVER")"
SELECTOR="versahub.org/server-id=$SERVER_ID,app.kubernetes.io/component=singleuser-server"
pods="$("${K[@]}" get pods -l "$SELECTOR" -o name)"
[ -n "$pods" ] || fail "no pod labelled $SELECTOR"
ok "server pod: $pods"
"${K[@]}" get pods -l "$SELECTOR" -o jsonpath='{.items[0].spec.containers[0].securityContext.runAsNonRoot} {.items[0].spec.containers[0].securityContext.allowPrivilegeEscalation}' > "$WORK/ctx"
[ "$(cat "$WORK/ctx")" = "true false" ] || fail "the server pod's security context is not restricted: $(cat "$WORK/ctx")"
ok "server pod runs as non-root without privilege escalation"
[ -n "$("${K[@]}" get networkpolicy -l "versahub.org/server-id=$SERVER_ID" -o name)" ] \
  || fail "no NetworkPolicy for the server (label versahub.org/server-id=$SERVER_ID)"
ok "the server's NetworkPolicy exists"
code="$(api GET "/user/$USER_NAME/$SERVER/api")"
[ "$code" = 200 ] || fail "the server's /api answered $code through the proxy"
ok "the server answers through the proxy"

# Internet off is only as good as the network plugin: a plugin that ignores NetworkPolicies
# (flannel alone) stores them and enforces nothing. Try from inside the server: the hub must
# answer; an outside address, the cloud metadata address and OPA must not.
step "internet off, from inside the server (does the network plugin enforce policies?)"
pod="${pods#pod/}"
cat > "$WORK/probe.py" <<'PY'
import socket, sys
def reach(host, port):
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        return "open"
    except OSError as err:
        return f"closed ({err.__class__.__name__})"
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    print(target, reach(host, port))
PY
hub_target="${HUB_SERVICE:-hub}:${HUB_PORT:-8081}"
"${K[@]}" exec -i "$pod" -- python3 - "$hub_target" "${OUTSIDE:-1.1.1.1:443}" \
  169.254.169.254:80 "opa:8181" < "$WORK/probe.py" > "$WORK/probe.out" 2>&1 \
  || fail "could not run a probe in $pod: $(head -c 300 "$WORK/probe.out")"
sed 's/^/    /' "$WORK/probe.out"
grep -q "^$hub_target open" "$WORK/probe.out" || fail "the server cannot reach the hub at $hub_target"
if grep -v "^$hub_target " "$WORK/probe.out" | grep -q " open"; then
  fail "a server without internet reached an address it must not: the cluster's network plugin does not enforce NetworkPolicies (use Calico, Cilium, kube-router or your cloud's option)"
fi
ok "only the hub is reachable from a server without internet"

step "stop and remove the server"
code="$(api DELETE "/hub/api/users/$USER_NAME/servers/$SERVER" '{"remove": true}')"
case "$code" in 202|204) ok "stop requested ($code)" ;; *) fail "stop answered $code" ;; esac
for _ in $(seq 1 60); do
  left="$("${K[@]}" get pods -l "$SELECTOR" -o name)"
  [ -n "$left" ] || break
  sleep 2
done
[ -z "$left" ] || fail "server pods left after the stop: $left"
ok "no server pod left"

step "all checks passed"
