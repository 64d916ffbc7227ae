#!/usr/bin/env bash
# Fleet benchmark (issue 7): time to converge N EdasAppMembership resources against the EDAS
# simulator at the documented rate limits, EDAS calls by operation, throttled calls, operator
# peak RSS and CPU, steady-state calls per hour, and a Terraform-pattern peer with the official
# Python SDK on the same fleet. Writes bench/results/n<N>.json and regenerates BENCHMARKS.md.
#
#   hack/bench.sh [OPTIONS] [N ...]        default N: 50 200
#
# Options (passed to bench/run.py; see bench/run.py --help):
#   --seconds-per-instance D   simulator change-order speed (default 3; an order takes 1.5 D)
#   --concurrency N            operator --concurrency (default 32)
#   --resync-interval DUR      operator --resync-interval (default 30s)
#   --steady-seconds S         steady-state window after convergence (default 120)
#   --peer parallel|serial|skip  the Terraform-pattern peer (default parallel: alongside the
#                              operator, on its own simulator; it takes about 5 s per app)
#   --peer-note TEXT           why the peer was skipped (goes into BENCHMARKS.md)
#   --tag TAG                  store as bench/results/n<N>-<TAG>.json (e.g. a repeat run)
#
# Steps: cargo build --release; the control plane (hack/control-plane.sh build, then start in a
# temp dir, stopped on exit); the SDK venv (hack/python-sdk.sh); bench/run.py. Logs stay in the
# temp dir, whose path is printed. Needs what hack/test.sh needs (Rust, Go, Python 3, curl,
# openssl); the first run builds the control plane (see hack/README-control-plane.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release >&2
hack/control-plane.sh build >&2
SDK_PYTHON="$(hack/python-sdk.sh)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/edas-operator-bench.XXXXXX")"
cleanup() { hack/control-plane.sh stop "$WORK/cp" >&2 || true; }
trap cleanup EXIT
# The benchmark runs its own copy, so a concurrent build cannot swap the binary mid-run.
cp target/release/edas-operator "$WORK/edas-operator"
hack/control-plane.sh start "$WORK/cp" >&2

echo "bench: logs in $WORK" >&2
python3 bench/run.py --bin "$WORK/edas-operator" --cp-env "$WORK/cp/env" \
  --sdk-python "$SDK_PYTHON" --workdir "$WORK/logs" "$@"
