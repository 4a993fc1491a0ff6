
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
 * One RFC 4180 record into "fields": quoted fields may hold commas, quotes
 * ("") and line breaks. NGX_DECLINED for a malformed record.
 */
static ngx_int_t
ngx_http_campaign_csv_record(ngx_pool_t *pool, u_char **pos, u_char *end,
    ngx_array_t *fields)
{
    u_char     *p, *s, *d;
    ngx_str_t  *f;

    p = *pos;
    fields->nelts = 0;

    for ( ;; ) {

        f = ngx_array_push(fields);
        if (f == NULL) {
            return NGX_ERROR;
        }

        if (p < end && *p == '"') {
            p++;

            d = ngx_pnalloc(pool, end - p);
            if (d == NULL) {
                return NGX_ERROR;
            }
            f->data = d;

            for ( ;; ) {
                if (p == end) {
                    return NGX_DECLINED;      /* unterminated quote */
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *d++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *d++ = *p++;
            }

            f->len = d - f->data;

            if (p < end && *p != ',' && *p != '\r' && *p != '\n') {
                return NGX_DECLINED;          /* text after the quote */
            }

        } else {
            s = p;
            while (p < end && *p != ',' && *p != '\r' && *p != '\n') {
                if (*p == '"') {
                    return NGX_DECLINED;      /* quote inside a bare field */
                }
                p++;
            }
            f->data = s;
            f->len = p - s;
        }

        if (p < end && *p == ',') {
            p++;
            continue;
        }

        break;
    }

    if (p < end && *p == '\r') {
        p++;
    }
    if (p < end && *p == '\n') {
        p++;
    }

    *pos = p;

    return NGX_OK;
}


static void
ngx_http_campaign_trim(ngx_str_t *s)
{
    while (s->len && (s->data[0] == ' ' || s->data[0] == '\t')) {
        s->data++;
        s->len--;
    }
    while (s->len && (s->data[s->len - 1] == ' '
                      || s->data[s->len - 1] == '\t'))
    {
        s->len--;
    }
}


static ngx_int_t
ngx_http_campaign_gen_str(yajl_gen g, ngx_str_t *s)
{
    if (ngx_http_campaign_utf8_check(s) != NGX_OK) {
        return NGX_DECLINED;
    }

    return yajl_gen_string(g, s->data, s->len) == yajl_gen_status_ok
           ? NGX_OK : NGX_DECLINED;
}


/* Writes [{"to": ..., "vars": {...}}, ...]; the CSV is parsed in place. */
static ngx_int_t
ngx_http_campaign_csv_gen(ngx_pool_t *pool, yajl_gen g, ngx_str_t *csv,
    ngx_http_campaign_err_e *err, ngx_uint_t *index)
{
    u_char       *p, *end;
    ngx_int_t     rc;
    ngx_str_t    *head, *field, to;
    ngx_uint_t    rows, i;
    ngx_array_t   header, record;

    static ngx_str_t  to_key = ngx_string("to");
    static ngx_str_t  vars_key = ngx_string("vars");

    p = csv->data;
    end = p + csv->len;

    if (end - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;                               /* UTF-8 byte order mark */
    }

    if (ngx_array_init(&header, pool, 8, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&record, pool, 8, sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_campaign_csv_record(pool, &p, end, &header);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    head = header.elts;
    if (rc == NGX_DECLINED) {
        *err = NGX_HTTP_CAMPAIGN_ERR_CSV_HEADER;
        return NGX_DECLINED;
    }

    for (i = 0; i < header.nelts; i++) {
        ngx_http_campaign_trim(&head[i]);
    }

    if (head[0].len != 2 || ngx_strncasecmp(head[0].data, (u_char *) "to", 2)
                            != 0)
    {
        *err = NGX_HTTP_CAMPAIGN_ERR_CSV_HEADER;
        return NGX_DECLINED;
    }

    yajl_gen_array_open(g);

    for (rows = 0; p < end; /* void */) {

        rc = ngx_http_campaign_csv_record(pool, &p, end, &record);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        field = record.elts;

        if (rc == NGX_OK && record.nelts == 1 && field[0].len == 0) {
            continue;                         /* a blank line */
        }

        if (rows == NGX_HTTP_CAMPAIGN_MAX_CSV_ROWS) {
            *err = NGX_HTTP_CAMPAIGN_ERR_CSV_ROWS;
            return NGX_DECLINED;
        }

        if (rc == NGX_DECLINED || record.nelts != header.nelts) {
            *err = NGX_HTTP_CAMPAIGN_ERR_CSV_ROW;
            *index = rows;
            return NGX_DECLINED;
        }

        to = field[0];
        ngx_http_campaign_trim(&to);

        yajl_gen_map_open(g);

        if (ngx_http_campaign_gen_str(g, &to_key) != NGX_OK
            || ngx_http_campaign_gen_str(g, &to) != NGX_OK
            || ngx_http_campaign_gen_str(g, &vars_key) != NGX_OK)
        {
            *err = NGX_HTTP_CAMPAIGN_ERR_INVALID_UTF8;
            return NGX_DECLINED;
        }

        yajl_gen_map_open(g);

        for (i = 1; i < record.nelts; i++) {
            if (head[i].len == 0) {
                continue;
            }
            if (ngx_http_campaign_gen_str(g, &head[i]) != NGX_OK
                || ngx_http_campaign_gen_str(g, &field[i]) != NGX_OK)
            {
                *err = NGX_HTTP_CAMPAIGN_ERR_INVALID_UTF8;
                return NGX_DECLINED;
            }
        }

        yajl_gen_map_close(g);
        yajl_gen_map_close(g);

        rows++;
    }

    yajl_gen_array_close(g);

    return NGX_OK;
}


ngx_int_t
ngx_http_campaign_csv_to_json(ngx_pool_t *pool, ngx_str_t *csv,
    ngx_str_t *json, ngx_http_campaign_err_e *err, ngx_uint_t *index)
{
    size_t                len;
    yajl_gen              g;
    ngx_int_t             rc;
    const unsigned char  *buf;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_campaign_csv_gen(pool, g, csv, err, index);

    if (rc == NGX_OK) {
        yajl_gen_get_buf(g, &buf, &len);

        json->data = ngx_pnalloc(pool, len + 1);
        if (json->data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_memcpy(json->data, buf, len);
            json->data[len] = '\0';
            json->len = len;
        }
    }

    yajl_gen_free(g);

    return rc;
}
