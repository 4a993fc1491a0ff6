#!/usr/bin/env bash
# Applies sql/*.sql in name order, each once, to the database psql reaches
# with the given arguments:  scripts/migrate.sh -h HOST -p PORT -U USER -d DB
set -euo pipefail

sql=$(cd "$(dirname "$0")/../sql" && pwd)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
psql=(psql -X -q -v ON_ERROR_STOP=1 "$@")

"${psql[@]}" -c "CREATE TABLE IF NOT EXISTS public.campaign_migrations (
    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"

for f in "$sql"/*.sql; do
    name=$(basename "$f")
    done=$("${psql[@]}" -Atc "SELECT 1 FROM public.campaign_migrations
                              WHERE name = '$name'")
    [ -n "$done" ] && continue
    # one transaction per file: a failed migration leaves nothing behind
    "${psql[@]}" -1 -f "$f" \
        -c "INSERT INTO public.campaign_migrations (name) VALUES ('$name')"
done
