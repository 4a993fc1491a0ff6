#!/usr/bin/env bash
# Builds the libFuzzer targets of t/fuzz/ with clang, under ASan+UBSan.
#   scripts/build-fuzz.sh OUT_DIR
# The module's parsers are built with nginx-dev's headers and the stand-ins
# of t/fuzz/module_stubs.c for the few nginx functions they call (nginx-dev
# has no nginx sources to link); the scheduler's targets link its sources,
# each compiled once.
# Needs `make build` first (nginx's configured headers of build/release).
set -euo pipefail
shopt -s nullglob

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$1
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cflags="-g -O1 $san -fsanitize=fuzzer-no-link"
pginc=$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

mkdir -p "$out"
out=$(cd "$out" && pwd)

ngx=/usr/share/nginx/src/src
ngx_incs="-I$ngx/core -I$ngx/event -I$ngx/event/modules -I$ngx/os/unix
          -I$ngx/http -I$ngx/http/modules -I$ngx/http/v2
          -I$repo/build/release/objs -I$repo/ngx_campaign_module
          -I$repo/common -I$pginc"
module_srcs="$repo/ngx_campaign_module/ngx_http_campaign_body.c
             $repo/ngx_campaign_module/ngx_http_campaign_route.c
             $repo/ngx_campaign_module/ngx_http_campaign_args.c
             $repo/ngx_campaign_module/ngx_http_campaign_receipt_parse.c
             $repo/common/hmac.c
             $repo/t/fuzz/module_stubs.c"

[ -f "$repo/build/release/objs/ngx_auto_config.h" ] \
    || { echo "build-fuzz: run make build first" >&2; exit 1; }

# each source once into objects (on every core), which the targets link
# compile DIR FLAGS... -- SRCS...
compile() {
    local dir=$1; shift
    local flags=()
    while [ "$1" != -- ]; do flags+=("$1"); shift; done
    shift
    mkdir -p "$dir"
    printf '%s\n' "$@" | xargs -P "$(nproc)" -I{} sh -c \
        'exec clang "$@" -c -o "$0/$(basename "$1" .c).o"' "$dir" {} "${flags[@]}"
}

compile "$out/obj-module" $cflags -Wno-unused-parameter $ngx_incs -- $module_srcs
for t in "$repo"/t/fuzz/module_*.c; do
    name=$(basename "$t" .c)
    [ "$name" = module_stubs ] && continue
    clang $cflags -fsanitize=fuzzer -Wno-unused-parameter $ngx_incs \
        -o "$out/$name" "$t" "$out"/obj-module/*.o -lyajl -lcrypto
done

sched_srcs="$(ls "$repo"/scheduler/*.c | grep -v '/main.c$')
            $repo/common/pg_conninfo.c $repo/common/hmac.c $repo/common/prom.c"
compile "$out/obj-sched" $cflags -iquote "$repo/scheduler" -I"$pginc" -- $sched_srcs
for t in "$repo"/t/fuzz/sched_*.c "$repo"/t/fuzz/sql_*.c; do
    name=$(basename "$t" .c)
    clang $cflags -fsanitize=fuzzer -iquote "$repo/scheduler" -I"$pginc" \
        -o "$out/$name" "$t" "$out"/obj-sched/*.o -lpq -lyajl -lcurl \
        -lsystemd -lcrypto -lm
done

echo "built the fuzz targets in $out"
