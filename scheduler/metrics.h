/*
 * The scheduler's metrics: one registry for the process, never reset, so
 * counters survive a reload (SIGHUP) and a type dropped from the file
 * keeps what it counted. The loop's thread updates them with relaxed
 * atomic additions; /metrics is written on a thread of its own
 * (metrics_http.c), which only loads them: a scrape never waits for a
 * turn of the delivery loop, nor holds one up.
 */

#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/prom.h"
#include "config.h"

#define CS_METRIC_ADD(x, n)  __atomic_fetch_add(&(x), (n), __ATOMIC_RELAXED)
#define CS_METRIC_GET(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)

typedef struct {
    uint64_t   counts[CS_PROM_MAX_BUCKETS + 1];
    uint64_t   sum_us;              /* the sum, in millionths */
} cs_hist_t;

typedef struct cs_metrics_type_s cs_metrics_type_t;

struct cs_metrics_type_s {
    cs_metrics_type_t  *next;
    char                name[CS_NAME_MAX];
    uint64_t            sent;
    uint64_t            failed;
    uint64_t            retried;
    uint64_t            rate_wait_us;
    cs_hist_t           duration;           /* of a provider's request */
    cs_hist_t           lateness;           /* started_at - scheduled_at */
    int64_t             jobs;               /* gauges */
    int64_t             in_flight;
};

void cs_metrics_init(const char *version, const char *id);
void cs_metrics_free(void);

/* a type's counters, made the first time it is named (NULL: no memory);
 * the loop's thread only */
cs_metrics_type_t *cs_metrics_type(const char *name);

void cs_hist_observe(cs_hist_t *h, const cs_prom_buckets_t *b, double v);

/* a query's round trip, by the campaign.* function it calls: its kind
 * is found when it is sent (-1: none) */
int cs_metrics_query_kind(const char *sql);
void cs_metrics_query(int kind, double seconds);
/* a connection (re)established; the first of each name is not counted */
void cs_metrics_connected(const char *name, int again);
void cs_metrics_takeovers(long n);
void cs_metrics_batch(size_t rows);
void cs_metrics_heartbeat(void);
void cs_metrics_retention(long campaigns, long recipients, long events);
void cs_metrics_wheel(uint64_t timers);

/* the whole text, into p: any thread */
void cs_metrics_write(cs_prom_t *p);

#endif
