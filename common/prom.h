/*
 * Prometheus's text exposition format (version 0.0.4), written into a
 * growing buffer: a family's HELP and TYPE once, then its samples, label
 * values escaped (\\, \" and \n) as the format asks. The scheduler and the
 * module both write their /metrics with it.
 */

#ifndef CS_PROM_H
#define CS_PROM_H

#include <stddef.h>
#include <stdint.h>

#define CS_PROM_CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"

typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    int      failed;                /* out of memory: the text is cut */
} cs_prom_t;

/* a histogram's buckets: upper bounds in seconds (or rows), ascending */
typedef struct {
    const double  *le;
    size_t         n;
} cs_prom_buckets_t;

extern const cs_prom_buckets_t  cs_prom_seconds;   /* 0.5 ms .. 10 s */
extern const cs_prom_buckets_t  cs_prom_lateness;  /* 1 ms .. 60 s */

#define CS_PROM_MAX_BUCKETS  24

void cs_prom_init(cs_prom_t *p);
void cs_prom_free(cs_prom_t *p);

/* type: "counter", "gauge" or "histogram" */
void cs_prom_family(cs_prom_t *p, const char *name, const char *type,
    const char *help);

/*
 * A sample: nlabels pairs of (name, value) strings follow v; a NULL value
 * leaves its label out.
 */
void cs_prom_value(cs_prom_t *p, const char *name, double v, int nlabels,
    ...);

/*
 * A histogram's samples (_bucket, _sum, _count): counts holds b->n + 1
 * counts, per bucket, not cumulative (the last is above every bound).
 */
void cs_prom_histogram(cs_prom_t *p, const char *name,
    const cs_prom_buckets_t *b, const uint64_t *counts, double sum,
    int nlabels, ...);

/* where v falls among b's buckets: an index into counts */
size_t cs_prom_bucket(const cs_prom_buckets_t *b, double v);

#endif
