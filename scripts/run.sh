#!/usr/bin/env bash
# make run: a private Postgres under .run/pg (port 54329) and nginx with the
# module on 127.0.0.1:8080, in the foreground; Ctrl-C stops both.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
run=$repo/.run
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
port=54329

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$run/pg" "$run/nginx/logs"
[ "$(id -u)" -eq 0 ] && chown postgres "$run/pg"

if [ ! -d "$run/pg/data" ]; then
    as_pg "$pgbin/initdb" -D "$run/pg/data" -A trust -U postgres -E UTF8 \
        >/dev/null
    fresh=1
fi

as_pg "$pgbin/pg_ctl" -D "$run/pg/data" -l "$run/pg/log" -w -o \
    "-p $port -k $run/pg -c listen_addresses=127.0.0.1" start >/dev/null

stop() {
    trap - INT TERM EXIT
    [ -n "${sched_pid:-}" ] && kill -TERM "$sched_pid" 2>/dev/null \
        && wait "$sched_pid" 2>/dev/null
    [ -n "${stub_pid:-}" ] && kill -TERM "$stub_pid" 2>/dev/null \
        && wait "$stub_pid" 2>/dev/null
    [ -n "${nginx_pid:-}" ] && kill -QUIT "$nginx_pid" 2>/dev/null \
        && wait "$nginx_pid" 2>/dev/null
    as_pg "$pgbin/pg_ctl" -D "$run/pg/data" -m fast -w stop >/dev/null || true
    [ -n "${console:-}" ] && rm -rf "$console" "$run/nginx/console-root.conf"
    echo "stopped"
}
trap stop INT TERM EXIT

psql=(psql -X -q -At -h 127.0.0.1 -p "$port")
if [ -n "${fresh:-}" ]; then
    "${psql[@]}" -U postgres -c "CREATE ROLE campaign LOGIN"
    "${psql[@]}" -U postgres -c "CREATE DATABASE campaigns OWNER campaign"
fi
"$repo/scripts/migrate.sh" -h 127.0.0.1 -p "$port" -U campaign -d campaigns

key=$("${psql[@]}" -U campaign -d campaigns \
      -c "SELECT campaign.create_api_key('demo', 'make run')")

# the web console: nginx's workers (nobody, when this runs as root) may not
# read the clone, so they serve a copy; conf/nginx.conf includes its root
console=$(mktemp -d "${TMPDIR:-/tmp}/campaign-console.XXXXXX")
cp -R "$repo/ui/." "$console/"
chmod -R a+rX "$console"
echo "root $console;" > "$run/nginx/console-root.conf"

nginx -p "$run/nginx" -c "$repo/conf/nginx.conf" -e logs/error.log &
nginx_pid=$!

# the providers of conf/scheduler.conf: prints each delivery it receives
"$repo/scripts/provider-stub" 9001 &
stub_pid=$!

"$repo/build/campaign-scheduler" -c "$repo/conf/scheduler.conf" \
    2>>"$run/scheduler.log" &
sched_pid=$!

for _ in $(seq 100); do
    curl -sf http://127.0.0.1:8080/v1/healthz >/dev/null && break
    sleep 0.1
done

cat <<MSG

The web console is on http://127.0.0.1:8080/ (log in with the key below).
The campaign API is on http://127.0.0.1:8080/v1/ (Postgres on port $port).
A demo key for tenant "demo": $key

Try:
  curl -s -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\
       -d '{"name":"Hello","type":"sms","message":{"body":"Hi {{name}}"},"recipients":[{"to":"+15551234567","vars":{"name":"Ann"}}]}' \\
       http://127.0.0.1:8080/v1/campaigns

Add "start": true (or "scheduled_at", RFC 3339) to see it run: the
scheduler starts it, the provider stub on port 9001 prints each delivery
below, and GET /v1/campaigns/<id> shows it completed with its stats.

Metrics (Prometheus's text format): http://127.0.0.1:8080/metrics (nginx)
and http://127.0.0.1:9464/metrics (the scheduler); example alert rules in
conf/prometheus-rules.yml.

Logs: .run/nginx/logs/error.log, .run/scheduler.log. Ctrl-C stops everything.
MSG

wait -n "$nginx_pid" "$sched_pid"
