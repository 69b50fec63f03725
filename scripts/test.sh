#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (warnings are errors) and the whole test
# suite, including the AWS adapter contract tests against moto server and the Lambda
# functions under `cargo lambda watch`, and the Step Functions definitions through
# asl-validator, and the OpenAPI document through redocly; it installs the Python tools into
# .venv and asl-validator and @redocly/cli into .tools, starts moto on a free
# loopback port and stops it again.
# Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== Python tools (.venv: moto server, cfn-lint, parliament, cargo-lambda, standardwebhooks)"
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/cfn-lint ] || [ ! -x .venv/bin/cargo-lambda ] || [ ! -x .venv/bin/parliament ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5" "cfn-lint==1.*" "cargo-lambda==1.9.*" "parliament==1.6.4"
fi
if ! .venv/bin/python -c "import standardwebhooks" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check "standardwebhooks==1.*"
fi
if [ ! -x .venv/bin/schemathesis ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
export PATH="$PWD/.venv/bin:$PATH"
# The independent Standard Webhooks implementation the webhook_send test verifies against.
export AOS_PYTHON="$PWD/.venv/bin/python"

echo "== Node tools (.tools: asl-validator, @redocly/cli)"
if [ ! -x .tools/node_modules/.bin/asl-validator ] || [ ! -x .tools/node_modules/.bin/redocly ]; then
  npm install --prefix .tools --silent --no-audit --no-fund "asl-validator@3" "@redocly/cli@2.11.1"
fi
export AOS_ASL_VALIDATOR="$PWD/.tools/node_modules/.bin/asl-validator"
"$AOS_ASL_VALIDATOR" --json-path infra/statemachines/workflow-approval.asl.json \
  --json-path infra/statemachines/workflow-compensation.asl.json

echo "== docs/openapi.json: redocly lint (aos-api's tests check it is what the code makes)"
.tools/node_modules/.bin/redocly lint --config redocly.yaml docs/openapi.json

echo "== infra/template.yaml: cfn-lint, parliament over every IAM policy, the deployment checks"
.venv/bin/cfn-lint infra/template.yaml
.venv/bin/python scripts/lint_iam.py
.venv/bin/python scripts/check_template.py

echo "== AWS emulator (moto server)"
mkdir -p target
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_PORT=$port .venv/bin/moto_server -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then break; fi
  sleep 0.1
done
echo "moto server on 127.0.0.1:$port (log: target/moto.log)"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

echo "== cargo test (with the tests a plain cargo test ignores: they need the tools and the emulator above)"
# A failing test's message names the place; backtraces (AOS_TEST_BACKTRACE=1) would push
# it out of a shortened log.
# Every target but the binaries' own (empty) test harnesses: the 46 function binaries
# linked as harnesses cost ~6 GB of disk and test nothing; lambda_e2e builds the functions
# themselves, and the CLI's tests run the `aos` binary.
RUST_BACKTRACE="${AOS_TEST_BACKTRACE:-0}" cargo test --workspace --lib --tests --benches --examples -- --include-ignored

echo "== schemathesis: docs/openapi.json against aos dev"
./scripts/schemathesis.sh target/debug/aos

echo "== client libraries: bindings from docs/openapi.json, their tests against aos dev"
./scripts/clients.sh target/debug/aos
