#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

#define CS_MAX_QUERY_KINDS  32

typedef struct {
    char        kind[48];
    cs_hist_t   hist;
} cs_query_kind_t;

typedef struct {
    char        name[16];
    uint64_t    reconnects;
} cs_conn_metrics_t;

static struct {
    char                  version[32];
    char                 *id;
    double                started;          /* wall clock, seconds */
    cs_metrics_type_t    *types;
    cs_query_kind_t       queries[CS_MAX_QUERY_KINDS];
    size_t                nqueries;
    cs_conn_metrics_t     conns[4];
    size_t                nconns;
    uint64_t              takeovers;
    uint64_t              batches;
    cs_hist_t             batch_rows;
    uint64_t              heartbeat_ms;     /* wall clock, 0: none yet */
    uint64_t              retained_campaigns;
    uint64_t              retained_recipients;
    uint64_t              retained_events;
    uint64_t              wheel;
} m;

/* entries are filled, then published (release) to the writer's thread */
#define PUBLISH(x, v)  __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define READ(x)        __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

/* a result batch's rows: up to the largest batch (CS_RESULTS_BATCH) */
static const double  rows_le[] = { 1, 2, 5, 10, 25, 50, 100, 128, 200, 256 };
static const cs_prom_buckets_t  rows = {
    rows_le, sizeof(rows_le) / sizeof(rows_le[0])
};


static double
wall_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}


void
cs_metrics_init(const char *version, const char *id)
{
    snprintf(m.version, sizeof(m.version), "%s", version);
    free(m.id);
    m.id = strdup(id ? id : "");
    if (m.started == 0) {
        m.started = wall_now();
    }
}


void
cs_metrics_free(void)
{
    cs_metrics_type_t  *t;

    while ((t = m.types) != NULL) {
        m.types = t->next;
        free(t);
    }
    free(m.id);
    memset(&m, 0, sizeof(m));
}


cs_metrics_type_t *
cs_metrics_type(const char *name)
{
    cs_metrics_type_t  *t, **last = &m.types;

    for (t = m.types; t; t = t->next) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
        last = &t->next;
    }

    /* types come from the file (at most CS_MAX_TYPES of them) and from
     * running campaigns' rows: a handful */
    t = calloc(1, sizeof(cs_metrics_type_t));
    if (t == NULL) {
        return NULL;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    PUBLISH(*last, t);
    return t;
}


void
cs_hist_observe(cs_hist_t *h, const cs_prom_buckets_t *b, double v)
{
    CS_METRIC_ADD(h->counts[cs_prom_bucket(b, v)], 1);
    CS_METRIC_ADD(h->sum_us, (uint64_t) (v > 0 ? v * 1e6 : 0));
}


/* "SELECT ... campaign.scheduler_tick($1, $2)": scheduler_tick */
static void
query_kind(const char *sql, char *kind, size_t size)
{
    size_t       n = 0;
    const char  *p = strstr(sql, "campaign.");

    if (p == NULL) {
        snprintf(kind, size, "other");
        return;
    }
    for (p += sizeof("campaign.") - 1;
         n + 1 < size && ((*p >= 'a' && *p <= 'z') || *p == '_');
         p++)
    {
        kind[n++] = *p;
    }
    kind[n] = '\0';
}


int
cs_metrics_query_kind(const char *sql)
{
    size_t  i;
    char    kind[48];

    query_kind(sql, kind, sizeof(kind));
    for (i = 0; i < m.nqueries; i++) {
        if (strcmp(m.queries[i].kind, kind) == 0) {
            return (int) i;
        }
    }
    if (m.nqueries == CS_MAX_QUERY_KINDS) {
        return -1;                  /* the statements are the code's own */
    }
    snprintf(m.queries[i].kind, sizeof(m.queries[i].kind), "%s", kind);
    PUBLISH(m.nqueries, i + 1);
    return (int) i;
}


void
cs_metrics_query(int kind, double seconds)
{
    if (kind >= 0 && (size_t) kind < m.nqueries) {
        cs_hist_observe(&m.queries[kind].hist, &cs_prom_seconds, seconds);
    }
}


void
cs_metrics_connected(const char *name, int again)
{
    size_t  i;

    for (i = 0; i < m.nconns; i++) {
        if (strcmp(m.conns[i].name, name) == 0) {
            break;
        }
    }
    if (i == m.nconns) {
        if (m.nconns == sizeof(m.conns) / sizeof(m.conns[0])) {
            return;
        }
        snprintf(m.conns[i].name, sizeof(m.conns[i].name), "%s", name);
        PUBLISH(m.nconns, i + 1);
    }
    if (again) {
        CS_METRIC_ADD(m.conns[i].reconnects, 1);
    }
}


void
cs_metrics_takeovers(long n)
{
    CS_METRIC_ADD(m.takeovers, (uint64_t) n);
}


void
cs_metrics_batch(size_t n)
{
    CS_METRIC_ADD(m.batches, 1);
    cs_hist_observe(&m.batch_rows, &rows, (double) n);
}


void
cs_metrics_heartbeat(void)
{
    __atomic_store_n(&m.heartbeat_ms, (uint64_t) (wall_now() * 1000),
                     __ATOMIC_RELAXED);
}


void
cs_metrics_retention(long campaigns, long recipients, long events)
{
    CS_METRIC_ADD(m.retained_campaigns, (uint64_t) campaigns);
    CS_METRIC_ADD(m.retained_recipients, (uint64_t) recipients);
    CS_METRIC_ADD(m.retained_events, (uint64_t) events);
}


void
cs_metrics_wheel(uint64_t timers)
{
    __atomic_store_n(&m.wheel, timers, __ATOMIC_RELAXED);
}


#define FAMILY(p, name, type, help)                                           \
    cs_prom_family(p, "campaign_scheduler_" name, type, help)
#define NAME(name)  "campaign_scheduler_" name
#define N(x)        ((double) CS_METRIC_GET(x))


/* a histogram's counts and sum, loaded */
static void
hist_write(cs_prom_t *p, const char *name, const cs_prom_buckets_t *b,
    cs_hist_t *h, const char *label, const char *value)
{
    size_t    i;
    uint64_t  counts[CS_PROM_MAX_BUCKETS + 1];

    for (i = 0; i <= b->n; i++) {
        counts[i] = CS_METRIC_GET(h->counts[i]);
    }
    cs_prom_histogram(p, name, b, counts, N(h->sum_us) / 1e6, label ? 1 : 0,
                      label, value);
}


void
cs_metrics_write(cs_prom_t *p)
{
    size_t              i, nq, nc;
    cs_metrics_type_t  *t, *types = READ(m.types);

#define TYPES(t)  for (t = types; t; t = READ(t->next))

    FAMILY(p, "build_info", "gauge",
           "The scheduler's version and id; always 1.");
    cs_prom_value(p, NAME("build_info"), 1, 2, "version", m.version,
                  "id", m.id);
    FAMILY(p, "start_time_seconds", "gauge",
           "When the process started, in seconds since the epoch.");
    cs_prom_value(p, NAME("start_time_seconds"), m.started, 0);
    FAMILY(p, "heartbeat_timestamp_seconds", "gauge",
           "When the scheduler last recorded its heartbeat in Postgres "
           "(0: not yet).");
    cs_prom_value(p, NAME("heartbeat_timestamp_seconds"),
                  N(m.heartbeat_ms) / 1000, 0);

    FAMILY(p, "deliveries_total", "counter",
           "Provider requests answered, by type and result.");
    TYPES(t) {
        cs_prom_value(p, NAME("deliveries_total"), N(t->sent), 2,
                      "type", t->name, "result", "sent");
        cs_prom_value(p, NAME("deliveries_total"), N(t->retried), 2,
                      "type", t->name, "result", "retried");
        cs_prom_value(p, NAME("deliveries_total"), N(t->failed), 2,
                      "type", t->name, "result", "failed");
    }

    FAMILY(p, "delivery_duration_seconds", "histogram",
           "Time from a provider request's start to its answer, by type.");
    TYPES(t) {
        hist_write(p, NAME("delivery_duration_seconds"), &cs_prom_seconds,
                   &t->duration, "type", t->name);
    }

    FAMILY(p, "start_lateness_seconds", "histogram",
           "Campaigns started by this scheduler: started_at minus "
           "scheduled_at (or minus when it became due), by type.");
    TYPES(t) {
        hist_write(p, NAME("start_lateness_seconds"), &cs_prom_lateness,
                   &t->lateness, "type", t->name);
    }

    FAMILY(p, "jobs_running", "gauge",
           "Running campaigns this scheduler delivers, by type.");
    TYPES(t) {
        cs_prom_value(p, NAME("jobs_running"), N(t->jobs), 1, "type",
                      t->name);
    }
    FAMILY(p, "requests_in_flight", "gauge",
           "Provider requests sent and not yet answered, by type.");
    TYPES(t) {
        cs_prom_value(p, NAME("requests_in_flight"), N(t->in_flight), 1,
                      "type", t->name);
    }
    FAMILY(p, "rate_wait_seconds_total", "counter",
           "Time jobs waited for their type's rate to allow more, by type.");
    TYPES(t) {
        cs_prom_value(p, NAME("rate_wait_seconds_total"),
                      N(t->rate_wait_us) / 1e6, 1, "type", t->name);
    }

    FAMILY(p, "db_query_duration_seconds", "histogram",
           "Round trip of a query to Postgres, by the function it calls.");
    nq = READ(m.nqueries);
    for (i = 0; i < nq; i++) {
        hist_write(p, NAME("db_query_duration_seconds"), &cs_prom_seconds,
                   &m.queries[i].hist, "query", m.queries[i].kind);
    }
    FAMILY(p, "db_reconnects_total", "counter",
           "Connections to Postgres made again after the first, by "
           "connection.");
    nc = READ(m.nconns);
    for (i = 0; i < nc; i++) {
        cs_prom_value(p, NAME("db_reconnects_total"),
                      N(m.conns[i].reconnects), 1, "connection",
                      m.conns[i].name);
    }

    FAMILY(p, "leases_taken_over_total", "counter",
           "Running campaigns this scheduler took from another.");
    cs_prom_value(p, NAME("leases_taken_over_total"), N(m.takeovers), 0);
    FAMILY(p, "result_batches_total", "counter",
           "Batches of delivery results committed to Postgres.");
    cs_prom_value(p, NAME("result_batches_total"), N(m.batches), 0);
    FAMILY(p, "result_batch_rows", "histogram",
           "Results per committed batch.");
    hist_write(p, NAME("result_batch_rows"), &rows, &m.batch_rows, NULL,
               NULL);

    FAMILY(p, "wheel_timers", "gauge",
           "Campaigns due within the horizon, waiting in the timing wheel.");
    cs_prom_value(p, NAME("wheel_timers"), N(m.wheel), 0);

    FAMILY(p, "retention_deleted_campaigns_total", "counter",
           "Finished campaigns deleted by the retention directive.");
    cs_prom_value(p, NAME("retention_deleted_campaigns_total"),
                  N(m.retained_campaigns), 0);
    FAMILY(p, "retention_deleted_recipients_total", "counter",
           "Recipients deleted with those campaigns.");
    cs_prom_value(p, NAME("retention_deleted_recipients_total"),
                  N(m.retained_recipients), 0);
    FAMILY(p, "retention_deleted_events_total", "counter",
           "Events of campaigns deleted longer ago than the retention.");
    cs_prom_value(p, NAME("retention_deleted_events_total"),
                  N(m.retained_events), 0);

#undef TYPES
}
