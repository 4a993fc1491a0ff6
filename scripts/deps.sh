#!/usr/bin/env bash
# Installs, with apt-get, whatever of the project's Debian 12 packages is
# missing; or, given packages (scripts/bench-peers.sh), whatever of those
# is. Needs root (or nothing to install).
#   scripts/deps.sh [PACKAGE...]
set -euo pipefail

packages=("$@")
[ $# -gt 0 ] || packages=(
    build-essential pkg-config perl curl ca-certificates
    nginx-core nginx-dev
    libpq-dev libyajl-dev libcurl4-openssl-dev libsystemd-dev
    postgresql postgresql-contrib
    wrk
    clang libclang-rt-14-dev valgrind
    libfaketime pgbouncer
    libssl-dev openssl python3 python3-botocore python3-jsonschema
    prometheus debhelper lintian fakeroot
    chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing+=("$p")
done

# npm (for the linter the tests install from t/openapi's lockfile): Debian's
# unless a Node.js of another source already brings one
[ $# -gt 0 ] || command -v npm >/dev/null || missing+=(nodejs npm)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Debian starts the packaged servers; the project runs its own, privately.
if command -v service >/dev/null; then
    service nginx stop >/dev/null 2>&1 || true
    service postgresql stop >/dev/null 2>&1 || true
    service pgbouncer stop >/dev/null 2>&1 || true
    service prometheus stop >/dev/null 2>&1 || true
fi
