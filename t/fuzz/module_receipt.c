/*
 * The receipt parsers (ngx_http_campaign_receipt_parse.c). Byte 0 picks:
 * even, a form body: its parameters are what a plain reading of
 * "name=value&..." gives (one per non-empty segment), sorted by name, and
 * Twilio's receipt made of them, if any, is a JSON object whose
 * provider_id is MessageSid and whose status is delivered or undelivered;
 * odd, "want\nlist": a Standard Webhooks signature list holds "v1,want"
 * exactly when a split at spaces finds it.
 */

#include <yajl/yajl_tree.h>

#include "module_fuzz.h"


static void
form(ngx_pool_t *pool, u_char *body, size_t len)
{
    u_char                     *p, *end;
    size_t                      segments = 0;
    ngx_int_t                   rc;
    ngx_str_t                   b = { len, body }, json, *sid = NULL;
    ngx_uint_t                  i;
    ngx_array_t                *params;
    ngx_http_campaign_param_t  *prm;

    for (p = body, end = body + len; p < end; ) {
        u_char  *amp = memchr(p, '&', end - p);

        if (amp == NULL) {
            amp = end;
        }
        segments += amp > p;
        p = amp + 1;
    }

    rc = ngx_http_campaign_receipt_form(pool, &b, &params);
    FUZZ_CHECK(rc == NGX_OK || rc == NGX_DECLINED);
    if (rc != NGX_OK) {
        return;
    }

    FUZZ_CHECK(params->nelts == segments);
    prm = params->elts;
    for (i = 0; i < params->nelts; i++) {
        FUZZ_CHECK(prm[i].name.len + prm[i].value.len <= len);
        if (i > 0) {
            size_t  n = ngx_min(prm[i - 1].name.len, prm[i].name.len);
            int     c = memcmp(prm[i - 1].name.data, prm[i].name.data, n);

            FUZZ_CHECK(c < 0 || (c == 0 && prm[i - 1].name.len
                                           <= prm[i].name.len));
        }
        if (sid == NULL && prm[i].name.len == 10
            && memcmp(prm[i].name.data, "MessageSid", 10) == 0)
        {
            sid = &prm[i].value;
        }
    }

    rc = ngx_http_campaign_receipt_twilio_json(pool, params, &json);
    FUZZ_CHECK(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_DONE);
    if (rc == NGX_OK) {
        const char  *k1[] = { "provider_id", NULL }, *k2[] = { "status", NULL };
        yajl_val     tree, v;

        FUZZ_CHECK(sid != NULL && sid->len > 0);
        tree = yajl_tree_parse((char *) json.data, NULL, 0);
        FUZZ_CHECK(tree != NULL && YAJL_IS_OBJECT(tree));
        v = yajl_tree_get(tree, k1, yajl_t_string);
        FUZZ_CHECK(v != NULL);
        /* yajl stops a string at an encoded NUL */
        if (memchr(sid->data, '\0', sid->len) == NULL) {
            FUZZ_CHECK(strlen(YAJL_GET_STRING(v)) == sid->len
                       && memcmp(YAJL_GET_STRING(v), sid->data, sid->len)
                          == 0);
        }
        v = yajl_tree_get(tree, k2, yajl_t_string);
        FUZZ_CHECK(v && (strcmp(YAJL_GET_STRING(v), "delivered") == 0
                         || strcmp(YAJL_GET_STRING(v), "undelivered") == 0));
        yajl_tree_free(tree);
    }
}


static void
signatures(ngx_pool_t *pool, u_char *in, size_t len)
{
    u_char     *nl, *p, *end, *tok;
    char       *want;
    size_t      n;
    ngx_str_t   list;
    ngx_flag_t  found = 0;

    nl = memchr(in, '\n', len);
    if (nl == NULL || memchr(in, '\0', nl - in) != NULL) {
        return;
    }
    n = nl - in;
    want = ngx_pnalloc(pool, n + 1);
    FUZZ_CHECK(want != NULL);
    memcpy(want, in, n);
    want[n] = '\0';
    list.data = nl + 1;
    list.len = in + len - (nl + 1);

    for (p = list.data, end = list.data + list.len; p < end; ) {
        while (p < end && *p == ' ') {
            p++;
        }
        tok = p;
        while (p < end && *p != ' ') {
            p++;
        }
        if ((size_t) (p - tok) == n + 3 && memcmp(tok, "v1,", 3) == 0
            && memcmp(tok + 3, want, n) == 0)
        {
            found = 1;
        }
    }

    FUZZ_CHECK(ngx_http_campaign_receipt_sig_in(&list, want) == found);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy;
    ngx_pool_t  *pool;

    if (size < 1) {
        return 0;
    }

    pool = fuzz_pool();
    /* an exact-size copy, so ASan sees any read past the end */
    copy = ngx_pnalloc(pool, size - 1);
    FUZZ_CHECK(copy != NULL);
    if (size > 1) {
        memcpy(copy, data + 1, size - 1);
    }

    if (data[0] % 2 == 0) {
        form(pool, copy, size - 1);
    } else {
        signatures(pool, copy, size - 1);
    }

    ngx_destroy_pool(pool);
    return 0;
}
