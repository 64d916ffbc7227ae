#!/usr/bin/env bash
# The Helm CLI the chart tests use, built once from the Go module proxy and cached beside the
# control plane's binaries. Prints the path of the helm binary on stdout (logs on stderr).
#
#   hack/helm.sh            build (or reuse) helm, print its path
#
# Environment:
#   EDAS_OPERATOR_CACHE  cache root (default $HOME/.cache/edas-operator); the binary is
#                        $EDAS_OPERATOR_CACHE/helm/v$HELM_VERSION/helm
#   HELM_VERSION         pinned (default 4.3.2: Helm 4; Helm 3 left security support in
#                        November 2026). Any helm.sh/helm/v4 (or v3) release the proxy serves.
set -euo pipefail
shopt -s inherit_errexit

HELM_VERSION="${HELM_VERSION:-4.3.2}"
HELM_VERSION="${HELM_VERSION#v}"
CACHE_ROOT="${EDAS_OPERATOR_CACHE:-$HOME/.cache/edas-operator}"
OUT="$CACHE_ROOT/helm/v$HELM_VERSION"

log() { printf '[helm] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

if [[ -x "$OUT/helm" ]]; then
  log "reusing $OUT/helm"
  printf '%s\n' "$OUT/helm"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH"
  else
    die "go not found (need Go >= 1.24 and the Go module proxy)"
  fi
fi
export GOTOOLCHAIN="${CP_GOTOOLCHAIN:-auto}"
export GOFLAGS="-buildvcs=false -mod=mod"
export GO111MODULE=on
export CGO_ENABLED=0

major="${HELM_VERSION%%.*}"
mod="helm.sh/helm/v$major"
ld="-s -w -X $mod/internal/version.version=v$HELM_VERSION -X $mod/internal/version.gitTreeState=clean"
t0=$(date +%s)
log "building $mod/cmd/helm@v$HELM_VERSION with $(go env GOVERSION) (3-6 min on 2 cores)"
rm -rf "$OUT.partial"
mkdir -p "$OUT.partial"
# `go install pkg@version` builds the module at exactly that version, with its own go.sum.
GOBIN="$OUT.partial" go install -trimpath -ldflags "$ld" "$mod/cmd/helm@v$HELM_VERSION" ||
  die "building helm v$HELM_VERSION failed"
mkdir -p "$OUT"
mv "$OUT.partial/helm" "$OUT/helm"
rm -rf "$OUT.partial"
log "helm v$HELM_VERSION built in $(($(date +%s) - t0)) s: $("$OUT/helm" version --short 2>/dev/null)"
printf '%s\n' "$OUT/helm"
