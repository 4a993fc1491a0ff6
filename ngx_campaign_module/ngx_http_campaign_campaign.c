
/*
 * GET one campaign, the hot read: campaign.campaign_row()'s plain columns,
 * in binary, rendered as the campaign object with yajl's generator. It is
 * the object campaign.campaign_json() builds in SQL for every other answer
 * (t/27-campaign-json.t compares the two); building it here leaves
 * Postgres only the row to read.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>

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


/* campaign.campaign_row()'s columns, in its order */
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
    { "version", NGX_HTTP_CAMPAIGN_OID_INT8 }         /* the ETag, not shown */
};

#define NGX_HTTP_CAMPAIGN_NCOLUMNS                                            \
    (int) (sizeof(ngx_http_campaign_columns)                                  \
           / sizeof(ngx_http_campaign_column_t))
#define NGX_HTTP_CAMPAIGN_COL_STATS        7
#define NGX_HTTP_CAMPAIGN_COL_STATS_END    13
#define NGX_HTTP_CAMPAIGN_COL_VERSION      (NGX_HTTP_CAMPAIGN_NCOLUMNS - 1)


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


/* As campaign.ts(): UTC with milliseconds; an infinite time is null. */
static yajl_gen_status
ngx_http_campaign_gen_time(yajl_gen g, const u_char *p)
{
    int64_t    us, s, ms;
    time_t     t;
    struct tm  tm;
    u_char     buf[sizeof("-2147483648-12-31T23:59:59.999Z")], *e;

    us = ngx_http_campaign_be(p, 8);
    if (us == INT64_MAX || us == INT64_MIN) {
        return yajl_gen_null(g);
    }

    /* floored: a time before 2000 keeps its milliseconds positive */
    s = us / 1000000;
    if (us % 1000000 < 0) {
        s--;
    }
    ms = (us - s * 1000000) / 1000;

    t = (time_t) (s + NGX_HTTP_CAMPAIGN_PG_EPOCH);
    if (gmtime_r(&t, &tm) == NULL) {
        return yajl_gen_null(g);
    }

    e = ngx_sprintf(buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                    tm.tm_hour, tm.tm_min, tm.tm_sec, (int) ms);

    return yajl_gen_string(g, buf, e - buf);
}


static yajl_gen_status
ngx_http_campaign_gen_uuid(yajl_gen g, const u_char *p)
{
    u_char  buf[36], *d;
    int     i;

    d = buf;
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *d++ = '-';
        }
        d = ngx_hex_dump(d, (u_char *) &p[i], 1);
    }

    return yajl_gen_string(g, buf, 36);
}


static yajl_gen_status
ngx_http_campaign_gen_column(yajl_gen g, PGresult *res, int col)
{
    int            len;
    const u_char  *p;

    if (PQgetisnull(res, 0, col)) {
        return yajl_gen_null(g);
    }

    p = (const u_char *) PQgetvalue(res, 0, col);
    len = PQgetlength(res, 0, col);

    switch (ngx_http_campaign_columns[col].type) {

    case NGX_HTTP_CAMPAIGN_OID_UUID:
        return len == 16 ? ngx_http_campaign_gen_uuid(g, p)
                         : yajl_gen_invalid_string;

    case NGX_HTTP_CAMPAIGN_OID_TIMESTAMPTZ:
        return len == 8 ? ngx_http_campaign_gen_time(g, p)
                        : yajl_gen_invalid_string;

    case NGX_HTTP_CAMPAIGN_OID_INT4:
        return len == 4 ? yajl_gen_integer(g, ngx_http_campaign_be(p, 4))
                        : yajl_gen_invalid_string;

    case NGX_HTTP_CAMPAIGN_OID_JSONB:
        /*
         * jsonb's binary form is a version byte (1) and its text: JSON
         * Postgres wrote, put in as it is (yajl_gen_number writes its
         * bytes unchanged, with the separator before them)
         */
        if (len < 2 || p[0] != 1) {
            return yajl_gen_invalid_string;
        }
        return yajl_gen_number(g, (const char *) p + 1, len - 1);

    default:  /* text */
        return yajl_gen_string(g, p, len);
    }
}


static ngx_int_t
ngx_http_campaign_gen(yajl_gen g, PGresult *res)
{
    int  col;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    for (col = 0; col < NGX_HTTP_CAMPAIGN_COL_VERSION; col++) {

        if (col == NGX_HTTP_CAMPAIGN_COL_STATS
            && (yajl_gen_string(g, (u_char *) "stats", 5)
                != yajl_gen_status_ok
                || yajl_gen_map_open(g) != yajl_gen_status_ok))
        {
            return NGX_ERROR;
        }

        if (yajl_gen_string(g, (u_char *) ngx_http_campaign_columns[col].key,
                            ngx_strlen(ngx_http_campaign_columns[col].key))
            != yajl_gen_status_ok
            || ngx_http_campaign_gen_column(g, res, col) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }

        if (col == NGX_HTTP_CAMPAIGN_COL_STATS_END
            && yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }
    }

    return yajl_gen_map_close(g) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
}


/* The row is what campaign.campaign_row() is known to answer. */
static ngx_flag_t
ngx_http_campaign_row_ok(PGresult *res)
{
    int  col;

    if (PQnfields(res) != NGX_HTTP_CAMPAIGN_NCOLUMNS || PQntuples(res) > 1) {
        return 0;
    }

    for (col = 0; col < NGX_HTTP_CAMPAIGN_NCOLUMNS; col++) {
        if (PQftype(res, col) != ngx_http_campaign_columns[col].type
            || PQfformat(res, col) != 1)
        {
            return 0;
        }
    }

    return PQntuples(res) == 0
           || (!PQgetisnull(res, 0, NGX_HTTP_CAMPAIGN_COL_VERSION)
               && PQgetlength(res, 0, NGX_HTTP_CAMPAIGN_COL_VERSION) == 8);
}


ngx_int_t
ngx_http_campaign_send_campaign(ngx_http_request_t *r, PGresult *res)
{
    size_t                len;
    ngx_int_t             rc;
    ngx_str_t             body, etag;
    yajl_gen              g;
    const unsigned char  *buf;

    if (!ngx_http_campaign_row_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign: unexpected answer from "
                      "campaign.campaign_row()");
        return ngx_http_campaign_send_error(r,
                                           NGX_HTTP_CAMPAIGN_ERR_INTERNAL, 0);
    }

    if (PQntuples(res) == 0) {
        /* no campaign of this id for the key's tenant */
        return ngx_http_campaign_send_error(r,
                                        NGX_HTTP_CAMPAIGN_ERR_NO_CAMPAIGN, 0);
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_campaign_gen(g, res);

    if (rc == NGX_OK && yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
    {
        body.len = len;
        body.data = ngx_pnalloc(r->pool, len);
        if (body.data) {
            ngx_memcpy(body.data, buf, len);
        } else {
            rc = NGX_ERROR;
        }

    } else if (rc == NGX_OK) {
        rc = NGX_ERROR;
    }

    yajl_gen_free(g);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "campaign: cannot render the campaign");
        return ngx_http_campaign_send_error(r,
                                           NGX_HTTP_CAMPAIGN_ERR_INTERNAL, 0);
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
