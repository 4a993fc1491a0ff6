#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "dispatch.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "pg.h"
#include "sched.h"
#include "timers.h"

#define CS_BUCKETS       4096

#define CS_WANT_POOLS    0x01
#define CS_WANT_RESYNC   0x02
#define CS_WANT_TICK     0x04
#define CS_WANT_BEAT     0x08
#define CS_WANT_JOBS     0x10
#define CS_WANT_LOCK     0x20
#define CS_WANT_PURGE    0x40
#define CS_WANT_RETAIN   0x80
#define CS_WANT_START    0x100
#define CS_WANT_SERIES   0x200

#define CS_HOUSEKEEPING_MS  60000   /* how often old keys are purged */
#define CS_PURGE_BATCH      1000
#define CS_RETAIN_BATCH     1000    /* recipients per retention query */
#define CS_RETAIN_PACE_MS   100     /* between two that deleted something */
#define CS_SERIES_BATCH     200     /* runs made per statement */

#define CS_DRAIN_MS      10000      /* SIGTERM waits this for deliveries */

typedef struct cs_campaign_s cs_campaign_t;

struct cs_campaign_s {
    cs_timer_t       timer;         /* first: a timer is its campaign */
    cs_campaign_t   *next;          /* in its bucket */
    cs_sched_t      *s;
    char             id[37];
};

/* a timer of the scheduler's own, on the monotonic clock */
typedef struct {
    cs_timer_t       timer;         /* first */
    cs_sched_t      *s;
} cs_own_timer_t;

struct cs_sched_s {
    cs_loop_t       *loop;
    cs_config_t     *cf;
    cs_pg_t         *pg;
    /* results have a connection of their own: a write of hundreds of rows
     * never holds up the next read, a tick or a start */
    cs_pg_t         *writer;
    /* starts have one too: a start time never waits behind a claim, a
     * read of the jobs or a tick */
    cs_pg_t         *starter;
    /* its own timers on the monotonic clock (no step of the wall clock
     * stalls them), campaigns' start times on the wall clock */
    cs_timers_t     *mono;
    cs_timers_t     *wall;
    cs_own_timer_t   sweep;
    cs_own_timer_t   resync;
    cs_own_timer_t   reconnect;
    cs_own_timer_t   writer_reconnect;
    cs_own_timer_t   starter_reconnect;
    cs_own_timer_t   drain;
    cs_own_timer_t   watchdog;
    cs_own_timer_t   housekeeping;
    cs_own_timer_t   retain;        /* the next retention batch */
    uint64_t         watchdog_ms;   /* 0: systemd does not watch us */
    cs_dispatch_t   *dispatch;
    cs_metrics_http_t *metrics;
    uint64_t         backoff;
    uint64_t         writer_backoff;
    uint64_t         starter_backoff;
    uint64_t         jobs_asked;    /* when my_running() was sent */
    uint64_t         until_us;      /* the latest start time fired since
                                     * the last start was sent, or 0 */
    unsigned         want;
    int              locked;        /* holds its lock on this connection */
    int              main_up;       /* the main connection is up */
    int              starter_up;    /* the starts' connection is up */
    int              starter_warm;  /* and has made its warm-up start */
    int              pools_sent;    /* this file's pools and rates are in */
    int              lock_warned;
    int              ready;         /* told systemd */
    int              stopping;
    size_t           cached;
    cs_campaign_t   *buckets[CS_BUCKETS];
};

static void sched_kick(cs_sched_t *s);


static void
sched_wake(void *data)
{
    sched_kick(data);
}


static unsigned
bucket_of(const char *id)
{
    return cs_hash(id) % CS_BUCKETS;
}


static cs_campaign_t **
campaign_find(cs_sched_t *s, const char *id)
{
    cs_campaign_t  **pp;

    for (pp = &s->buckets[bucket_of(id)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            break;
        }
    }
    return pp;
}


static void
campaign_forget(cs_sched_t *s, const char *id)
{
    cs_campaign_t  **pp, *c;

    pp = campaign_find(s, id);
    c = *pp;
    if (c == NULL) {
        return;
    }

    *pp = c->next;
    cs_timers_del(s->wall, &c->timer);
    free(c);
    s->cached--;
    cs_metrics_wheel(s->cached);
}


/* A campaign's start time: the tick promotes and claims it. */
static void
campaign_due(cs_timer_t *t)
{
    cs_campaign_t  *c = (cs_campaign_t *) t;
    cs_sched_t     *s = c->s;

    if (c->timer.at_us > s->until_us) {
        s->until_us = c->timer.at_us;
    }
    campaign_forget(s, c->id);
    s->want |= CS_WANT_START;
    sched_kick(s);
}


/* Arms (or re-arms) the campaign's timer for its start time, in µs. */
static void
campaign_arm(cs_sched_t *s, const char *id, uint64_t due_us)
{
    cs_campaign_t  **pp, *c;

    pp = campaign_find(s, id);
    c = *pp;

    if (c == NULL) {
        c = calloc(1, sizeof(cs_campaign_t));
        if (c == NULL) {
            s->want |= CS_WANT_TICK;    /* the sweep will find it */
            return;
        }
        cs_timer_init(&c->timer);
        c->timer.handler = campaign_due;
        c->s = s;
        snprintf(c->id, sizeof(c->id), "%s", id);
        c->next = s->buckets[bucket_of(id)];
        s->buckets[bucket_of(id)] = c;
        s->cached++;
        cs_metrics_wheel(s->cached);
    }

    cs_timers_at_us(s->wall, &c->timer, due_us);
}


static void
campaigns_clear(cs_sched_t *s)
{
    size_t          i;
    cs_campaign_t  *c, *next;

    for (i = 0; i < CS_BUCKETS; i++) {
        for (c = s->buckets[i]; c; c = next) {
            next = c->next;
            cs_timers_del(s->wall, &c->timer);
            free(c);
        }
        s->buckets[i] = NULL;
    }
    s->cached = 0;
    cs_metrics_wheel(0);
}


/* ------------------------------------------------------------- queries */


/* What a query that went wrong leaves to do: a lost one is asked again
 * after reconnecting; a refused one waits for the sweep, not a spin. */
static void
sched_again(cs_sched_t *s, cs_pg_status_e st, unsigned want)
{
    if (st == CS_PG_LOST) {
        s->want |= want;
    }
}


static int
resync_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;
    int          i, n;
    uint64_t     due;

    if (st != CS_PG_OK) {
        sched_again(s, st, CS_WANT_RESYNC);
        return 0;
    }

    campaigns_clear(s);
    n = PQntuples(res);
    for (i = 0; i < n; i++) {
        due = strtoull(PQgetvalue(res, i, 1), NULL, 10);
        campaign_arm(s, PQgetvalue(res, i, 0), due);
    }

    log_info("event=resync due_within_horizon=%d", n);

    if (!s->ready) {
        s->ready = 1;
        sd_notify(0, "READY=1");
        log_info("event=ready id=%s", log_esc(s->cf->id));
    }

    sched_kick(s);
    return 0;
}


/* What a tick or a start started, or took over: logged and counted. */
static void
started(PGresult *res)
{
    int                 i;
    cs_metrics_type_t  *mt;

    for (i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 2), "taken") == 0) {
            log_info("event=taken_over campaign=%s type=%s from=%s",
                     PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                     log_esc(PQgetvalue(res, i, 4)));
            cs_metrics_takeovers(1);
            continue;
        }
        log_info("event=started campaign=%s type=%s lateness_ms=%s",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                 PQgetvalue(res, i, 3));
        mt = cs_metrics_type(PQgetvalue(res, i, 1));
        if (mt && !PQgetisnull(res, i, 3)) {
            cs_hist_observe(&mt->lateness, &cs_prom_lateness,
                            strtod(PQgetvalue(res, i, 3), NULL) / 1000);
        }
    }
}


static int
tick_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    if (st != CS_PG_OK) {
        sched_again(s, st, CS_WANT_TICK);
        return 0;
    }

    started(res);

    /* started, renewed, taken over, or gone: the jobs say which */
    s->want |= CS_WANT_JOBS;
    sched_kick(s);
    return 0;
}


static int
start_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    /* the main connection's tick makes the same starts (and a database
     * of before 019, without scheduler_start(), is started so) */
    if (st != CS_PG_OK) {
        s->want |= CS_WANT_TICK;
        sched_kick(s);
        return 0;
    }

    started(res);
    if (PQntuples(res) > 0) {
        s->want |= CS_WANT_JOBS;
    }
    sched_kick(s);
    return 0;
}


static int
warm_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    (void) res;

    /* refused (a database of before 019): the first start is cold */
    if (st != CS_PG_LOST) {
        s->starter_warm = 1;
    }
    sched_kick(s);
    return 0;
}


static int
jobs_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    if (st != CS_PG_OK) {
        sched_again(s, st, CS_WANT_JOBS);
        return 0;
    }

    cs_dispatch_jobs(s->dispatch, res, s->jobs_asked);
    sched_kick(s);
    return 0;
}


static int
lock_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    if (st != CS_PG_OK) {
        sched_again(s, st, CS_WANT_LOCK);
        return 0;
    }

    s->locked = PQgetvalue(res, 0, 0)[0] == 't';
    if (s->locked) {
        s->lock_warned = 0;
        log_info("event=locked id=%s", log_esc(s->cf->id));

    } else if (!s->lock_warned) {
        /* asked again every sweep; a death of ours looks like a life
         * to the others meanwhile, and they wait for the lease */
        s->lock_warned = 1;
        log_warn("event=lock_held id=%s reason=\"another session holds "
                 "this scheduler's lock: its last connection, not yet "
                 "gone, or another scheduler with the same id\"",
                 log_esc(s->cf->id));
    }

    sched_kick(s);
    return 0;
}


static int
purge_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    /* a full batch: more to go, after what else there is to do */
    if (st == CS_PG_OK && atoi(PQgetvalue(res, 0, 0)) >= CS_PURGE_BATCH) {
        s->want |= CS_WANT_PURGE;
    }
    sched_kick(s);
    return 0;
}


static int
retain_done(PGresult *res, cs_pg_status_e st, void *data)
{
    long         campaigns, recipients, events;
    cs_sched_t  *s = data;

    if (st == CS_PG_OK) {
        campaigns = atol(PQgetvalue(res, 0, 0));
        recipients = atol(PQgetvalue(res, 0, 1));
        events = atol(PQgetvalue(res, 0, 2));
        cs_metrics_retention(campaigns, recipients, events);
        if (campaigns + events > 0) {
            log_info("event=retention_deleted campaigns=%ld events=%ld",
                     campaigns, events);
        }
        /* something went: there may be more, a moment later (each
         * batch holds this connection from starts and claims) */
        if (campaigns + recipients + events > 0) {
            cs_timers_in(s->mono, &s->retain.timer, CS_RETAIN_PACE_MS);
        }
    }
    sched_kick(s);
    return 0;
}


static int
series_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    /* a full batch: more to make, after what else there is to do */
    if (st == CS_PG_OK && atoi(PQgetvalue(res, 0, 0)) >= CS_SERIES_BATCH) {
        s->want |= CS_WANT_SERIES;
    }
    sched_kick(s);
    return 0;
}


static int
beat_done(PGresult *res, cs_pg_status_e st, void *data)
{
    (void) res;

    if (st == CS_PG_OK) {
        cs_metrics_heartbeat();
    }
    sched_kick(data);
    return 0;
}


static int
pools_done(PGresult *res, cs_pg_status_e st, void *data)
{
    cs_sched_t  *s = data;

    (void) res;

    if (st == CS_PG_OK) {
        s->pools_sent = 1;
    } else {
        sched_again(s, st, CS_WANT_POOLS);
    }
    sched_kick(s);
    return 0;
}


/* an element of a Postgres array literal; the values are names and
 * numbers the file's parser checked (no quotes, commas or braces) */
static void
array_add(char *buf, size_t size, size_t *n, const char *v)
{
    if (*n == 0) {
        buf[(*n)++] = '{';
    }
    *n += snprintf(buf + *n, size - *n, "%s%s", *n > 1 ? "," : "",
                   v ? v : "NULL");
}


static void
send_pools(cs_sched_t *s)
{
    size_t           i, n[5] = { 0, 0, 0, 0, 0 }, wn;
    char             arrays[5][CS_MAX_TYPES * (CS_NAME_MAX + 1) + 3];
    /* the types' send windows, a JSON array (the file's parser wrote
     * each one, from names and times it checked) */
    char             windows[CS_MAX_TYPES * (sizeof(s->cf->types[0]
                                                    .send_window) + 2) + 3];
    char             num[24], rate[24];
    const char      *values[6];
    cs_type_conf_t  *t;

    for (i = 0; i < s->cf->ntypes; i++) {
        t = &s->cf->types[i];
        snprintf(num, sizeof(num), "%ld", t->pool);
        /* a type without a rate here has none: 0 */
        snprintf(rate, sizeof(rate), "%ld", t->rate > 0 ? t->rate : 0);
        array_add(arrays[0], sizeof(arrays[0]), &n[0], t->name);
        array_add(arrays[1], sizeof(arrays[1]), &n[1],
                  t->pool >= 0 ? num : NULL);
        array_add(arrays[2], sizeof(arrays[2]), &n[2], rate);
        array_add(arrays[3], sizeof(arrays[3]), &n[3],
                  t->address_kind[0] ? t->address_kind : NULL);
        array_add(arrays[4], sizeof(arrays[4]), &n[4],
                  t->pool_of[0] ? t->pool_of : NULL);
    }
    for (i = 0; i < 5; i++) {
        if (n[i] == 0) {
            arrays[i][n[i]++] = '{';
        }
        snprintf(arrays[i] + n[i], sizeof(arrays[i]) - n[i], "}");
        values[i] = arrays[i];
    }

    wn = snprintf(windows, sizeof(windows), "[");
    for (i = 0; i < s->cf->ntypes; i++) {
        t = &s->cf->types[i];
        wn += snprintf(windows + wn, sizeof(windows) - wn, "%s%s",
                       i ? ", " : "",
                       t->send_window[0] ? t->send_window : "null");
    }
    snprintf(windows + wn, sizeof(windows) - wn, "]");
    values[5] = windows;

    cs_pg_query(s->pg, "SELECT campaign.scheduler_pools($1, $2, $3, $4, "
                "$5, $6)", 6, values, pools_done, s);
}


/*
 * Starts go on their own connection while it is up; while it is away the
 * main one's tick starts them. One in flight: the next waits for it.
 */
static void
sched_start(cs_sched_t *s)
{
    char         lease[24], until[24];
    const char  *values[3];

    /* nothing starts while the main connection, which holds this
     * scheduler's lock and learns its jobs, is away: its return ticks */
    if (!(s->want & CS_WANT_START) || !s->main_up) {
        return;
    }

    if (!s->starter_up) {
        s->want = (s->want & ~CS_WANT_START) | CS_WANT_TICK;
        return;
    }

    if (!cs_pg_ready(s->starter)) {
        return;
    }

    snprintf(lease, sizeof(lease), "%llu",
             (unsigned long long) s->cf->lease);
    values[0] = s->cf->id;
    values[1] = lease;

    if (!s->starter_warm) {
        cs_pg_query(s->starter, "SELECT campaign.scheduler_warm($1, $2)", 2,
                    values, warm_done, s);
        return;
    }

    /* the time its timers fired for: a database whose clock is a little
     * behind this host's waits for it rather than find nothing due */
    s->want &= ~CS_WANT_START;
    snprintf(until, sizeof(until), "%llu", (unsigned long long) s->until_us);
    values[2] = s->until_us ? until : NULL;
    s->until_us = 0;
    cs_pg_query(s->starter, "SELECT id, type, status, "
                "round(lateness_ms::numeric, 3), previous_owner "
                "FROM campaign.scheduler_start($1, $2, 'epoch'::timestamptz "
                "+ $3::bigint * interval '1 microsecond')", 3, values,
                start_done, s);
}


/* Sends the most urgent query wanted, if the connection is free. */
static void
sched_kick(cs_sched_t *s)
{
    char         horizon[24], lease[24];
    uint64_t     closed;
    const char  *values[3];

    if (s->stopping) {
        /* deliveries in flight finish and their results are written */
        if (cs_dispatch_drain(s->dispatch)) {
            cs_loop_stop(s->loop);
        } else {
            cs_dispatch_flush(s->dispatch, s->writer);
        }
        return;
    }

    /* a send window closed: the start waits for the database's clock to
     * see it closed, as for a start time */
    closed = cs_dispatch_closed(s->dispatch);
    if (closed) {
        s->want |= CS_WANT_START;
        if (closed > s->until_us) {
            s->until_us = closed;
        }
    }
    sched_start(s);
    cs_dispatch_flush(s->dispatch, s->writer);

    if (!cs_pg_ready(s->pg)) {
        return;
    }

    values[0] = s->cf->id;

    if (s->want & CS_WANT_POOLS) {
        s->want &= ~CS_WANT_POOLS;
        send_pools(s);

    } else if (s->want & CS_WANT_LOCK) {
        s->want &= ~CS_WANT_LOCK;
        cs_pg_query(s->pg, "SELECT campaign.scheduler_lock($1)", 1, values,
                    lock_done, s);

    } else if (s->want & CS_WANT_RESYNC) {
        s->want &= ~CS_WANT_RESYNC;
        snprintf(horizon, sizeof(horizon), "%llu",
                 (unsigned long long) s->cf->horizon);
        values[0] = horizon;
        cs_pg_query(s->pg, "SELECT id, due_us FROM campaign.due_within($1)",
                    1, values, resync_done, s);

    } else if (s->want & CS_WANT_TICK) {
        s->want &= ~CS_WANT_TICK;
        snprintf(lease, sizeof(lease), "%llu",
                 (unsigned long long) s->cf->lease);
        values[1] = lease;
        cs_pg_query(s->pg, "SELECT id, type, status, "
                    "round(lateness_ms::numeric, 3), previous_owner "
                    "FROM campaign.scheduler_tick($1, $2)", 2, values,
                    tick_done, s);

    } else if (s->want & CS_WANT_BEAT) {
        /* before claims: those never starve the heartbeat */
        s->want &= ~CS_WANT_BEAT;
        cs_pg_query(s->pg, "SELECT campaign.scheduler_beat($1)", 1, values,
                    beat_done, s);

    } else if (s->want & CS_WANT_JOBS) {
        s->want &= ~CS_WANT_JOBS;
        s->jobs_asked = cs_mono_ms();
        cs_pg_query(s->pg, "SELECT id, type, message, lease_ms, metadata, "
                    "window_ms, waves FROM campaign.my_running($1)", 1, values,
                    jobs_done, s);

    } else if (s->want & CS_WANT_SERIES) {
        /* the runs of series due within the lead (sql/functions/
         * series.sql): made seconds ahead, then started like any other */
        s->want &= ~CS_WANT_SERIES;
        snprintf(lease, sizeof(lease), "%d", CS_SERIES_BATCH);
        /* the lead covers two sweeps and a second (5 s at least) */
        snprintf(horizon, sizeof(horizon), "%llu",
                 (unsigned long long) (2 * s->cf->sweep + 1000));
        values[1] = lease;
        values[2] = horizon;
        cs_pg_query(s->pg, "SELECT campaign.scheduler_series($1, $2, $3)", 3,
                    values, series_done, s);

    } else if ((s->want & CS_WANT_RETAIN) && s->cf->retention > 0) {
        /* before claims, which would starve it, but paced: one batch per
         * CS_RETAIN_PACE_MS at most */
        s->want &= ~CS_WANT_RETAIN;
        snprintf(horizon, sizeof(horizon), "%llu",
                 (unsigned long long) s->cf->retention);
        snprintf(lease, sizeof(lease), "%d", CS_RETAIN_BATCH);
        values[0] = horizon;
        values[1] = lease;
        cs_pg_query(s->pg, "SELECT campaigns, recipients, events FROM "
                    "campaign.purge_finished($1, $2)", 2, values,
                    retain_done, s);

    } else if (cs_dispatch_claim(s->dispatch, s->pg)) {
        /* a claim is on its way */

    } else if (s->want & CS_WANT_PURGE) {
        s->want &= ~CS_WANT_PURGE;
        snprintf(horizon, sizeof(horizon), "%d", CS_PURGE_BATCH);
        values[0] = horizon;
        cs_pg_query(s->pg, "SELECT campaign.purge_keys($1)", 1, values,
                    purge_done, s);

    }
}


/* -------------------------------------------------------------- events */


static void
pg_up(void *data)
{
    cs_sched_t  *s = data;

    log_info("event=db_connected conn=main");
    s->backoff = 0;
    s->main_up = 1;
    s->locked = 0;
    s->want |= CS_WANT_LOCK | CS_WANT_RESYNC | CS_WANT_TICK | CS_WANT_BEAT
               | CS_WANT_SERIES
               | CS_WANT_JOBS;
    /* the file's limits, once a file is read: a reconnect is not a reading
     * (it would undo what a scheduler that read its file since set) */
    if (!s->pools_sent) {
        s->want |= CS_WANT_POOLS;
    }
    sched_kick(s);
}


/* Retries a lost connection soon: every second away is a second of
 * campaigns late. 100 ms, doubling, at most 1 s. */
static void
reconnect_later(cs_sched_t *s, cs_own_timer_t *timer, uint64_t *backoff)
{
    if (s->stopping) {
        return;
    }

    *backoff = *backoff ? *backoff * 2 : 100;
    if (*backoff > 1000) {
        *backoff = 1000;
    }

    cs_timers_in(s->mono, &timer->timer, *backoff);
}


static void
pg_down(void *data)
{
    cs_sched_t  *s = data;

    /* its lock went with the connection: the others may see a death */
    s->locked = 0;
    s->main_up = 0;
    cs_dispatch_db_lost(s->dispatch);
    reconnect_later(s, &s->reconnect, &s->backoff);
}


static void
writer_up(void *data)
{
    cs_sched_t  *s = data;

    log_info("event=db_connected conn=results");
    s->writer_backoff = 0;
    sched_kick(s);                  /* results kept while it was away */
}


static void
writer_down(void *data)
{
    cs_sched_t  *s = data;

    reconnect_later(s, &s->writer_reconnect, &s->writer_backoff);
}


static void
starter_up(void *data)
{
    cs_sched_t  *s = data;

    log_info("event=db_connected conn=starts");
    s->starter_backoff = 0;
    s->starter_up = 1;
    s->starter_warm = 0;
    /* a warm-up start, then a start of what is due */
    s->want |= CS_WANT_START;
    sched_kick(s);
}


static void
starter_down(void *data)
{
    cs_sched_t  *s = data;

    /* the main connection's tick starts what comes due meanwhile, and
     * what was in flight here */
    s->starter_up = 0;
    s->want |= CS_WANT_TICK;
    reconnect_later(s, &s->starter_reconnect, &s->starter_backoff);
    sched_kick(s);
}


static void
pg_notify(const char *payload, int be_pid, void *data)
{
    cs_sched_t   *s = data;
    cs_notify_t   n;

    if (cs_notify_parse(payload, &n) != 0) {
        log_warn("event=bad_notification payload_bytes=%zu",
                 strlen(payload));
        s->want |= CS_WANT_RESYNC | CS_WANT_TICK;
        sched_kick(s);
        return;
    }

    if (strcmp(n.status, "running") == 0 && n.due_us) {
        /* its send window closed: a slot was freed, and it is armed for
         * the opening (a job of ours, if it was one, goes) */
        if (n.due_us <= (cs_wall_ms() + s->cf->horizon) * 1000) {
            campaign_arm(s, n.id, n.due_us);
        }
        s->want |= CS_WANT_START | CS_WANT_JOBS;

    } else if (strcmp(n.status, "scheduled") == 0 && n.due_us
               && n.due_us <= (cs_wall_ms() + s->cf->horizon) * 1000)
    {
        campaign_arm(s, n.id, n.due_us);

    } else {
        /* started, cancelled, unscheduled, moved past the horizon */
        campaign_forget(s, n.id);
        if (strcmp(n.status, "scheduled") != 0
            && strcmp(n.status, "draft") != 0
            && strcmp(n.status, "running") != 0
            && !(strcmp(n.status, "completed") == 0
                 && be_pid == cs_pg_backend(s->starter)))
        {
            /* queued, or a slot was freed; a start frees none, and this
             * scheduler's own starts ask for their jobs already. A start
             * of its own that completed what it started (none pending)
             * freed no slot it did not see: what it queued meanwhile says
             * so itself */
            s->want |= CS_WANT_START;
        }
    }

    sched_kick(s);
}


/* The wall clock was set: the start times are read again. */
static void
wall_stepped(void *data)
{
    cs_sched_t  *s = data;

    s->want |= CS_WANT_RESYNC | CS_WANT_TICK;
    sched_kick(s);
}


static void
own_timer(cs_timer_t *t)
{
    cs_own_timer_t  *o = (cs_own_timer_t *) t;
    cs_sched_t      *s = o->s;

    if (o == &s->sweep) {
        s->want |= CS_WANT_TICK | CS_WANT_BEAT | CS_WANT_SERIES;
        if (!s->locked) {
            s->want |= CS_WANT_LOCK;
        }
        cs_timers_in(s->mono, t, s->cf->sweep);

    } else if (o == &s->resync) {
        s->want |= CS_WANT_RESYNC;
        cs_timers_in(s->mono, t, s->cf->horizon / 2);

    } else if (o == &s->retain) {
        s->want |= CS_WANT_RETAIN;

    } else if (o == &s->housekeeping) {
        s->want |= CS_WANT_PURGE | CS_WANT_RETAIN;
        cs_timers_in(s->mono, t, CS_HOUSEKEEPING_MS);

    } else if (o == &s->watchdog) {
        /* from the loop, whatever Postgres does: the loop is what systemd
         * should watch */
        sd_notify(0, "WATCHDOG=1");
        cs_timers_in(s->mono, t, s->watchdog_ms);

    } else if (o == &s->drain) {
        log_warn("event=drain_timeout action=\"stopping with deliveries "
                 "in flight\"");
        cs_loop_stop(s->loop);

    } else if (o == &s->reconnect) {
        if (cs_pg_connect(s->pg, &s->cf->db, s->cf->database_timeout) != 0)
        {
            pg_down(s);
        }

    } else if (o == &s->writer_reconnect) {
        if (cs_pg_connect(s->writer, &s->cf->db, s->cf->database_timeout)
            != 0)
        {
            writer_down(s);
        }

    } else if (o == &s->starter_reconnect) {
        if (cs_pg_connect(s->starter, &s->cf->db, s->cf->database_timeout)
            != 0)
        {
            starter_down(s);
        }
    }

    sched_kick(s);
}


static void
own_timer_init(cs_sched_t *s, cs_own_timer_t *o)
{
    cs_timer_init(&o->timer);
    o->timer.handler = own_timer;
    o->s = s;
}


/* ---------------------------------------------------------------- life */


/* the file's types have series from the start, at 0: a rate() over a
 * counter that appears mid-window reads low */
static void
sched_metrics_types(cs_config_t *cf)
{
    size_t  i;

    for (i = 0; i < cf->ntypes; i++) {
        (void) cs_metrics_type(cf->types[i].name);
    }
}


cs_sched_t *
cs_sched_create(cs_loop_t *loop, cs_config_t *cf)
{
    uint64_t               usec;
    cs_sched_t            *s;
    static cs_pg_events_t  events = { pg_up, pg_down, pg_notify };
    static cs_pg_events_t  writer_events = { writer_up, writer_down, NULL };
    static cs_pg_events_t  starter_events = { starter_up, starter_down,
                                              NULL };

    s = calloc(1, sizeof(cs_sched_t));
    if (s == NULL) {
        return NULL;
    }

    s->loop = loop;
    s->cf = cf;
    s->mono = cs_timers_create(loop, CLOCK_MONOTONIC, NULL, NULL);
    s->wall = cs_timers_create(loop, CLOCK_REALTIME, wall_stepped, s);
    if (s->mono == NULL || s->wall == NULL) {
        cs_sched_free(s);
        return NULL;
    }

    s->pg = cs_pg_create(loop, s->mono, "main", &events, s);
    s->writer = cs_pg_create(loop, s->mono, "results", &writer_events, s);
    s->starter = cs_pg_create(loop, s->mono, "starts", &starter_events, s);

    own_timer_init(s, &s->sweep);
    own_timer_init(s, &s->resync);
    own_timer_init(s, &s->reconnect);
    own_timer_init(s, &s->writer_reconnect);
    own_timer_init(s, &s->starter_reconnect);
    own_timer_init(s, &s->drain);
    own_timer_init(s, &s->watchdog);
    own_timer_init(s, &s->housekeeping);
    own_timer_init(s, &s->retain);

    /* systemd's WatchdogSec: pinged every 40 % of it, so that a late
     * wake-up still keeps within the half systemd asks for */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2500) {
        s->watchdog_ms = usec * 2 / 5 / 1000;
    }

    s->dispatch = cs_dispatch_create(loop, s->mono, cf, sched_wake, s);
    s->metrics = cs_metrics_http_create();
    sched_metrics_types(cf);

    if (s->pg == NULL || s->writer == NULL || s->starter == NULL
        || s->dispatch == NULL
        || s->metrics == NULL)
    {
        cs_sched_free(s);
        return NULL;
    }

    return s;
}


int
cs_sched_start(cs_sched_t *s, char *err, size_t errlen)
{
    if (cs_metrics_http_listen(s->metrics, &s->cf->metrics_addr,
                               s->cf->metrics_len, err, errlen) != 0)
    {
        return -1;
    }

    cs_timers_in(s->mono, &s->sweep.timer, s->cf->sweep);
    cs_timers_in(s->mono, &s->resync.timer, s->cf->horizon / 2);
    cs_timers_in(s->mono, &s->housekeeping.timer, CS_HOUSEKEEPING_MS);
    s->want |= CS_WANT_PURGE | CS_WANT_RETAIN;
    if (s->watchdog_ms) {
        sd_notify(0, "WATCHDOG=1");
        cs_timers_in(s->mono, &s->watchdog.timer, s->watchdog_ms);
    }

    if (cs_pg_connect(s->pg, &s->cf->db, s->cf->database_timeout) != 0) {
        pg_down(s);
    }
    if (cs_pg_connect(s->writer, &s->cf->db, s->cf->database_timeout) != 0)
    {
        writer_down(s);
    }
    if (cs_pg_connect(s->starter, &s->cf->db, s->cf->database_timeout)
        != 0)
    {
        starter_down(s);
    }

    sched_kick(s);
    return 0;
}


void
cs_sched_reload(cs_sched_t *s, cs_config_t *cf)
{
    int  reconnect = strcmp(s->cf->database, cf->database) != 0;

    char  err[256];

    cs_config_free(s->cf);
    *s->cf = *cf;
    sched_metrics_types(s->cf);

    if (cs_metrics_http_listen(s->metrics, &s->cf->metrics_addr,
                               s->cf->metrics_len, err, sizeof(err)) != 0)
    {
        log_error("event=reload_metrics_failed reason=%s "
                  "action=\"serving the metrics where they were\"",
                  log_esc(err));
    }

    if (reconnect) {
        cs_pg_reset(s->pg, "the database setting changed");
        cs_pg_reset(s->writer, "the database setting changed");
        cs_pg_reset(s->starter, "the database setting changed");
    }

    s->pools_sent = 0;
    s->want |= CS_WANT_POOLS | CS_WANT_RESYNC | CS_WANT_TICK | CS_WANT_RETAIN;
    sched_kick(s);
}


void
cs_sched_stop(cs_sched_t *s)
{
    s->stopping = 1;
    cs_timers_in(s->mono, &s->drain.timer, CS_DRAIN_MS);
    sched_kick(s);
}


void
cs_sched_free(cs_sched_t *s)
{
    cs_metrics_http_free(s->metrics);
    if (s->dispatch) {
        cs_dispatch_free(s->dispatch);
    }
    if (s->pg) {
        cs_pg_free(s->pg);
    }
    if (s->writer) {
        cs_pg_free(s->writer);
    }
    if (s->starter) {
        cs_pg_free(s->starter);
    }
    if (s->wall) {
        campaigns_clear(s);
        cs_timers_free(s->wall);
    }
    if (s->mono) {
        cs_timers_free(s->mono);
    }
    free(s);
}
