#!/usr/bin/env bash
# The whole test suite, end-to-end tests included, on a fresh machine with only the toolchains:
#   1. builds (once, cached under ~/.cache/edas-operator) kube-apiserver, kubectl and etcd,
#      and the Helm CLI (hack/helm.sh),
#   2. installs (once, cached) the official EDAS Python SDKs into a venv,
#   3. builds the container image from the Dockerfile (hack/image.sh: a static release
#      binary, incremental in the cache; buildah, no Docker) and prints its size,
#   4. starts a real etcd + kube-apiserver on loopback,
#   5. runs `cargo test --all-targets ... -- --include-ignored` with EDAS_REQUIRE_E2E=1: the e2e
#      tests are #[ignore]d (plain `cargo test` lists them as ignored), this runs them; a missing
#      control plane, Python SDK, Helm or image fails,
#   6. checks that the e2e tests ran and that no secret value reached any log, event, status
#      or metric, and prints the Kubernetes version and the e2e count.
# Extra arguments go to `cargo test` (e.g. hack/test.sh e2e_ to run only the e2e tests); those
# after a `--` go to the test binaries, after --include-ignored (hack/test.sh e2e_ -- --nocapture).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/control-plane.sh build >&2
HELM="$(hack/helm.sh)"
export HELM
EDAS_SDK_PYTHON="$(hack/python-sdk.sh)"
export EDAS_SDK_PYTHON
IMAGE_LOG="$(mktemp "${TMPDIR:-/tmp}/edas-operator-image.XXXXXX")"
EDAS_E2E_IMAGE="$(hack/image.sh build 2> >(tee "$IMAGE_LOG" >&2))"
export EDAS_E2E_IMAGE

CP="$(mktemp -d "${TMPDIR:-/tmp}/edas-operator-cp.XXXXXX")"
cleanup() { hack/control-plane.sh stop "$CP" >&2 || true; }
trap cleanup EXIT
hack/control-plane.sh start "$CP" >&2
set -a
# shellcheck disable=SC1091
source "$CP/env"
set +a
export EDAS_REQUIRE_E2E=1
export EDAS_E2E_LOG_DIR="$CP/logs"
mkdir -p "$EDAS_E2E_LOG_DIR"
# Secret values tests make at run time (OIDC tokens, issued STS credentials), one a line; kept
# outside the log directory and added to the scan below.
export EDAS_E2E_SECRETS_FILE="$CP/runtime-secrets.txt"
: >"$EDAS_E2E_SECRETS_FILE"

# Split the arguments at the first `--`: before it for cargo, after it for the test binaries.
cargo_args=()
test_args=(--include-ignored)
to_tests=0
for arg in "$@"; do
  if [[ $to_tests -eq 0 && $arg == -- ]]; then
    to_tests=1
  elif [[ $to_tests -eq 0 ]]; then
    cargo_args+=("$arg")
  else
    test_args+=("$arg")
  fi
done

status=0
cargo test --all-targets --no-fail-fast "${cargo_args[@]}" -- "${test_args[@]}" 2>&1 | tee "$CP/cargo-test.log" || status=$?
if [[ $status -ne 0 ]]; then
  echo "cargo test failed (exit $status); logs in $EDAS_E2E_LOG_DIR" >&2
  cp -r "$EDAS_E2E_LOG_DIR" "${TMPDIR:-/tmp}/edas-operator-failed-logs" 2>/dev/null || true
  exit "$status"
fi

e2e_ran=$(grep -cE '^test e2e_[a-z0-9_]+ \.\.\. ok$' "$CP/cargo-test.log" || true)
e2e_listed=$(grep -cE '^test e2e_[a-z0-9_]+ \.\.\. ' "$CP/cargo-test.log" || true)
if [[ -z "${1:-}" && "$e2e_ran" -eq 0 ]]; then
  echo "FAIL: no end-to-end test ran" >&2
  exit 1
fi
if [[ "$e2e_ran" -ne "$e2e_listed" ]]; then
  echo "FAIL: $((e2e_listed - e2e_ran)) end-to-end test(s) did not pass" >&2
  exit 1
fi

# Secret hygiene: the secret values the suite used must appear nowhere the operator writes.
SECRETS=("e2e-SECRET-d0-not-leak-7f3a9c")
while IFS= read -r s; do
  [[ -n "$s" ]] && SECRETS+=("$s")
done <"$EDAS_E2E_SECRETS_FILE"
echo "secret scan: ${#SECRETS[@]} secret value(s) ($(wc -l <"$EDAS_E2E_SECRETS_FILE") made at run time)"
"$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" get events.events.k8s.io -A -o yaml >"$EDAS_E2E_LOG_DIR/all-events.yaml"
"$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" get edasappmemberships -A -o yaml >"$EDAS_E2E_LOG_DIR/all-status.yaml"
hits=0
for s in "${SECRETS[@]}"; do
  n=$(grep -rIF --exclude='*-sim-state.json' -e "$s" "$EDAS_E2E_LOG_DIR" | wc -l || true)
  hits=$((hits + n))
done
files=$(find "$EDAS_E2E_LOG_DIR" -type f ! -name '*-sim-state.json' | wc -l)
lines=$(find "$EDAS_E2E_LOG_DIR" -type f ! -name '*-sim-state.json' -exec cat {} + | wc -l)
echo "secret scan: $hits hit(s) in $lines lines of $files operator/simulator logs, events, statuses and metrics"
if [[ $hits -ne 0 ]]; then
  for s in "${SECRETS[@]}"; do
    grep -rlF --exclude='*-sim-state.json' -e "$s" "$EDAS_E2E_LOG_DIR" >&2 || true
  done
  echo "FAIL: a secret value leaked" >&2
  exit 1
fi
# RELIABILITY.md: the figures the reliability tests just measured.
props=$(awk '/^proptest! \{/{p=1} p && /#\[test\]/{n++} END{print n+0}' tests/parser_props.rs)
if compgen -G "$EDAS_E2E_LOG_DIR/reliability/*.md" >/dev/null; then
  {
    echo "# Reliability, in figures"
    echo
    echo "Written by \`hack/test.sh\` from the figures the reliability tests measured in their last run"
    echo "(tests/e2e_reliability.rs; Kubernetes $K8S_VERSION, etcd $ETCD_VERSION; $(date -u +%Y-%m-%d))."
    echo "Every number below is checked by an assertion in that run. Duplicate mutations are counted"
    echo "from the simulator's own change orders (an ECC covered by two orders that did not fail) and"
    echo "from its call log: every ScaleIn attempt that reached it, accepted or refused (601, 4xx, throttled,
5xx, dropped, late-applied), naming an ECC after an earlier attempt naming it was carried out
and its order did not fail."
    echo
    cat hack/invariants.md
    echo
    for f in "$EDAS_E2E_LOG_DIR"/reliability/*.md; do cat "$f"; echo; done
    if compgen -G "$EDAS_E2E_LOG_DIR/unkind/*.row" >/dev/null; then
      echo "## 4b. EDAS misbehaving"
      echo
      echo "Each behaviour of the unkind simulator against the operator on a real kube-apiserver"
      echo "(tests/e2e_unkind.rs). Attempts count every ScaleInApplication call that reached the"
      echo "simulator naming the ECC: accepted, refused, dropped, timed out or late-applied."
      echo "Hold-offs in these runs: --edas-timeout 5s, --read-lag-holdoff 8s, --forced-holdoff 15s."
      echo
      echo "| behaviour | ScaleIn attempts per ECC (max) | declared members removed | minRemaining violations | result |"
      echo "|---|---|---|---|---|"
      cat "$EDAS_E2E_LOG_DIR"/unkind/*.row
      echo
    fi
    echo "## 5. Bad input"
    echo
    echo "| figure | value |"
    echo "|---|---|"
    echo "| malformed manifests rejected by the apiserver, naming the field (tests/e2e_cluster.rs) | $(find deploy/examples/invalid -name '*.yaml' | wc -l) + 2 immutable-field changes |"
    echo "| EDAS answers cut short (simulator malformedRate 1.0; tests/e2e_controller.rs) | Synced=False MalformedResponse, 0 ScaleIn; converged once answers were sound |"
    echo "| property-test inputs over the EDAS response parser and the signer (tests/parser_props.rs) | $((props * ${PROPTEST_CASES:-256})) ($props properties x ${PROPTEST_CASES:-256} cases, all passed: no panic) |"
    echo
    echo "## 6. Secrets"
    echo
    echo "| figure | value |"
    echo "|---|---|"
    echo "| lines scanned (operator and simulator logs, all events, all statuses, final metrics) | $lines in $files files |"
    echo "| secret hits | $hits |"
  } >RELIABILITY.md
  echo "RELIABILITY.md regenerated"
fi
echo "Kubernetes version: $K8S_VERSION (etcd $ETCD_VERSION); $("$HELM" version --short)"
grep -h '^image size:' "$IMAGE_LOG" || true
echo "end-to-end tests run: $e2e_ran"
