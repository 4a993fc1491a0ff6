#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "log.h"
#include "metrics.h"
#include "results.h"

#define CS_RESULTS_BATCH    256     /* results worth a write of their own */
#define CS_RESULTS_WAIT     50      /* ms a smaller batch waits at most */
#define CS_RESULTS_RETRY    100     /* ms before a refused batch again */
#define CS_RESULTS_RETRY_MAX 30000  /* ms, at most, between tries */

typedef struct {
    void      *job;
    char       campaign[37];
    char       recipient[37];
    char       outcome[8];
    char      *provider_id;
    char      *error;
    uint64_t   retry_ms;
} cs_result_t;

typedef struct cs_batch_s cs_batch_t;

struct cs_batch_s {
    cs_batch_t   *next;
    cs_result_t  *items;
    size_t        n;
    int           tries;            /* refused writes of it as it is */
    int           internal;         /* a refused row: 1 without what the
                                     * provider said, 2 recorded failed */
    uint64_t      due;              /* not before (monotonic ms) */
};

struct cs_results_s {
    cs_timer_t               timer;     /* first: when a write is due */
    cs_timers_t             *timers;
    cs_result_t             *open;      /* the batch being filled */
    size_t                   nopen;
    size_t                   cap;
    uint64_t                 open_since;
    cs_batch_t              *queue;     /* to write: lost, refused, split */
    cs_batch_t              *writing;
    size_t                   pending;
    cs_results_committed_pt  committed;
    void                    *owner;
    void                   (*wake)(void *data);
    void                    *data;
};


static void
result_clear(cs_result_t *res)
{
    free(res->provider_id);
    free(res->error);
}


static void
batch_free(cs_batch_t *b)
{
    size_t  i;

    for (i = 0; i < b->n; i++) {
        result_clear(&b->items[i]);
    }
    free(b->items);
    free(b);
}


static void
results_due(cs_timer_t *t)
{
    cs_results_t  *r = (cs_results_t *) t;

    r->wake(r->data);
}


cs_results_t *
cs_results_create(cs_timers_t *timers, cs_results_committed_pt committed,
    void *owner, void (*wake)(void *data), void *data)
{
    cs_results_t  *r;

    r = calloc(1, sizeof(cs_results_t));
    if (r == NULL) {
        return NULL;
    }

    r->timers = timers;
    r->committed = committed;
    r->owner = owner;
    r->wake = wake;
    r->data = data;
    cs_timer_init(&r->timer);
    r->timer.handler = results_due;

    return r;
}


void
cs_results_free(cs_results_t *r)
{
    size_t       i;
    cs_batch_t  *b;

    cs_timers_del(r->timers, &r->timer);
    for (i = 0; i < r->nopen; i++) {
        result_clear(&r->open[i]);
    }
    free(r->open);
    while ((b = r->queue) != NULL) {
        r->queue = b->next;
        batch_free(b);
    }
    if (r->writing) {
        batch_free(r->writing);
    }
    free(r);
}


size_t
cs_results_pending(const cs_results_t *r)
{
    return r->pending;
}


int
cs_results_add(cs_results_t *r, void *job, const char *campaign,
    const char *recipient, const char *outcome, const char *provider_id,
    const char *error, uint64_t retry_ms)
{
    size_t        cap;
    cs_result_t  *res, *p;

    if (r->nopen == r->cap) {
        cap = r->cap ? r->cap * 2 : CS_RESULTS_BATCH;
        p = realloc(r->open, cap * sizeof(cs_result_t));
        if (p == NULL) {
            log_error("event=out_of_memory where=results");
            return -1;
        }
        r->open = p;
        r->cap = cap;
    }

    if (r->nopen == 0) {
        r->open_since = cs_mono_ms();
    }

    res = &r->open[r->nopen];
    memset(res, 0, sizeof(*res));
    res->job = job;
    snprintf(res->campaign, sizeof(res->campaign), "%s", campaign);
    snprintf(res->recipient, sizeof(res->recipient), "%s", recipient);
    snprintf(res->outcome, sizeof(res->outcome), "%s", outcome);
    res->provider_id = provider_id ? strdup(provider_id) : NULL;
    res->error = error ? strdup(error) : NULL;
    res->retry_ms = retry_ms;

    r->nopen++;
    r->pending++;
    return 0;
}


/* The open results become a batch of their own, at the queue's end. */
static cs_batch_t *
results_close(cs_results_t *r)
{
    cs_batch_t  *b;

    b = calloc(1, sizeof(cs_batch_t));
    if (b == NULL) {
        return NULL;
    }
    b->items = r->open;
    b->n = r->nopen;
    r->open = NULL;
    r->nopen = 0;
    r->cap = 0;
    return b;
}


static void
queue_push(cs_results_t *r, cs_batch_t *b, int front)
{
    cs_batch_t  **pp;

    if (front) {
        b->next = r->queue;
        r->queue = b;
        return;
    }
    for (pp = &r->queue; *pp; pp = &(*pp)->next) {
        /* void */
    }
    b->next = NULL;
    *pp = b;
}


/* Takes the first queued batch that is due, or says when one will be. */
static cs_batch_t *
queue_take(cs_results_t *r, uint64_t now, uint64_t *next)
{
    cs_batch_t  **pp, *b;

    for (pp = &r->queue; *pp; pp = &(*pp)->next) {
        b = *pp;
        if (b->due <= now) {
            *pp = b->next;
            b->next = NULL;
            return b;
        }
        if (b->due < *next) {
            *next = b->due;
        }
    }
    return NULL;
}


static char *
batch_json(cs_batch_t *b)
{
    char                  num[24], *json = NULL;
    size_t                i, len;
    yajl_gen              g;
    cs_result_t          *res;
    const unsigned char  *buf;

#define PAIR(k, v)                                                           \
    yajl_gen_string(g, (const unsigned char *) (k), strlen(k));              \
    yajl_gen_string(g, (const unsigned char *) (v), strlen(v))

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

    yajl_gen_array_open(g);
    for (i = 0; i < b->n; i++) {
        res = &b->items[i];
        yajl_gen_map_open(g);
        PAIR("id", res->recipient);
        PAIR("campaign", res->campaign);
        PAIR("outcome", res->outcome);
        if (res->provider_id) {
            PAIR("provider_id", res->provider_id);
        }
        if (res->error) {
            PAIR("error", res->error);
        }
        snprintf(num, sizeof(num), "%llu",
                 (unsigned long long) res->retry_ms);
        yajl_gen_string(g, (const unsigned char *) "retry_ms", 8);
        yajl_gen_number(g, num, strlen(num));
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);

#undef PAIR

    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
        json = strndup((const char *) buf, len);
    }
    yajl_gen_free(g);
    return json;
}


/*
 * Whether Postgres refused what the batch holds (a value it cannot take, a
 * constraint, a trigger's exception), which splitting can isolate; any
 * other refusal (a deadlock, a serialization failure, a time-out, a server
 * going down or read-only, no memory) passes, and the batch is written
 * again as it is.
 */
static int
refused_for_data(const char *state)
{
    return strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0
           || strncmp(state, "P0", 2) == 0;
}


static uint64_t
backoff(int tries)
{
    uint64_t  wait = (uint64_t) CS_RESULTS_RETRY << (tries < 9 ? tries : 9);

    return wait < CS_RESULTS_RETRY_MAX ? wait : CS_RESULTS_RETRY_MAX;
}


/* A batch Postgres refused: again later, in halves, or its row failed. */
static void
results_refused(cs_results_t *r, cs_batch_t *b, PGresult *res)
{
    char          why[160];
    size_t        half;
    uint64_t      wait;
    cs_batch_t   *rest;
    cs_result_t  *one;
    const char   *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                              : NULL;

    state = state ? state : "?";

    if (!refused_for_data(state)) {
        wait = backoff(b->tries++);
        b->due = cs_mono_ms() + wait;
        log_warn("event=results_refused sqlstate=%s results=%zu "
                 "action=\"again in %llu ms\"", log_esc(state), b->n,
                 (unsigned long long) wait);
        queue_push(r, b, 0);
        return;
    }

    if (b->n > 1) {
        rest = calloc(1, sizeof(cs_batch_t));
        if (rest != NULL) {
            half = b->n / 2;
            rest->items = malloc((b->n - half) * sizeof(cs_result_t));
            if (rest->items != NULL) {
                memcpy(rest->items, b->items + half,
                       (b->n - half) * sizeof(cs_result_t));
                rest->n = b->n - half;
                b->n = half;
                queue_push(r, rest, 1);
                queue_push(r, b, 1);
                return;
            }
            free(rest);
        }
        b->due = cs_mono_ms() + CS_RESULTS_RETRY;     /* out of memory */
        queue_push(r, b, 0);
        return;
    }

    /*
     * The row alone. First as it is but for what the provider said (its
     * id, an error text: what a provider sends may be what Postgres
     * cannot take); then recorded failed, saying why; then that, as long
     * as it takes.
     */
    one = &b->items[0];
    b->due = cs_mono_ms();

    if (b->internal == 0) {
        b->internal = 1;
        free(one->provider_id);
        free(one->error);
        one->provider_id = NULL;
        one->error = NULL;

    } else if (b->internal == 1) {
        b->internal = 2;
        snprintf(why, sizeof(why), "internal error: the scheduler could not "
                 "record this recipient's result (SQLSTATE %s)", state);
        log_error("event=result_refused campaign=%s recipient=%s outcome=%s "
                  "sqlstate=%s action=\"recording it failed\"",
                  one->campaign, one->recipient, one->outcome,
                  log_esc(state));
        snprintf(one->outcome, sizeof(one->outcome), "failed");
        one->error = strdup(why);
        one->retry_ms = 0;

    } else {
        wait = backoff(b->tries++);
        b->due += wait;
        log_error("event=result_refused campaign=%s recipient=%s "
                  "sqlstate=%s action=\"again in %llu ms\"",
                  one->campaign, one->recipient, log_esc(state),
                  (unsigned long long) wait);
    }
    queue_push(r, b, 0);
}


static int
results_written(PGresult *res, cs_pg_status_e st, void *data)
{
    size_t         i;
    cs_batch_t    *b;
    cs_results_t  *r = data;

    b = r->writing;
    r->writing = NULL;

    if (st == CS_PG_OK) {
        cs_metrics_batch(b->n);
        for (i = 0; i < b->n; i++) {
            r->committed(b->items[i].job, b->items[i].recipient, r->owner);
        }
        r->pending -= b->n;
        batch_free(b);

    } else if (st == CS_PG_LOST) {
        queue_push(r, b, 1);        /* the first to go after reconnecting */

    } else {
        results_refused(r, b, res);
    }

    r->wake(r->data);
    return 0;
}


int
cs_results_flush(cs_results_t *r, cs_pg_t *pg, const char *owner, int now)
{
    char         *json;
    uint64_t      t, next = UINT64_MAX;
    cs_batch_t   *b;
    const char   *values[2];

    if (r->writing || !cs_pg_ready(pg)) {
        return 0;
    }

    t = cs_mono_ms();
    b = queue_take(r, t, &next);

    if (b == NULL && r->nopen > 0) {
        if (now || r->nopen >= CS_RESULTS_BATCH
            || t - r->open_since >= CS_RESULTS_WAIT)
        {
            b = results_close(r);

        } else if (r->open_since + CS_RESULTS_WAIT < next) {
            next = r->open_since + CS_RESULTS_WAIT;
        }
    }

    if (b == NULL) {
        if (next != UINT64_MAX) {
            cs_timers_at(r->timers, &r->timer, next);
        }
        return 0;
    }

    json = batch_json(b);
    values[0] = owner;
    values[1] = json;

    r->writing = b;
    if (json == NULL
        || cs_pg_query(pg, "SELECT campaign.record_results($1, $2)", 2,
                       values, results_written, r) != 0)
    {
        r->writing = NULL;
        b->due = t + CS_RESULTS_RETRY;
        queue_push(r, b, 1);
        cs_timers_at(r->timers, &r->timer, b->due);
        free(json);
        return 0;
    }

    free(json);
    return 1;
}
