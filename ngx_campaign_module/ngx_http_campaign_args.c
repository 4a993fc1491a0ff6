
/*
 * What a request passes to Postgres besides its body: query arguments and
 * header values, made NUL-terminated printable ASCII for libpq.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"


/*
 * A NUL-terminated copy for libpq, or NULL (SQL NULL) for an absent value.
 * Only printable ASCII passes: "" marks a rejected value.
 */
const char *
ngx_http_campaign_cstr(ngx_pool_t *pool, ngx_str_t *s, size_t max)
{
    u_char      *p;
    ngx_uint_t   i;

    if (s->data == NULL) {
        return NULL;
    }

    if (s->len > max) {
        return "";
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] > 0x7e) {
            return "";
        }
    }

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_cpystrn(p, s->data, s->len + 1);

    return (const char *) p;
}


/*
 * The query string's filters and paging, URI-unescaped, into the
 * statement's values. NGX_DECLINED: one is too long or not printable ASCII.
 */
ngx_int_t
ngx_http_campaign_args(ngx_http_request_t *r, const char **values)
{
    u_char      *dst, *src;
    ngx_str_t    raw, arg;
    ngx_uint_t   i;

    static struct {
        ngx_str_t   name;
        ngx_uint_t  param;
    } args[] = {
        { ngx_string("status"), NGX_HTTP_CAMPAIGN_P_STATUS },
        { ngx_string("type"), NGX_HTTP_CAMPAIGN_P_TYPE },
        { ngx_string("limit"), NGX_HTTP_CAMPAIGN_P_LIMIT },
        { ngx_string("cursor"), NGX_HTTP_CAMPAIGN_P_CURSOR },
        { ngx_string("after"), NGX_HTTP_CAMPAIGN_P_CURSOR },  /* the feed's */
        { ngx_string("delivery"), NGX_HTTP_CAMPAIGN_P_DELIVERY },
        { ngx_string("from"), NGX_HTTP_CAMPAIGN_P_FROM },     /* calendar */
        { ngx_string("to"), NGX_HTTP_CAMPAIGN_P_TO },
        { ngx_string("cron"), NGX_HTTP_CAMPAIGN_P_CRON },  /* the preview's */
        { ngx_string("timezone"), NGX_HTTP_CAMPAIGN_P_TIMEZONE },
        { ngx_string("count"), NGX_HTTP_CAMPAIGN_P_COUNT }
    };

    for (i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
        if (ngx_http_arg(r, args[i].name.data, args[i].name.len, &raw)
            != NGX_OK)
        {
            continue;
        }

        arg.data = ngx_pnalloc(r->pool, raw.len + 1);
        if (arg.data == NULL) {
            return NGX_ERROR;
        }
        arg.len = 0;
        if (raw.len) {
            dst = arg.data;
            src = raw.data;
            ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);
            arg.len = dst - arg.data;
        }

        values[args[i].param] = ngx_http_campaign_cstr(r->pool, &arg, 1024);
        if (values[args[i].param] == NULL) {
            return NGX_ERROR;
        }
        if (values[args[i].param][0] == '\0' && arg.len) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* A request header by name, in any case; NULL if none. */
ngx_table_elt_t *
ngx_http_campaign_find_header(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}
