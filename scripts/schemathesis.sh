#!/usr/bin/env bash
# Contract fuzzing: schemathesis runs every operation of docs/openapi.json against a fresh
# `aos dev` on a free loopback port (positive and negative cases, and the stateful links it
# infers), and fails on a server error or an answer that breaks the document.
# Usage: scripts/schemathesis.sh [path/to/aos]   (run by scripts/test.sh after the build)
set -euo pipefail
cd "$(dirname "$0")/.."
aos="${1:-target/debug/aos}"
st="${SCHEMATHESIS:-.venv/bin/schemathesis}"
mkdir -p target
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key="aos_schemathesis_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
env -u AWS_ENDPOINT_URL "$aos" dev --port "$port" --data-dir "$data" --workers 2 --dev-api-key "$key" \
  > target/schemathesis-aos.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz')" 2>/dev/null; then break; fi
  sleep 0.1
done
# The key goes in both schemes the document names (schemathesis fills in the one it is not
# given). Revoking keys and applying policies can take away the very key (or every
# permission) the other operations call with, so they run last, on their own.
st_run() {
  "$st" run docs/openapi.json --url "http://127.0.0.1:$port" \
    -H "Authorization: Bearer $key" -H "x-api-key: $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
    --max-examples "${AOS_SCHEMATHESIS_EXAMPLES:-25}" --workers 1 --seed "${AOS_SCHEMATHESIS_SEED:-1}" \
    --no-color "$@"
}
st_run --exclude-operation-id keys_revoke --exclude-operation-id policies_apply
# The stateful chains of runs, workflows and executions, longer than the whole-API run
# gives them (submit -> get / steps / events / cancel; apply -> get / start -> ...).
st_run --include-path-regex '^/v1/(runs|workflows|executions)' --phases stateful \
  --max-examples "${AOS_SCHEMATHESIS_STATEFUL_EXAMPLES:-100}"
st_run --include-operation-id keys_revoke --include-operation-id policies_apply --phases examples,coverage,fuzzing
echo "schemathesis: aos dev log in target/schemathesis-aos.log"
