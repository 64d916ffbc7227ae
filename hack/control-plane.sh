#!/usr/bin/env bash
# A real etcd + kube-apiserver on loopback for the operator's e2e tests
# (no Docker, no kubelet/controller-manager/scheduler).
#
#   hack/control-plane.sh build                   build (or reuse) kube-apiserver, kubectl, etcd
#   hack/control-plane.sh start DIR               start etcd + kube-apiserver, data/logs/env under DIR
#   hack/control-plane.sh stop DIR                stop both (idempotent)
#   hack/control-plane.sh restart-apiserver DIR   restart only kube-apiserver (same port, flags, data)
#   hack/control-plane.sh status DIR              print whether they run and where
#
# Environment:
#   EDAS_OPERATOR_CACHE  cache root (default $HOME/.cache/edas-operator); binaries in
#                        $EDAS_OPERATOR_CACHE/k8s/v$VERSION/{kube-apiserver,kubectl,etcd}
#   K8S_VERSION          Kubernetes version to build/use (1.37.2, v1.37.2, or 1.37 = newest patch);
#                        default: newest patch of 1.37, then 1.36, then 1.34 (first that builds)
#   ETCD_VERSION         etcd version to build (default: newest 3.6.x the Go module proxy serves)
#   CP_READY_TIMEOUT     seconds to wait for /readyz (default 120)
#
# See hack/README-control-plane.md.
set -euo pipefail
shopt -s inherit_errexit

CACHE_ROOT="${EDAS_OPERATOR_CACHE:-$HOME/.cache/edas-operator}"
K8S_CACHE="$CACHE_ROOT/k8s"
SELECTED_FILE="$K8S_CACHE/selected-version"
DEFAULT_MINORS=(1.37 1.36 1.34)
READY_TIMEOUT="${CP_READY_TIMEOUT:-120}"
STOP_TIMEOUT=20
ADMIN_USER="test-admin"
OPERATOR_USER="system:serviceaccount:edas-system:edas-operator"
OPERATOR_GROUPS="system:serviceaccounts,system:serviceaccounts:edas-system,system:authenticated"

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# ----------------------------------------------------------------------------- go setup

setup_go() {
  if ! command -v go >/dev/null 2>&1; then
    if [[ -x /usr/local/go/bin/go ]]; then
      export PATH="/usr/local/go/bin:$PATH"
    else
      die "go not found (need Go >= 1.24 and the Go module proxy)"
    fi
  fi
  # Let the go command fetch a newer toolchain from the module proxy when a
  # go.mod asks for one (k8s 1.37 needs go >= 1.26; some picks may need 1.27).
  export GOTOOLCHAIN="${CP_GOTOOLCHAIN:-auto}"
  export GOFLAGS="-buildvcs=false"
  export GO111MODULE=on
  export CGO_ENABLED=0
}

# newest version of module $1 whose version starts with prefix $2 (e.g. "v1.37.")
newest_version() {
  local mod="$1" prefix="$2"
  (cd / && go list -m -versions "$mod") | tr ' ' '\n' | grep -F "$prefix" |
    grep -v -- '-' | sort -V | tail -n 1 || true
}

normalize_version() { # 1.37.2 | v1.37.2 | 1.37 -> 1.37.2
  local v="${1#v}"
  if [[ "$v" =~ ^[0-9]+\.[0-9]+$ ]]; then
    setup_go
    local n
    n="$(newest_version k8s.io/kubernetes "v$v.")"
    [[ -n "$n" ]] || die "the Go module proxy serves no k8s.io/kubernetes v$v.x"
    v="${n#v}"
  fi
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]] || die "bad version: $1"
  printf '%s\n' "$v"
}

have_binaries() { # dir
  [[ -x "$1/kube-apiserver" && -x "$1/kubectl" && -x "$1/etcd" ]]
}

# ----------------------------------------------------------------------------- build

build_k8s() { # version outdir -> kube-apiserver + kubectl in outdir
  local ver="$1" out="$2"
  local minor stg wdir kmod m ld
  minor="$(cut -d. -f2 <<<"$ver")"
  stg="v0.${ver#1.}"
  wdir="$K8S_CACHE/build/v$ver"
  rm -rf "$wdir"
  mkdir -p "$wdir" "$out"
  log "k8s v$ver: wrapper module in $wdir (staging modules pinned to $stg)"
  (
    cd "$wdir"
    go mod init local/edas-kas-build >/dev/null 2>&1 || exit 1
    kmod="$(go mod download -json "k8s.io/kubernetes@v$ver" |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("GoMod") or ""); sys.exit(1 if d.get("Error") else 0)')" ||
      { log "k8s.io/kubernetes@v$ver is not served"; exit 1; }
    # Pin every staging module (k8s.io/X => ./staging/src/k8s.io/X in k8s' go.mod)
    # to its published v0.N.M tag, as every consumer of k8s.io/kubernetes does.
    local -a staging
    mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$kmod")
    ((${#staging[@]} > 0)) || { log "no staging replace directives in $kmod"; exit 1; }
    for m in "${staging[@]}"; do
      go mod edit -replace="$m=$m@$stg" || exit 1
    done
    log "k8s v$ver: ${#staging[@]} staging modules replaced"
    # Same "go" and "godebug default" lines as upstream, for identical runtime behaviour.
    local gov godbg
    gov="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$kmod" | head -n 1)"
    godbg="$(sed -n 's/^godebug default=\(go[0-9.]*\)$/\1/p' "$kmod" | head -n 1)"
    if [[ -n "$gov" ]]; then go mod edit -go="$gov" || exit 1; fi
    if [[ -n "$godbg" ]]; then go mod edit -godebug="default=$godbg" || exit 1; fi
    log "k8s v$ver: resolving dependencies (go get -tool)"
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$ver" "k8s.io/kubernetes/cmd/kubectl@v$ver" || exit 1
    ld="-s -w"
    for m in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $m.gitVersion=v$ver -X $m.gitMajor=1 -X $m.gitMinor=$minor -X $m.gitTreeState=clean"
      ld+=" -X $m.buildDate=1970-01-01T00:00:00Z"
    done
    log "k8s v$ver: compiling kube-apiserver and kubectl with $(go env GOVERSION) (takes 10-20 min on 2 cores)"
    go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" \
      -o "$out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl || exit 1
  )
}

build_etcd_go() { # version outfile
  local ver="$1" outf="$2" wdir
  wdir="$CACHE_ROOT/etcd/build/v$ver"
  rm -rf "$wdir"
  mkdir -p "$wdir" "$(dirname "$outf")"
  log "etcd v$ver: wrapper module in $wdir"
  (
    cd "$wdir"
    go mod init local/edas-etcd-build >/dev/null 2>&1 || exit 1
    go get -tool "go.etcd.io/etcd/server/v3@v$ver" || exit 1
    log "etcd v$ver: compiling with $(go env GOVERSION)"
    go build -trimpath -ldflags "-s -w" -o "$outf" go.etcd.io/etcd/server/v3 || exit 1
  )
}

build_etcd_debian() { # outfile
  local outf="$1"
  log "etcd: falling back to Debian's etcd-server package"
  if [[ ! -x /usr/bin/etcd ]]; then
    local sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends etcd-server
  fi
  mkdir -p "$(dirname "$outf")"
  cp /usr/bin/etcd "$outf"
}

ensure_etcd() { # outfile (in the k8s version dir)
  local outf="$1" ever ebin
  if [[ -x "$outf" ]]; then
    return 0
  fi
  ever="${ETCD_VERSION:-}"
  ever="${ever#v}"
  if [[ -z "$ever" ]]; then
    ever="$(newest_version go.etcd.io/etcd/server/v3 v3.6.)"
    ever="${ever#v}"
  fi
  if [[ -n "$ever" ]]; then
    ebin="$CACHE_ROOT/etcd/v$ever/etcd"
    if [[ -x "$ebin" ]]; then
      log "reusing $ebin"
    elif ! build_etcd_go "$ever" "$ebin.tmp" || ! mv "$ebin.tmp" "$ebin"; then
      log "etcd v$ever: Go build failed"
      ebin=""
    fi
  else
    log "etcd: the Go module proxy serves no go.etcd.io/etcd/server/v3 v3.6.x"
    ebin=""
  fi
  if [[ -n "$ebin" ]]; then
    cp "$ebin" "$outf"
  else
    build_etcd_debian "$outf"
  fi
}

# build_version VERSION -> 0 when $K8S_CACHE/vVERSION has all three binaries
build_version() {
  local ver="$1" out="$K8S_CACHE/v$1" t0 t1
  if have_binaries "$out"; then
    log "reusing $out (kube-apiserver, kubectl, etcd)"
    return 0
  fi
  t0=$(date +%s)
  if [[ ! -x "$out/kube-apiserver" || ! -x "$out/kubectl" ]]; then
    local tmp="$out.partial"
    rm -rf "$tmp"
    if ! build_k8s "$ver" "$tmp"; then
      log "k8s v$ver: build FAILED"
      rm -rf "$tmp"
      return 1
    fi
    mkdir -p "$out"
    mv "$tmp/kube-apiserver" "$tmp/kubectl" "$out/"
    rm -rf "$tmp"
  else
    log "reusing $out/kube-apiserver and $out/kubectl"
  fi
  ensure_etcd "$out/etcd"
  t1=$(date +%s)
  log "v$ver built in $((t1 - t0)) s"
  {
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "build_seconds=$((t1 - t0))"
    echo "go=$(go env GOVERSION)"
  } >"$out/build.info"
}

print_build_summary() {
  local out="$1"
  echo "K8S_VERSION=${out##*/v}"
  echo "kube-apiserver: $out/kube-apiserver ($("$out/kube-apiserver" --version 2>&1 | head -n 1))"
  echo "kubectl:        $out/kubectl ($("$out/kubectl" version --client 2>&1 | head -n 1))"
  echo "etcd:           $out/etcd ($("$out/etcd" --version 2>&1 | head -n 1))"
}

cmd_build() {
  local ver
  mkdir -p "$K8S_CACHE"
  if [[ -n "${K8S_VERSION:-}" ]]; then
    ver="$(normalize_version "$K8S_VERSION")"
    if ! have_binaries "$K8S_CACHE/v$ver"; then setup_go; fi
    build_version "$ver" || die "building Kubernetes v$ver failed"
    print_build_summary "$K8S_CACHE/v$ver"
    return 0
  fi
  # Auto mode: reuse the version a previous auto build selected.
  if [[ -f "$SELECTED_FILE" ]]; then
    ver="$(cat "$SELECTED_FILE")"
    if have_binaries "$K8S_CACHE/v$ver"; then
      log "reusing $K8S_CACHE/v$ver"
      print_build_summary "$K8S_CACHE/v$ver"
      return 0
    fi
  fi
  setup_go
  local minor cand
  for minor in "${DEFAULT_MINORS[@]}"; do
    cand="$(newest_version k8s.io/kubernetes "v$minor.")"
    if [[ -z "$cand" ]]; then
      log "the Go module proxy serves no k8s.io/kubernetes v$minor.x"
      continue
    fi
    ver="${cand#v}"
    if build_version "$ver"; then
      echo "$ver" >"$SELECTED_FILE"
      print_build_summary "$K8S_CACHE/v$ver"
      return 0
    fi
    log "falling back from v$ver"
  done
  die "no Kubernetes version could be built (tried ${DEFAULT_MINORS[*]})"
}

# version to run: K8S_VERSION, else the auto-selected one (building it if needed)
resolve_run_version() {
  local ver
  if [[ -n "${K8S_VERSION:-}" ]]; then
    ver="$(normalize_version "$K8S_VERSION")"
    if ! have_binaries "$K8S_CACHE/v$ver"; then
      log "binaries for v$ver missing: building"
      cmd_build >&2
    fi
  else
    if [[ ! -f "$SELECTED_FILE" ]] || ! have_binaries "$K8S_CACHE/v$(cat "$SELECTED_FILE")"; then
      log "binaries missing: building"
      cmd_build >&2
    fi
    ver="$(cat "$SELECTED_FILE")"
  fi
  printf '%s\n' "$ver"
}

# ----------------------------------------------------------------------------- runtime helpers

q() { # POSIX single-quote one word
  local s="${1//\'/\'\\\'\'}"
  printf "'%s'" "$s"
}

quote_words() { # words -> one line, quoting only the words that need it
  local w out=""
  for w in "$@"; do
    if [[ -n "$w" && "$w" =~ ^[A-Za-z0-9_/.:,=@%+-]+$ ]]; then out+="$w "; else out+="$(q "$w") "; fi
  done
  printf '%s' "${out% }"
}

free_ports() { # n -> n free loopback TCP ports, one per line
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
EOF
}

# pid_alive PID BINARY: PID runs BINARY (guards against reused pids)
pid_alive() {
  local pid="$1" bin="$2" exe
  [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # a zombie (exited, not yet reaped) counts as gone
  if [[ -r "/proc/$pid/stat" ]] && [[ "$(sed 's/^.*) //' "/proc/$pid/stat" | cut -c1)" == Z ]]; then
    return 1
  fi
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  bin="$(readlink -f "$bin" 2>/dev/null || echo "$bin")"
  [[ -z "$exe" || "$exe" == "$bin" || "$exe" == "$bin (deleted)" ]]
}

stop_pid() { # name pid binary
  local name="$1" pid="$2" bin="$3" i
  if ! pid_alive "$pid" "$bin"; then
    log "$name not running"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    pid_alive "$pid" "$bin" || return 0
    sleep 0.1
  done
  log "$name did not exit within ${STOP_TIMEOUT}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_alive "$pid" "$bin" || return 0
    sleep 0.1
  done
  die "$name (pid $pid) survived SIGKILL"
}

# spawn LOG CMD... -> prints pid; detached from the caller's session, stdin closed
spawn() {
  local logf="$1"
  shift
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  echo $!
}

wait_etcd() { # url pid bin
  local url="$1" pid="$2" bin="$3" i
  for ((i = 0; i < 300; i++)); do
    if curl -fs --max-time 2 "$url/health" 2>/dev/null | grep -q '"health":"true"'; then
      return 0
    fi
    pid_alive "$pid" "$bin" || return 1
    sleep 0.1
  done
  return 1
}

wait_ready() { # url token pid bin timeout
  local url="$1" token="$2" pid="$3" bin="$4" timeout="$5" deadline
  deadline=$(($(date +%s) + timeout))
  while (($(date +%s) < deadline)); do
    if curl -fsk --max-time 5 -H "Authorization: Bearer $token" "$url/readyz" >/dev/null 2>&1; then
      return 0
    fi
    pid_alive "$pid" "$bin" || return 1
    sleep 0.2
  done
  return 1
}

git_version() { # url token
  curl -fsk --max-time 10 -H "Authorization: Bearer $2" "$1/version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])'
}

write_kubeconfig() { # file server ca user token
  local f="$1" server="$2" ca="$3" user="$4" token="$5" cadata
  cadata="$(base64 -w0 <"$ca")"
  cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: edas-test
  cluster:
    server: $server
    certificate-authority-data: $cadata
users:
- name: $user
  user:
    token: $token
contexts:
- name: edas-test
  context:
    cluster: edas-test
    user: $user
    namespace: default
current-context: edas-test
preferences: {}
EOF
  chmod 600 "$f.tmp"
  mv "$f.tmp" "$f"
}

# Rewrite DIR/env from the CP_* globals.
write_env() {
  local dir="$1" f="$1/env"
  {
    echo "# written by hack/control-plane.sh; sourceable by sh/bash"
    echo "export CP_DIR=$(q "$dir")"
    echo "export KUBE_APISERVER_URL=$(q "$CP_URL")"
    echo "export APISERVER_PORT=$(q "$CP_PORT")"
    echo "export ADMIN_KUBECONFIG=$(q "$dir/admin.kubeconfig")"
    echo "export OPERATOR_KUBECONFIG=$(q "$dir/operator.kubeconfig")"
    echo "export ADMIN_TOKEN=$(q "$CP_ADMIN_TOKEN")"
    echo "export OPERATOR_TOKEN=$(q "$CP_OP_TOKEN")"
    echo "export OPERATOR_USERNAME=$(q "$OPERATOR_USER")"
    echo "export CA_FILE=$(q "$dir/pki/apiserver.crt")"
    echo "export KUBECTL=$(q "$CP_BIN/kubectl")"
    echo "export KUBE_APISERVER_BIN=$(q "$CP_BIN/kube-apiserver")"
    echo "export ETCD_BIN=$(q "$CP_BIN/etcd")"
    echo "export K8S_VERSION=$(q "$CP_GITVERSION")"
    echo "export ETCD_VERSION=$(q "$CP_ETCD_VERSION")"
    echo "export ETCD_URL=$(q "$CP_ETCD_URL")"
    echo "export ETCD_PID=$(q "$CP_ETCD_PID")"
    echo "export APISERVER_PID=$(q "$CP_APISERVER_PID")"
    echo "# exact command lines (shell-quoted words); restart-apiserver re-runs APISERVER_CMDLINE"
    echo "export ETCD_CMDLINE=$(q "$CP_ETCD_CMDLINE")"
    echo "export APISERVER_CMDLINE=$(q "$CP_APISERVER_CMDLINE")"
  } >"$f.tmp"
  chmod 600 "$f.tmp"
  mv "$f.tmp" "$f"
}

load_env() { # dir -> CP_* globals from DIR/env; 1 if none
  local dir="$1"
  [[ -f "$dir/env" ]] || return 1
  # the env file sets K8S_VERSION/ETCD_VERSION: do not let it override the caller's choice
  local keep_k8s="${K8S_VERSION-}" keep_etcd="${ETCD_VERSION-}" had_k8s="${K8S_VERSION+x}" had_etcd="${ETCD_VERSION+x}"
  # shellcheck disable=SC1091
  source "$dir/env"
  CP_URL="$KUBE_APISERVER_URL"
  CP_PORT="$APISERVER_PORT"
  CP_ADMIN_TOKEN="$ADMIN_TOKEN"
  CP_OP_TOKEN="$OPERATOR_TOKEN"
  CP_BIN="$(dirname "$KUBE_APISERVER_BIN")"
  CP_GITVERSION="$K8S_VERSION"
  CP_ETCD_VERSION="$ETCD_VERSION"
  CP_ETCD_URL="$ETCD_URL"
  CP_ETCD_PID="$ETCD_PID"
  CP_APISERVER_PID="$APISERVER_PID"
  CP_ETCD_CMDLINE="$ETCD_CMDLINE"
  CP_APISERVER_CMDLINE="$APISERVER_CMDLINE"
  if [[ -n "$had_k8s" ]]; then export K8S_VERSION="$keep_k8s"; else unset K8S_VERSION; fi
  if [[ -n "$had_etcd" ]]; then export ETCD_VERSION="$keep_etcd"; else unset ETCD_VERSION; fi
}

start_apiserver_from_env() { # dir -> sets CP_APISERVER_PID, waits for readyz
  local dir="$1" t0 t1
  local -a cmd
  eval "cmd=($CP_APISERVER_CMDLINE)"
  t0=$(date +%s.%N)
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) starting kube-apiserver" >>"$dir/apiserver.log"
  CP_APISERVER_PID="$(spawn "$dir/apiserver.log" "${cmd[@]}")"
  echo "$CP_APISERVER_PID" >"$dir/apiserver.pid"
  write_env "$dir"
  log "kube-apiserver pid $CP_APISERVER_PID on $CP_URL, waiting for /readyz (up to ${READY_TIMEOUT}s)"
  if ! wait_ready "$CP_URL" "$CP_ADMIN_TOKEN" "$CP_APISERVER_PID" "$CP_BIN/kube-apiserver" "$READY_TIMEOUT"; then
    tail -n 40 "$dir/apiserver.log" >&2 || true
    die "kube-apiserver did not become ready (log: $dir/apiserver.log)"
  fi
  t1=$(date +%s.%N)
  log "kube-apiserver ready in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s"
}

# ----------------------------------------------------------------------------- commands

cmd_start() {
  local dir="${1:?usage: control-plane.sh start DIR}" ver t0 t1
  t0=$(date +%s.%N)
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if load_env "$dir" 2>/dev/null; then
    if pid_alive "$CP_APISERVER_PID" "$CP_BIN/kube-apiserver" || pid_alive "$CP_ETCD_PID" "$CP_BIN/etcd"; then
      die "a control plane already runs from $dir (stop it first: control-plane.sh stop $dir)"
    fi
  fi
  ver="$(resolve_run_version)"
  CP_BIN="$(cd "$K8S_CACHE/v$ver" && pwd -P)"
  have_binaries "$CP_BIN" || die "binaries missing in $CP_BIN"
  command -v openssl >/dev/null || die "openssl not found"
  command -v curl >/dev/null || die "curl not found"
  command -v python3 >/dev/null || die "python3 not found"

  mkdir -p "$dir/pki" "$dir/etcd"
  chmod 700 "$dir/pki" "$dir/etcd"
  local ports eport pport
  mapfile -t ports < <(free_ports 3)
  eport="${ports[0]}"
  pport="${ports[1]}"
  CP_PORT="${ports[2]}"
  CP_URL="https://127.0.0.1:$CP_PORT"
  CP_ETCD_URL="http://127.0.0.1:$eport"
  CP_ETCD_VERSION="$("$CP_BIN/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n 1)"

  # ---- etcd
  local -a ecmd=("$CP_BIN/etcd" --name default --data-dir "$dir/etcd"
    --listen-client-urls "$CP_ETCD_URL" --advertise-client-urls "$CP_ETCD_URL"
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport"
    --initial-cluster "default=http://127.0.0.1:$pport" --initial-cluster-state new)
  case "$CP_ETCD_VERSION" in
  3.[0-4].*) ;;
  *) ecmd+=(--unsafe-no-fsync) ;; # test data only; etcd >= 3.5
  esac
  CP_ETCD_CMDLINE="$(quote_words "${ecmd[@]}")"
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) starting etcd" >>"$dir/etcd.log"
  CP_ETCD_PID="$(spawn "$dir/etcd.log" "${ecmd[@]}")"
  echo "$CP_ETCD_PID" >"$dir/etcd.pid"
  log "etcd $CP_ETCD_VERSION pid $CP_ETCD_PID on $CP_ETCD_URL"
  if ! wait_etcd "$CP_ETCD_URL" "$CP_ETCD_PID" "$CP_BIN/etcd"; then
    tail -n 30 "$dir/etcd.log" >&2 || true
    stop_pid etcd "$CP_ETCD_PID" "$CP_BIN/etcd"
    die "etcd did not become healthy (log: $dir/etcd.log)"
  fi

  # ---- credentials
  if [[ ! -f "$dir/pki/sa.key" ]]; then
    openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null
  fi
  CP_ADMIN_TOKEN="$(openssl rand -hex 24)"
  CP_OP_TOKEN="$(openssl rand -hex 24)"
  cat >"$dir/tokens.csv" <<EOF
$CP_ADMIN_TOKEN,$ADMIN_USER,$ADMIN_USER,system:masters
$CP_OP_TOKEN,$OPERATOR_USER,edas-operator-uid,"$OPERATOR_GROUPS"
EOF
  chmod 600 "$dir/tokens.csv"

  # ---- kube-apiserver
  local -a acmd=("$CP_BIN/kube-apiserver"
    --etcd-servers "$CP_ETCD_URL"
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$CP_PORT"
    --endpoint-reconciler-type none
    --cert-dir "$dir/pki"
    --service-cluster-ip-range 10.0.0.0/24
    --service-account-issuer https://kubernetes.default.svc.cluster.local
    --service-account-key-file "$dir/pki/sa.pub"
    --service-account-signing-key-file "$dir/pki/sa.key"
    --authorization-mode RBAC
    --token-auth-file "$dir/tokens.csv"
    --disable-admission-plugins ServiceAccount
    --allow-privileged=true)
  CP_APISERVER_CMDLINE="$(quote_words "${acmd[@]}")"
  CP_GITVERSION="v$ver"
  start_apiserver_from_env "$dir"

  write_kubeconfig "$dir/admin.kubeconfig" "$CP_URL" "$dir/pki/apiserver.crt" "$ADMIN_USER" "$CP_ADMIN_TOKEN"
  write_kubeconfig "$dir/operator.kubeconfig" "$CP_URL" "$dir/pki/apiserver.crt" edas-operator "$CP_OP_TOKEN"
  CP_GITVERSION="$(git_version "$CP_URL" "$CP_ADMIN_TOKEN")"
  write_env "$dir"
  t1=$(date +%s.%N)
  log "control plane up in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s"
  echo "Kubernetes $CP_GITVERSION (etcd $CP_ETCD_VERSION) at $CP_URL"
  echo "env: $dir/env  admin: $dir/admin.kubeconfig  operator: $dir/operator.kubeconfig"
}

cmd_stop() {
  local dir="${1:?usage: control-plane.sh stop DIR}"
  if ! load_env "$dir" 2>/dev/null; then
    log "no $dir/env: nothing to stop"
    return 0
  fi
  stop_pid kube-apiserver "$CP_APISERVER_PID" "$CP_BIN/kube-apiserver"
  stop_pid etcd "$CP_ETCD_PID" "$CP_BIN/etcd"
  log "stopped"
}

cmd_restart_apiserver() {
  local dir="${1:?usage: control-plane.sh restart-apiserver DIR}"
  dir="$(cd "$dir" && pwd)"
  load_env "$dir" || die "no $dir/env (start first)"
  pid_alive "$CP_ETCD_PID" "$CP_BIN/etcd" || die "etcd (pid $CP_ETCD_PID) is not running"
  stop_pid kube-apiserver "$CP_APISERVER_PID" "$CP_BIN/kube-apiserver"
  start_apiserver_from_env "$dir"
}

cmd_status() {
  local dir="${1:?usage: control-plane.sh status DIR}" rc=0
  load_env "$dir" || {
    echo "not started ($dir/env missing)"
    return 1
  }
  if pid_alive "$CP_ETCD_PID" "$CP_BIN/etcd"; then echo "etcd: running (pid $CP_ETCD_PID, $CP_ETCD_URL)"; else
    echo "etcd: stopped"
    rc=1
  fi
  if pid_alive "$CP_APISERVER_PID" "$CP_BIN/kube-apiserver"; then
    echo "kube-apiserver: running (pid $CP_APISERVER_PID, $CP_URL, $CP_GITVERSION)"
  else
    echo "kube-apiserver: stopped"
    rc=1
  fi
  return "$rc"
}

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
  build) cmd_build ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  restart-apiserver) cmd_restart_apiserver "$@" ;;
  status) cmd_status "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
  esac
}

main "$@"
