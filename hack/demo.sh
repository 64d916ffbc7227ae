#!/usr/bin/env bash
# One-command demo: a real kube-apiserver (built once and cached), the EDAS simulator with its
# built-in demo fleet, the operator (out of cluster, with the RBAC-limited identity), and the
# example EdasAppMembership applied. The example replaces a host: it declares the free host
# i-demo-5 and drops i-demo-4, so the operator adds i-demo-5 (ScaleOut), waits until it runs,
# then removes ecc-demo-4 (ScaleIn). Shows the resource go Ready, the ECCs change, and (from
# the simulator's change orders) that the addition finished before the removal started.
#
#   hack/demo.sh                      everything local; stops it all at the end
#   hack/demo.sh --keep               leave it running (prints how to reach it, and how to stop)
#   hack/demo.sh --existing-cluster   use the cluster of $KUBECONFIG instead of a local one
#                                     (installs the CRD and RBAC there; the operator runs here)
set -euo pipefail
cd "$(dirname "$0")/.."

KEEP=0
EXISTING=0
for a in "$@"; do
  case "$a" in
    --keep) KEEP=1 ;;
    --existing-cluster) EXISTING=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
CACHE="${EDAS_OPERATOR_CACHE:-$HOME/.cache/edas-operator}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/edas-operator-demo.XXXXXX")"
PIDS=()
cleanup() {
  [[ $KEEP -eq 1 ]] && return
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ $EXISTING -eq 0 ]] && hack/control-plane.sh stop "$WORK/cp" >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "building edas-operator"
cargo build --quiet
BIN="$PWD/target/debug/edas-operator"

if [[ $EXISTING -eq 1 ]]; then
  : "${KUBECONFIG:?--existing-cluster needs KUBECONFIG}"
  KUBECTL="$(command -v kubectl)"
  ADMIN_KUBECONFIG="$KUBECONFIG"
  OPERATOR_KUBECONFIG="$KUBECONFIG"
else
  say "starting a local kube-apiserver + etcd (the first run builds them: 10-20 min)"
  hack/control-plane.sh build >&2
  hack/control-plane.sh start "$WORK/cp" >&2
  # shellcheck disable=SC1091
  source "$WORK/cp/env"
fi
k() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

say "installing the CRD and the operator's RBAC"
k apply --server-side -f crds/ >/dev/null
k wait --for=condition=Established --timeout=60s crd/edasappmemberships.edas.operators.dev >/dev/null
k apply -f deploy/namespace.yaml -f deploy/serviceaccount.yaml -f deploy/rbac.yaml >/dev/null

SIM_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
METRICS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SIM="http://127.0.0.1:$SIM_PORT"
say "starting the EDAS simulator (built-in demo fleet) on $SIM"
"$BIN" simulate --listen "127.0.0.1:$SIM_PORT" >"$WORK/simulator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "$SIM/_sim/state" >/dev/null && break; sleep 0.1; done

APP=$(grep -E '^\s+appId:' deploy/examples/membership.yaml | head -1 | awk '{print $2}')
export ALIBABA_CLOUD_ACCESS_KEY_ID=demo-access-key-id ALIBABA_CLOUD_ACCESS_KEY_SECRET=demo-access-key-secret
say "the demo app's ECCs before (edas-operator edas status)"
"$BIN" edas status --edas-endpoint "$SIM" --app-id "$APP" --region cn-hangzhou

say "what the operator would do (edas-operator plan -f deploy/examples/membership.yaml)"
"$BIN" plan --edas-endpoint "$SIM" -f deploy/examples/membership.yaml
unset ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET

say "starting the operator (identity: the edas-operator ServiceAccount, limited by deploy/rbac.yaml)"
"$BIN" run --kubeconfig "$OPERATOR_KUBECONFIG" --watch-namespaces demo \
  --edas-endpoint "$SIM" --metrics-addr "127.0.0.1:$METRICS_PORT" >"$WORK/operator.log" 2>&1 &
PIDS+=($!)

say "applying the example (namespace demo: Secret, RoleBinding, EdasAppMembership)"
k create namespace demo --dry-run=client -o yaml | k apply -f - >/dev/null
sed -e 's/^\(\s*ALIBABA_CLOUD_ACCESS_KEY_ID:\).*/\1 demo-access-key-id/' \
    -e 's/^\(\s*ALIBABA_CLOUD_ACCESS_KEY_SECRET:\).*/\1 demo-access-key-secret/' \
    -e '/ALIBABA_CLOUD_SECURITY_TOKEN/d' deploy/examples/secret.yaml | k -n demo apply -f - >/dev/null
k -n demo apply -f deploy/examples/credentials-rolebinding.yaml >/dev/null
k -n demo apply -f deploy/examples/membership.yaml

say "watching it converge: add i-demo-5 first, then remove ecc-demo-4"
# One line each time what the operator is doing changes: the Synced reason (ChangeOrderRunning,
# WaitingForNewMembers, Converged, ...), the change order and the plan still ahead.
PROGRESS='{.status.conditions[?(@.type=="Synced")].reason}  order: {.status.changeOrder.direction} {.status.changeOrder.status}  to add: {.status.plan.toAdd[*].member}  to remove: {.status.plan.toRemove}'
last=""
for _ in $(seq 60); do
  line=$(k -n demo get eam demo-app -o jsonpath="$PROGRESS" 2>/dev/null || true)
  if [[ -n "$line" && "$line" != "$last" ]]; then echo "$line"; last="$line"; fi
  if k -n demo wait --for=condition=Ready --timeout=2s eam/demo-app >/dev/null 2>&1; then break; fi
done
k -n demo wait --for=condition=Ready --timeout=120s eam/demo-app
k -n demo get eam

say "the demo app's ECCs after"
ALIBABA_CLOUD_ACCESS_KEY_ID=demo-access-key-id ALIBABA_CLOUD_ACCESS_KEY_SECRET=demo-access-key-secret \
  "$BIN" edas status --edas-endpoint "$SIM" --app-id "$APP" --region cn-hangzhou

say "events"
k -n demo get events.events.k8s.io --sort-by=.metadata.creationTimestamp \
  -o custom-columns=TYPE:.type,REASON:.reason,NOTE:.note | tail -n 8

say "status (conditions and the change order)"
k -n demo get eam -o jsonpath='{range .items[*].status.conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}'
k -n demo get eam -o jsonpath='{range .items[*].status.history[*]}{.direction} {.id} {.status}  ECUs: {.ecuIds}  ECCs: {.eccIds}{"\n"}{end}'

say "the order of work, from the simulator's change orders (GET $SIM/_sim/state)"
python3 - "$APP" "$(curl -fs "$SIM/_sim/state")" <<'PY'
import datetime, json, sys
app, state = sys.argv[1], json.loads(sys.argv[2])
orders = sorted((o for o in state["changeOrders"] if o["appId"] == app), key=lambda o: o["createdAt"])


def at(ms):
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S.%f")[:-3] if ms else "(running)"


for o in orders:
    if o["coType"] == "CoScaleOut":
        what = "adds " + ",".join(o["ecuIds"])
    else:
        what = "removes " + ",".join(o["eccIds"])
    print(f"{o['coType']:<10}  created {at(o['createdAt'])}  finished {at(o['finishedAt'])}  status {o['status']}  {what}")
outs = [o for o in orders if o["coType"] == "CoScaleOut"]
ins = [o for o in orders if o["coType"] == "CoScaleIn"]
if not outs or not ins:
    sys.exit("expected a ScaleOut and a ScaleIn order, got: " + (", ".join(o["coType"] for o in orders) or "none"))
added = max(o["finishedAt"] or float("inf") for o in outs)
if added > min(o["createdAt"] for o in ins):
    sys.exit("a ScaleIn was created before the ScaleOut had finished")
print("the ScaleOut finished before the ScaleIn was created: capacity never dipped below 4")
PY

if [[ $KEEP -eq 1 ]]; then
  say "left running"
  echo "kubectl --kubeconfig $ADMIN_KUBECONFIG -n demo get eam"
  echo "simulator: $SIM/_sim/state   operator metrics: http://127.0.0.1:$METRICS_PORT/metrics"
  echo "logs: $WORK; stop with: kill ${PIDS[*]}; hack/control-plane.sh stop $WORK/cp"
fi
