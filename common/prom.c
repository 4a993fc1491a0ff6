#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

static const double  seconds_le[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    2.5, 5, 10
};
static const double  lateness_le[] = {
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
    0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};

const cs_prom_buckets_t  cs_prom_seconds = {
    seconds_le, sizeof(seconds_le) / sizeof(seconds_le[0])
};
const cs_prom_buckets_t  cs_prom_lateness = {
    lateness_le, sizeof(lateness_le) / sizeof(lateness_le[0])
};


void
cs_prom_init(cs_prom_t *p)
{
    memset(p, 0, sizeof(*p));
}


void
cs_prom_free(cs_prom_t *p)
{
    free(p->data);
    memset(p, 0, sizeof(*p));
}


static int
room(cs_prom_t *p, size_t more)
{
    size_t  cap;
    char   *data;

    if (p->failed) {
        return -1;
    }
    if (p->len + more + 1 <= p->cap) {
        return 0;
    }
    cap = p->cap ? p->cap : 4096;
    while (cap < p->len + more + 1) {
        cap *= 2;
    }
    data = realloc(p->data, cap);
    if (data == NULL) {
        p->failed = 1;
        return -1;
    }
    p->data = data;
    p->cap = cap;
    return 0;
}


static void __attribute__((format(printf, 2, 3)))
put(cs_prom_t *p, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0 || room(p, (size_t) n) != 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(p->data + p->len, p->cap - p->len, fmt, ap);
    va_end(ap);
    p->len += (size_t) n;
}


/* the length of the well-formed UTF-8 sequence at s (1 to 4), or 0 */
static size_t
utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    }
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80
            || (s[0] == 0xe0 && s[1] < 0xa0)        /* overlong */
            || (s[0] == 0xed && s[1] >= 0xa0))      /* a surrogate */
        {
            return 0;
        }
        return 3;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80
            || (s[3] & 0xc0) != 0x80
            || (s[0] == 0xf0 && s[1] < 0x90)
            || (s[0] == 0xf4 && s[1] >= 0x90))      /* past U+10FFFF */
        {
            return 0;
        }
        return 4;
    }
    return 0;
}


/*
 * A label value: backslash, double quote and line feed escaped; a byte
 * that is not well-formed UTF-8 (Prometheus refuses the whole scrape for
 * one) becomes U+FFFD.
 */
static void
put_escaped(cs_prom_t *p, const char *s)
{
    size_t  n;

    while (*s) {
        if (room(p, 4) != 0) {
            return;
        }
        if (*s == '\\' || *s == '"') {
            p->data[p->len++] = '\\';
            p->data[p->len++] = *s++;
        } else if (*s == '\n') {
            p->data[p->len++] = '\\';
            p->data[p->len++] = 'n';
            s++;
        } else if ((n = utf8_len((const unsigned char *) s)) == 0) {
            memcpy(p->data + p->len, "\xef\xbf\xbd", 3);
            p->len += 3;
            s++;
        } else {
            memcpy(p->data + p->len, s, n);
            p->len += n;
            s += n;
        }
    }
    if (p->data) {
        p->data[p->len] = '\0';
    }
}


/* {a="x",b="y"}, with extra (le="..."), or nothing at all */
static void
put_labels(cs_prom_t *p, int nlabels, va_list ap, const char *extra)
{
    int          i, first = 1;
    const char  *name, *value;

    for (i = 0; i < nlabels; i++) {
        name = va_arg(ap, const char *);
        value = va_arg(ap, const char *);
        if (value == NULL) {
            continue;
        }
        put(p, "%s%s=\"", first ? "{" : ",", name);
        put_escaped(p, value);
        put(p, "\"");
        first = 0;
    }
    if (extra != NULL) {
        put(p, "%s%s", first ? "{" : ",", extra);
        first = 0;
    }
    if (!first) {
        put(p, "}");
    }
}


static void
put_number(cs_prom_t *p, double v)
{
    char  num[40];

    if (isnan(v)) {
        put(p, " NaN\n");
    } else if (isinf(v)) {
        put(p, v > 0 ? " +Inf\n" : " -Inf\n");
    } else if (fabs(v) < 1e15 && v == (double) (long long) v) {
        put(p, " %lld\n", (long long) v);
    } else {
        /* the shortest of 15 or 17 digits that reads back as v */
        snprintf(num, sizeof(num), "%.15g", v);
        if (strtod(num, NULL) != v) {
            snprintf(num, sizeof(num), "%.17g", v);
        }
        put(p, " %s\n", num);
    }
}


void
cs_prom_family(cs_prom_t *p, const char *name, const char *type,
    const char *help)
{
    put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}


void
cs_prom_value(cs_prom_t *p, const char *name, double v, int nlabels, ...)
{
    va_list  ap;

    put(p, "%s", name);
    va_start(ap, nlabels);
    put_labels(p, nlabels, ap, NULL);
    va_end(ap);
    put_number(p, v);
}


void
cs_prom_histogram(cs_prom_t *p, const char *name,
    const cs_prom_buckets_t *b, const uint64_t *counts, double sum,
    int nlabels, ...)
{
    char      le[48];
    size_t    i;
    uint64_t  total = 0;
    va_list   ap;

    for (i = 0; i <= b->n; i++) {
        total += counts[i];
        if (i < b->n) {
            snprintf(le, sizeof(le), "le=\"%.9g\"", b->le[i]);
        } else {
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        }
        put(p, "%s_bucket", name);
        va_start(ap, nlabels);
        put_labels(p, nlabels, ap, le);
        va_end(ap);
        put_number(p, (double) total);
    }

    put(p, "%s_sum", name);
    va_start(ap, nlabels);
    put_labels(p, nlabels, ap, NULL);
    va_end(ap);
    put_number(p, sum);

    put(p, "%s_count", name);
    va_start(ap, nlabels);
    put_labels(p, nlabels, ap, NULL);
    va_end(ap);
    put_number(p, (double) total);
}


size_t
cs_prom_bucket(const cs_prom_buckets_t *b, double v)
{
    size_t  lo = 0, hi = b->n, mid;

    /* the first bound v is not above */
    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (v <= b->le[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}
