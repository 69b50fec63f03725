#!/usr/bin/env bash
# The client libraries: regenerates the Python bindings and the TypeScript types from
# docs/openapi.json and fails when the committed ones differ; installs the Python package
# with pip into its own venv (clients/python/.venv) and the TypeScript one's tools with npm
# (clients/typescript/node_modules); runs each one's tests against a real `aos dev`.
# Usage: scripts/clients.sh [path/to/aos]   (run by scripts/test.sh after the build)
set -euo pipefail
cd "$(dirname "$0")/.."
aos="$(realpath "${1:-target/debug/aos}")"

echo "-- clients/python"
venv=clients/python/.venv
if [ ! -x "$venv/bin/openapi-python-client" ] || [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "openapi-python-client==0.29.1" "pytest==9.2.0" "pytest-asyncio==1.5.0"
fi
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
"$venv/bin/openapi-python-client" generate --path docs/openapi.json --meta none \
  --config clients/python/openapi-python-client.yaml --output-path "$gen/generated" > "$gen/log" 2>&1 \
  || { cat "$gen/log"; exit 1; }
if ! diff -r -x __pycache__ "$gen/generated" clients/python/aos_client/generated > "$gen/diff"; then
  head -40 "$gen/diff"
  echo "clients/python/aos_client/generated is stale: regenerate it with the command in clients/python/openapi-python-client.yaml"
  exit 1
fi
echo "bindings are what docs/openapi.json makes"
# The tests import the installed package (pytest puts only tests/ on the path).
"$venv/bin/pip" install --quiet --disable-pip-version-check ./clients/python
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python
(cd clients/python && AOS_BIN="$aos" .venv/bin/pytest -q -p no:cacheprovider tests)

echo "-- clients/typescript"
ts=clients/typescript
if [ ! -x "$ts/node_modules/.bin/openapi-typescript" ] || [ ! -x "$ts/node_modules/.bin/tsc" ]; then
  npm ci --prefix "$ts" --silent --no-audit --no-fund
fi
"$ts/node_modules/.bin/openapi-typescript" docs/openapi.json -o "$gen/schema.d.ts" > "$gen/log" 2>&1 \
  || { cat "$gen/log"; exit 1; }
if ! diff "$gen/schema.d.ts" "$ts/src/schema.d.ts" > "$gen/diff"; then
  head -40 "$gen/diff"
  echo "clients/typescript/src/schema.d.ts is stale: regenerate it with (cd clients/typescript && npm run generate)"
  exit 1
fi
echo "types are what docs/openapi.json makes"
(cd "$ts" && rm -rf dist && AOS_BIN="$aos" npm test --silent)
