#!/usr/bin/env bash
# Installs the peers make bench measures ours against (issue 14), never
# needed by make test:
#   npm: fastify + pg, graphile-worker, pg-boss, exactly as
#        t/bench/peers/package-lock.json pins them, into OUT_DIR
#        (OUT_DIR/node_modules); the app code stays in t/bench/peers/
#   Debian: FastAPI, uvicorn and asyncpg, with apt-get if missing, and
#        uvloop and httptools, which uvicorn takes when present (what its
#        "standard" install brings: the peer at its best)
#   scripts/bench-peers.sh OUT_DIR
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$1

"$repo/scripts/deps.sh" python3-fastapi uvicorn python3-asyncpg python3-uvloop \
    python3-httptools

# npm ci again only when the lockfile changed (it empties node_modules);
# a failed one leaves no lockfile behind, so the next run tries again
peers=$repo/t/bench/peers
if ! cmp -s "$peers/package-lock.json" "$out/package-lock.json" \
   || [ ! -e "$out/node_modules/.package-lock.json" ]; then
    mkdir -p "$out"
    cp "$peers/package.json" "$peers/package-lock.json" "$out/"
    (cd "$out" && npm ci --no-audit --no-fund --loglevel=error > npm.log 2>&1) \
        || { tail -20 "$out/npm.log"; rm -f "$out/package-lock.json"; exit 1; }
    echo "bench-peers: $(cd "$out" && node -p 'Object.entries(require(
        "./package.json").dependencies).map(([n, v]) => n + " " + v)
        .join(", ")') in $out"
fi
