#!/usr/bin/env bash
# Benchmarks of the Lambda functions (not part of the test run: release builds take
# minutes). Builds every function with cargo-lambda in release mode (for the machine's
# architecture; arm64 needs the aarch64 Rust target), prints each bootstrap.zip size, then
# measures process start -> first poll of the runtime API, and RSS, under cargo lambda's
# runtime emulator. Usage: ./scripts/bench-lambda.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/cargo-lambda ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "cargo-lambda==1.9.*"
fi
export PATH="$PWD/.venv/bin:$PATH"
target=(--compiler cargo)
if rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then target+=(--arm64); fi
echo "== cargo lambda build --release ${target[*]}"
cargo lambda build --release "${target[@]}" --output-format zip
python3 scripts/bench_lambda.py
