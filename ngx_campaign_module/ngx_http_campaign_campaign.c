
/*
 * GET one campaign, the hot read: the row's plain columns
 * (NGX_HTTP_CAMPAIGN_SQL_GET), in binary, rendered here as the very bytes
 * campaign.campaign_json() builds in SQL for every other answer
 * (t/27-campaign-json.t compares the two): Postgres is left only the row
 * to read.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"


/* Postgres's binary type OIDs (catalog/pg_type.dat) */
#define NGX_HTTP_CAMPAIGN_OID_INT8         20
#define NGX_HTTP_CAMPAIGN_OID_INT4         23
#define NGX_HTTP_CAMPAIGN_OID_TEXT         25
#define NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ  1184
#define NGX_HTTP_CAMPAIGN_OID_UUID         2950
#define NGX_HTTP_CAMPAIGN_OID_JSONB        3802

/* seconds from 1970-01-01 to Postgres's epoch, 2000-01-01 */
#define NGX_HTTP_CAMPAIGN_PG_EPOCH         946684800


typedef struct {
    const char  *key;        /* NULL: opens or closes "stats" */
    Oid          type;
} ngx_http_campaign_column_t;


/* NGX_HTTP_CAMPAIGN_SQL_GET's columns, in its order */
static const ngx_http_campaign_column_t  ngx_http_campaign_columns[] = {
    { "id", NGX_HTTP_CAMPAIGN_OID_UUID },
    { "name", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "type", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "status", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "message", NGX_HTTP_CAMPAIGN_OID_JSONB },
    { "scheduled_at", NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ },
    { "metadata", NGX_HTTP_CAMPAIGN_OID_JSONB },
    { "total", NGX_HTTP_CAMPAIGN_OID_INT4 },          /* stats */
    { "pending", NGX_HTTP_CAMPAIGN_OID_INT4 },
    { "sent", NGX_HTTP_CAMPAIGN_OID_INT4 },
    { "failed", NGX_HTTP_CAMPAIGN_OID_INT4 },
    { "cancelled", NGX_HTTP_CAMPAIGN_OID_INT4 },
    { "delivered", NGX_HTTP_CAMPAIGN_OID_INT4 },
    { "undelivered", NGX_HTTP_CAMPAIGN_OID_INT4 },    /* end of stats */
    { "created_at", NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ },
    { "updated_at", NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ },
    { "started_at", NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ },
    { "finished_at", NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ },
    { "failure", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "created_by", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "scheduled_by", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "timezone", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "recurrence", NGX_HTTP_CAMPAIGN_OID_JSONB },
    { "series_id", NGX_HTTP_CAMPAIGN_OID_UUID },
    { "next_run_at", NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ },
    { "last_run_id", NGX_HTTP_CAMPAIGN_OID_UUID },
    { "send_window", NGX_HTTP_CAMPAIGN_OID_JSONB },
    { "waiting_until", NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ },
    { "local_time", NGX_HTTP_CAMPAIGN_OID_TEXT },
    { "version", NGX_HTTP_CAMPAIGN_OID_INT8 },        /* the ETag, not shown */
    { "tenant", NGX_HTTP_CAMPAIGN_OID_TEXT }          /* checked, not shown */
};

#define NGX_HTTP_CAMPAIGN_NCOLUMNS                                            \
    (int) (sizeof(ngx_http_campaign_columns)                                  \
           / sizeof(ngx_http_campaign_column_t))
#define NGX_HTTP_CAMPAIGN_COL_STATS        7
#define NGX_HTTP_CAMPAIGN_COL_STATS_END    13
#define NGX_HTTP_CAMPAIGN_COL_VERSION      (NGX_HTTP_CAMPAIGN_NCOLUMNS - 2)
#define NGX_HTTP_CAMPAIGN_COL_TENANT       (NGX_HTTP_CAMPAIGN_NCOLUMNS - 1)


static int64_t
ngx_http_campaign_be(const u_char *p, int len)
{
    int       i;
    uint64_t  v;

    v = 0;
    for (i = 0; i < len; i++) {
        v = (v << 8) | p[i];
    }

    /* sign-extend a 4-byte integer */
    if (len == 4) {
        return (int32_t) (uint32_t) v;
    }

    return (int64_t) v;
}


/* As Postgres's escape_json(), byte for byte. */
static u_char *
ngx_http_campaign_json_string(u_char *d, const u_char *s, size_t len)
{
    u_char         c;
    const u_char  *end;

    static const u_char  hex[] = "0123456789abcdef";

    *d++ = '"';

    for (end = s + len; s < end; s++) {
        c = *s;

        switch (c) {
        case '\b': *d++ = '\\'; *d++ = 'b'; break;
        case '\f': *d++ = '\\'; *d++ = 'f'; break;
        case '\n': *d++ = '\\'; *d++ = 'n'; break;
        case '\r': *d++ = '\\'; *d++ = 'r'; break;
        case '\t': *d++ = '\\'; *d++ = 't'; break;
        case '"': *d++ = '\\'; *d++ = '"'; break;
        case '\\': *d++ = '\\'; *d++ = '\\'; break;
        default:
            if (c < 0x20) {
                d = ngx_cpymem(d, "\\u00", 4);
                *d++ = hex[c >> 4];
                *d++ = hex[c & 0xf];
            } else {
                *d++ = c;
            }
        }
    }

    *d++ = '"';

    return d;
}


/* As campaign.ts(), to_char's: UTC with milliseconds; infinity is null. */
static u_char *
ngx_http_campaign_json_time(u_char *d, const u_char *p)
{
    int        year;
    int64_t    us, s, ms;
    time_t     t;
    struct tm  tm;

    us = ngx_http_campaign_be(p, 8);
    if (us == INT64_MAX || us == INT64_MIN) {
        return ngx_cpymem(d, "null", 4);
    }

    /* floored: a time before 2000 keeps its milliseconds positive */
    s = us / 1000000;
    if (us % 1000000 < 0) {
        s--;
    }
    ms = (us - s * 1000000) / 1000;

    t = (time_t) (s + NGX_HTTP_CAMPAIGN_PG_EPOCH);
    if (gmtime_r(&t, &tm) == NULL) {
        return ngx_cpymem(d, "null", 4);
    }

    /* to_char's YYYY: a year BC without its sign (1 BC is 0001) */
    year = tm.tm_year + 1900;
    if (year <= 0) {
        year = 1 - year;
    }

    return ngx_sprintf(d, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                       year, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, (int) ms);
}


static u_char *
ngx_http_campaign_json_uuid(u_char *d, const u_char *p)
{
    int  i;

    *d++ = '"';
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *d++ = '-';
        }
        d = ngx_hex_dump(d, (u_char *) &p[i], 1);
    }
    *d++ = '"';

    return d;
}


/* The most a column's value takes as JSON. */
static size_t
ngx_http_campaign_json_room(PGresult *res, int col)
{
    size_t  len;

    len = PQgetlength(res, 0, col);

    switch (ngx_http_campaign_columns[col].type) {
    case NGX_HTTP_CAMPAIGN_OID_UUID:
        return sizeof("\"00000000-0000-0000-0000-000000000000\"");
    case NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ:
        return sizeof("\"-2147483648-12-31T23:59:59.999Z\"");
    case NGX_HTTP_CAMPAIGN_OID_INT4:
        return NGX_INT32_LEN;
    case NGX_HTTP_CAMPAIGN_OID_JSONB:
        return len;
    default:  /* text: \u00XX at worst */
        return 6 * len + 2;
    }
}


/* A column's value; its length was checked (ngx_http_campaign_row_ok). */
static u_char *
ngx_http_campaign_json_value(u_char *d, PGresult *res, int col)
{
    const u_char  *p;

    if (PQgetisnull(res, 0, col)) {
        return ngx_cpymem(d, "null", 4);
    }

    p = (const u_char *) PQgetvalue(res, 0, col);

    switch (ngx_http_campaign_columns[col].type) {
    case NGX_HTTP_CAMPAIGN_OID_UUID:
        return ngx_http_campaign_json_uuid(d, p);
    case NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ:
        return ngx_http_campaign_json_time(d, p);
    case NGX_HTTP_CAMPAIGN_OID_INT4:
        return ngx_sprintf(d, "%D", (int32_t) ngx_http_campaign_be(p, 4));
    case NGX_HTTP_CAMPAIGN_OID_JSONB:
        /* a version byte (1), then jsonb's text: as json_build_object
         * puts it in */
        return ngx_cpymem(d, p + 1, PQgetlength(res, 0, col) - 1);
    default:
        return ngx_http_campaign_json_string(d, p, PQgetlength(res, 0, col));
    }
}


/*
 * The object as campaign.campaign_json()::text writes it, byte for byte
 * (json_build_object's " : " and ", "), so that one ETag is one
 * representation whichever path answered; yajl's generator writes
 * compact JSON and its own \u escapes, so it cannot.
 */
static ngx_int_t
ngx_http_campaign_render(ngx_pool_t *pool, PGresult *res, ngx_str_t *body)
{
    int      col;
    size_t   len;
    u_char  *d;

    len = sizeof("{}") + sizeof(", \"stats\" : {}");
    for (col = 0; col < NGX_HTTP_CAMPAIGN_COL_VERSION; col++) {
        len += sizeof(", \"\" : ") + ngx_strlen(ngx_http_campaign_columns[col].key)
               + (PQgetisnull(res, 0, col) ? 4
                                           : ngx_http_campaign_json_room(res,
                                                                         col));
    }

    body->data = ngx_pnalloc(pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    d = body->data;
    *d++ = '{';

    for (col = 0; col < NGX_HTTP_CAMPAIGN_COL_VERSION; col++) {
        if (col > 0) {
            d = ngx_cpymem(d, ", ", 2);
        }
        if (col == NGX_HTTP_CAMPAIGN_COL_STATS) {
            d = ngx_cpymem(d, "\"stats\" : {", sizeof("\"stats\" : {") - 1);
        }
        d = ngx_sprintf(d, "\"%s\" : ", ngx_http_campaign_columns[col].key);
        d = ngx_http_campaign_json_value(d, res, col);
        if (col == NGX_HTTP_CAMPAIGN_COL_STATS_END) {
            *d++ = '}';
        }
    }

    *d++ = '}';
    body->len = d - body->data;

    return NGX_OK;
}


/* The row is what NGX_HTTP_CAMPAIGN_SQL_GET answers, every length right. */
static ngx_flag_t
ngx_http_campaign_row_ok(PGresult *res)
{
    int  col, len, want;

    if (PQnfields(res) != NGX_HTTP_CAMPAIGN_NCOLUMNS || PQntuples(res) > 1) {
        return 0;
    }

    for (col = 0; col < NGX_HTTP_CAMPAIGN_NCOLUMNS; col++) {
        if (PQftype(res, col) != ngx_http_campaign_columns[col].type
            || PQfformat(res, col) != 1)
        {
            return 0;
        }

        if (PQntuples(res) == 0 || PQgetisnull(res, 0, col)) {
            continue;
        }

        len = PQgetlength(res, 0, col);

        switch (ngx_http_campaign_columns[col].type) {
        case NGX_HTTP_CAMPAIGN_OID_UUID:
            want = 16;
            break;
        case NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ:
        case NGX_HTTP_CAMPAIGN_OID_INT8:
            want = 8;
            break;
        case NGX_HTTP_CAMPAIGN_OID_INT4:
            want = 4;
            break;
        case NGX_HTTP_CAMPAIGN_OID_JSONB:
            /* jsonb's binary form: version 1, then its text */
            if (len < 2 || PQgetvalue(res, 0, col)[0] != 1) {
                return 0;
            }
            continue;
        default:
            continue;
        }

        if (len != want) {
            return 0;
        }
    }

    return PQntuples(res) == 0
           || !PQgetisnull(res, 0, NGX_HTTP_CAMPAIGN_COL_VERSION);
}


/*
 * The row is the one asked for, of the tenant asking: results are matched
 * to requests by their order in a pipeline, and another's campaign must
 * never go out.
 */
static ngx_flag_t
ngx_http_campaign_row_is(PGresult *res, const char *id, const char *tenant)
{
    u_char  buf[38];

    if (id == NULL || tenant == NULL || ngx_strlen(id) != 36
        || PQgetisnull(res, 0, NGX_HTTP_CAMPAIGN_COL_TENANT)
        || (size_t) PQgetlength(res, 0, NGX_HTTP_CAMPAIGN_COL_TENANT)
           != ngx_strlen(tenant)
        || ngx_strncmp(PQgetvalue(res, 0, NGX_HTTP_CAMPAIGN_COL_TENANT),
                       tenant, ngx_strlen(tenant)) != 0)
    {
        return 0;
    }

    (void) ngx_http_campaign_json_uuid(buf, (u_char *) PQgetvalue(res, 0, 0));

    return ngx_strncasecmp(buf + 1, (u_char *) id, 36) == 0;
}


ngx_int_t
ngx_http_campaign_send_campaign(ngx_http_request_t *r, PGresult *res,
    const char *id, const char *tenant)
{
    ngx_str_t  body, etag;

    if (!ngx_http_campaign_row_ok(res)
        || (PQntuples(res) == 1
            && !ngx_http_campaign_row_is(res, id, tenant)))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign: unexpected answer to the campaign's read");
        return ngx_http_campaign_send_error(r,
                                           NGX_HTTP_CAMPAIGN_ERR_INTERNAL, 0);
    }

    if (PQntuples(res) == 0) {
        /* no campaign of this id for the key's tenant */
        return ngx_http_campaign_send_error(r,
                                        NGX_HTTP_CAMPAIGN_ERR_NO_CAMPAIGN, 0);
    }

    if (ngx_http_campaign_render(r->pool, res, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    /* as campaign.etag(): the version, quoted */
    etag.data = ngx_pnalloc(r->pool, NGX_INT64_LEN + 2);
    if (etag.data == NULL) {
        return NGX_ERROR;
    }

    etag.len = ngx_sprintf(etag.data, "\"%L\"",
                           ngx_http_campaign_be((u_char *) PQgetvalue(res, 0,
                                                 NGX_HTTP_CAMPAIGN_COL_VERSION),
                                                8))
               - etag.data;

    /* nginx's not_modified filter answers If-None-Match with it */
    r->headers_out.etag = ngx_http_campaign_push_header(r, "ETag", &etag);
    if (r->headers_out.etag == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_campaign_send(r, NGX_HTTP_OK, &body);
}
