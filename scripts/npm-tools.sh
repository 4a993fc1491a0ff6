#!/usr/bin/env bash
# Installs the npm tools the tests use (t/openapi/package.json: redocly's
# linter; axe-core, which t/31-console.t runs in the console's pages),
# exactly as t/openapi/package-lock.json pins them, into
#   scripts/npm-tools.sh OUT_DIR        (OUT_DIR/node_modules/.bin/redocly,
#                                        OUT_DIR/node_modules/axe-core/axe.min.js)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$1

mkdir -p "$out"
cp "$repo/t/openapi/package.json" "$repo/t/openapi/package-lock.json" "$out/"
cd "$out"
npm ci --no-audit --no-fund --loglevel=error > npm.log 2>&1 \
    || { tail -20 npm.log; exit 1; }
echo "installed $(ls node_modules/.bin | tr '\n' ' ')in $out"
