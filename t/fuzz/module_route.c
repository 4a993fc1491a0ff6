/*
 * The request line as the module sees it: byte 0 picks the method, the
 * rest is "path?query". Properties: a route found has the method asked
 * (HEAD as GET) and, if it names a campaign, a well-formed UUID; a 405
 * lists the methods; query values that pass are printable ASCII, at most
 * 1,024 bytes, NUL-terminated.
 */

#include "module_fuzz.h"

static const ngx_uint_t  methods[] = {
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST, NGX_HTTP_PUT,
    NGX_HTTP_PATCH, NGX_HTTP_DELETE, NGX_HTTP_OPTIONS
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                           *q, *copy;
    ngx_int_t                         rc;
    ngx_str_t                         path, id, allow;
    ngx_uint_t                        i, want;
    ngx_pool_t                       *pool;
    ngx_http_request_t                r;
    const char                       *values[NGX_HTTP_CAMPAIGN_NPARAMS];
    const ngx_http_campaign_route_t  *route;

    if (size < 1) {
        return 0;
    }

    pool = fuzz_pool();
    ngx_memzero(&r, sizeof(r));
    ngx_memzero(values, sizeof(values));
    r.pool = pool;
    r.method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];

    /* an exact-size copy, so ASan sees any read past the end */
    copy = ngx_pnalloc(pool, size - 1);
    FUZZ_CHECK(copy != NULL || size == 1);
    if (size > 1) {
        ngx_memcpy(copy, data + 1, size - 1);
    }

    path.data = copy;
    path.len = size - 1;
    q = path.len ? ngx_strlchr(copy, copy + path.len, '?') : NULL;
    if (q) {
        r.args.data = q + 1;
        r.args.len = copy + path.len - (q + 1);
        path.len = q - copy;
    }

    route = NULL;
    rc = ngx_http_campaign_route_find(&r, &path, &route, &id, &allow);

    if (rc == NGX_OK) {
        want = (r.method == NGX_HTTP_HEAD) ? NGX_HTTP_GET : r.method;
        FUZZ_CHECK(route != NULL && route->method == want);
        if (id.data != NULL && route->body == NGX_HTTP_CAMPAIGN_BODY_RECEIPT) {
            /* a type's name */
            FUZZ_CHECK(id.len >= 1 && id.len <= 32
                       && id.data[0] >= 'a' && id.data[0] <= 'z');
            for (i = 0; i < id.len; i++) {
                FUZZ_CHECK((id.data[i] >= 'a' && id.data[i] <= 'z')
                           || (id.data[i] >= '0' && id.data[i] <= '9')
                           || id.data[i] == '_');
            }

        } else if (id.data != NULL) {
            FUZZ_CHECK(id.len == 36);
            for (i = 0; i < 36; i++) {
                FUZZ_CHECK((i == 8 || i == 13 || i == 18 || i == 23)
                           ? id.data[i] == '-' : isxdigit(id.data[i]));
            }
        }

    } else if (rc == NGX_HTTP_NOT_ALLOWED) {
        FUZZ_CHECK(allow.len > 0);

    } else {
        FUZZ_CHECK(rc == NGX_DECLINED);
    }

    rc = ngx_http_campaign_args(&r, values);
    FUZZ_CHECK(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_OK) {
        for (i = 0; i < NGX_HTTP_CAMPAIGN_NPARAMS; i++) {
            const char  *v = values[i];

            if (v == NULL) {
                continue;
            }
            FUZZ_CHECK(strlen(v) <= 1024);
            for (; *v; v++) {
                FUZZ_CHECK(*v >= 0x20 && *v <= 0x7e);
            }
        }
    }

    ngx_destroy_pool(pool);
    return 0;
}
