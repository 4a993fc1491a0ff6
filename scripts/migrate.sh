#!/usr/bin/env bash
# Brings the database psql reaches with the given arguments up to date:
#   scripts/migrate.sh -h HOST -p PORT -U USER -d DB
# (installed by the package as campaign-migrate; see its man page)
# sql/migrations/*.sql (tables, indexes, data: history) are applied in name
# order, each once; then every file of sql/functions/ (the live functions,
# triggers and views, written with CREATE OR REPLACE) whose content is new
# or changed since it was last applied. One transaction in all: a failure
# leaves the database as it was.
set -euo pipefail

# the repo's sql/ beside scripts/, or the package's (campaign-migrate)
here=$(dirname "$(readlink -f "$0")")
if [ -n "${CAMPAIGN_SQL_DIR:-}" ]; then
    sql=$CAMPAIGN_SQL_DIR
elif [ -d "$here/../sql/migrations" ]; then
    sql=$(cd "$here/../sql" && pwd)
else
    sql=/usr/share/campaign/sql
fi
case "${1:-}" in
    --help)
        echo "usage: ${0##*/} [psql connection options: -h HOST -p PORT" \
             "-U USER -d DB]"
        exit 0 ;;
esac
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
psql=(psql -X -q -v ON_ERROR_STOP=1 "$@")

"${psql[@]}" -c "CREATE TABLE IF NOT EXISTS public.campaign_migrations (
    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())" \
    -c "CREATE TABLE IF NOT EXISTS public.campaign_functions (
    name text PRIMARY KEY, checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())"

applied=$("${psql[@]}" -Atc "SELECT name FROM public.campaign_migrations")
sums=$("${psql[@]}" -Atc "SELECT name || ' ' || checksum
                           FROM public.campaign_functions")

script=$(mktemp)
trap 'rm -f "$script"' EXIT
{
    echo "SET check_function_bodies = off;"
    for f in "$sql"/migrations/*.sql; do
        name=$(basename "$f")
        grep -qxF "$name" <<<"$applied" && continue
        echo "\\ir $f"
        echo "INSERT INTO public.campaign_migrations (name) VALUES ('$name');"
    done
    # with bodies unchecked, the files may refer to each other in any order
    for f in "$sql"/functions/*.sql; do
        name=$(basename "$f")
        sum=$(sha256sum "$f" | cut -d' ' -f1)
        grep -qxF "$name $sum" <<<"$sums" && continue
        echo "\\ir $f"
        echo "INSERT INTO public.campaign_functions (name, checksum)
              VALUES ('$name', '$sum') ON CONFLICT (name) DO UPDATE
              SET checksum = EXCLUDED.checksum, applied_at = now();"
    done
} >"$script"

"${psql[@]}" -1 -f "$script"
