/*
 * Request bodies as the module sees them: JSON checked (UTF-8, depth 64)
 * and CSV rewritten in place into the rows Postgres splits (fields end in
 * U+001F, records in U+001E). Byte 0 picks which.
 * Properties: a body the check accepts has no NUL and parses as JSON; CSV
 * that converts gives exactly the records and fields a plain RFC 4180
 * reading of the input gives (quotes undone, header names and "to"
 * trimmed, blank lines and unnamed columns dropped), each record with the
 * header's number of fields, the first header field "to"; and neither
 * ever holds more than 2 bytes of heap per input byte (+ 64 KiB), counted
 * by the sanitizer's allocation hooks.
 */

#include <sanitizer/allocator_interface.h>
#include <yajl/yajl_tree.h>

#include "module_fuzz.h"


static size_t  live, peak;


static void
on_malloc(const volatile void *p, size_t size)
{
    (void) p;
    live += size;
    if (live > peak) {
        peak = live;
    }
}


static void
on_free(const volatile void *p)
{
    live -= __sanitizer_get_allocated_size((const void *) p);
}


/* ------------------------------------------- the reference reading */


typedef struct {
    char    *s;
    size_t   len;
} field_t;

typedef struct {
    field_t  *f;
    size_t    n;
} record_t;


static void
trim(field_t *f)
{
    while (f->len && (f->s[0] == ' ' || f->s[0] == '\t')) {
        f->s++;
        f->len--;
    }
    while (f->len && (f->s[f->len - 1] == ' ' || f->s[f->len - 1] == '\t')) {
        f->len--;
    }
}


/* Plain RFC 4180, into copies; 0, or -1 for a broken quote. */
static int
read_record(const u_char **pp, const u_char *end, record_t *r, char *buf)
{
    const u_char  *p = *pp;
    char          *o = buf;

    r->n = 0;
    for ( ;; ) {
        field_t  *f = &r->f[r->n++];

        f->s = o;
        if (p < end && *p == '"') {
            for (p++; ; ) {
                if (p == end) {
                    return -1;
                }
                if (*p == '"' && p + 1 < end && p[1] == '"') {
                    *o++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *o++ = (char) *p++;
                }
            }
            if (p < end && *p != ',' && *p != '\r' && *p != '\n') {
                return -1;
            }
        } else {
            while (p < end && *p != ',' && *p != '\r' && *p != '\n') {
                if (*p == '"') {
                    return -1;
                }
                *o++ = (char) *p++;
            }
        }
        f->len = (size_t) (o - f->s);
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
    *pp = p;
    return 0;
}


/* The output's next field: up to U+001F or U+001E (or the end). */
static field_t
out_field(u_char **pp, u_char *end, int *last)
{
    field_t  f;
    u_char  *p = *pp;

    f.s = (char *) p;
    while (p < end && *p != 0x1f && *p != 0x1e) {
        p++;
    }
    f.len = (size_t) (p - (u_char *) f.s);
    *last = (p == end || *p == 0x1e);
    *pp = p < end ? p + 1 : p;
    return f;
}


static void
check_rows(const uint8_t *in, size_t size, ngx_str_t *out)
{
    int            last;
    size_t         i, k, columns, kept;
    char          *buf;
    u_char        *o, *oend;
    field_t        got, *head;
    record_t       rec, header;
    const u_char  *p = in, *end = in + size;

    FUZZ_CHECK(out->len <= size);
    FUZZ_CHECK(memchr(out->data, '\0', out->len) == NULL);
    FUZZ_CHECK(out->data[out->len] == '\0');

    buf = malloc(size + 1);
    rec.f = malloc((size + 1) * sizeof(field_t));
    header.f = malloc((size + 1) * sizeof(field_t));
    head = malloc((size + 1) * sizeof(field_t));
    FUZZ_CHECK(buf && rec.f && header.f && head);

    if (size >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }
    FUZZ_CHECK(read_record(&p, end, &header, buf) == 0);
    columns = header.n;
    for (i = 0; i < columns; i++) {
        head[i] = header.f[i];
        trim(&head[i]);
        /* copied out of buf, which the next records reuse */
        head[i].s = memcpy(malloc(head[i].len + 1), head[i].s, head[i].len);
    }
    FUZZ_CHECK(head[0].len == 2 && strncasecmp(head[0].s, "to", 2) == 0);

    o = out->data;
    oend = out->data + out->len;

    /* the header: "to" and the named columns */
    for (i = 0, kept = 0; i < columns; i++) {
        kept += (i == 0 || head[i].len > 0);
    }
    for (i = 0, k = 0; i < columns; i++) {
        if (i > 0 && head[i].len == 0) {
            continue;
        }
        got = out_field(&o, oend, &last);
        FUZZ_CHECK(got.len == head[i].len
                   && memcmp(got.s, head[i].s, got.len) == 0);
        k++;
        FUZZ_CHECK(last == (k == kept));
    }

    while (p < end) {
        FUZZ_CHECK(read_record(&p, end, &rec, buf) == 0);
        if (rec.n == 1 && rec.f[0].len == 0) {
            continue;                       /* blank */
        }
        FUZZ_CHECK(rec.n == columns);
        trim(&rec.f[0]);
        for (i = 0, k = 0; i < columns; i++) {
            if (i > 0 && head[i].len == 0) {
                continue;
            }
            got = out_field(&o, oend, &last);
            FUZZ_CHECK(got.len == rec.f[i].len
                       && memcmp(got.s, rec.f[i].s, got.len) == 0);
            k++;
            FUZZ_CHECK(last == (k == kept));
        }
    }
    FUZZ_CHECK(o == oend);

    for (i = 0; i < columns; i++) {
        free(head[i].s);
    }
    free(head);
    free(header.f);
    free(rec.f);
    free(buf);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     *text;
    size_t                    base;
    yajl_val                  tree;
    ngx_int_t                 rc;
    ngx_str_t                 body;
    ngx_uint_t                index;
    ngx_pool_t               *pool;
    ngx_http_campaign_err_e   err;
    static int                hooked;

    if (size < 1) {
        return 0;
    }

    if (!hooked) {
        __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
        hooked = 1;
    }

    pool = fuzz_pool();

    /* the module reads bodies into a buffer with room for a NUL */
    body.len = size - 1;
    body.data = ngx_pnalloc(pool, body.len + 1);
    FUZZ_CHECK(body.data != NULL);
    ngx_memcpy(body.data, data + 1, body.len);
    body.data[body.len] = '\0';

    /* what the module holds beyond the body, at its peak */
    base = live;
    peak = live;

    if (data[0] & 1) {
        if (ngx_http_campaign_json_check(&body, &err) == NGX_OK) {
            FUZZ_CHECK(peak - base <= 2 * body.len + 65536);
            text = malloc(body.len + 1);
            FUZZ_CHECK(text != NULL);
            memcpy(text, body.data, body.len + 1);
            /* libpq would see the text up to a NUL: there must be none */
            FUZZ_CHECK(strlen(text) == body.len);
            tree = yajl_tree_parse(text, NULL, 0);
            FUZZ_CHECK(tree != NULL);
            yajl_tree_free(tree);
            free(text);
        }

    } else {
        index = 0;
        rc = ngx_http_campaign_csv_to_rows(pool, &body, &err, &index);
        FUZZ_CHECK(peak - base <= 2 * (size - 1) + 65536);
        if (rc == NGX_OK) {
            check_rows(data + 1, size - 1, &body);
        }
    }

    ngx_destroy_pool(pool);
    return 0;
}
