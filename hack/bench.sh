#!/usr/bin/env bash
# Fleet benchmark (issues 7, 12 and 13): time to converge N EdasAppMembership resources against the
# EDAS simulator at the documented rate limits, EDAS calls by operation, throttled calls, operator
# peak RSS and CPU, steady-state calls per hour, and a peer that runs `tofu destroy` of the same
# fleet as the real Terraform provider does (bench/peer.py, official Python SDK). Writes
# bench/results/n<N>.json and regenerates BENCHMARKS.md.
#
#   hack/bench.sh [OPTIONS] [N ...]        default N: 50 200
#
# Options (passed to bench/run.py; see bench/run.py --help):
#   --seconds-per-instance D   simulator change-order speed (default 3; an order takes 1.5 D)
#   --concurrency N            operator --concurrency (default 32)
#   --resync-interval DUR      operator --resync-interval (default 30s)
#   --steady-seconds S         steady-state window after convergence (default 120)
#   --rate-limit-share X       operator --rate-limit-share (default: not passed, the operator's
#                              0.9); stored as n<N>-share<X>.json unless --tag is given
#   --peer parallel|serial|skip  the provider-like peer (default parallel: alongside the
#                              operator, on its own simulator; about 5 s per 10 apps up to
#                              N = 100, and above that it fails within a second: its refresh
#                              burst is throttled)
#   --peer-parallelism N       the peer's -parallelism (default 10, OpenTofu's default)
#   --peer-refresh true|false  refresh before destroying (default true; false = -refresh=false)
#   --peer-note TEXT           why the peer was skipped (goes into BENCHMARKS.md)
#   --tag TAG                  store as bench/results/n<N>-<TAG>.json (e.g. a repeat run)
#   --ready-timeout S          seconds to wait for all Ready (default max(600, 3 x bound + 300))
#
# The replacement fleet (issue 12): N apps each running k hosts, each resource declaring one of
# them replaced by a free ECU of the same cluster (ScaleOut, new ECC healthy, then ScaleIn);
# stored as bench/results/replace-n<N>.json, no peer:
#   --replace                  this fleet instead of the removal fleet (default N: 200)
#   --hosts-per-app K          hosts each app runs and declares, one replaced (default 2)
#   --clusters C               clusterIds the apps share (default 1)
#
# Issue 13's rows: hack/bench.sh 50 100 200 1000; hack/bench.sh --rate-limit-share 1 50 100.
# Issue 12's rows: hack/bench.sh --replace 200 1000 (about 6 and 30 minutes: ScaleOut's 40/min).
#
# Steps: cargo build --release; the control plane (hack/control-plane.sh build, then start in a
# temp dir, stopped on exit); the SDK venv (hack/python-sdk.sh); bench/run.py. Logs stay in the
# temp dir, whose path is printed. Needs what hack/test.sh needs (Rust, Go, Python 3, curl,
# openssl); the first run builds the control plane (see hack/README-control-plane.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release >&2
hack/control-plane.sh build >&2
# The peer's SDK venv; the replacement fleet runs no peer.
SDK_ARGS=()
if [[ " $* " != *" --replace "* ]]; then
  SDK_ARGS=(--sdk-python "$(hack/python-sdk.sh)")
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/edas-operator-bench.XXXXXX")"
cleanup() { hack/control-plane.sh stop "$WORK/cp" >&2 || true; }
trap cleanup EXIT
# The benchmark runs its own copy, so a concurrent build cannot swap the binary mid-run.
cp target/release/edas-operator "$WORK/edas-operator"
hack/control-plane.sh start "$WORK/cp" >&2

echo "bench: logs in $WORK" >&2
python3 bench/run.py --bin "$WORK/edas-operator" --cp-env "$WORK/cp/env" \
  "${SDK_ARGS[@]}" --workdir "$WORK/logs" "$@"
