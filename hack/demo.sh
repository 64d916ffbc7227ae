#!/usr/bin/env bash
# One-command demo: a real kube-apiserver (built once and cached), the EDAS simulator with its
# built-in demo fleet, the operator (out of cluster, with the RBAC-limited identity), and the
# example EdasAppMembership applied. Shows the resource go Ready and the ECCs change.
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

say "watching it converge (kubectl get eam -n demo)"
for _ in $(seq 12); do
  k -n demo get eam --no-headers 2>/dev/null || true
  if k -n demo wait --for=condition=Ready --timeout=5s eam --all >/dev/null 2>&1; then break; fi
done
k -n demo wait --for=condition=Ready --timeout=120s eam --all
k -n demo get eam

say "the demo app's ECCs after"
ALIBABA_CLOUD_ACCESS_KEY_ID=demo-access-key-id ALIBABA_CLOUD_ACCESS_KEY_SECRET=demo-access-key-secret \
  "$BIN" edas status --edas-endpoint "$SIM" --app-id "$APP" --region cn-hangzhou

say "events"
k -n demo get events.events.k8s.io --sort-by=.metadata.creationTimestamp \
  -o custom-columns=TYPE:.type,REASON:.reason,NOTE:.note | tail -n 8

say "status (conditions and the change order)"
k -n demo get eam -o jsonpath='{range .items[*].status.conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}'
k -n demo get eam -o jsonpath='{range .items[*].status.history[*]}{.id} {.status} {.eccIds}{"\n"}{end}'

if [[ $KEEP -eq 1 ]]; then
  say "left running"
  echo "kubectl --kubeconfig $ADMIN_KUBECONFIG -n demo get eam"
  echo "simulator: $SIM/_sim/state   operator metrics: http://127.0.0.1:$METRICS_PORT/metrics"
  echo "logs: $WORK; stop with: kill ${PIDS[*]}; hack/control-plane.sh stop $WORK/cp"
fi
