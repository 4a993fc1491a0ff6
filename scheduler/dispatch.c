#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "owned.h"
#include "provider.h"
#include "rate.h"
#include "render.h"
#include "results.h"

#define CS_CLAIM_MAX    1024        /* recipients read ahead per job */
#define CS_CLAIM_LOW    768         /* read more when fewer are ready */
#define CS_IDLE_MS      200         /* a job with nothing to claim waits */
/* a turn of the loop renders for at most CS_PUMP_US, and hands libcurl at
 * most CS_PUMP_BYTES of bodies, which it writes in the same turn */
#define CS_PUMP_US      3000
#define CS_PUMP_BYTES   (256 * 1024)

typedef struct cs_job_s cs_job_t;

/* a claim's rows, kept until the last of its recipients is rendered */
typedef struct {
    PGresult        *res;
    size_t           refs;
} cs_claim_t;

/* a recipient read ahead, then in flight */
typedef struct {
    cs_job_t        *job;
    cs_claim_t      *claim;         /* its address and vars, until sent */
    int              row;
    char             recipient[37];
    long             attempts;
    uint64_t         until;         /* monotonic ms: its zone's send
                                     * window closes; 0 if none */
    char             answer_id[65]; /* the provider's, as it was when sent */
} cs_delivery_t;

struct cs_job_s {
    cs_timer_t       timer;         /* first: when to claim again */
    cs_job_t        *next;
    cs_dispatch_t   *d;
    char             id[37];
    char             type[CS_NAME_MAX];
    cs_metrics_type_t *metrics;     /* its type's, NULL if out of memory */
    cs_template_t   *message;       /* read once, for its provider */
    char            *message_json;  /* to read again after a reload */
    char            *metadata_json;
    uint64_t         generation;    /* of the file it was read for */
    long long        cursor;        /* the last seq read never tried */
    size_t           in_flight;
    size_t           unwritten;     /* answered, result not committed */
    /* read ahead: a read per CS_CLAIM_LOW deliveries, not per window */
    cs_delivery_t   *ready[CS_CLAIM_MAX];
    size_t           ready_head;
    size_t           ready_n;
    uint64_t         deadline;      /* monotonic ms: the lease, less a
                                     * margin, as last confirmed */
    uint64_t         closes;        /* monotonic ms: its send window's
                                     * close; 0 if it has none */
    uint64_t         closes_us;     /* the same on the wall clock, µs */
    cs_timer_t       close_timer;   /* asks for a start at the close */
    int              active;        /* running and ours */
    int              seen;
    int              waiting;       /* until its timer fires */
    int              waves;         /* recipient-local: it rests between
                                     * its waves, holding no slot */
    int              rest;          /* idle: ask whether it may rest */
    uint64_t         rest_wait;     /* ms: its wait, if it may not */
};

typedef struct {
    char           (*ids)[37];
    size_t           n;
    size_t           cap;
} cs_ids_t;

struct cs_dispatch_s {
    cs_loop_t       *loop;
    cs_timers_t     *timers;
    cs_config_t     *cf;
    cs_http_t       *http;
    cs_job_t        *jobs;
    cs_job_t        *claiming;      /* the job whose claim is in flight */
    uint64_t         claim_asked;   /* monotonic ms: when it was sent */
    cs_results_t    *results;
    cs_owned_t      *owned;
    /* committed while a read was in flight on the other connection: that
     * read may not see them written, so they stay owned until it is back */
    cs_ids_t         settling;
    int              draining;
    int              pump;          /* a job may have something to send */
    int              urgent;        /* a window is half full of results */
    uint64_t         closed_us;     /* a send window closed then (wall
                                     * µs, the latest): a start */
    void           (*wake)(void *data);
    void            *data;
};

static int dispatch_pump(void *data);
static void delivered(const cs_http_answer_t *a, void *data);


static int
ids_push(cs_ids_t *ids, const char *id)
{
    size_t   cap;
    char   (*p)[37];

    if (ids->n == ids->cap) {
        cap = ids->cap ? ids->cap * 2 : 256;
        p = realloc(ids->ids, cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        ids->ids = p;
        ids->cap = cap;
    }
    snprintf(ids->ids[ids->n++], 37, "%s", id);
    return 0;
}


static void
claim_unref(cs_claim_t *c)
{
    if (c != NULL && --c->refs == 0) {
        PQclear(c->res);
        free(c);
    }
}


static void
delivery_free(cs_delivery_t *dl)
{
    claim_unref(dl->claim);
    free(dl);
}


/* a request still in flight when the dispatcher goes */
static void
delivery_drop(void *data)
{
    delivery_free(data);
}


static void
job_maybe_free(cs_dispatch_t *d, cs_job_t *job);


/* A result is in Postgres: the recipient may be read again. */
static void
committed(void *job_ptr, const char *recipient, void *data)
{
    cs_dispatch_t  *d = data;
    cs_job_t       *job = job_ptr;

    if (d->claiming != NULL) {
        if (ids_push(&d->settling, recipient) != 0) {
            log_error("event=out_of_memory where=settling");
        }
    } else {
        cs_owned_del(d->owned, recipient);
    }

    job->unwritten--;
    d->pump = 1;
    job_maybe_free(d, job);
}


/* The read in flight is back: what was written meanwhile can be let go. */
static void
settle(cs_dispatch_t *d)
{
    size_t  i;

    for (i = 0; i < d->settling.n; i++) {
        cs_owned_del(d->owned, d->settling.ids[i]);
    }
    d->settling.n = 0;
}


cs_dispatch_t *
cs_dispatch_create(cs_loop_t *loop, cs_timers_t *timers, cs_config_t *cf,
    void (*wake)(void *data), void *data)
{
    cs_dispatch_t  *d;

    d = calloc(1, sizeof(cs_dispatch_t));
    if (d == NULL) {
        return NULL;
    }

    d->loop = loop;
    d->timers = timers;
    d->cf = cf;
    d->wake = wake;
    d->data = data;

    /* before http's own: sends of a turn go out in the same turn */
    if (cs_loop_on_idle(loop, dispatch_pump, d) != 0) {
        free(d);
        return NULL;
    }

    d->http = cs_http_create(loop);
    d->owned = cs_owned_create();
    d->results = cs_results_create(timers, committed, d, wake, data);

    if (d->http == NULL || d->owned == NULL || d->results == NULL) {
        cs_dispatch_free(d);
        return NULL;
    }

    return d;
}


/* Read ahead but not sent (paused, cancelled, lost): left pending. */
static void
job_release(cs_dispatch_t *d, cs_job_t *job)
{
    cs_delivery_t  *dl;

    while (job->ready_head < job->ready_n) {
        dl = job->ready[job->ready_head++];
        cs_owned_del(d->owned, dl->recipient);
        delivery_free(dl);
    }
    job->ready_head = job->ready_n = 0;
}


/* a job's state, and its type's gauges with it */
static void
job_active(cs_job_t *job, int active)
{
    if (job->metrics && job->active != active) {
        CS_METRIC_ADD(job->metrics->jobs, active ? 1 : -1);
    }
    job->active = active;
}


static void
job_in_flight(cs_job_t *job, long n)
{
    job->in_flight += n;
    if (job->metrics) {
        CS_METRIC_ADD(job->metrics->in_flight, n);
    }
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
    job_active(job, 0);
    job_in_flight(job, -(long) job->in_flight);
    cs_timers_del(d->timers, &job->timer);
    cs_timers_del(d->timers, &job->close_timer);
    cs_render_template_free(job->message);
    free(job->message_json);
    free(job->metadata_json);
    free(job);
}


/* A job no longer ours goes once nothing of it is outstanding. */
static void
job_maybe_free(cs_dispatch_t *d, cs_job_t *job)
{
    if (!job->active && job->in_flight == 0 && job->unwritten == 0
        && d->claiming != job)
    {
        job_free(d, job);
    }
}


void
cs_dispatch_free(cs_dispatch_t *d)
{
    cs_loop_off_idle(d->loop, dispatch_pump, d);
    if (d->http) {
        /* deliveries in flight dropped */
        cs_http_free(d->http, delivery_drop);
    }
    if (d->results) {
        cs_results_free(d->results);
    }
    while (d->jobs) {
        job_free(d, d->jobs);
    }
    if (d->owned) {
        cs_owned_free(d->owned);
    }
    free(d->settling.ids);
    free(d);
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
    cs_timers_in(job->d->timers, &job->timer, ms);
}


/* The message read for the type's provider (whose templates may name more
 * vars than the message), again after a reload */
static int
job_template(cs_dispatch_t *d, cs_job_t *job)
{
    cs_template_t   *t;
    cs_type_conf_t  *type = cs_config_type(d->cf, job->type);
    cs_provider_t   *p = type ? type->provider : NULL;

    t = cs_render_template(job->message_json, job->metadata_json,
                           p ? p->vars : NULL, p ? p->nvars : 0);
    if (t == NULL) {
        return -1;
    }
    cs_render_template_free(job->message);
    job->message = t;
    job->generation = d->cf->generation;
    return 0;
}


/* Its send window closed: a start moves it to waiting and gives its
 * slot to the next. */
static void
job_closed(cs_timer_t *t)
{
    cs_job_t  *job = (cs_job_t *) ((char *) t
                                   - offsetof(cs_job_t, close_timer));

    if (job->closes_us > job->d->closed_us) {
        job->d->closed_us = job->closes_us;
    }
    job->d->wake(job->d->data);
}


/*
 * Sends nothing past the close of its send window (ms from when the
 * jobs were asked for; none if NULL), and asks for a start then.
 */
static void
job_window(cs_dispatch_t *d, cs_job_t *job, PGresult *res, int row,
    uint64_t asked)
{
    uint64_t  ms;

    if (PQgetisnull(res, row, 5)) {
        job->closes = 0;
        cs_timers_del(d->timers, &job->close_timer);
        return;
    }
    ms = strtoull(PQgetvalue(res, row, 5), NULL, 10);
    job->closes = asked + ms;
    job->closes_us = (cs_wall_ms() - (cs_mono_ms() - asked) + ms) * 1000;
    /* a ms after: the window is closed in Postgres's clock too */
    cs_timers_in(d->timers, &job->close_timer,
                 job->closes >= cs_mono_ms()
                 ? job->closes - cs_mono_ms() + 1 : 0);
}


uint64_t
cs_dispatch_closed(cs_dispatch_t *d)
{
    uint64_t  us = d->closed_us;

    d->closed_us = 0;
    return us;
}


void
cs_dispatch_jobs(cs_dispatch_t *d, PGresult *res, uint64_t asked)
{
    int        i;
    uint64_t   lease;
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

        if (job != NULL && !job->active) {
            /* dropped while requests were still out, and back (resumed,
             * or taken again): one job, one window. What it had read
             * ahead was let go: it walks the campaign from the start */
            job_active(job, 1);
            job->cursor = 0;
            log_info("event=delivering campaign=%s type=%s", job->id,
                     job->type);
        }

        if (job == NULL) {
            job = calloc(1, sizeof(cs_job_t));
            if (job == NULL) {
                continue;
            }
            cs_timer_init(&job->timer);
            job->timer.handler = job_timer;
            cs_timer_init(&job->close_timer);
            job->close_timer.handler = job_closed;
            job->d = d;
            snprintf(job->id, sizeof(job->id), "%s", PQgetvalue(res, i, 0));
            snprintf(job->type, sizeof(job->type), "%s",
                     PQgetvalue(res, i, 1));
            job->metrics = cs_metrics_type(job->type);
            job->message_json = strdup(PQgetvalue(res, i, 2));
            job->metadata_json = strdup(PQgetvalue(res, i, 4));
            if (job->message_json == NULL || job->metadata_json == NULL
                || job_template(d, job) != 0)
            {
                log_error("event=bad_message campaign=%s", job->id);
                cs_render_template_free(job->message);
                free(job->message_json);
                free(job->metadata_json);
                free(job);
                continue;
            }
            job_active(job, 1);
            job->next = d->jobs;
            d->jobs = job;
            log_info("event=delivering campaign=%s type=%s", job->id,
                     job->type);
        }

        /* held until asked + what was left of the lease then, less an
         * eighth of a lease for the clocks and the way back */
        lease = strtoull(PQgetvalue(res, i, 3), NULL, 10);
        job->deadline = asked + lease - (lease < d->cf->lease / 8
                                         ? lease : d->cf->lease / 8);
        job_window(d, job, res, i, asked);
        job->waves = PQgetvalue(res, i, 6)[0] == 't';
        job->seen = 1;
    }

    /* paused, cancelled, completed or taken over: no new deliveries */
    for (job = d->jobs; job; job = next) {
        next = job->next;
        if (!job->seen && job->active) {
            job_active(job, 0);
            job_release(d, job);
            log_info("event=dropped campaign=%s in_flight=%zu", job->id,
                     job->in_flight);
        }
        job_maybe_free(d, job);
    }

    d->pump = 1;
}


/* ------------------------------------------------------------- results */


static void
job_result(cs_dispatch_t *d, cs_job_t *job, const char *recipient,
    const char *outcome, const char *provider_id, const char *error,
    uint64_t retry_ms)
{
    if (cs_results_add(d->results, job, job->id, recipient, outcome,
                       provider_id, error, retry_ms) != 0)
    {
        /* not recorded: it stays pending, and is read again, walking the
         * campaign from the start */
        cs_owned_del(d->owned, recipient);
        job->cursor = 0;
        return;
    }

    job->unwritten++;
    if (job->unwritten * 2 >= (size_t) d->cf->window) {
        d->urgent = 1;              /* half its window waits for a write */
    }
}


/*
 * Writes results when a batch is full, when no answer is awaited, when a
 * window is half full of them, when draining, or once the first of them
 * has waited 50 ms.
 */
int
cs_dispatch_flush(cs_dispatch_t *d, cs_pg_t *pg)
{
    int  now = d->draining || d->urgent || cs_http_in_flight(d->http) == 0;

    if (cs_results_flush(d->results, pg, d->cf->id, now)) {
        d->urgent = 0;
        return 1;
    }
    return 0;
}


/* ------------------------------------------------------------ delivery */


/* Renders and sends the next ready recipient of the job: its body size. */
static size_t
job_send(cs_dispatch_t *d, cs_job_t *job, cs_type_conf_t *type)
{
    char                key[80];
    size_t              len;
    const char         *why;
    cs_delivery_t      *dl;
    cs_render_in_t      in;
    cs_http_request_t   rq;

    dl = job->ready[job->ready_head++];

    if (dl->until && cs_mono_ms() >= dl->until) {
        /* its zone's send window closed while it was read ahead: left
         * pending, read again when its hold ends, then put off to the
         * opening */
        cs_owned_del(d->owned, dl->recipient);
        delivery_free(dl);
        return 0;
    }

    snprintf(key, sizeof(key), "%s:%s", job->id, dl->recipient);

    in.campaign_id = job->id;
    in.recipient_id = dl->recipient;
    in.type = job->type;
    in.to = PQgetvalue(dl->claim->res, dl->row, 1);
    in.vars_json = PQgetvalue(dl->claim->res, dl->row, 2);

    if (job->generation != d->cf->generation && job_template(d, job) != 0) {
        /* not the recipient's fault: tried again */
        claim_unref(dl->claim);
        dl->claim = NULL;
        job_result(d, job, dl->recipient, "retry", NULL,
                   "cannot render the message: out of memory",
                   cs_backoff_ms(d->cf, dl->attempts, -1));
        free(dl);
        return 0;

    } else {
        cs_provider_request(type->provider, d->cf, job->message, &in, key,
                            &rq, &why);
    }
    claim_unref(dl->claim);
    dl->claim = NULL;

    if (why != NULL) {
        job_result(d, job, dl->recipient, "failed", NULL, why, 0);
        free(dl);
        return 0;
    }

    len = rq.len;
    snprintf(dl->answer_id, sizeof(dl->answer_id), "%s",
             type->provider->answer_id);
    job_in_flight(job, 1);
    if (cs_http_send(d->http, &rq, delivered, dl) != 0) {
        /* the body is gone; the recipient stays owned until written */
        job_in_flight(job, -1);
        job_result(d, job, dl->recipient, "retry", NULL, "cannot send",
                   cs_backoff_ms(d->cf, dl->attempts, -1));
        free(dl);
    }
    return len;
}


/* The jobs after job go first, job and those before it after them. */
static void
jobs_rotate(cs_dispatch_t *d, cs_job_t *job)
{
    cs_job_t  **tail;

    if (job->next == NULL) {
        return;
    }
    for (tail = &job->next; *tail; tail = &(*tail)->next) {
        /* void */
    }
    *tail = d->jobs;
    d->jobs = job->next;
    job->next = NULL;
}


/*
 * Once per turn of the loop: every job sends what it has ready while its
 * window has room and its lease is confirmed, round the jobs, until the
 * turn's budget of time or of bytes is spent; then the next turn goes on
 * with it.
 */
static int
dispatch_pump(void *data)
{
    int              sent;
    size_t           bytes = 0;
    uint64_t         start, now;
    cs_job_t        *job;
    cs_dispatch_t   *d = data;
    cs_type_conf_t  *type;

    if (!d->pump || d->draining) {
        return 0;
    }
    d->pump = 0;

    start = cs_loop_mono_us();
    now = cs_mono_ms();

    do {
        sent = 0;
        for (job = d->jobs; job; job = job->next) {
            type = cs_config_type(d->cf, job->type);
            if (!job->active || job->ready_head == job->ready_n
                || now >= job->deadline
                || (job->closes && now >= job->closes) || type == NULL
                || type->provider == NULL
                || job->in_flight + job->unwritten >= (size_t) d->cf->window)
            {
                continue;           /* the claim fails a missing type */
            }
            bytes += job_send(d, job, type);
            sent = 1;

            /* libcurl writes what it is given in this turn too */
            if (cs_loop_mono_us() - start > CS_PUMP_US || bytes > CS_PUMP_BYTES) {
                /* the next turn begins with the job after this one: a job
                 * slow to render never keeps the others waiting */
                jobs_rotate(d, job);
                d->pump = 1;
                return 1;
            }
        }
    } while (sent);

    d->wake(d->data);               /* room to read ahead again, maybe */
    return 0;
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
    cs_metrics_type_t *mt = job->metrics;

    if (mt) {
        cs_hist_observe(&mt->duration, &cs_prom_seconds, a->seconds);
    }

    if (a->curl_code == 0 && a->status >= 200 && a->status < 300) {
        if (mt) {
            CS_METRIC_ADD(mt->sent, 1);
        }
        provider_id = cs_render_provider_id(a->body, a->body_len,
                                            dl->answer_id);
        job_result(d, job, dl->recipient, "sent", provider_id, NULL, 0);
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
            if (mt) {
                CS_METRIC_ADD(mt->retried, 1);
            }
            job_result(d, job, dl->recipient, "retry", NULL, error,
                       cs_backoff_ms(d->cf, dl->attempts,
                                     a->retry_after_ms));
        } else {
            if (mt) {
                CS_METRIC_ADD(mt->failed, 1);
            }
            job_result(d, job, dl->recipient, "failed", NULL, error, 0);
        }
    }

    job_in_flight(job, -1);
    free(dl);
    d->pump = 1;
    job_maybe_free(d, job);
    d->wake(d->data);
}


static int
claimed(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_dispatch_t   *d = data;
    cs_job_t        *job = d->claiming;
    cs_claim_t      *claim;
    cs_delivery_t   *dl;
    cs_type_conf_t  *type;
    int              i, n, got, kept = 0;
    uint64_t         wait;
    const char      *id;

    d->claiming = NULL;

    if (st != CS_PG_OK || job == NULL || !job->active) {
        if (job != NULL) {
            if (st == CS_PG_ERROR) {
                job_wait(job, CS_IDLE_MS);      /* not at once, forever */
            }
            job_maybe_free(d, job);
        }
        settle(d);
        d->wake(d->data);
        return 0;
    }

    /* what is left of the read-ahead moves to the front */
    job->ready_n -= job->ready_head;
    memmove(job->ready, job->ready + job->ready_head,
            job->ready_n * sizeof(cs_delivery_t *));
    job->ready_head = 0;

    claim = calloc(1, sizeof(cs_claim_t));
    n = PQntuples(res);
    got = 0;

    for (i = 0; claim && i < n && job->ready_n < CS_CLAIM_MAX; i++) {
        id = PQgetvalue(res, i, 0);

        if (PQgetvalue(res, i, 5)[0] == 'f') {
            /* never tried: the place in the campaign moves past it */
            job->cursor = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        }

        /* in flight, or its result not written yet: not again */
        if (cs_owned_has(d->owned, id)) {
            continue;
        }
        dl = calloc(1, sizeof(cs_delivery_t));
        if (dl == NULL || cs_owned_add(d->owned, id) != 0) {
            free(dl);
            job->cursor = 0;        /* read again: from the start */
            break;
        }

        dl->job = job;
        dl->claim = claim;
        dl->row = i;
        claim->refs++;
        snprintf(dl->recipient, sizeof(dl->recipient), "%s", id);
        dl->attempts = strtol(PQgetvalue(res, i, 3), NULL, 10);
        if (!PQgetisnull(res, i, 6)) {
            /* from when the database answered it, at the latest */
            dl->until = d->claim_asked
                        + strtoull(PQgetvalue(res, i, 6), NULL, 10);
        }
        job->ready[job->ready_n++] = dl;
        got++;
    }

    /* the rows are the claim's now, with a reference of this function's
     * own: what runs below (a drain, a reload) may release them */
    if (claim && claim->refs > 0) {
        claim->res = res;
        claim->refs++;
        kept = 1;
    } else {
        free(claim);
    }

    if (got == 0) {
        /* retries not due yet, all in flight, or the rate's bucket empty */
        type = cs_config_type(d->cf, job->type);
        if (type && type->rate > 0 && n == 0) {
            wait = cs_rate_wait_ms(type);
            if (job->metrics) {
                CS_METRIC_ADD(job->metrics->rate_wait_us, wait * 1000);
            }
        } else {
            wait = CS_IDLE_MS;
        }

        if (n == 0 && job->waves && job->in_flight == 0
            && job->unwritten == 0 && job->ready_n == 0)
        {
            /* between waves, nothing of its own out: it may rest */
            job->rest = 1;
            job->rest_wait = wait;
        } else {
            job_wait(job, wait);
        }
    }

    settle(d);
    if (d->draining) {
        job_release(d, job);
    }
    d->pump = 1;
    d->wake(d->data);

    if (kept) {
        claim_unref(claim);
    }
    return kept;                    /* kept: freed with its last row */
}


/* Resting between waves, it waits for its next one as for a send
 * window's opening, and its job goes with the next read of the jobs;
 * else it claims again after its wait, or sooner when its next wave (in
 * a second at most) is due, or at once while its waves are planned. */
static int
rested(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_dispatch_t  *d = data;
    cs_job_t       *job = d->claiming;
    uint64_t        wait, next;

    d->claiming = NULL;
    settle(d);
    if (job == NULL) {
        d->wake(d->data);
        return 0;
    }

    job->rest = 0;
    wait = job->rest_wait;
    if (st == CS_PG_OK && PQntuples(res) == 1) {
        if (PQgetvalue(res, 0, 0)[0] == 't') {
            log_info("event=resting campaign=%s next_wave_ms=%s", job->id,
                     PQgetvalue(res, 0, 1));
        } else if (!PQgetisnull(res, 0, 1)) {
            /* 0: not all planned, the next claim plans more */
            next = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
            wait = next < wait ? next : wait;
        }
    }
    if (wait > 0) {
        job_wait(job, wait);
    }
    job_maybe_free(d, job);
    d->wake(d->data);
    return 0;
}


static int
job_failed(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_dispatch_t  *d = data;

    (void) res;
    (void) st;
    d->wake(d->data);
    return 0;
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


int
cs_dispatch_claim(cs_dispatch_t *d, cs_pg_t *pg)
{
    char             n[24], after[24], hold[24], reason[96];
    long             room, now, take;
    uint64_t         t;
    cs_job_t        *job;
    cs_type_conf_t  *type;
    const char      *values[5];

    if (d->claiming || d->draining) {
        return 0;
    }

    t = cs_mono_ms();

    for (job = d->jobs; job; job = job->next) {
        if (!job->active || job->waiting || t >= job->deadline
            || (job->closes && t >= job->closes))
        {
            continue;
        }

        if (job->rest) {
            values[0] = d->cf->id;
            values[1] = job->id;
            if (cs_pg_query(pg, "SELECT rested, next_ms FROM "
                            "campaign.rest_between_waves($1, $2)", 2,
                            values, rested, d) != 0)
            {
                return 0;
            }
            d->claiming = job;
            job_to_tail(d, job);
            return 1;
        }

        type = cs_config_type(d->cf, job->type);

        /* none in the file, or a reload took it away */
        if (type == NULL || type->provider == NULL) {
            snprintf(reason, sizeof(reason), "no provider for type %s",
                     job->type);
            job_active(job, 0);
            job_release(d, job);
            values[0] = d->cf->id;
            values[1] = job->id;
            values[2] = reason;
            log_warn("event=failed campaign=%s reason=%s", job->id,
                     log_esc(reason));
            return cs_pg_query(pg, "SELECT campaign.fail_campaign($1, $2, "
                               "$3)", 3, values, job_failed, d) == 0;
        }

        room = CS_CLAIM_MAX - (long) (job->ready_n - job->ready_head);
        if (room <= CS_CLAIM_MAX - CS_CLAIM_LOW) {
            continue;               /* enough read ahead */
        }

        now = d->cf->window - (long) (job->in_flight + job->unwritten
                                      + job->ready_n - job->ready_head);
        take = cs_rate_claim(type, room, now);
        if (take <= 0) {
            continue;               /* a rate's window is full: later */
        }

        snprintf(n, sizeof(n), "%ld", take);
        snprintf(after, sizeof(after), "%lld", job->cursor);
        snprintf(hold, sizeof(hold), "%llu",
                 (unsigned long long) d->cf->lease);
        values[0] = d->cf->id;
        values[1] = job->id;
        values[2] = after;
        values[3] = n;
        values[4] = hold;
        if (cs_pg_query(pg, "SELECT id, address, vars, attempt, seq, retry, "
                        "until_ms FROM campaign.next_recipients($1, $2, $3, "
                        "$4, $5)",
                        5, values, claimed, d) != 0)
        {
            return 0;
        }
        d->claiming = job;
        d->claim_asked = cs_mono_ms();

        job_to_tail(d, job);        /* round robin over the jobs */
        return 1;
    }

    return 0;
}


void
cs_dispatch_db_lost(cs_dispatch_t *d)
{
    cs_job_t  *job;

    for (job = d->jobs; job; job = job->next) {
        job->deadline = 0;
        job->cursor = 0;
    }
}


int
cs_dispatch_drain(cs_dispatch_t *d)
{
    cs_job_t  *job;

    d->draining = 1;
    for (job = d->jobs; job; job = job->next) {
        job_release(d, job);
    }
    return cs_http_in_flight(d->http) == 0
           && cs_results_pending(d->results) == 0 && d->claiming == NULL;
}
