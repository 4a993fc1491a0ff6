
/*
 * Answers: the module's own errors (one table), and the rows campaign.api()
 * returns, turned into status, headers and body.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"


typedef struct {
    ngx_uint_t   status;
    const char  *code;
    const char  *message;
    const char  *field;
} ngx_http_campaign_error_t;


/* indexed by ngx_http_campaign_err_e */
static const ngx_http_campaign_error_t  ngx_http_campaign_errors[] = {
    { 400, "invalid_json", "the body is not valid JSON", NULL },
    { 400, "invalid_json", "the body is not valid UTF-8", NULL },
    { 400, "invalid_json", "the body nests deeper than 64 levels", NULL },
    { 400, "invalid_json", "a body is required", NULL },
    { 400, "validation_failed",
      "the CSV header's first column must be \\\"to\\\"", "to" },
    { 400, "validation_failed", "at most 100000 CSV rows in one request",
      "recipients" },
    { 400, "invalid_recipient",
      "a CSV row is malformed or has the wrong number of columns", NULL },
    { 400, "invalid_recipient",
      "a CSV field holds the control character U+001E or U+001F", NULL },
    { 400, "validation_failed",
      "query parameters must be printable ASCII of at most 1024 bytes",
      NULL },
    { 400, "validation_failed",
      "Idempotency-Key and If-Match must be printable ASCII of at most "
      "255 bytes", NULL },
    { 401, "unauthorized", "an API key is required: Authorization: Bearer",
      NULL },
    { 404, "not_found", "no such route", NULL },
    { 404, "not_found", "no such campaign", NULL },
    { 405, "method_not_allowed", "the route does not take this method",
      NULL },
    { 413, "payload_too_large", "the body is over 8 MiB", NULL },
    { 415, "unsupported_media_type",
      "the body must be application/json (or text/csv for recipients)",
      NULL },
    { 503, "database_unavailable",
      "the database is unavailable; retry later", NULL },
    { 500, "internal_error",
      "the request failed inside the service; it changed nothing", NULL },
    { 401, "invalid_signature",
      "the receipt's signature is missing, wrong, or more than 5 minutes "
      "old", NULL },
    { 404, "not_found", "this type takes no receipts", NULL },
    { 415, "unsupported_media_type",
      "a receipt is application/json (Standard Webhooks) or "
      "application/x-www-form-urlencoded (Twilio)", NULL },
    { 400, "validation_failed",
      "the receipt lacks MessageSid or MessageStatus, is malformed, or has "
      "over 256 parameters", NULL },
    { 413, "payload_too_large",
      "a receipt is at most 64 KiB, with a Content-Length", NULL },
    { 412, "precondition_failed",
      "If-Match does not match the current ETag", NULL }
};


ngx_table_elt_t *
ngx_http_campaign_push_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


ngx_int_t
ngx_http_campaign_add_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    return ngx_http_campaign_push_header(r, key, value) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_campaign_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    static ngx_str_t  json = ngx_string("application/json");

    return ngx_http_campaign_send_as(r, status, &json, body);
}


/* [start, last) without the spaces around it, as SQL's btrim(). */
static void
ngx_http_campaign_trim(u_char **start, u_char **last)
{
    while (*start < *last && **start == ' ') {
        (*start)++;
    }
    while (*last > *start && (*last)[-1] == ' ') {
        (*last)--;
    }
}


/*
 * If-Match against an ETag as campaign.etag_matches() does for a change:
 * the whole value "*" matches, else one of its comma-separated tags, a
 * weak one the same version; spaces around them do not count.
 */
static ngx_flag_t
ngx_http_campaign_etag_matches(ngx_str_t *list, ngx_table_elt_t *etag)
{
    u_char  *p, *end, *start, *last;

    p = list->data;
    end = p + list->len;

    start = p;
    last = end;
    ngx_http_campaign_trim(&start, &last);
    if (last - start == 1 && *start == '*') {
        return 1;
    }

    while (p < end) {
        start = p;
        while (p < end && *p != ',') {
            p++;
        }
        last = p;
        if (p < end) {
            p++;
        }

        ngx_http_campaign_trim(&start, &last);
        if (last - start > 2 && start[0] == 'W' && start[1] == '/') {
            start += 2;
        }

        if (etag && (size_t) (last - start) == etag->value.len
            && ngx_strncmp(start, etag->value.data, etag->value.len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * A read's preconditions, before nginx's not_modified filter sees them
 * (it would answer a failed one with its HTML 412): If-Match as for a
 * change, and If-Unmodified-Since ignored, as RFC 9110 13.1.4 asks of a
 * resource without modification dates. If-None-Match stays the filter's.
 */
static ngx_int_t
ngx_http_campaign_read_preconditions(ngx_http_request_t *r)
{
    r->headers_in.if_unmodified_since = NULL;

    if (r->headers_in.if_match == NULL) {
        return NGX_OK;
    }

    if (ngx_http_campaign_etag_matches(&r->headers_in.if_match->value,
                                       r->headers_out.etag))
    {
        /* the filter compares strongly: it would refuse W/"1" */
        r->headers_in.if_match = NULL;
        return NGX_OK;
    }

    r->headers_in.if_match = NULL;
    if (r->headers_out.etag) {
        r->headers_out.etag->hash = 0;
        r->headers_out.etag = NULL;
    }

    return NGX_DECLINED;
}


/* A body of the given media type; none (NULL) is an empty answer. */
ngx_int_t
ngx_http_campaign_send_as(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (status == NGX_HTTP_OK && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        && ngx_http_campaign_read_preconditions(r) == NGX_DECLINED)
    {
        return ngx_http_campaign_send_error(r,
                                        NGX_HTTP_CAMPAIGN_ERR_PRECONDITION, 0);
    }

    r->headers_out.status = status;

    if (body == NULL) {
        r->header_only = 1;
        r->headers_out.content_length_n = 0;
        return ngx_http_send_header(r);
    }

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = body->len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_campaign_send_error(ngx_http_request_t *r,
    ngx_http_campaign_err_e err, ngx_uint_t index)
{
    size_t                            len;
    ngx_str_t                         body;
    const ngx_http_campaign_error_t  *e;

    static ngx_str_t  bearer = ngx_string("Bearer");
    static ngx_str_t  retry = ngx_string("1");

    e = &ngx_http_campaign_errors[err];

    len = sizeof("{\"error\":{\"code\":\"\",\"message\":\"\",\"field\":\"\","
                 "\"index\":}}") + ngx_strlen(e->code)
          + ngx_strlen(e->message) + NGX_INT_T_LEN
          + (e->field ? ngx_strlen(e->field) : 0);

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    if (e->field) {
        body.len = ngx_sprintf(body.data,
                        "{\"error\":{\"code\":\"%s\",\"message\":\"%s\","
                        "\"field\":\"%s\"}}", e->code, e->message, e->field)
                   - body.data;

    } else if (err == NGX_HTTP_CAMPAIGN_ERR_CSV_ROW
               || err == NGX_HTTP_CAMPAIGN_ERR_CSV_SEPARATOR)
    {
        body.len = ngx_sprintf(body.data,
                        "{\"error\":{\"code\":\"%s\",\"message\":\"%s\","
                        "\"index\":%ui}}", e->code, e->message, index)
                   - body.data;

    } else {
        body.len = ngx_sprintf(body.data,
                        "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                        e->code, e->message)
                   - body.data;
    }

    if (err == NGX_HTTP_CAMPAIGN_ERR_UNAUTHORIZED) {
        if (ngx_http_campaign_add_header(r, "WWW-Authenticate", &bearer)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (e->status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        if (ngx_http_campaign_add_header(r, "Retry-After", &retry)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_campaign_send(r, e->status, &body);
}


static ngx_int_t
ngx_http_campaign_copy_field(ngx_http_request_t *r, PGresult *res, int col,
    ngx_str_t *s)
{
    if (PQgetisnull(res, 0, col)) {
        s->len = 0;
        s->data = NULL;
        return NGX_OK;
    }

    s->len = PQgetlength(res, 0, col);
    s->data = ngx_pnalloc(r->pool, s->len);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, PQgetvalue(res, 0, col), s->len);

    return NGX_OK;
}


/*
 * Postgres refused the statement, and rolled back what it did. A refusal
 * that passes (the connection, a time-out, a lock, a serialization
 * failure, a server shutting down, out of resources, read-only after a
 * failover) is a 503: the client may retry. Any other is the service's own
 * fault: a 500, logged once with the request and SQLSTATE, never told.
 */
ngx_int_t
ngx_http_campaign_send_refusal(ngx_http_request_t *r, PGresult *err)
{
    const char  *state, *message;

    static const char  *passing[] = {
        "08", "40", "53", "57", "58", "55P03", "25006", NULL
    };
    const char **p;

    state = PQresultErrorField(err, PG_DIAG_SQLSTATE);
    message = PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY);
    state = state ? state : "?????";
    message = message ? message : "";

    for (p = passing; *p; p++) {
        if (ngx_strncmp(state, *p, ngx_strlen(*p)) == 0) {
            ngx_http_campaign_metrics_error(NGX_HTTP_CAMPAIGN_M_ERR_PASSING);
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "campaign: query failed, passing (SQLSTATE %s): "
                          "%.200s", state, message);
            return ngx_http_campaign_send_error(r,
                                        NGX_HTTP_CAMPAIGN_ERR_UNAVAILABLE, 0);
        }
    }

    ngx_http_campaign_metrics_error(NGX_HTTP_CAMPAIGN_M_ERR_INTERNAL);
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "campaign: query failed (SQLSTATE %s): %.200s", state,
                  message);

    return ngx_http_campaign_send_error(r, NGX_HTTP_CAMPAIGN_ERR_INTERNAL, 0);
}


/*
 * One row: status, body, etag, location, replayed, tenant (see
 * sql/functions/format.sql).
 */
ngx_int_t
ngx_http_campaign_send_result(ngx_http_request_t *r, PGresult *res)
{
    u_char                        *p;
    ngx_int_t                      status;
    ngx_str_t                      body, etag, id, location, tenant;
    ngx_http_campaign_ctx_t       *ctx;
    ngx_http_campaign_loc_conf_t  *clcf;
    ngx_http_campaign_main_conf_t *cmcf;

    static ngx_str_t  yes = ngx_string("true");
    static ngx_str_t  bearer = ngx_string("Bearer");

    if (PQntuples(res) == 0 && PQnfields(res) == 6) {
        /* campaign_get found no campaign of the tenant */
        return ngx_http_campaign_send_error(r,
                                        NGX_HTTP_CAMPAIGN_ERR_NO_CAMPAIGN, 0);
    }

    if (PQntuples(res) != 1 || PQnfields(res) != 6 || PQgetisnull(res, 0, 0))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign: unexpected answer from campaign.api()");
        return ngx_http_campaign_send_error(r,
                                           NGX_HTTP_CAMPAIGN_ERR_INTERNAL, 0);
    }

    status = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                      PQgetlength(res, 0, 0));
    if (status < 200 || status > 599) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign: unexpected answer from campaign.api()");
        return ngx_http_campaign_send_error(r,
                                           NGX_HTTP_CAMPAIGN_ERR_INTERNAL, 0);
    }

    if (ngx_http_campaign_copy_field(r, res, 1, &body) != NGX_OK
        || ngx_http_campaign_copy_field(r, res, 2, &etag) != NGX_OK
        || ngx_http_campaign_copy_field(r, res, 3, &id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!PQgetisnull(res, 0, 5)) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_campaign_module);
        cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

        tenant.data = (u_char *) PQgetvalue(res, 0, 5);
        tenant.len = PQgetlength(res, 0, 5);
        /* Postgres checked the key when the statement began */
        ngx_http_campaign_keys_put(cmcf->keys, &ctx->key, &tenant,
                                   ctx->query.sent);
    }

    /*
     * nginx's own: its not_modified filter then answers If-None-Match on a
     * GET with 304 and no body (If-Match of a change is checked in SQL)
     */
    if (etag.len) {
        r->headers_out.etag = ngx_http_campaign_push_header(r, "ETag",
                                                            &etag);
        if (r->headers_out.etag == NULL) {
            return NGX_ERROR;
        }
    }

    if (id.len) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

        location.len = clcf->prefix.len + sizeof("campaigns/") - 1 + id.len;
        location.data = ngx_pnalloc(r->pool, location.len);
        if (location.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(location.data, clcf->prefix.data, clcf->prefix.len);
        p = ngx_cpymem(p, "campaigns/", sizeof("campaigns/") - 1);
        ngx_memcpy(p, id.data, id.len);

        if (ngx_http_campaign_add_header(r, "Location", &location)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (PQgetvalue(res, 0, 4)[0] == 't'
        && ngx_http_campaign_add_header(r, "Idempotent-Replayed", &yes)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (status == NGX_HTTP_UNAUTHORIZED
        && ngx_http_campaign_add_header(r, "WWW-Authenticate", &bearer)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_campaign_send(r, status, body.data ? &body : NULL);
}
