/*
 * The scheduler's metrics: one registry for the process, never reset, so
 * counters survive a reload (SIGHUP) and a type dropped from the file
 * keeps what it counted. Updating one is a few additions on the loop's
 * thread; the text is written only when /metrics is asked for.
 */

#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/prom.h"
#include "config.h"

typedef struct {
    uint64_t   counts[CS_PROM_MAX_BUCKETS + 1];
    double     sum;
} cs_hist_t;

typedef struct cs_metrics_type_s cs_metrics_type_t;

struct cs_metrics_type_s {
    cs_metrics_type_t  *next;
    char                name[CS_NAME_MAX];
    uint64_t            sent;
    uint64_t            failed;
    uint64_t            retried;
    double              rate_wait;          /* seconds */
    cs_hist_t           duration;           /* of a provider's request */
    cs_hist_t           lateness;           /* started_at - scheduled_at */
    /* gauges, filled in just before they are written */
    long                jobs;
    long                in_flight;
};

/* what the loop's owners fill in when the text is written */
typedef void (*cs_metrics_collect_pt)(void *data);

void cs_metrics_init(const char *version, const char *id);
void cs_metrics_free(void);

/* a type's counters, made the first time it is named (NULL: no memory) */
cs_metrics_type_t *cs_metrics_type(const char *name);
/* every type's gauges to 0: a collector then counts them again */
void cs_metrics_types_clear(void);

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
void cs_metrics_retention(long campaigns, long recipients);
void cs_metrics_wheel(uint64_t timers);

void cs_metrics_collector(cs_metrics_collect_pt collect, void *data);

/* the whole text, into p */
void cs_metrics_write(cs_prom_t *p);

#endif
