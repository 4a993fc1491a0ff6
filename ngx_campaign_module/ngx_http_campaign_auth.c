
/*
 * API keys: the Bearer key of a request, and a per-worker cache of the
 * tenant each key resolved to. API.md lets a worker keep a key 2 s; we keep
 * it 1.5 s, so a revoked key is refused within 2 s, and the hot path skips
 * hashing and looking up the key in Postgres. One request looks it up again
 * 0.3 s before it expires, while the others still use it: an expiry never
 * sends every request of the moment to the slow path at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"


#define NGX_HTTP_CAMPAIGN_KEYS      512
#define NGX_HTTP_CAMPAIGN_KEY_TTL   1500
#define NGX_HTTP_CAMPAIGN_KEY_AHEAD 300
#define NGX_HTTP_CAMPAIGN_KEY_RETRY 200
#define NGX_HTTP_CAMPAIGN_KEY_MAX   256
#define NGX_HTTP_CAMPAIGN_TENANT_MAX 128


struct ngx_http_campaign_keys_s {
    ngx_msec_t  expires;
    ngx_msec_t  refresh;    /* then one request looks it up again */
    size_t      key_len;
    size_t      tenant_len;
    u_char      key[NGX_HTTP_CAMPAIGN_KEY_MAX];
    u_char      tenant[NGX_HTTP_CAMPAIGN_TENANT_MAX];
};


ngx_http_campaign_keys_t *
ngx_http_campaign_keys_create(ngx_pool_t *pool)
{
    return ngx_pcalloc(pool,
                   NGX_HTTP_CAMPAIGN_KEYS * sizeof(ngx_http_campaign_keys_t));
}


/*
 * The Bearer key: printable ASCII (it goes to Postgres as text, so no byte
 * that is not valid UTF-8 may reach it).
 */
ngx_int_t
ngx_http_campaign_key(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char     *p, *end;
    ngx_str_t   k;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    end = p + r->headers_in.authorization->value.len;

    if (end - p < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return NGX_DECLINED;
    }

    p += 7;
    while (p < end && *p == ' ') {
        p++;
    }

    k.data = p;
    k.len = end - p;

    if (k.len == 0 || k.len > NGX_HTTP_CAMPAIGN_KEY_MAX) {
        return NGX_DECLINED;
    }

    for ( /* void */ ; p < end; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return NGX_DECLINED;
        }
    }

    if (key) {
        *key = k;
    }

    return NGX_OK;
}


static ngx_http_campaign_keys_t *
ngx_http_campaign_keys_slot(ngx_http_campaign_keys_t *keys, ngx_str_t *key)
{
    return &keys[ngx_crc32_short(key->data, key->len)
                 % NGX_HTTP_CAMPAIGN_KEYS];
}


ngx_int_t
ngx_http_campaign_keys_get(ngx_http_campaign_keys_t *keys, ngx_str_t *key,
    ngx_str_t *tenant)
{
    ngx_http_campaign_keys_t  *e;

    e = ngx_http_campaign_keys_slot(keys, key);

    if (e->key_len != key->len
        || (ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0
        || ngx_memcmp(e->key, key->data, key->len) != 0)
    {
        return NGX_DECLINED;
    }

    if ((ngx_msec_int_t) (e->refresh - ngx_current_msec) <= 0) {
        /*
         * this request refreshes it (keys_put); another tries after
         * NGX_HTTP_CAMPAIGN_KEY_RETRY if it never does (refused, gone)
         */
        e->refresh = ngx_current_msec + NGX_HTTP_CAMPAIGN_KEY_RETRY;
        if ((ngx_msec_int_t) (e->refresh - e->expires) > 0) {
            e->refresh = e->expires;
        }
        return NGX_DECLINED;
    }

    tenant->data = e->tenant;
    tenant->len = e->tenant_len;

    return NGX_OK;
}


void
ngx_http_campaign_keys_put(ngx_http_campaign_keys_t *keys, ngx_str_t *key,
    ngx_str_t *tenant, ngx_msec_t checked)
{
    ngx_http_campaign_keys_t  *e;

    if (key->len > NGX_HTTP_CAMPAIGN_KEY_MAX
        || tenant->len > NGX_HTTP_CAMPAIGN_TENANT_MAX)
    {
        return;
    }

    e = ngx_http_campaign_keys_slot(keys, key);

    /* from when Postgres checked it, not from when the answer came */
    e->expires = checked + NGX_HTTP_CAMPAIGN_KEY_TTL;
    e->refresh = e->expires - NGX_HTTP_CAMPAIGN_KEY_AHEAD;
    e->key_len = key->len;
    e->tenant_len = tenant->len;
    ngx_memcpy(e->key, key->data, key->len);
    ngx_memcpy(e->tenant, tenant->data, tenant->len);
}
