#!/usr/bin/env bash
# Installs (once) the official EDAS Python SDKs into a venv, for the simulator's SDK tests
# (tests/sim_sdk.rs runs tests/sdk/*.py with them), and prints the venv's python path.
#
#   hack/python-sdk.sh            create/refresh the venv if needed; print the interpreter path
#   EDAS_SDK_PYTHON=$(hack/python-sdk.sh) cargo test --test sim_sdk
#
# Environment:
#   EDAS_OPERATOR_CACHE  cache root (default $HOME/.cache/edas-operator); venv in $EDAS_OPERATOR_CACHE/venv
#   PYTHON               interpreter used to create the venv (default python3)
#
# The versions are pinned: they are the ones the simulator was checked against (and the ones
# ../shared/edas/signature-vectors.json was made with, where the two overlap).
set -euo pipefail

CACHE_ROOT="${EDAS_OPERATOR_CACHE:-$HOME/.cache/edas-operator}"
VENV="$CACHE_ROOT/venv"
PYTHON="${PYTHON:-python3}"
PACKAGES=(
  "alibabacloud-edas20170801==2.0.0"
  "alibabacloud-tea-openapi==0.4.6"
  "darabonba-core==1.0.9"
  "aliyun-python-sdk-edas==3.26.9"
  "aliyun-python-sdk-core==2.16.1"
  "alibabacloud-credentials==1.0.12"
  "alibabacloud-tea==0.4.3"
  "alibabacloud-tea-util==0.3.15"
  "pytest==8.4.2"
)
STAMP="$VENV/.edas-operator-packages"
WANT="$(printf '%s\n' "${PACKAGES[@]}")"

if [[ ! -x "$VENV/bin/python" ]]; then
  mkdir -p "$CACHE_ROOT"
  "$PYTHON" -m venv "$VENV" >&2
fi
if [[ ! -f "$STAMP" ]] || [[ "$(cat "$STAMP")" != "$WANT" ]]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "${PACKAGES[@]}" >&2
  printf '%s\n' "$WANT" >"$STAMP"
fi
echo "$VENV/bin/python"
