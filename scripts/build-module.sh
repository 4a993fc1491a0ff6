#!/usr/bin/env bash
# Builds ngx_http_campaign_module.so the Debian way: nginx-dev's source and
# conf_flags, configured with this repo as a dynamic module.
#   scripts/build-module.sh OUT_DIR [EXTRA_CC_OPT [EXTRA_LD_OPT]]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$1
cc_opt=${2:-}
ld_opt=${3:-}
src=/usr/share/nginx/src

mkdir -p "$out"
out=$(cd "$out" && pwd)

# a private copy: configure writes its Makefile into the source tree
rm -rf "$out/nginx-src"
cp -r "$src" "$out/nginx-src"

. "$src/conf_flags"

cd "$out/nginx-src"
./configure "${NGX_CONF_FLAGS[@]}" \
    --with-cc-opt="-g -O2 -fPIC -Wall -Wextra -Wno-unused-parameter -Werror $cc_opt" \
    --with-ld-opt="-fPIC $ld_opt" \
    --add-dynamic-module="$repo" \
    --builddir="$out/objs" > "$out/configure.log" 2>&1 \
    || { tail -20 "$out/configure.log"; exit 1; }

make -f "$out/objs/Makefile" modules -j2 > "$out/make.log" 2>&1 \
    || { grep -E 'error|warning' "$out/make.log" | head -40; exit 1; }

cp "$out/objs/ngx_http_campaign_module.so" "$out/"
echo "built $out/ngx_http_campaign_module.so"
