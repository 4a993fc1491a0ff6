
/*
 * A request's way through the module: route, key, body, then one call of
 * campaign.api() on a pooled connection, and the answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"


static void ngx_http_campaign_body_handler(ngx_http_request_t *r);
static void ngx_http_campaign_finish(ngx_http_request_t *r, ngx_int_t rc);
static ngx_int_t ngx_http_campaign_body_get(ngx_http_request_t *r,
    ngx_str_t *body);
typedef enum {
    NGX_HTTP_CAMPAIGN_MEDIA_OTHER = 0,
    NGX_HTTP_CAMPAIGN_MEDIA_JSON,
    NGX_HTTP_CAMPAIGN_MEDIA_CSV
} ngx_http_campaign_media_e;

static ngx_http_campaign_media_e ngx_http_campaign_media_type(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_campaign_start(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_campaign_receipt_start(ngx_http_request_t *r,
    ngx_str_t *body);
static void ngx_http_campaign_query_done(ngx_http_campaign_query_t *q,
    PGresult *res, PGresult *err);
static void ngx_http_campaign_cleanup(void *data);


ngx_int_t
ngx_http_campaign_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      path, id, allow;
    ngx_http_campaign_ctx_t       *ctx;
    ngx_http_campaign_loc_conf_t  *clcf;

    static ngx_str_t  ok = ngx_string("{\"status\":\"ok\"}");

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_campaign_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_campaign_module);

    path.len = 0;
    path.data = r->uri.data;
    if (r->uri.len >= clcf->prefix.len) {
        path.data = r->uri.data + clcf->prefix.len;
        path.len = r->uri.len - clcf->prefix.len;
    }

    rc = ngx_http_campaign_route_find(r, &path, &ctx->route, &id, &allow);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        if (ctx->route->local) {
            rc = NGX_HTTP_OK;

        } else if (clcf->auth && !ctx->route->open
                   && ngx_http_campaign_key(r, NULL) != NGX_OK)
        {
            rc = NGX_HTTP_UNAUTHORIZED;

        } else if (ctx->route->body != NGX_HTTP_CAMPAIGN_BODY_NONE
                   && r->headers_in.content_length_n
                      > NGX_HTTP_CAMPAIGN_MAX_BODY)
        {
            rc = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;

        } else if (ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_RECEIPT
                   && (r->headers_in.content_length_n
                       > NGX_HTTP_CAMPAIGN_MAX_RECEIPT
                       || r->headers_in.content_length_n < 0))
        {
            /* (chunked too: a receipt is read with its length known) */
            ctx->err = NGX_HTTP_CAMPAIGN_ERR_RECEIPT_TOO_LARGE;
            rc = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }

    /* whatever is answered here, the body must not be read as a request */
    if (rc != NGX_OK || ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_NONE) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_HTTP_OK:
        if (ngx_strcmp(ctx->route->name, "openapi") == 0) {
            return ngx_http_campaign_openapi_send(r);
        }
        return ngx_http_campaign_send(r, NGX_HTTP_OK, &ok);

    case NGX_HTTP_NOT_ALLOWED:
        if (ngx_http_campaign_add_header(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return ngx_http_campaign_send_error(r,
                                            NGX_HTTP_CAMPAIGN_ERR_METHOD, 0);

    case NGX_HTTP_UNAUTHORIZED:
        return ngx_http_campaign_send_error(r,
                                       NGX_HTTP_CAMPAIGN_ERR_UNAUTHORIZED, 0);

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return ngx_http_campaign_send_error(r, ctx->err
                                 ? ctx->err : NGX_HTTP_CAMPAIGN_ERR_TOO_LARGE,
                                 0);

    default: /* NGX_DECLINED */
        return ngx_http_campaign_send_error(r,
                                          NGX_HTTP_CAMPAIGN_ERR_NOT_FOUND, 0);
    }

    if (ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_RECEIPT) {
        ctx->name = id;             /* the type, checked by the router */
    } else {
        ctx->query.values[NGX_HTTP_CAMPAIGN_P_ID] =
                                   ngx_http_campaign_cstr(r->pool, &id, 36);
    }

    if (ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_NONE) {
        /* the reference the query holds until it finalizes the request */
        r->main->count++;
        rc = ngx_http_campaign_start(r, NULL);
        if (rc != NGX_DONE) {
            r->main->count--;
        }
        return rc;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_campaign_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_campaign_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_http_campaign_ctx_t   *ctx;
    ngx_http_campaign_media_e  media;

    ctx = ngx_http_get_module_ctx(r, ngx_http_campaign_module);

    if (ngx_http_campaign_body_get(r, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (body.len > NGX_HTTP_CAMPAIGN_MAX_BODY) {
        ctx->err = NGX_HTTP_CAMPAIGN_ERR_TOO_LARGE;
        goto failed;
    }

    if (body.len == 0) {
        if (ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_OPTIONAL) {
            ngx_http_campaign_finish(r, ngx_http_campaign_start(r, NULL));
            return;
        }
        ctx->err = NGX_HTTP_CAMPAIGN_ERR_EMPTY_BODY;
        goto failed;
    }

    if (ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_RECEIPT) {
        if (body.len > NGX_HTTP_CAMPAIGN_MAX_RECEIPT) {     /* chunked */
            ctx->err = NGX_HTTP_CAMPAIGN_ERR_RECEIPT_TOO_LARGE;
            goto failed;
        }
        ngx_http_campaign_finish(r, ngx_http_campaign_receipt_start(r,
                                                                    &body));
        return;
    }

    media = ngx_http_campaign_media_type(r);

    if (media == NGX_HTTP_CAMPAIGN_MEDIA_CSV
        && ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_RECIPIENTS)
    {
        rc = ngx_http_campaign_csv_to_rows(r->pool, &body, &ctx->err,
                                           &ctx->err_index);
        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
        if (rc != NGX_OK) {
            goto failed;
        }
        ctx->query.values[NGX_HTTP_CAMPAIGN_P_ROUTE] = "recipients_csv";
        ngx_http_campaign_finish(r, ngx_http_campaign_start(r, &body));
        return;
    }

    if (media != NGX_HTTP_CAMPAIGN_MEDIA_JSON) {
        ctx->err = NGX_HTTP_CAMPAIGN_ERR_MEDIA_TYPE;
        goto failed;
    }

    rc = ngx_http_campaign_json_check(&body, &ctx->err);
    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    if (rc != NGX_OK) {
        goto failed;
    }

    ngx_http_campaign_finish(r, ngx_http_campaign_start(r, &body));
    return;

failed:

    ngx_http_finalize_request(r,
              ngx_http_campaign_send_error(r, ctx->err, ctx->err_index));
}


/* A receipt whose signature is right goes to campaign.api_receipt(). */
static ngx_int_t
ngx_http_campaign_receipt_start(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                 rc;
    ngx_str_t                 json;
    ngx_http_campaign_ctx_t  *ctx;

    static ngx_str_t  ignored = ngx_string("{\"result\":\"ignored\"}");

    ctx = ngx_http_get_module_ctx(r, ngx_http_campaign_module);

    rc = ngx_http_campaign_receipt(r, &ctx->name, body, &json, &ctx->err);

    switch (rc) {
    case NGX_OK:
        ctx->query.values[NGX_HTTP_CAMPAIGN_P_ROUTE] = "receipt";
        return ngx_http_campaign_start(r, &json);
    case NGX_DONE:
        return ngx_http_campaign_send(r, NGX_HTTP_OK, &ignored);
    case NGX_DECLINED:
        return ngx_http_campaign_send_error(r, ctx->err, 0);
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* NGX_DONE: the query is under way and will finalize the request. */
static void
ngx_http_campaign_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* The whole body, from memory or from the temp file, NUL-terminated. */
static ngx_int_t
ngx_http_campaign_body_get(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = (u_char *) "";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
        if (len > NGX_HTTP_CAMPAIGN_MAX_BODY) {
            body->len = len;
            return NGX_OK;
        }
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }
            p += n;

        } else if (b->last > b->pos) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    *p = '\0';

    return NGX_OK;
}


/* The media type of Content-Type, without its parameters, in any case. */
static ngx_http_campaign_media_e
ngx_http_campaign_media_type(ngx_http_request_t *r)
{
    u_char      *p, *end;
    ngx_str_t    type;
    ngx_uint_t   i;

    static struct {
        ngx_str_t                  name;
        ngx_http_campaign_media_e  media;
    } known[] = {
        { ngx_string("application/json"), NGX_HTTP_CAMPAIGN_MEDIA_JSON },
        { ngx_string("text/csv"), NGX_HTTP_CAMPAIGN_MEDIA_CSV }
    };

    if (r->headers_in.content_type == NULL) {
        return NGX_HTTP_CAMPAIGN_MEDIA_OTHER;
    }

    p = r->headers_in.content_type->value.data;
    end = p + r->headers_in.content_type->value.len;

    while (p < end && *p == ' ') {
        p++;
    }

    type.data = p;
    while (p < end && *p != ';' && *p != ' ') {
        p++;
    }
    type.len = p - type.data;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (type.len == known[i].name.len
            && ngx_strncasecmp(type.data, known[i].name.data, type.len) == 0)
        {
            return known[i].media;
        }
    }

    return NGX_HTTP_CAMPAIGN_MEDIA_OTHER;
}


static ngx_int_t
ngx_http_campaign_header(ngx_http_request_t *r, ngx_table_elt_t *h,
    const char **value)
{
    const char  *v;

    *value = NULL;
    if (h == NULL) {
        return NGX_OK;
    }

    v = ngx_http_campaign_cstr(r->pool, &h->value, 255);
    if (v == NULL) {
        return NGX_ERROR;
    }
    if (v[0] == '\0') {
        return NGX_DECLINED;
    }

    *value = v;

    return NGX_OK;
}


/* Fills campaign.api()'s parameters and hands the query to the pool. */
static ngx_int_t
ngx_http_campaign_start(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                       rc;
    ngx_str_t                       tenant;
    ngx_pool_cleanup_t             *cln;
    ngx_http_campaign_ctx_t        *ctx;
    ngx_http_campaign_query_t      *q;
    ngx_http_campaign_loc_conf_t   *clcf;
    ngx_http_campaign_main_conf_t  *cmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_campaign_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);
    q = &ctx->query;

    if (clcf->auth && ngx_http_campaign_key(r, &ctx->key) == NGX_OK) {
        q->values[NGX_HTTP_CAMPAIGN_P_KEY] =
                            ngx_http_campaign_cstr(r->pool, &ctx->key, 256);

        if (ngx_http_campaign_keys_get(cmcf->keys, &ctx->key, &tenant)
            == NGX_OK)
        {
            q->values[NGX_HTTP_CAMPAIGN_P_TENANT] =
                            ngx_http_campaign_cstr(r->pool, &tenant, 128);
            ngx_http_campaign_metrics_key(1);
        } else {
            ngx_http_campaign_metrics_key(0);
        }
    }

    q->values[NGX_HTTP_CAMPAIGN_P_AUTH] = clcf->auth ? "t" : "f";

    /*
     * If-Match of a change is checked in SQL against the ETag before it;
     * nginx's not_modified filter would compare it with the new one.
     */
    if (ctx->route->method != NGX_HTTP_GET) {
        r->disable_not_modified = 1;
    }

    if (q->values[NGX_HTTP_CAMPAIGN_P_ROUTE] == NULL) {
        q->values[NGX_HTTP_CAMPAIGN_P_ROUTE] = ctx->route->name;
    }

    q->values[NGX_HTTP_CAMPAIGN_P_BODY] = body ? (char *) body->data : NULL;
    q->large = body && body->len > NGX_HTTP_CAMPAIGN_LARGE_BODY;

    rc = ngx_http_campaign_header(r,
                     ngx_http_campaign_find_header(r, "Idempotency-Key"),
                     &q->values[NGX_HTTP_CAMPAIGN_P_IDEMPOTENCY_KEY]);
    if (rc == NGX_OK) {
        rc = ngx_http_campaign_header(r, r->headers_in.if_match,
                                  &q->values[NGX_HTTP_CAMPAIGN_P_IF_MATCH]);
    }
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (rc == NGX_DECLINED) {
        return ngx_http_campaign_send_error(r,
                                         NGX_HTTP_CAMPAIGN_ERR_BAD_HEADER, 0);
    }

    rc = ngx_http_campaign_args(r, q->values);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (rc == NGX_DECLINED) {
        return ngx_http_campaign_send_error(r,
                                          NGX_HTTP_CAMPAIGN_ERR_BAD_QUERY, 0);
    }

    /* after the query's arguments: none of them may name another type */
    if (ctx->route->body == NGX_HTTP_CAMPAIGN_BODY_RECEIPT) {
        q->values[NGX_HTTP_CAMPAIGN_P_TYPE] =
                            ngx_http_campaign_cstr(r->pool, &ctx->name, 32);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_campaign_cleanup;
    cln->data = q;

    q->stmt = NGX_HTTP_CAMPAIGN_STMT_API;
    q->sql = NGX_HTTP_CAMPAIGN_SQL_API;
    q->nparams = NGX_HTTP_CAMPAIGN_NPARAMS;

    /* the hot read skips campaign.api() once the tenant is known */
    if (ctx->route->fast) {
        if (!clcf->auth) {
            q->values[NGX_HTTP_CAMPAIGN_P_TENANT] = "default";
        }
        if (q->values[NGX_HTTP_CAMPAIGN_P_TENANT] != NULL) {
            q->stmt = NGX_HTTP_CAMPAIGN_STMT_GET;
            q->sql = NGX_HTTP_CAMPAIGN_SQL_GET;
            q->nparams = 2;
            q->batch = 1;
            q->binary = 1;
            q->values[0] = q->values[NGX_HTTP_CAMPAIGN_P_ID];
            q->values[1] = q->values[NGX_HTTP_CAMPAIGN_P_TENANT];
        }
    }

    q->pool = cmcf->pool;
    q->handler = ngx_http_campaign_query_done;
    q->data = r;
    q->timer.log = r->connection->log;

    ngx_http_campaign_pg_query(q);

    return NGX_DONE;
}


static void
ngx_http_campaign_query_done(ngx_http_campaign_query_t *q, PGresult *res,
    PGresult *err)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = q->data;
    c = r->connection;

    /* the one binary answer is the hot read's */
    if (res != NULL && q->binary) {
        rc = ngx_http_campaign_send_campaign(r, res, q->values[0],
                                             q->values[1]);

    } else if (res != NULL) {
        rc = ngx_http_campaign_send_result(r, res);

    } else if (err != NULL) {
        rc = ngx_http_campaign_send_refusal(r, err);

    } else {
        rc = ngx_http_campaign_send_error(r,
                                        NGX_HTTP_CAMPAIGN_ERR_UNAVAILABLE, 0);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_campaign_cleanup(void *data)
{
    ngx_http_campaign_query_t  *q = data;

    ngx_http_campaign_pg_query_abort(q);
}
