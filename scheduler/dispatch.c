#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "dispatch.h"
#include "hash.h"
#include "http.h"
#include "log.h"
#include "render.h"

#define CS_CLAIM_MAX    1024        /* recipients read ahead per job */
#define CS_CLAIM_LOW    768         /* read more when fewer are ready */
#define CS_RESULTS_BATCH 256       /* results worth a write of their own */
#define CS_IDLE_MS      200         /* a job with nothing to claim waits */
#define CS_RESULTS_MS   50          /* a smaller batch waits at most this */

typedef struct cs_job_s cs_job_t;

/* a recipient read and rendered, then in flight */
typedef struct {
    cs_job_t        *job;
    char             recipient[37];
    long             attempts;
    char            *body;          /* until handed to http */
    size_t           len;
} cs_delivery_t;

struct cs_job_s {
    cs_timer_t       timer;         /* first: when to claim again */
    cs_job_t        *next;
    cs_dispatch_t   *d;
    char             id[37];
    char             type[CS_NAME_MAX];
    yajl_val         message;       /* parsed once */
    long long        cursor;        /* the last seq read never tried */
    size_t           in_flight;
    /* read ahead: a read per CS_CLAIM_LOW deliveries, not per window */
    cs_delivery_t   *ready[CS_CLAIM_MAX];
    size_t           ready_head;
    size_t           ready_n;
    int              active;        /* running and ours */
    int              seen;
    int              waiting;       /* until its timer fires */
};

typedef struct {
    double           tokens;
    uint64_t         at;
} cs_bucket_t;

/* recipients in flight or with a result not yet written: never re-sent */
typedef struct cs_owned_s cs_owned_t;

struct cs_owned_s {
    cs_owned_t      *next;
    char             id[37];
};

#define CS_OWNED_BUCKETS  4096

typedef struct {
    char           (*ids)[37];
    size_t           n;
    size_t           cap;
} cs_ids_t;

struct cs_dispatch_s {
    cs_loop_t       *loop;
    cs_wheel_t      *wheel;
    cs_config_t     *cf;
    cs_http_t       *http;
    cs_job_t        *jobs;
    cs_job_t        *claiming;      /* the job whose claim is in flight */
    yajl_gen         results;
    size_t           nresults;
    uint64_t         results_since; /* when the first of them came */
    cs_ids_t         result_ids;    /* of the results in the generator */
    char            *unwritten;     /* a batch being or not yet written */
    cs_ids_t         unwritten_ids;
    /* written while a read was in flight on the other connection: that
     * read may not see them written, so they stay owned until it is back */
    cs_ids_t         settling;
    cs_timer_t       flush_timer;   /* a small batch's time is up */
    cs_owned_t      *owned[CS_OWNED_BUCKETS];
    int              draining;
    cs_bucket_t      buckets[CS_MAX_TYPES];
    void           (*wake)(void *data);
    void            *data;
};


static unsigned
owned_bucket(const char *id)
{
    return cs_hash(id) % CS_OWNED_BUCKETS;
}


static int
owned_has(cs_dispatch_t *d, const char *id)
{
    cs_owned_t  *o;

    for (o = d->owned[owned_bucket(id)]; o; o = o->next) {
        if (strcmp(o->id, id) == 0) {
            return 1;
        }
    }
    return 0;
}


static int
owned_add(cs_dispatch_t *d, const char *id)
{
    unsigned     b = owned_bucket(id);
    cs_owned_t  *o;

    o = malloc(sizeof(cs_owned_t));
    if (o == NULL) {
        return -1;
    }
    snprintf(o->id, sizeof(o->id), "%s", id);
    o->next = d->owned[b];
    d->owned[b] = o;
    return 0;
}


static void
owned_del(cs_dispatch_t *d, const char *id)
{
    cs_owned_t  **pp, *o;

    for (pp = &d->owned[owned_bucket(id)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            o = *pp;
            *pp = o->next;
            free(o);
            return;
        }
    }
}


static int
ids_push(cs_ids_t *ids, const char *id)
{
    char  (*p)[37];

    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 256;
        p = realloc(ids->ids, ids->cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        ids->ids = p;
    }
    snprintf(ids->ids[ids->n++], 37, "%s", id);
    return 0;
}


static void
results_open(cs_dispatch_t *d)
{
    d->results = yajl_gen_alloc(NULL);
    if (d->results) {
        yajl_gen_array_open(d->results);
    }
    d->nresults = 0;
}


static void flush_due(cs_timer_t *t);


cs_dispatch_t *
cs_dispatch_create(cs_loop_t *loop, cs_wheel_t *wheel, cs_config_t *cf,
    void (*wake)(void *data), void *data)
{
    cs_dispatch_t  *d;

    d = calloc(1, sizeof(cs_dispatch_t));
    if (d == NULL) {
        return NULL;
    }

    d->loop = loop;
    d->wheel = wheel;
    d->cf = cf;
    d->wake = wake;
    d->data = data;
    d->http = cs_http_create(loop);
    cs_timer_init(&d->flush_timer);
    d->flush_timer.handler = flush_due;
    results_open(d);

    if (d->http == NULL || d->results == NULL) {
        cs_dispatch_free(d);
        return NULL;
    }

    return d;
}


/* Read ahead but not sent (paused, cancelled, draining): left pending. */
static void
job_release(cs_dispatch_t *d, cs_job_t *job)
{
    cs_delivery_t  *dl;

    while (job->ready_head < job->ready_n) {
        dl = job->ready[job->ready_head++];
        owned_del(d, dl->recipient);
        free(dl->body);
        free(dl);
    }
    job->ready_head = job->ready_n = 0;
}


static void
job_free(cs_dispatch_t *d, cs_job_t *job)
{
    cs_job_t  **pp;

    for (pp = &d->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            break;
        }
    }
    job_release(d, job);
    cs_wheel_del(d->wheel, &job->timer);
    yajl_tree_free(job->message);
    free(job);
}


void
cs_dispatch_free(cs_dispatch_t *d)
{
    size_t       i;
    cs_owned_t  *o, *next;

    if (d->http) {
        cs_http_free(d->http, free);    /* deliveries in flight dropped */
    }
    while (d->jobs) {
        job_free(d, d->jobs);
    }
    if (d->results) {
        yajl_gen_free(d->results);
    }
    for (i = 0; i < CS_OWNED_BUCKETS; i++) {
        for (o = d->owned[i]; o; o = next) {
            next = o->next;
            free(o);
        }
    }
    free(d->result_ids.ids);
    free(d->unwritten_ids.ids);
    free(d->settling.ids);
    cs_wheel_del(d->wheel, &d->flush_timer);
    free(d->unwritten);
    free(d);
}


static cs_type_conf_t *
type_of(cs_dispatch_t *d, const char *type)
{
    return cs_config_type(d->cf, type);
}


static void
job_timer(cs_timer_t *t)
{
    cs_job_t  *job = (cs_job_t *) t;

    job->waiting = 0;
    job->d->wake(job->d->data);
}


static void
job_wait(cs_job_t *job, uint64_t ms)
{
    job->waiting = 1;
    cs_wheel_add(job->d->wheel, &job->timer, cs_now_ms() + ms);
}


void
cs_dispatch_jobs(cs_dispatch_t *d, PGresult *res)
{
    int        i;
    cs_job_t  *job, *next;

    for (job = d->jobs; job; job = job->next) {
        job->seen = 0;
    }

    for (i = 0; i < PQntuples(res); i++) {
        for (job = d->jobs; job; job = job->next) {
            if (strcmp(job->id, PQgetvalue(res, i, 0)) == 0) {
                break;
            }
        }

        if (job == NULL) {
            job = calloc(1, sizeof(cs_job_t));
            if (job == NULL) {
                continue;
            }
            cs_timer_init(&job->timer);
            job->timer.handler = job_timer;
            job->d = d;
            snprintf(job->id, sizeof(job->id), "%s", PQgetvalue(res, i, 0));
            snprintf(job->type, sizeof(job->type), "%s",
                     PQgetvalue(res, i, 1));
            job->message = cs_render_message(PQgetvalue(res, i, 2));
            if (job->message == NULL) {
                log_error("event=bad_message campaign=%s", job->id);
                free(job);
                continue;
            }
            job->active = 1;
            job->next = d->jobs;
            d->jobs = job;
            log_info("event=delivering campaign=%s type=%s", job->id,
                     job->type);
        }
        job->seen = 1;
    }

    /* paused, cancelled, completed or taken over: no new deliveries */
    for (job = d->jobs; job; job = next) {
        next = job->next;
        if (!job->seen) {
            job->active = 0;
            job_release(d, job);
            if (job->in_flight == 0 && d->claiming != job) {
                job_free(d, job);
            }
        }
    }
}


/* ------------------------------------------------------------- results */


static void
result_add(cs_dispatch_t *d, const char *campaign, const char *id,
    const char *outcome, const char *provider_id, const char *error,
    uint64_t retry_ms)
{
    char      num[24];
    yajl_gen  g = d->results;

#define PAIR(k, v)                                                           \
    yajl_gen_string(g, (const unsigned char *) (k), strlen(k));              \
    yajl_gen_string(g, (const unsigned char *) (v), strlen(v))

    if (d->nresults == 0) {
        d->results_since = cs_now_ms();
    }

    yajl_gen_map_open(g);
    PAIR("id", id);
    PAIR("campaign", campaign);
    PAIR("outcome", outcome);
    if (provider_id) {
        PAIR("provider_id", provider_id);
    }
    if (error) {
        PAIR("error", error);
    }
    snprintf(num, sizeof(num), "%llu", (unsigned long long) retry_ms);
    yajl_gen_string(g, (const unsigned char *) "retry_ms", 8);
    yajl_gen_number(g, num, strlen(num));
    yajl_gen_map_close(g);

#undef PAIR

    d->nresults++;
    (void) ids_push(&d->result_ids, id);
}


/* The read in flight is back: what was written meanwhile can be let go. */
static void
settle(cs_dispatch_t *d)
{
    size_t  i;

    for (i = 0; i < d->settling.n; i++) {
        owned_del(d, d->settling.ids[i]);
    }
    d->settling.n = 0;
}


static void
results_written(PGresult *res, void *data)
{
    size_t          i;
    cs_dispatch_t  *d = data;

    if (res != NULL) {
        /* written: those recipients are final or wait for their retry;
         * let go of them now, or once the read in flight is back */
        for (i = 0; i < d->unwritten_ids.n; i++) {
            if (ids_push(&d->settling, d->unwritten_ids.ids[i]) != 0) {
                log_error("event=out_of_memory where=settling");
            }
        }
        d->unwritten_ids.n = 0;
        if (d->claiming == NULL) {
            settle(d);
        }
        free(d->unwritten);         /* else kept, and written on reconnect */
        d->unwritten = NULL;
    }
    d->wake(d->data);
}


static void
flush_due(cs_timer_t *t)
{
    cs_dispatch_t  *d = (cs_dispatch_t *) ((char *) t
                                           - offsetof(cs_dispatch_t,
                                                      flush_timer));

    d->wake(d->data);
}


/*
 * Writes results when a batch is full, when no answer is awaited, when
 * draining, or when the first of them has waited CS_RESULTS_MS.
 */
int
cs_dispatch_flush(cs_dispatch_t *d, cs_pg_t *pg)
{
    size_t                len;
    const char           *values[2];
    const unsigned char  *buf;

    /* a write in flight keeps its connection busy: pg is not ready then */
    if (d->unwritten == NULL && d->nresults < CS_RESULTS_BATCH) {
        /* while answers keep coming, a few more ms make a bigger batch */
        if (d->nresults > 0 && !d->draining && cs_http_in_flight(d->http) > 0
            && cs_now_ms() - d->results_since < CS_RESULTS_MS)
        {
            if (!cs_timer_pending(&d->flush_timer)) {
                cs_wheel_add(d->wheel, &d->flush_timer,
                             d->results_since + CS_RESULTS_MS);
            }
            return 0;
        }
    }

    if (d->unwritten == NULL && d->nresults > 0) {
        yajl_gen_array_close(d->results);
        yajl_gen_get_buf(d->results, &buf, &len);
        d->unwritten = strndup((const char *) buf, len);
        yajl_gen_free(d->results);
        results_open(d);
        {
            cs_ids_t  swap = d->unwritten_ids;

            d->unwritten_ids = d->result_ids;
            d->result_ids = swap;
            d->result_ids.n = 0;
        }
        if (d->unwritten == NULL || d->results == NULL) {
            log_error("event=out_of_memory where=results");
            return 0;
        }
    }

    if (d->unwritten == NULL) {
        return 0;
    }

    values[0] = d->cf->id;
    values[1] = d->unwritten;
    if (cs_pg_query(pg, "SELECT campaign.record_results($1, $2)", 2, values,
                    results_written, d) != 0)
    {
        return 0;
    }
    return 1;
}


/* ------------------------------------------------------------ delivery */


static uint64_t
backoff_ms(cs_dispatch_t *d, long attempts, long retry_after_ms)
{
    uint64_t  ms = d->cf->retry_first;
    long      i;

    for (i = 1; i < attempts && ms < d->cf->retry_longest; i++) {
        ms *= 2;
    }
    if (ms > d->cf->retry_longest) {
        ms = d->cf->retry_longest;
    }

    /* jitter: 80 % to 120 %, so retries of a burst spread out */
    ms = ms * (80 + (uint64_t) (rand() % 41)) / 100;

    if (retry_after_ms > 0 && (uint64_t) retry_after_ms > ms) {
        ms = (uint64_t) retry_after_ms;
    }
    return ms;
}


static void delivered(const cs_http_answer_t *a, void *data);


/* Sends ready recipients while the job's window has room. */
static void
job_pump(cs_dispatch_t *d, cs_job_t *job)
{
    char             key[80];
    cs_delivery_t   *dl;
    cs_type_conf_t  *type = type_of(d, job->type);

    if (type == NULL || type->provider == NULL) {
        return;                     /* a reload took it away: the next
                                     * claim fails the campaign */
    }

    while (job->active && !d->draining && job->ready_head < job->ready_n
           && job->in_flight < (size_t) d->cf->window)
    {
        dl = job->ready[job->ready_head++];
        snprintf(key, sizeof(key), "%s:%s", job->id, dl->recipient);

        job->in_flight++;
        if (cs_http_post(d->http, type->provider, key, dl->body, dl->len,
                         (long) d->cf->connect_timeout,
                         (long) d->cf->request_timeout, delivered, dl) != 0)
        {
            /* the body is gone; the recipient stays owned until written */
            job->in_flight--;
            result_add(d, job->id, dl->recipient, "retry", NULL,
                       "cannot send", backoff_ms(d, dl->attempts, -1));
            free(dl);
            continue;
        }
        dl->body = NULL;            /* http's now */
    }
}


static void
delivered(const cs_http_answer_t *a, void *data)
{
    cs_delivery_t   *dl = data;
    cs_job_t        *job = dl->job;
    cs_dispatch_t   *d = job->d;
    char             error[256];
    char            *provider_id;
    int              retryable;

    if (a->curl_code == 0 && a->status >= 200 && a->status < 300) {
        provider_id = cs_render_provider_id(a->body, a->body_len);
        result_add(d, job->id, dl->recipient, "sent", provider_id, NULL, 0);
        free(provider_id);

    } else {
        if (a->curl_code != 0) {
            snprintf(error, sizeof(error), "%s", a->curl_error);
        } else {
            snprintf(error, sizeof(error), "HTTP %ld", a->status);
        }

        retryable = a->curl_code != 0 || a->status == 408
                    || a->status == 429 || a->status >= 500;

        if (retryable && dl->attempts < d->cf->retry_attempts) {
            result_add(d, job->id, dl->recipient, "retry", NULL, error,
                       backoff_ms(d, dl->attempts, a->retry_after_ms));
        } else {
            result_add(d, job->id, dl->recipient, "failed", NULL, error, 0);
        }
    }

    job->in_flight--;
    free(dl);

    if (job->active) {
        job_pump(d, job);
    } else if (job->in_flight == 0 && d->claiming != job) {
        job_free(d, job);
    }

    d->wake(d->data);
}


static void
claimed(PGresult *res, void *data)
{
    cs_dispatch_t   *d = data;
    cs_job_t        *job = d->claiming;
    cs_delivery_t   *dl;
    char            *body;
    size_t           len;
    int              i, n, got;

    d->claiming = NULL;

    if (res == NULL || job == NULL || !job->active) {
        if (job && !job->active && job->in_flight == 0) {
            job_free(d, job);
        }
        settle(d);
        return;
    }

    /* what is left of the read-ahead moves to the front */
    job->ready_n -= job->ready_head;
    memmove(job->ready, job->ready + job->ready_head,
            job->ready_n * sizeof(cs_delivery_t *));
    job->ready_head = 0;

    n = PQntuples(res);
    got = 0;

    for (i = 0; i < n && job->ready_n < CS_CLAIM_MAX; i++) {
        if (PQgetvalue(res, i, 5)[0] == 'f') {
            /* never tried: the place in the campaign moves past it */
            job->cursor = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        }

        /* in flight, or its result not written yet: not again */
        if (owned_has(d, PQgetvalue(res, i, 0))
            || owned_add(d, PQgetvalue(res, i, 0)) != 0)
        {
            continue;
        }
        got++;

        dl = calloc(1, sizeof(cs_delivery_t));
        body = cs_render_body(job->id, PQgetvalue(res, i, 0), job->type,
                              PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                              job->message, &len);
        if (dl == NULL || body == NULL) {
            free(dl);
            free(body);
            result_add(d, job->id, PQgetvalue(res, i, 0), "failed", NULL,
                       "cannot render the message", 0);
            continue;
        }

        dl->job = job;
        snprintf(dl->recipient, sizeof(dl->recipient), "%s",
                 PQgetvalue(res, i, 0));
        dl->attempts = strtol(PQgetvalue(res, i, 3), NULL, 10);
        dl->body = body;
        dl->len = len;
        job->ready[job->ready_n++] = dl;
    }

    if (got == 0) {
        job_wait(job, CS_IDLE_MS);  /* retries not due yet, or in flight */
    }

    settle(d);
    job_pump(d, job);
    d->wake(d->data);
}


static void
job_failed(PGresult *res, void *data)
{
    cs_dispatch_t  *d = data;

    (void) res;
    d->wake(d->data);
}


static void
job_to_tail(cs_dispatch_t *d, cs_job_t *job)
{
    cs_job_t  **pp;

    for (pp = &d->jobs; *pp != job; pp = &(*pp)->next) {
        /* void */
    }
    *pp = job->next;
    while (*pp) {
        pp = &(*pp)->next;
    }
    *pp = job;
    job->next = NULL;
}


/* How many deliveries the type's token bucket allows now. */
static long
bucket_take(cs_dispatch_t *d, cs_type_conf_t *type, long want,
    uint64_t *wait_ms)
{
    cs_bucket_t  *b = &d->buckets[type - d->cf->types];
    uint64_t      now = cs_now_ms();

    if (type->rate <= 0) {
        return want;
    }

    if (b->at == 0) {
        b->tokens = (double) type->rate / 10;   /* a short burst at start */
    } else {
        b->tokens += (double) (now - b->at) * type->rate / 1000.0;
    }
    if (b->tokens > type->rate) {
        b->tokens = (double) type->rate;
    }
    b->at = now;

    if (b->tokens < 1) {
        *wait_ms = (uint64_t) ((1 - b->tokens) * 1000.0 / type->rate) + 1;
        return 0;
    }
    if (want > (long) b->tokens) {
        want = (long) b->tokens;
    }
    b->tokens -= want;
    return want;
}


int
cs_dispatch_claim(cs_dispatch_t *d, cs_pg_t *pg)
{
    char             n[24], after[24];
    long             room, take;
    uint64_t         wait_ms;
    cs_job_t        *job;
    cs_type_conf_t  *type;
    const char      *values[4];

    if (d->claiming || d->draining) {
        return 0;
    }

    for (job = d->jobs; job; job = job->next) {
        if (!job->active || job->waiting) {
            continue;
        }

        type = type_of(d, job->type);

        /* none in the file, or a reload took it away */
        if (type == NULL || type->provider == NULL) {
            char reason[96];
            snprintf(reason, sizeof(reason), "no provider for type %s",
                     job->type);
            job->active = 0;
            job_release(d, job);
            values[0] = d->cf->id;
            values[1] = job->id;
            values[2] = reason;
            log_warn("event=failed campaign=%s reason=\"%s\"", job->id,
                     reason);
            return cs_pg_query(pg, "SELECT campaign.fail_campaign($1, $2, $3)",
                               3, values, job_failed, d) == 0;
        }

        room = CS_CLAIM_MAX - (long) (job->ready_n - job->ready_head);
        if (room <= CS_CLAIM_MAX - CS_CLAIM_LOW) {
            continue;               /* enough read ahead */
        }

        wait_ms = 0;
        take = bucket_take(d, type, room, &wait_ms);
        if (take == 0) {
            job_wait(job, wait_ms);
            continue;
        }

        snprintf(n, sizeof(n), "%ld", take);
        snprintf(after, sizeof(after), "%lld", job->cursor);
        values[0] = d->cf->id;
        values[1] = job->id;
        values[2] = after;
        values[3] = n;
        if (cs_pg_query(pg, "SELECT id, address, vars, attempt, seq, retry "
                        "FROM campaign.next_recipients($1, $2, $3, $4)", 4,
                        values, claimed, d) != 0)
        {
            return 0;
        }
        d->claiming = job;

        job_to_tail(d, job);       /* round robin over the jobs */
        return 1;
    }

    return 0;
}


int
cs_dispatch_drain(cs_dispatch_t *d)
{
    cs_job_t  *job;

    d->draining = 1;
    for (job = d->jobs; job; job = job->next) {
        job_release(d, job);
    }
    return cs_http_in_flight(d->http) == 0 && d->nresults == 0
           && d->unwritten == NULL && d->claiming == NULL;
}
