/*
 * Stand-ins for the few nginx functions the module's parsers call, for
 * the fuzz targets only: Debian's nginx-dev ships nginx's headers, not its
 * sources, and a dynamic module's symbols live in the nginx executable.
 * Each pool allocation is its own malloc() (kept on a list the pool frees),
 * so AddressSanitizer catches any read or write past an allocation, which
 * nginx's real pools would hide. ngx_http_arg() and ngx_unescape_uri() do
 * what nginx documents: find "name=value" between '&'s, and decode %XX.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

typedef struct fuzz_chunk_s  fuzz_chunk_t;

struct fuzz_chunk_s {
    fuzz_chunk_t  *next;
    u_char         data[];
};

ngx_uint_t  ngx_pagesize;
ngx_uint_t  ngx_cacheline_size;


ngx_pool_t *
ngx_create_pool(size_t size, ngx_log_t *log)
{
    ngx_pool_t  *p;

    (void) size;

    p = calloc(1, sizeof(ngx_pool_t));
    if (p) {
        p->log = log;
    }
    return p;
}


void
ngx_destroy_pool(ngx_pool_t *pool)
{
    fuzz_chunk_t  *c, *next;

    for (c = (fuzz_chunk_t *) pool->chain; c; c = next) {
        next = c->next;
        free(c);
    }
    free(pool);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    fuzz_chunk_t  *c;

    c = malloc(sizeof(fuzz_chunk_t) + size);
    if (c == NULL) {
        return NULL;
    }
    c->next = (fuzz_chunk_t *) pool->chain;
    pool->chain = (ngx_chain_t *) c;
    return c->data;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    return ngx_pnalloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p = ngx_pnalloc(pool, size);

    if (p) {
        memset(p, 0, size);
    }
    return p;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *p;

    if (a->nelts == a->nalloc) {
        p = ngx_palloc(a->pool, 2 * a->nalloc * a->size);
        if (p == NULL) {
            return NULL;
        }
        memcpy(p, a->elts, a->nelts * a->size);
        a->elts = p;
        a->nalloc *= 2;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


u_char *
ngx_cpystrn(u_char *dst, u_char *src, size_t n)
{
    if (n == 0) {
        return dst;
    }
    while (--n) {
        *dst = *src;
        if (*dst == '\0') {
            return dst;
        }
        dst++;
        src++;
    }
    *dst = '\0';
    return dst;
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    int  c1, c2;

    while (n--) {
        c1 = tolower(*s1++);
        c2 = tolower(*s2++);
        if (c1 != c2) {
            return c1 - c2;
        }
        if (c1 == 0) {
            return 0;
        }
    }
    return 0;
}


ngx_int_t
ngx_http_arg(ngx_http_request_t *r, u_char *name, size_t len,
    ngx_str_t *value)
{
    u_char  *p, *end, *amp;

    if (r->args.len == 0) {
        return NGX_DECLINED;
    }

    p = r->args.data;
    end = p + r->args.len;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }
        if ((size_t) (amp - p) > len && p[len] == '='
            && ngx_strncasecmp(p, name, len) == 0)
        {
            value->data = p + len + 1;
            value->len = amp - value->data;
            return NGX_OK;
        }
        p = amp + 1;
    }

    return NGX_DECLINED;
}


static int
fuzz_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}


void
ngx_unescape_uri(u_char **dst, u_char **src, size_t size, ngx_uint_t type)
{
    int      hi, lo;
    u_char  *d = *dst, *s = *src, *end = *src + size;

    (void) type;

    while (s < end) {
        if (*s == '%' && end - s >= 3
            && (hi = fuzz_hex(s[1])) >= 0 && (lo = fuzz_hex(s[2])) >= 0)
        {
            *d++ = (u_char) (hi << 4 | lo);
            s += 3;
            continue;
        }
        *d++ = *s++;
    }

    *dst = d;
    *src = s;
}


ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a = ngx_palloc(p, sizeof(ngx_array_t));

    if (a == NULL || (a->elts = ngx_palloc(p, n * size)) == NULL) {
        return NULL;
    }
    a->nelts = 0;
    a->size = size;
    a->nalloc = n;
    a->pool = p;
    return a;
}


/* nginx's: hex digits to a number, NGX_ERROR for anything else */
ngx_int_t
ngx_hextoi(u_char *line, size_t n)
{
    ngx_int_t  v = 0;

    if (n == 0) {
        return NGX_ERROR;
    }
    for ( ; n--; line++) {
        if (*line >= '0' && *line <= '9') {
            v = v * 16 + (*line - '0');
        } else if ((*line | 0x20) >= 'a' && (*line | 0x20) <= 'f') {
            v = v * 16 + ((*line | 0x20) - 'a' + 10);
        } else {
            return NGX_ERROR;
        }
    }
    return v;
}
