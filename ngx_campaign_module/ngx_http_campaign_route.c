
/*
 * The routes of API.md section 5, as data, and the matcher that finds one
 * for a path relative to the location's prefix.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"


#define NGX_HTTP_CAMPAIGN_ID    "{id}"     /* a campaign's uuid */
#define NGX_HTTP_CAMPAIGN_NAME  "{name}"   /* a type's name */


const ngx_http_campaign_route_t  ngx_http_campaign_routes[] = {

    { NGX_HTTP_GET, ngx_string("campaigns"), "list",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_POST, ngx_string("campaigns"), "create",
      NGX_HTTP_CAMPAIGN_BODY_JSON, 0, 0, 0 },

    { NGX_HTTP_GET, ngx_string("campaigns/{id}"), "get",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 1 },
    { NGX_HTTP_PATCH, ngx_string("campaigns/{id}"), "patch",
      NGX_HTTP_CAMPAIGN_BODY_JSON, 0, 0, 0 },
    { NGX_HTTP_DELETE, ngx_string("campaigns/{id}"), "delete",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },

    { NGX_HTTP_POST, ngx_string("campaigns/{id}/start"), "start",
      NGX_HTTP_CAMPAIGN_BODY_OPTIONAL, 0, 0, 0 },
    { NGX_HTTP_POST, ngx_string("campaigns/{id}/schedule"), "schedule",
      NGX_HTTP_CAMPAIGN_BODY_JSON, 0, 0, 0 },
    { NGX_HTTP_POST, ngx_string("campaigns/{id}/pause"), "pause",
      NGX_HTTP_CAMPAIGN_BODY_OPTIONAL, 0, 0, 0 },
    { NGX_HTTP_POST, ngx_string("campaigns/{id}/resume"), "resume",
      NGX_HTTP_CAMPAIGN_BODY_OPTIONAL, 0, 0, 0 },
    { NGX_HTTP_POST, ngx_string("campaigns/{id}/cancel"), "cancel",
      NGX_HTTP_CAMPAIGN_BODY_OPTIONAL, 0, 0, 0 },

    { NGX_HTTP_GET, ngx_string("campaigns/{id}/recipients"),
      "recipients_list", NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_GET, ngx_string("campaigns/{id}/events"), "events",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_GET, ngx_string("events"), "feed",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_GET, ngx_string("campaigns/{id}/runs"), "runs",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_GET, ngx_string("calendar"), "calendar",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_GET, ngx_string("recurrence/preview"), "recurrence_preview",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_POST, ngx_string("campaigns/{id}/recipients"),
      "recipients_add", NGX_HTTP_CAMPAIGN_BODY_RECIPIENTS, 0, 0, 0 },

    /* a provider's, signed (ngx_http_campaign_receipt.c): no key */
    { NGX_HTTP_POST, ngx_string("receipts/{name}"), "receipt",
      NGX_HTTP_CAMPAIGN_BODY_RECEIPT, 0, 1, 0 },

    { NGX_HTTP_GET, ngx_string("status"), "status",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 0, 0 },
    { NGX_HTTP_GET, ngx_string("healthz"), "healthz",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 1, 1, 0 },
    { NGX_HTTP_GET, ngx_string("readyz"), "readyz",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 0, 1, 0 },
    { NGX_HTTP_GET, ngx_string("openapi.json"), "openapi",
      NGX_HTTP_CAMPAIGN_BODY_NONE, 1, 1, 0 },

    { 0, ngx_null_string, NULL, 0, 0, 0, 0 }
};


static ngx_str_t  ngx_http_campaign_method_names[] = {
    ngx_string("GET"), ngx_string("POST"), ngx_string("PATCH"),
    ngx_string("DELETE")
};

static ngx_uint_t  ngx_http_campaign_methods[] = {
    NGX_HTTP_GET, NGX_HTTP_POST, NGX_HTTP_PATCH, NGX_HTTP_DELETE
};


/* A path matches a pattern segment by segment; "{id}" and "{name}" take
 * any one. */
static ngx_int_t
ngx_http_campaign_route_match(const ngx_str_t *pattern, ngx_str_t *path,
    ngx_str_t *id, ngx_flag_t *is_name)
{
    u_char  *p, *q, *pe, *qe, *s;
    size_t   n;

    p = pattern->data;
    pe = p + pattern->len;
    q = path->data;
    qe = q + path->len;

    while (p < pe) {

        n = 0;
        if ((size_t) (pe - p) >= sizeof(NGX_HTTP_CAMPAIGN_ID) - 1
            && ngx_strncmp(p, NGX_HTTP_CAMPAIGN_ID,
                           sizeof(NGX_HTTP_CAMPAIGN_ID) - 1) == 0)
        {
            n = sizeof(NGX_HTTP_CAMPAIGN_ID) - 1;
            *is_name = 0;

        } else if ((size_t) (pe - p) >= sizeof(NGX_HTTP_CAMPAIGN_NAME) - 1
                   && ngx_strncmp(p, NGX_HTTP_CAMPAIGN_NAME,
                                  sizeof(NGX_HTTP_CAMPAIGN_NAME) - 1) == 0)
        {
            n = sizeof(NGX_HTTP_CAMPAIGN_NAME) - 1;
            *is_name = 1;
        }

        if (n) {
            s = q;
            while (q < qe && *q != '/') {
                q++;
            }
            if (q == s) {
                return NGX_DECLINED;
            }
            id->data = s;
            id->len = q - s;
            p += n;
            continue;
        }

        if (q == qe || *p != *q) {
            return NGX_DECLINED;
        }

        p++;
        q++;
    }

    return q == qe ? NGX_OK : NGX_DECLINED;
}


/* as campaign.types checks it: [a-z][a-z0-9_]{0,31} */
static ngx_flag_t
ngx_http_campaign_is_name(ngx_str_t *s)
{
    ngx_uint_t  i;

    if (s->len == 0 || s->len > 32 || s->data[0] < 'a' || s->data[0] > 'z') {
        return 0;
    }
    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= 'a' && s->data[i] <= 'z')
              || (s->data[i] >= '0' && s->data[i] <= '9')
              || s->data[i] == '_'))
        {
            return 0;
        }
    }
    return 1;
}


static ngx_flag_t
ngx_http_campaign_is_uuid(ngx_str_t *id)
{
    ngx_uint_t  i;

    if (id->len != 36) {
        return 0;
    }

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id->data[i] != '-') {
                return 0;
            }
            continue;
        }
        if (!isxdigit(id->data[i])) {
            return 0;
        }
    }

    return 1;
}


/*
 * NGX_OK with the route; NGX_DECLINED for no such path (or a malformed id:
 * 404); NGX_HTTP_NOT_ALLOWED with the methods the path takes in "allow".
 */
ngx_int_t
ngx_http_campaign_route_find(ngx_http_request_t *r, ngx_str_t *path,
    const ngx_http_campaign_route_t **route, ngx_str_t *id, ngx_str_t *allow)
{
    u_char                           *p;
    ngx_flag_t                        is_name = 0;
    ngx_uint_t                        method, allowed, i;
    const ngx_http_campaign_route_t  *rt;

    method = (r->method == NGX_HTTP_HEAD) ? NGX_HTTP_GET : r->method;
    allowed = 0;

    for (rt = ngx_http_campaign_routes; rt->name != NULL; rt++) {

        id->len = 0;
        id->data = NULL;

        if (ngx_http_campaign_route_match(&rt->path, path, id, &is_name)
            != NGX_OK)
        {
            continue;
        }

        if (id->data != NULL && !(is_name ? ngx_http_campaign_is_name(id)
                                          : ngx_http_campaign_is_uuid(id)))
        {
            return NGX_DECLINED;
        }

        if (rt->method == method) {
            *route = rt;
            return NGX_OK;
        }

        allowed |= rt->method;
    }

    if (allowed == 0) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PATCH, DELETE"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    allow->data = p;

    for (i = 0; i < sizeof(ngx_http_campaign_methods) / sizeof(ngx_uint_t);
         i++)
    {
        if (!(allowed & ngx_http_campaign_methods[i])) {
            continue;
        }
        if (p != allow->data) {
            *p++ = ','; *p++ = ' ';
        }
        p = ngx_cpymem(p, ngx_http_campaign_method_names[i].data,
                       ngx_http_campaign_method_names[i].len);
        if (ngx_http_campaign_methods[i] == NGX_HTTP_GET) {
            p = ngx_cpymem(p, ", HEAD", sizeof(", HEAD") - 1);
        }
    }

    allow->len = p - allow->data;

    return NGX_HTTP_NOT_ALLOWED;
}
