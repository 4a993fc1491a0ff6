
/*
 * Request bodies: JSON is checked with yajl (well-formed, UTF-8, bounded
 * depth) before Postgres sees it; CSV recipients become the same JSON array
 * the JSON route takes, so one SQL path validates both.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_gen.h>

#include "ngx_http_campaign_module.h"


typedef struct {
    ngx_uint_t  depth;
    ngx_uint_t  too_deep;
} ngx_http_campaign_json_state_t;


static int
ngx_http_campaign_json_open(void *ctx)
{
    ngx_http_campaign_json_state_t  *st = ctx;

    if (++st->depth > NGX_HTTP_CAMPAIGN_MAX_DEPTH) {
        st->too_deep = 1;
        return 0;
    }

    return 1;
}


static int
ngx_http_campaign_json_close(void *ctx)
{
    ngx_http_campaign_json_state_t  *st = ctx;

    st->depth--;

    return 1;
}


static int
ngx_http_campaign_json_key(void *ctx, const unsigned char *key, size_t len)
{
    return 1;
}


static yajl_callbacks  ngx_http_campaign_json_callbacks = {
    NULL,                                  /* null */
    NULL,                                  /* boolean */
    NULL,                                  /* integer */
    NULL,                                  /* double */
    NULL,                                  /* number */
    NULL,                                  /* string */
    ngx_http_campaign_json_open,           /* start map */
    ngx_http_campaign_json_key,            /* map key */
    ngx_http_campaign_json_close,          /* end map */
    ngx_http_campaign_json_open,           /* start array */
    ngx_http_campaign_json_close           /* end array */
};


/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF, no NUL. yajl checks only the shape of a sequence, and
 * Postgres refuses the rest with an error, not a 400 (found by fuzzing).
 */
ngx_int_t
ngx_http_campaign_utf8_check(ngx_str_t *s)
{
    u_char      *p, *end;
    uint32_t     c, min;
    ngx_uint_t   n;

    p = s->data;
    end = p + s->len;

    while (p < end) {
        c = *p++;

        if (c < 0x80) {
            if (c == 0) {
                return NGX_DECLINED;
            }
            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 1; min = 0x80; c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2; min = 0x800; c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3; min = 0x10000; c &= 0x07;
        } else {
            return NGX_DECLINED;
        }

        if ((size_t) (end - p) < n) {
            return NGX_DECLINED;
        }

        while (n--) {
            if ((*p & 0xc0) != 0x80) {
                return NGX_DECLINED;
            }
            c = (c << 6) | (*p++ & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_campaign_json_check(ngx_str_t *body, ngx_http_campaign_err_e *err)
{
    yajl_handle                     h;
    yajl_status                     st;
    ngx_http_campaign_json_state_t  state;

    if (ngx_http_campaign_utf8_check(body) != NGX_OK) {
        *err = NGX_HTTP_CAMPAIGN_ERR_INVALID_UTF8;
        return NGX_DECLINED;
    }

    state.depth = 0;
    state.too_deep = 0;

    h = yajl_alloc(&ngx_http_campaign_json_callbacks, NULL, &state);
    if (h == NULL) {
        return NGX_ERROR;
    }

    /* checked above, and more strictly: not twice */
    yajl_config(h, yajl_dont_validate_strings, 1);

    st = yajl_parse(h, body->data, body->len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st == yajl_status_ok) {
        return NGX_OK;
    }

    *err = state.too_deep ? NGX_HTTP_CAMPAIGN_ERR_TOO_DEEP
                          : NGX_HTTP_CAMPAIGN_ERR_INVALID_JSON;

    return NGX_DECLINED;
}


/* ----------------------------------------------------------------- CSV */


/*
 * CSV recipients (RFC 4180: quoted fields may hold commas, "" and line
 * breaks) become text that Postgres splits at once: each field ends in
 * U+001F but the last of its record, records are separated by U+001E, the
 * header first, quotes undone, header names and "to" trimmed, blank lines
 * and columns without a name dropped (sql/functions/api.sql reads it).
 * The text is rewritten in place: what is written never passes what is
 * read, so the conversion costs no memory but a byte per column.
 */

#define NGX_HTTP_CAMPAIGN_CSV_FIELD   0x1f
#define NGX_HTTP_CAMPAIGN_CSV_RECORD  0x1e


typedef struct {
    u_char      *p;                 /* read */
    u_char      *end;
    u_char      *w;                 /* write */
    ngx_uint_t   fields;            /* in the record read last */
} ngx_http_campaign_csv_t;


static void
ngx_http_campaign_csv_trim(u_char *start, u_char **w)
{
    u_char  *s, *e;

    s = start;
    e = *w;

    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }

    if (s != start) {
        ngx_memmove(start, s, e - s);
    }
    *w = start + (e - s);
}


/*
 * Reads one field and writes its value at csv->w. NGX_DECLINED: a broken
 * quote; NGX_ABORT: the value holds a separator of the output.
 */
static ngx_int_t
ngx_http_campaign_csv_field(ngx_http_campaign_csv_t *csv)
{
    u_char  *p, *w, *end, *start;

    p = csv->p;
    w = csv->w;
    end = csv->end;
    start = w;

    if (p < end && *p == '"') {
        p++;
        for ( ;; ) {
            if (p == end) {
                return NGX_DECLINED;      /* unterminated quote */
            }
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            *w++ = *p++;
        }

        if (p < end && *p != ',' && *p != '\r' && *p != '\n') {
            return NGX_DECLINED;          /* text after the quote */
        }

    } else {
        while (p < end && *p != ',' && *p != '\r' && *p != '\n') {
            if (*p == '"') {
                return NGX_DECLINED;      /* quote inside a bare field */
            }
            *w++ = *p++;
        }
    }

    csv->p = p;
    csv->w = w;

    for (p = start; p < w; p++) {
        if (*p == NGX_HTTP_CAMPAIGN_CSV_FIELD
            || *p == NGX_HTTP_CAMPAIGN_CSV_RECORD)
        {
            return NGX_ABORT;
        }
    }

    return NGX_OK;
}


/*
 * One record. named: per column, whether it is kept (NULL for the header,
 * whose columns are all written, named or not, and counted). NGX_DONE: a
 * blank line, nothing written.
 */
static ngx_int_t
ngx_http_campaign_csv_record(ngx_http_campaign_csv_t *csv, u_char *named,
    ngx_uint_t columns)
{
    u_char     *start;
    ngx_int_t   rc;
    ngx_uint_t  keep, empty;

    empty = 0;
    csv->fields = 0;

    for ( ;; ) {
        keep = (named == NULL
                || (csv->fields < columns && named[csv->fields]));

        /* before a field, not after: its ',' is read, so there is room */
        if (keep && csv->fields > 0) {
            *csv->w++ = NGX_HTTP_CAMPAIGN_CSV_FIELD;
        }

        start = csv->w;

        rc = ngx_http_campaign_csv_field(csv);
        if (rc != NGX_OK) {
            return rc;
        }

        if (csv->fields == 0) {
            empty = (csv->w == start);
        }

        if (named == NULL || csv->fields == 0) {
            ngx_http_campaign_csv_trim(start, &csv->w);   /* "to", names */
        }

        if (!keep) {
            csv->w = start;             /* a column without a name */
        }

        csv->fields++;

        if (csv->p < csv->end && *csv->p == ',') {
            csv->p++;
            continue;
        }

        break;
    }

    if (csv->p < csv->end && *csv->p == '\r') {
        csv->p++;
    }
    if (csv->p < csv->end && *csv->p == '\n') {
        csv->p++;
    }

    if (csv->fields == 1 && empty) {
        return NGX_DONE;                /* a blank line */
    }

    /* at the end of the text this takes the place of its NUL */
    *csv->w++ = NGX_HTTP_CAMPAIGN_CSV_RECORD;

    return NGX_OK;
}


ngx_int_t
ngx_http_campaign_csv_to_rows(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_campaign_err_e *err, ngx_uint_t *index)
{
    u_char                   *named, *field;
    ngx_int_t                 rc;
    ngx_uint_t                rows, columns, i;
    ngx_http_campaign_csv_t   csv;

    if (ngx_http_campaign_utf8_check(text) != NGX_OK) {
        *err = NGX_HTTP_CAMPAIGN_ERR_INVALID_UTF8;
        return NGX_DECLINED;
    }

    csv.p = text->data;
    csv.end = text->data + text->len;
    csv.w = text->data;

    if (csv.end - csv.p >= 3
        && csv.p[0] == 0xef && csv.p[1] == 0xbb && csv.p[2] == 0xbf)
    {
        csv.p += 3;                         /* UTF-8 byte order mark */
    }

    rc = ngx_http_campaign_csv_record(&csv, NULL, 0);

    if (rc != NGX_OK
        || csv.w - text->data < 3
        || ngx_strncasecmp(text->data, (u_char *) "to", 2) != 0
        || (text->data[2] != NGX_HTTP_CAMPAIGN_CSV_FIELD
            && text->data[2] != NGX_HTTP_CAMPAIGN_CSV_RECORD))
    {
        *err = NGX_HTTP_CAMPAIGN_ERR_CSV_HEADER;
        return NGX_DECLINED;
    }

    /* which columns have a name: only those become vars */
    columns = csv.fields;
    named = ngx_pnalloc(pool, columns);
    if (named == NULL) {
        return NGX_ERROR;
    }

    field = text->data;
    for (i = 0; i < columns; i++) {
        named[i] = (*field != NGX_HTTP_CAMPAIGN_CSV_FIELD
                    && *field != NGX_HTTP_CAMPAIGN_CSV_RECORD);
        while (*field != NGX_HTTP_CAMPAIGN_CSV_FIELD
               && *field != NGX_HTTP_CAMPAIGN_CSV_RECORD)
        {
            field++;
        }
        field++;
    }

    /* the header keeps only named columns too: write it again, shorter */
    csv.w = text->data;
    for (field = text->data, i = 0; i < columns; i++) {
        while (*field != NGX_HTTP_CAMPAIGN_CSV_FIELD
               && *field != NGX_HTTP_CAMPAIGN_CSV_RECORD)
        {
            if (named[i]) {
                *csv.w++ = *field;
            }
            field++;
        }
        if (named[i] || i == 0) {
            *csv.w++ = NGX_HTTP_CAMPAIGN_CSV_FIELD;
        }
        field++;
    }
    csv.w[-1] = NGX_HTTP_CAMPAIGN_CSV_RECORD;

    for (rows = 0; csv.p < csv.end; /* void */) {

        rc = ngx_http_campaign_csv_record(&csv, named, columns);

        if (rc == NGX_DONE) {
            continue;                       /* a blank line */
        }

        if (rows == NGX_HTTP_CAMPAIGN_MAX_CSV_ROWS) {
            *err = NGX_HTTP_CAMPAIGN_ERR_CSV_ROWS;
            return NGX_DECLINED;
        }

        if (rc == NGX_ABORT) {
            *err = NGX_HTTP_CAMPAIGN_ERR_CSV_SEPARATOR;
            *index = rows;
            return NGX_DECLINED;
        }

        if (rc != NGX_OK || csv.fields != columns) {
            *err = NGX_HTTP_CAMPAIGN_ERR_CSV_ROW;
            *index = rows;
            return NGX_DECLINED;
        }

        rows++;
    }

    /* no record separator after the last record */
    text->len = csv.w - 1 - text->data;
    text->data[text->len] = '\0';

    return NGX_OK;
}
