
/*
 * The parsers of receipts, apart from the request so that they can be
 * fuzzed alone: a form's parameters (decoded, sorted as Twilio signs
 * them), Twilio's callback as the receipt campaign.api_receipt() takes,
 * and a Standard Webhooks signature list.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>

#include "ngx_http_campaign_module.h"
#include "hmac.h"


/* %XX and '+' decoded in place (application/x-www-form-urlencoded) */
static ngx_int_t
ngx_http_campaign_form_decode(ngx_str_t *s)
{
    u_char      *p, *q, *end;
    ngx_int_t    hi, lo;

    p = q = s->data;
    end = s->data + s->len;

    while (p < end) {
        if (*p == '+') {
            *q++ = ' ';
            p++;

        } else if (*p == '%') {
            if (end - p < 3) {
                return NGX_DECLINED;
            }
            hi = ngx_hextoi(p + 1, 1);
            lo = ngx_hextoi(p + 2, 1);
            if (hi == NGX_ERROR || lo == NGX_ERROR) {
                return NGX_DECLINED;
            }
            *q++ = (u_char) (hi * 16 + lo);
            p += 3;

        } else {
            *q++ = *p++;
        }
    }

    s->len = q - s->data;
    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_campaign_param_cmp(const void *one, const void *two)
{
    int                               c;
    size_t                            n;
    const ngx_http_campaign_param_t  *a = one, *b = two;

    n = ngx_min(a->name.len, b->name.len);
    c = ngx_memcmp(a->name.data, b->name.data, n);
    if (c == 0) {
        c = (a->name.len > b->name.len) - (a->name.len < b->name.len);
    }
    if (c == 0) {
        c = (a->index > b->index) - (a->index < b->index);
    }
    return c;
}


static ngx_str_t *
ngx_http_campaign_param(ngx_array_t *params, const char *name)
{
    size_t                      n = ngx_strlen(name);
    ngx_uint_t                  i;
    ngx_http_campaign_param_t  *p = params->elts;

    for (i = 0; i < params->nelts; i++) {
        if (p[i].name.len == n && ngx_strncmp(p[i].name.data, name, n) == 0)
        {
            return &p[i].value;
        }
    }
    return NULL;
}


/* the parameters of a form body, decoded (a copy) and sorted by name, as
 * Twilio signs them: n log n, whatever a sender puts in */
ngx_int_t
ngx_http_campaign_receipt_form(ngx_pool_t *pool, ngx_str_t *body,
    ngx_array_t **out)
{
    u_char                     *p, *end, *amp, *eq, *copy;
    ngx_uint_t                  n;
    ngx_array_t                *params;
    ngx_http_campaign_param_t  *prm;

    copy = ngx_pnalloc(pool, body->len + 1);
    if (copy == NULL) {
        return NGX_ERROR;
    }
    if (body->len) {
        ngx_memcpy(copy, body->data, body->len);
    }

    params = ngx_array_create(pool, 16, sizeof(ngx_http_campaign_param_t));
    if (params == NULL) {
        return NGX_ERROR;
    }

    p = copy;
    end = copy + body->len;
    for (n = 0; p < end; n++) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }
        if (amp > p) {
            /* a callback has a few dozen; a sender's memory stays bounded */
            if (params->nelts == NGX_HTTP_CAMPAIGN_MAX_PARAMS) {
                return NGX_DECLINED;
            }
            eq = ngx_strlchr(p, amp, '=');
            prm = ngx_array_push(params);
            if (prm == NULL) {
                return NGX_ERROR;
            }
            prm->index = n;
            prm->name.data = p;
            prm->name.len = (eq ? eq : amp) - p;
            prm->value.data = eq ? eq + 1 : amp;
            prm->value.len = eq ? (size_t) (amp - eq - 1) : 0;
            if (ngx_http_campaign_form_decode(&prm->name) != NGX_OK
                || ngx_http_campaign_form_decode(&prm->value) != NGX_OK)
            {
                return NGX_DECLINED;
            }
        }
        p = amp + 1;
    }

    if (params->nelts > 1) {
        ngx_qsort(params->elts, params->nelts,
                  sizeof(ngx_http_campaign_param_t),
                  ngx_http_campaign_param_cmp);
    }

    *out = params;
    return NGX_OK;
}


/* any "v1,<base64>" of a space-separated list is the one wanted */
ngx_flag_t
ngx_http_campaign_receipt_sig_in(ngx_str_t *list, const char *want)
{
    u_char  *p, *end, *tok;
    size_t   n = ngx_strlen(want);

    p = list->data;
    end = p + list->len;

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }
        tok = p;
        while (p < end && *p != ' ') {
            p++;
        }
        if ((size_t) (p - tok) == n + 3 && ngx_strncmp(tok, "v1,", 3) == 0
            && cs_equal_ct(tok + 3, want, n))
        {
            return 1;
        }
    }
    return 0;
}


/* {"provider_id", "status", "error"?} of a Twilio callback, or NGX_DONE
 * for a status that is not an end (queued, sent, ...) */
ngx_int_t
ngx_http_campaign_receipt_twilio_json(ngx_pool_t *pool, ngx_array_t *params,
    ngx_str_t *json)
{
    size_t                len;
    u_char                error[64];
    ngx_int_t             rc = NGX_ERROR;
    ngx_str_t            *sid, *status, *code;
    yajl_gen              g;
    const char           *delivery;
    const unsigned char  *buf;

    sid = ngx_http_campaign_param(params, "MessageSid");
    status = ngx_http_campaign_param(params, "MessageStatus");
    code = ngx_http_campaign_param(params, "ErrorCode");

    if (sid == NULL || status == NULL || sid->len == 0) {
        return NGX_DECLINED;
    }

    if (status->len == 9 && ngx_strncmp(status->data, "delivered", 9) == 0) {
        delivery = "delivered";

    } else if ((status->len == 11
                && ngx_strncmp(status->data, "undelivered", 11) == 0)
               || (status->len == 6
                   && ngx_strncmp(status->data, "failed", 6) == 0))
    {
        delivery = "undelivered";

    } else {
        return NGX_DONE;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }
    /* a sid that is not UTF-8 is refused, not written */
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || yajl_gen_string(g, (u_char *) "provider_id", 11)
           != yajl_gen_status_ok)
    {
        goto done;
    }
    if (yajl_gen_string(g, sid->data, sid->len) != yajl_gen_status_ok) {
        rc = NGX_DECLINED;
        goto done;
    }
    if (yajl_gen_string(g, (u_char *) "status", 6) != yajl_gen_status_ok
        || yajl_gen_string(g, (u_char *) delivery, ngx_strlen(delivery))
           != yajl_gen_status_ok)
    {
        goto done;
    }
    if (code != NULL && code->len > 0 && delivery[0] == 'u') {
        len = ngx_min(code->len, (size_t) 32);
        ngx_memcpy(ngx_cpymem(error, "ErrorCode ", 10), code->data, len);
        len += 10;
        if (yajl_gen_string(g, (u_char *) "error", 5) != yajl_gen_status_ok
            || yajl_gen_string(g, error, len) != yajl_gen_status_ok)
        {
            rc = NGX_DECLINED;
            goto done;
        }
    }
    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
    {
        goto done;
    }

    json->data = ngx_pnalloc(pool, len + 1);
    if (json->data == NULL) {
        goto done;
    }
    ngx_memcpy(json->data, buf, len);
    json->data[len] = '\0';
    json->len = len;
    rc = NGX_OK;

done:

    yajl_gen_free(g);
    return rc;
}
