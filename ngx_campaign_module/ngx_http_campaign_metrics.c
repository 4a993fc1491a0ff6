
/*
 * Metrics in Prometheus's text format, summed over all workers through a
 * shared-memory zone (as stub_status does): requests by route and status,
 * their duration, the pools' connections by state and the wait for one,
 * database errors, the key cache; and the service's campaign gauges, read
 * by one worker with one query at most every 5 s and kept in the zone as
 * text. Counting is a few atomic additions; /metrics needs no key (allow
 * and deny restrict it, as for stub_status).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <signal.h>

#include "ngx_http_campaign_module.h"
#include "prom.h"


#define NGX_HTTP_CAMPAIGN_M_ROUTES    32
#define NGX_HTTP_CAMPAIGN_M_WORKERS   64
#define NGX_HTTP_CAMPAIGN_M_GAUGES    (128 * 1024)
#define NGX_HTTP_CAMPAIGN_M_REFRESH   5000    /* ms the gauges are kept */
#define NGX_HTTP_CAMPAIGN_M_BUCKETS   (CS_PROM_MAX_BUCKETS + 1)

/* the routes' own, then these two */
#define NGX_HTTP_CAMPAIGN_M_NONE      (NGX_HTTP_CAMPAIGN_M_ROUTES - 2)
#define NGX_HTTP_CAMPAIGN_M_METRICS   (NGX_HTTP_CAMPAIGN_M_ROUTES - 1)


static const ngx_uint_t  ngx_http_campaign_m_codes[] = {
    200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 412, 413, 415,
    422, 429, 499, 500, 502, 503, 504
};
#define NGX_HTTP_CAMPAIGN_M_NCODES                                            \
    (sizeof(ngx_http_campaign_m_codes) / sizeof(ngx_uint_t))

static const char  *ngx_http_campaign_m_states[] = {
    "closed", "connecting", "idle", "busy"
};

static const char  *ngx_http_campaign_m_errors[] = {
    "connect", "lost", "timeout", "no_connection", "passing", "internal"
};


typedef struct {
    ngx_atomic_t    pid;            /* the worker's, 0: free */
    ngx_atomic_t    conns[NGX_HTTP_CAMPAIGN_M_STATES];
    ngx_atomic_t    waiting;        /* queries waiting for a connection */
} ngx_http_campaign_m_worker_t;


typedef struct {
    ngx_atomic_t                   requests[NGX_HTTP_CAMPAIGN_M_ROUTES]
                                       [NGX_HTTP_CAMPAIGN_M_NCODES + 1];
    ngx_atomic_t                   duration[NGX_HTTP_CAMPAIGN_M_ROUTES]
                                       [NGX_HTTP_CAMPAIGN_M_BUCKETS];
    ngx_atomic_t                   duration_ms[NGX_HTTP_CAMPAIGN_M_ROUTES];
    ngx_atomic_t                   wait[NGX_HTTP_CAMPAIGN_M_BUCKETS];
    ngx_atomic_t                   wait_ms;
    ngx_atomic_t                   errors[NGX_HTTP_CAMPAIGN_M_ERRORS];
    ngx_atomic_t                   key_hits;
    ngx_atomic_t                   key_misses;
    ngx_http_campaign_m_worker_t   workers[NGX_HTTP_CAMPAIGN_M_WORKERS];
    ngx_atomic_t                   refreshes;   /* gauge queries run */
    ngx_atomic_t                   refreshing;  /* ngx_current_msec it began
                                                 * (+1: never 0), 0: not */
    ngx_atomic_t                   gauges_mono; /* ngx_current_msec of the
                                                 * text (+1), 0: none */
    ngx_atomic_t                   gauges_at;   /* wall-clock ms of it */
    size_t                         gauges_len;
    u_char                         gauges[NGX_HTTP_CAMPAIGN_M_GAUGES];
} ngx_http_campaign_shm_t;


static ngx_http_campaign_shm_t       *ngx_http_campaign_shm;
static ngx_shmtx_t                   *ngx_http_campaign_shm_mutex;
static ngx_http_campaign_m_worker_t  *ngx_http_campaign_m_me;


static ngx_int_t ngx_http_campaign_metrics_zone_init(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_campaign_metrics_refreshed(ngx_http_campaign_query_t *q,
    PGresult *res, PGresult *err);
static ngx_int_t ngx_http_campaign_metrics_send(ngx_http_request_t *r);


/* wall-clock ms, as every worker sees it */
static ngx_msec_t
ngx_http_campaign_m_now(void)
{
    ngx_time_t  *tp = ngx_timeofday();

    return (ngx_msec_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_http_campaign_metrics_zone(ngx_conf_t *cf)
{
    ngx_str_t        name = ngx_string("campaign_metrics");
    ngx_shm_zone_t  *zone;

    /* a slab pool, as nginx makes every zone: what it needs, and room
     * for the slab's own pages */
    zone = ngx_shared_memory_add(cf, &name,
                   ngx_align(sizeof(ngx_http_campaign_shm_t), ngx_pagesize)
                   + 16 * ngx_pagesize, &ngx_http_campaign_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }
    zone->init = ngx_http_campaign_metrics_zone_init;
    return NGX_OK;
}


/* A reload keeps the zone, and with it every counter. */
static ngx_int_t
ngx_http_campaign_metrics_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t          *sp;
    ngx_http_campaign_shm_t  *sh;

    sp = (ngx_slab_pool_t *) zone->shm.addr;

    if (data != NULL) {
        sh = data;

    } else if (zone->shm.exists) {
        sh = sp->data;

    } else {
        sh = ngx_slab_calloc(sp, sizeof(ngx_http_campaign_shm_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }
        sp->data = sh;
    }

    zone->data = sh;
    ngx_http_campaign_shm = sh;
    ngx_http_campaign_shm_mutex = &sp->mutex;
    return NGX_OK;
}


/*
 * A worker's slot for its pool's gauges: a free one, or one whose worker
 * is gone (killed, or crashed). An old worker still draining after a
 * reload keeps its own.
 */
void
ngx_http_campaign_metrics_worker(ngx_uint_t pool_size)
{
    ngx_uint_t                     i, j;
    ngx_atomic_uint_t              pid;
    ngx_http_campaign_m_worker_t  *w;

    /* the cache manager and loader have no pool to show */
    if (ngx_http_campaign_shm == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return;
    }

    for (i = 0; i < NGX_HTTP_CAMPAIGN_M_WORKERS; i++) {
        w = &ngx_http_campaign_shm->workers[i];
        pid = w->pid;
        if ((pid == 0 || (kill((pid_t) pid, 0) == -1 && ngx_errno == ESRCH))
            && ngx_atomic_cmp_set(&w->pid, pid, (ngx_atomic_uint_t) ngx_pid))
        {
            for (j = 0; j < NGX_HTTP_CAMPAIGN_M_STATES; j++) {
                w->conns[j] = 0;
            }
            w->conns[NGX_HTTP_CAMPAIGN_M_CLOSED] = pool_size;
            w->waiting = 0;
            ngx_http_campaign_m_me = w;
            return;
        }
    }
    /* more than 64 workers: the others' pools are not shown */
}


void
ngx_http_campaign_metrics_worker_exit(void)
{
    ngx_http_campaign_m_worker_t  *w = ngx_http_campaign_m_me;

    if (w != NULL) {
        ngx_http_campaign_m_me = NULL;
        (void) ngx_atomic_cmp_set(&w->pid, (ngx_atomic_uint_t) ngx_pid, 0);
    }
}


void
ngx_http_campaign_metrics_conn(ngx_uint_t from, ngx_uint_t to)
{
    ngx_http_campaign_m_worker_t  *w = ngx_http_campaign_m_me;

    if (w != NULL && from != to) {
        w->conns[from]--;
        w->conns[to]++;
    }
}


void
ngx_http_campaign_metrics_waiting(ngx_uint_t n)
{
    if (ngx_http_campaign_m_me != NULL) {
        ngx_http_campaign_m_me->waiting = n;
    }
}


void
ngx_http_campaign_metrics_wait(ngx_msec_t ms)
{
    ngx_http_campaign_shm_t  *sh = ngx_http_campaign_shm;

    if (sh != NULL) {
        (void) ngx_atomic_fetch_add(
                   &sh->wait[cs_prom_bucket(&cs_prom_seconds, ms / 1000.0)],
                   1);
        (void) ngx_atomic_fetch_add(&sh->wait_ms, ms);
    }
}


void
ngx_http_campaign_metrics_error(ngx_uint_t kind)
{
    if (ngx_http_campaign_shm != NULL && kind < NGX_HTTP_CAMPAIGN_M_ERRORS) {
        (void) ngx_atomic_fetch_add(&ngx_http_campaign_shm->errors[kind], 1);
    }
}


void
ngx_http_campaign_metrics_key(ngx_flag_t hit)
{
    if (ngx_http_campaign_shm != NULL) {
        (void) ngx_atomic_fetch_add(hit ? &ngx_http_campaign_shm->key_hits
                                        : &ngx_http_campaign_shm->key_misses,
                                    1);
    }
}


/* The log phase: every request of a campaign location, once. */
ngx_int_t
ngx_http_campaign_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                     route, code, i, status;
    ngx_msec_int_t                 ms;
    ngx_time_t                    *tp;
    ngx_http_campaign_ctx_t       *ctx;
    ngx_http_campaign_shm_t       *sh = ngx_http_campaign_shm;
    ngx_http_campaign_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);
    if (sh == NULL || clcf == NULL || !(clcf->enabled || clcf->metrics)) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_campaign_module);
    if (clcf->metrics) {
        route = NGX_HTTP_CAMPAIGN_M_METRICS;
    } else if (ctx != NULL && ctx->route != NULL) {
        route = ctx->route - ngx_http_campaign_routes;
    } else {
        route = NGX_HTTP_CAMPAIGN_M_NONE;
    }
    if (route >= NGX_HTTP_CAMPAIGN_M_NONE && route != NGX_HTTP_CAMPAIGN_M_METRICS)
    {
        route = NGX_HTTP_CAMPAIGN_M_NONE;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;
    code = NGX_HTTP_CAMPAIGN_M_NCODES;
    for (i = 0; i < NGX_HTTP_CAMPAIGN_M_NCODES; i++) {
        if (ngx_http_campaign_m_codes[i] == status) {
            code = i;
            break;
        }
    }

    /* nginx's cached time: millisecond resolution */
    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    (void) ngx_atomic_fetch_add(&sh->requests[route][code], 1);
    (void) ngx_atomic_fetch_add(
             &sh->duration[route][cs_prom_bucket(&cs_prom_seconds,
                                                 ms / 1000.0)], 1);
    (void) ngx_atomic_fetch_add(&sh->duration_ms[route], ms);

    return NGX_OK;
}


static const char *
ngx_http_campaign_m_route_name(ngx_uint_t i)
{
    if (i == NGX_HTTP_CAMPAIGN_M_METRICS) {
        return "metrics";
    }
    if (i == NGX_HTTP_CAMPAIGN_M_NONE) {
        return "none";
    }
    return ngx_http_campaign_routes[i].name;
}


/* the counts of n atomics, as a histogram takes them */
static void
ngx_http_campaign_m_counts(ngx_atomic_t *a, uint64_t *counts, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        counts[i] = a[i];
    }
}


/* a slot whose worker is alive (a killed one's waits for a successor) */
static ngx_flag_t
ngx_http_campaign_m_alive(ngx_http_campaign_m_worker_t *w)
{
    ngx_atomic_uint_t  pid = w->pid;

    return pid != 0 && !(kill((pid_t) pid, 0) == -1 && ngx_errno == ESRCH);
}


static void
ngx_http_campaign_m_write(cs_prom_t *p)
{
    char                      code[NGX_INT_T_LEN + 1];
    uint64_t                  counts[NGX_HTTP_CAMPAIGN_M_BUCKETS];
    ngx_flag_t                alive[NGX_HTTP_CAMPAIGN_M_WORKERS];
    ngx_uint_t                i, j, nroutes, sum;
    ngx_http_campaign_shm_t  *sh = ngx_http_campaign_shm;

    for (nroutes = 0; ngx_http_campaign_routes[nroutes].name; nroutes++) {
        /* void */
    }

    cs_prom_family(p, "campaign_http_requests_total", "counter",
                   "Requests to the API's locations, by route and status.");
    for (i = 0; i < NGX_HTTP_CAMPAIGN_M_ROUTES; i++) {
        if (i >= nroutes && i < NGX_HTTP_CAMPAIGN_M_NONE) {
            continue;
        }
        for (j = 0; j <= NGX_HTTP_CAMPAIGN_M_NCODES; j++) {
            if (sh->requests[i][j] == 0) {
                continue;
            }
            if (j < NGX_HTTP_CAMPAIGN_M_NCODES) {
                *ngx_sprintf((u_char *) code, "%ui",
                             ngx_http_campaign_m_codes[j]) = '\0';
            }
            cs_prom_value(p, "campaign_http_requests_total",
                          (double) sh->requests[i][j], 2,
                          "route", ngx_http_campaign_m_route_name(i),
                          "code", j < NGX_HTTP_CAMPAIGN_M_NCODES
                                  ? code : "other");
        }
    }

    cs_prom_family(p, "campaign_http_request_duration_seconds", "histogram",
                   "From a request's first byte to its log line, by route "
                   "(nginx's millisecond clock).");
    for (i = 0; i < NGX_HTTP_CAMPAIGN_M_ROUTES; i++) {
        if (i >= nroutes && i < NGX_HTTP_CAMPAIGN_M_NONE) {
            continue;
        }
        ngx_http_campaign_m_counts(sh->duration[i], counts,
                                   cs_prom_seconds.n + 1);
        for (j = 0, sum = 0; j <= cs_prom_seconds.n; j++) {
            sum += counts[j];
        }
        if (sum == 0) {
            continue;
        }
        cs_prom_histogram(p, "campaign_http_request_duration_seconds",
                          &cs_prom_seconds, counts,
                          sh->duration_ms[i] / 1000.0, 1, "route",
                          ngx_http_campaign_m_route_name(i));
    }

    for (i = 0; i < NGX_HTTP_CAMPAIGN_M_WORKERS; i++) {
        alive[i] = ngx_http_campaign_m_alive(&sh->workers[i]);
    }

    cs_prom_family(p, "campaign_db_connections", "gauge",
                   "The workers' Postgres connections, by state.");
    for (j = 0; j < NGX_HTTP_CAMPAIGN_M_STATES; j++) {
        for (i = 0, sum = 0; i < NGX_HTTP_CAMPAIGN_M_WORKERS; i++) {
            if (alive[i]) {
                sum += sh->workers[i].conns[j];
            }
        }
        cs_prom_value(p, "campaign_db_connections", (double) sum, 1,
                      "state", ngx_http_campaign_m_states[j]);
    }

    cs_prom_family(p, "campaign_db_queries_waiting", "gauge",
                   "Queries waiting for a pool connection, all workers.");
    for (i = 0, sum = 0; i < NGX_HTTP_CAMPAIGN_M_WORKERS; i++) {
        if (alive[i]) {
            sum += sh->workers[i].waiting;
        }
    }
    cs_prom_value(p, "campaign_db_queries_waiting", (double) sum, 0);

    cs_prom_family(p, "campaign_db_pool_wait_seconds", "histogram",
                   "Time a query waited for a pool connection.");
    ngx_http_campaign_m_counts(sh->wait, counts, cs_prom_seconds.n + 1);
    cs_prom_histogram(p, "campaign_db_pool_wait_seconds", &cs_prom_seconds,
                      counts, sh->wait_ms / 1000.0, 0);

    cs_prom_family(p, "campaign_db_errors_total", "counter",
                   "Database failures, by kind.");
    for (i = 0; i < NGX_HTTP_CAMPAIGN_M_ERRORS; i++) {
        cs_prom_value(p, "campaign_db_errors_total", (double) sh->errors[i],
                      1, "kind", ngx_http_campaign_m_errors[i]);
    }

    cs_prom_family(p, "campaign_key_cache_hits_total", "counter",
                   "API keys whose tenant a worker knew.");
    cs_prom_value(p, "campaign_key_cache_hits_total", (double) sh->key_hits,
                  0);
    cs_prom_family(p, "campaign_key_cache_misses_total", "counter",
                   "API keys a worker had to ask Postgres about.");
    cs_prom_value(p, "campaign_key_cache_misses_total",
                  (double) sh->key_misses, 0);

    cs_prom_family(p, "campaign_gauges_queries_total", "counter",
                   "Reads of the campaign gauges from Postgres (one per 5 s "
                   "at most, however often /metrics is asked).");
    cs_prom_value(p, "campaign_gauges_queries_total",
                  (double) sh->refreshes, 0);
    cs_prom_family(p, "campaign_gauges_timestamp_seconds", "gauge",
                   "When the campaign gauges below were read (0: never).");
    cs_prom_value(p, "campaign_gauges_timestamp_seconds",
                  sh->gauges_at / 1000.0, 0);
}


/* ------------------------------------------------------------ gauges */


/* The rows of campaign.metrics_gauges() as exposition text. */
static void
ngx_http_campaign_m_gauges(cs_prom_t *p, PGresult *res)
{
    int          i, n;
    ngx_uint_t   f;

    static const struct {
        const char  *metric;
        const char  *name;
        const char  *help;
        const char  *label;
        const char  *label2;
    } families[] = {
        { "campaigns", "campaign_campaigns",
          "Campaigns of the whole service, by type and status.",
          "type", "status" },
        { "pool_limit", "campaign_pool_limit",
          "Campaigns a pool may run at once.", "pool", NULL },
        { "pool_running", "campaign_pool_running",
          "Campaigns running in a pool, holding a slot.", "pool", NULL },
        { "pool_waiting", "campaign_pool_waiting",
          "Campaigns running in a pool but outside their send window, "
          "holding no slot.", "pool", NULL },
        { "pool_queued", "campaign_pool_queued",
          "Campaigns due and waiting for a slot of a pool.", "pool", NULL },
        { "scheduler_seen", "campaign_schedulers_last_seen_timestamp_seconds",
          "When each scheduler seen within the hour last beat.",
          "scheduler", NULL }
    };

    n = PQntuples(res);
    for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        cs_prom_family(p, families[f].name, "gauge", families[f].help);
        for (i = 0; i < n; i++) {
            if (ngx_strcmp(PQgetvalue(res, i, 0), families[f].metric) != 0) {
                continue;
            }
            cs_prom_value(p, families[f].name,
                          strtod(PQgetvalue(res, i, 3), NULL), 2,
                          families[f].label, PQgetvalue(res, i, 1),
                          families[f].label2 ? families[f].label2 : "",
                          families[f].label2 ? PQgetvalue(res, i, 2) : NULL);
        }
    }
}


/*
 * 1 if this request refreshes the gauges (its answer waits for them), 0
 * if the cached text is fresh or another worker is reading it already.
 */
static ngx_int_t
ngx_http_campaign_m_refresh(ngx_http_request_t *r)
{
    ngx_msec_t                      now, began;
    ngx_http_campaign_query_t      *q;
    ngx_http_campaign_shm_t        *sh = ngx_http_campaign_shm;
    ngx_http_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);
    if (cmcf->pool == NULL) {
        return 0;                   /* no campaign_database */
    }

    /* CLOCK_MONOTONIC, the same in every worker: a step of the wall
     * clock neither stops the cache nor stops refreshes */
    now = ngx_current_msec + 1;
    if (sh->gauges_mono != 0
        && now - sh->gauges_mono < NGX_HTTP_CAMPAIGN_M_REFRESH)
    {
        return 0;
    }

    /* one worker at a time; one that died reading them is forgotten */
    began = sh->refreshing;
    if (began != 0 && now - began < 2 * cmcf->timeout) {
        return 0;
    }
    if (!ngx_atomic_cmp_set(&sh->refreshing, began, now)) {
        return 0;
    }

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_campaign_query_t));
    if (q == NULL) {
        sh->refreshing = 0;
        return 0;
    }
    q->sql = NGX_HTTP_CAMPAIGN_SQL_METRICS;
    q->unprepared = 1;
    q->nparams = 0;
    q->pool = cmcf->pool;
    q->handler = ngx_http_campaign_metrics_refreshed;
    q->data = r;
    q->timer.log = r->connection->log;

    (void) ngx_atomic_fetch_add(&sh->refreshes, 1);
    /* this location's context is its query (campaign_api's is its own) */
    ngx_http_set_ctx(r, q, ngx_http_campaign_module);
    ngx_http_campaign_pg_query(q);
    return 1;
}


static void
ngx_http_campaign_metrics_refreshed(ngx_http_campaign_query_t *q,
    PGresult *res, PGresult *err)
{
    cs_prom_t                 p;
    ngx_connection_t         *c;
    ngx_http_request_t       *r = q->data;
    ngx_http_campaign_shm_t  *sh = ngx_http_campaign_shm;

    c = r->connection;
    ngx_http_set_ctx(r, NULL, ngx_http_campaign_module);

    if (res != NULL) {
        cs_prom_init(&p);
        ngx_http_campaign_m_gauges(&p, res);

        if (!p.failed && p.len <= NGX_HTTP_CAMPAIGN_M_GAUGES) {
            ngx_shmtx_lock(ngx_http_campaign_shm_mutex);
            ngx_memcpy(sh->gauges, p.data, p.len);
            sh->gauges_len = p.len;
            sh->gauges_at = ngx_http_campaign_m_now();
            sh->gauges_mono = ngx_current_msec + 1;
            ngx_shmtx_unlock(ngx_http_campaign_shm_mutex);
        } else {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "campaign: metrics gauges of %uz bytes not kept",
                          p.len);
        }
        cs_prom_free(&p);

    } else {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "campaign: metrics gauges not read: %s",
                      err ? PQresultErrorMessage(err) : "no connection");
    }

    sh->refreshing = 0;

    ngx_http_finalize_request(r, ngx_http_campaign_metrics_send(r));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_campaign_metrics_abort(void *data)
{
    ngx_http_request_t         *r = data;
    ngx_http_campaign_query_t  *q;

    q = ngx_http_get_module_ctx(r, ngx_http_campaign_module);
    if (q != NULL) {
        ngx_http_campaign_pg_query_abort(q);
        ngx_http_campaign_shm->refreshing = 0;
    }
}


/* ----------------------------------------------------------- handler */


static ngx_int_t
ngx_http_campaign_metrics_send(ngx_http_request_t *r)
{
    u_char                   *data;
    size_t                    len;
    cs_prom_t                 p;
    ngx_str_t                 text;
    ngx_http_campaign_shm_t  *sh = ngx_http_campaign_shm;

    static ngx_str_t  type = ngx_string(CS_PROM_CONTENT_TYPE);

    cs_prom_init(&p);
    ngx_http_campaign_m_write(&p);
    if (p.failed) {
        cs_prom_free(&p);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_shmtx_lock(ngx_http_campaign_shm_mutex);
    len = p.len + sh->gauges_len;
    data = ngx_pnalloc(r->pool, len + 1);
    if (data != NULL) {
        ngx_memcpy(data, p.data, p.len);
        ngx_memcpy(data + p.len, sh->gauges, sh->gauges_len);
    }
    ngx_shmtx_unlock(ngx_http_campaign_shm_mutex);
    cs_prom_free(&p);

    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text.data = data;
    text.len = len;

    return ngx_http_campaign_send_as(r, NGX_HTTP_OK, &type, &text);
}


ngx_int_t
ngx_http_campaign_metrics_handler(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    static ngx_str_t  allow = ngx_string("GET, HEAD");

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        if (ngx_http_discard_request_body(r) != NGX_OK
            || ngx_http_campaign_add_header(r, "Allow", &allow) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return ngx_http_campaign_send_error(r,
                                            NGX_HTTP_CAMPAIGN_ERR_METHOD, 0);
    }
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ngx_http_campaign_shm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the reference the query holds until it finalizes the request */
    r->main->count++;
    if (ngx_http_campaign_m_refresh(r)) {
        cln->handler = ngx_http_campaign_metrics_abort;
        cln->data = r;
        return NGX_DONE;
    }
    r->main->count--;

    return ngx_http_campaign_metrics_send(r);
}
