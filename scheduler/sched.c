#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "dispatch.h"
#include "hash.h"
#include "log.h"
#include "notify.h"
#include "pg.h"
#include "sched.h"
#include "wheel.h"

#define CS_BUCKETS       4096

#define CS_WANT_POOLS    0x01
#define CS_WANT_RESYNC   0x02
#define CS_WANT_TICK     0x04
#define CS_WANT_BEAT     0x08
#define CS_WANT_JOBS     0x10

#define CS_DRAIN_MS      10000      /* SIGTERM waits this for deliveries */

typedef struct cs_campaign_s cs_campaign_t;

struct cs_campaign_s {
    cs_timer_t       timer;         /* first: a timer is its campaign */
    cs_campaign_t   *next;          /* in its bucket */
    char             id[37];
};

struct cs_sched_s {
    cs_loop_t       *loop;
    cs_config_t     *cf;
    cs_pg_t         *pg;
    /* results have a connection of their own: a write of hundreds of rows
     * never holds up the next read, a tick or a start */
    cs_pg_t         *writer;
    cs_wheel_t       wheel;
    int              tfd;
    uint64_t         armed;         /* when the timerfd fires, or 0 */
    cs_timer_t       sweep;
    cs_timer_t       resync;
    cs_timer_t       reconnect;
    cs_timer_t       writer_reconnect;
    cs_timer_t       drain;
    cs_dispatch_t   *dispatch;
    uint64_t         backoff;
    uint64_t         writer_backoff;
    unsigned         want;
    int              ready;         /* told systemd */
    int              stopping;
    size_t           cached;
    cs_campaign_t   *buckets[CS_BUCKETS];
};

static void sched_kick(cs_sched_t *s);
static void sched_arm(cs_sched_t *s);


static void
sched_wake(void *data)
{
    sched_arm(data);
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
    cs_wheel_del(&s->wheel, &c->timer);
    free(c);
    s->cached--;
}


/* Arms (or re-arms) the campaign's timer for its start time. */
static void
campaign_arm(cs_sched_t *s, const char *id, uint64_t due)
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
        snprintf(c->id, sizeof(c->id), "%s", id);
        c->next = s->buckets[bucket_of(id)];
        s->buckets[bucket_of(id)] = c;
        s->cached++;
    }

    cs_wheel_add(&s->wheel, &c->timer, due);
}


static void
campaigns_clear(cs_sched_t *s)
{
    size_t          i;
    cs_campaign_t  *c, *next;

    for (i = 0; i < CS_BUCKETS; i++) {
        for (c = s->buckets[i]; c; c = next) {
            next = c->next;
            cs_wheel_del(&s->wheel, &c->timer);
            free(c);
        }
        s->buckets[i] = NULL;
    }
    s->cached = 0;
}


/* ------------------------------------------------------------- queries */


static void
resync_done(PGresult *res, void *data)
{
    cs_sched_t  *s = data;
    int          i, n;
    uint64_t     due;

    if (res == NULL) {
        s->want |= CS_WANT_RESYNC;
        return;
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
        log_info("event=ready id=\"%s\"", s->cf->id);
    }

    sched_arm(s);
}


static void
tick_done(PGresult *res, void *data)
{
    cs_sched_t  *s = data;
    int          i;

    if (res == NULL) {
        s->want |= CS_WANT_TICK;
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        log_info("event=started campaign=%s type=%s lateness_ms=%s",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                 PQgetvalue(res, i, 3));
    }

    s->want |= CS_WANT_JOBS;        /* started, taken over, or gone */
    sched_kick(s);
}


static void
jobs_done(PGresult *res, void *data)
{
    cs_sched_t  *s = data;

    if (res == NULL) {
        s->want |= CS_WANT_JOBS;
        return;
    }

    cs_dispatch_jobs(s->dispatch, res);
    sched_kick(s);
}


static void
plain_done(PGresult *res, void *data)
{
    (void) res;

    sched_kick(data);
}


static void
send_pools(cs_sched_t *s)
{
    size_t       i, nt = 0, nl = 0;
    char         types[CS_MAX_TYPES * (CS_NAME_MAX + 1) + 3];
    char         limits[CS_MAX_TYPES * 12 + 3];
    const char  *values[2];

    types[nt++] = '{';
    limits[nl++] = '{';
    for (i = 0; i < s->cf->ntypes; i++) {
        if (s->cf->types[i].pool < 0) {
            continue;
        }
        nt += snprintf(types + nt, sizeof(types) - nt, "%s%s",
                       nt > 1 ? "," : "", s->cf->types[i].name);
        nl += snprintf(limits + nl, sizeof(limits) - nl, "%s%ld",
                       nl > 1 ? "," : "", s->cf->types[i].pool);
    }
    snprintf(types + nt, sizeof(types) - nt, "}");
    snprintf(limits + nl, sizeof(limits) - nl, "}");

    values[0] = types;
    values[1] = limits;
    cs_pg_query(s->pg, "SELECT campaign.scheduler_pools($1, $2)", 2, values,
                plain_done, s);
}


/* Sends the most urgent query wanted, if the connection is free. */
static void
sched_kick(cs_sched_t *s)
{
    char         horizon[24], lease[24];
    const char  *values[2];

    if (s->stopping) {
        /* deliveries in flight finish and their results are written */
        if (cs_dispatch_drain(s->dispatch)) {
            cs_loop_stop(s->loop);
        } else if (cs_pg_ready(s->writer)) {
            cs_dispatch_flush(s->dispatch, s->writer);
        }
        return;
    }

    if (cs_pg_ready(s->writer)) {
        cs_dispatch_flush(s->dispatch, s->writer);
    }

    if (!cs_pg_ready(s->pg)) {
        return;
    }

    if (s->want & CS_WANT_POOLS) {
        s->want &= ~CS_WANT_POOLS;
        send_pools(s);

    } else if (s->want & CS_WANT_RESYNC) {
        s->want &= ~CS_WANT_RESYNC;
        snprintf(horizon, sizeof(horizon), "%llu",
                 (unsigned long long) s->cf->horizon);
        values[0] = horizon;
        cs_pg_query(s->pg, "SELECT id, due_ms FROM campaign.due_within($1)",
                    1, values, resync_done, s);

    } else if (s->want & CS_WANT_TICK) {
        s->want &= ~CS_WANT_TICK;
        snprintf(lease, sizeof(lease), "%llu",
                 (unsigned long long) s->cf->lease);
        values[0] = s->cf->id;
        values[1] = lease;
        cs_pg_query(s->pg, "SELECT id, type, status, "
                    "round(lateness_ms::numeric, 1) "
                    "FROM campaign.scheduler_tick($1, $2)", 2, values,
                    tick_done, s);

    } else if (s->want & CS_WANT_JOBS) {
        s->want &= ~CS_WANT_JOBS;
        values[0] = s->cf->id;
        cs_pg_query(s->pg, "SELECT id, type, message FROM "
                    "campaign.my_running($1)", 1, values, jobs_done, s);

    } else if (cs_dispatch_claim(s->dispatch, s->pg)) {
        /* a claim is on its way */

    } else if (s->want & CS_WANT_BEAT) {
        s->want &= ~CS_WANT_BEAT;
        values[0] = s->cf->id;
        cs_pg_query(s->pg, "SELECT campaign.scheduler_beat($1)", 1, values,
                    plain_done, s);
        sd_notify(0, "WATCHDOG=1");
    }
}


/* -------------------------------------------------------------- events */


static void
pg_up(void *data)
{
    cs_sched_t  *s = data;

    log_info("event=db_connected conn=main");
    s->backoff = 0;
    s->want |= CS_WANT_POOLS | CS_WANT_RESYNC | CS_WANT_TICK | CS_WANT_BEAT
               | CS_WANT_JOBS;
    sched_kick(s);
}


/* Retries a lost connection soon: every second away is a second of
 * campaigns late. 100 ms, doubling, at most 1 s. */
static void
reconnect_later(cs_sched_t *s, cs_timer_t *timer, uint64_t *backoff)
{
    if (s->stopping) {
        return;
    }

    *backoff = *backoff ? *backoff * 2 : 100;
    if (*backoff > 1000) {
        *backoff = 1000;
    }

    cs_wheel_add(&s->wheel, timer, cs_now_ms() + *backoff);
    sched_arm(s);
}


static void
pg_down(void *data)
{
    cs_sched_t  *s = data;

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
pg_notify(const char *payload, void *data)
{
    cs_sched_t   *s = data;
    cs_notify_t   n;

    if (cs_notify_parse(payload, &n) != 0) {
        log_warn("event=bad_notification payload_bytes=%zu",
                 strlen(payload));
        s->want |= CS_WANT_RESYNC | CS_WANT_TICK;
        sched_arm(s);
        return;
    }

    if (strcmp(n.status, "scheduled") == 0 && n.due_ms
        && n.due_ms <= cs_now_ms() + s->cf->horizon)
    {
        campaign_arm(s, n.id, n.due_ms);

    } else {
        /* started, cancelled, unscheduled, moved past the horizon */
        campaign_forget(s, n.id);
        if (strcmp(n.status, "scheduled") != 0
            && strcmp(n.status, "draft") != 0)
        {
            s->want |= CS_WANT_TICK;    /* queued, or a slot was freed */
        }
    }

    sched_arm(s);
}


static void
timer_fired(int fd, int events, void *data)
{
    cs_sched_t  *s = data;
    uint64_t     count, now;
    cs_timer_t  *t;

    (void) events;

    if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
        log_error("event=timerfd_read error=\"%s\"", strerror(errno));
    }
    s->armed = 0;

    now = cs_now_ms();
    cs_wheel_update(&s->wheel, now);

    while ((t = cs_wheel_get(&s->wheel)) != NULL) {
        if (t->handler) {
            t->handler(t);          /* a delivery job's */

        } else if (t == &s->sweep) {
            s->want |= CS_WANT_TICK | CS_WANT_BEAT;
            cs_wheel_add(&s->wheel, &s->sweep, now + s->cf->sweep);

        } else if (t == &s->resync) {
            s->want |= CS_WANT_RESYNC;
            cs_wheel_add(&s->wheel, &s->resync, now + s->cf->horizon / 2);

        } else if (t == &s->drain) {
            log_warn("event=drain_timeout action=\"stopping with deliveries "
                     "in flight\"");
            cs_loop_stop(s->loop);

        } else if (t == &s->reconnect) {
            if (cs_pg_connect(s->pg, s->cf->database) != 0) {
                pg_down(s);
            }

        } else if (t == &s->writer_reconnect) {
            if (cs_pg_connect(s->writer, s->cf->database) != 0) {
                writer_down(s);
            }

        } else {
            /* a campaign's start time: the tick promotes and claims it */
            campaign_forget(s, ((cs_campaign_t *) t)->id);
            s->want |= CS_WANT_TICK;
        }
    }

    sched_arm(s);
}


/* Arms the timerfd for the wheel's next expiry, absolute wall-clock ms. */
static void
sched_arm(cs_sched_t *s)
{
    uint64_t           next;
    struct itimerspec  its;

    sched_kick(s);

    next = cs_wheel_next(&s->wheel);
    if (next == s->armed || next == UINT64_MAX) {
        return;
    }

    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t) (next / 1000);
    its.it_value.tv_nsec = (long) (next % 1000) * 1000000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
        its.it_value.tv_nsec = 1;       /* all zeros would disarm it */
    }

    if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        log_error("event=timerfd_settime error=\"%s\"", strerror(errno));
        return;
    }
    s->armed = next;
}


/* ---------------------------------------------------------------- life */


cs_sched_t *
cs_sched_create(cs_loop_t *loop, cs_config_t *cf)
{
    cs_sched_t            *s;
    static cs_pg_events_t  events = { pg_up, pg_down, pg_notify };
    static cs_pg_events_t  writer_events = { writer_up, writer_down, NULL };

    s = calloc(1, sizeof(cs_sched_t));
    if (s == NULL) {
        return NULL;
    }

    s->loop = loop;
    s->cf = cf;
    s->tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    s->pg = cs_pg_create(loop, "main", &events, s);
    s->writer = cs_pg_create(loop, "results", &writer_events, s);

    cs_wheel_init(&s->wheel, cs_now_ms());
    cs_timer_init(&s->sweep);
    cs_timer_init(&s->resync);
    cs_timer_init(&s->reconnect);
    cs_timer_init(&s->writer_reconnect);
    cs_timer_init(&s->drain);
    s->dispatch = cs_dispatch_create(loop, &s->wheel, cf, sched_wake, s);

    if (s->tfd < 0 || s->pg == NULL || s->writer == NULL
        || s->dispatch == NULL
        || cs_loop_watch(loop, s->tfd, CS_READ, timer_fired, s) != 0)
    {
        cs_sched_free(s);
        return NULL;
    }

    return s;
}


int
cs_sched_start(cs_sched_t *s)
{
    uint64_t  now = cs_now_ms();

    cs_wheel_add(&s->wheel, &s->sweep, now + s->cf->sweep);
    cs_wheel_add(&s->wheel, &s->resync, now + s->cf->horizon / 2);

    if (cs_pg_connect(s->pg, s->cf->database) != 0) {
        pg_down(s);
    }
    if (cs_pg_connect(s->writer, s->cf->database) != 0) {
        writer_down(s);
    }

    sched_arm(s);
    return 0;
}


void
cs_sched_reload(cs_sched_t *s, cs_config_t *cf)
{
    int  reconnect = strcmp(s->cf->database, cf->database) != 0;

    cs_config_free(s->cf);
    *s->cf = *cf;

    if (reconnect) {
        cs_pg_reset(s->pg, "the database setting changed");
        cs_pg_reset(s->writer, "the database setting changed");
    }

    s->want |= CS_WANT_POOLS | CS_WANT_RESYNC | CS_WANT_TICK;
    sched_arm(s);
}


void
cs_sched_stop(cs_sched_t *s)
{
    s->stopping = 1;
    cs_wheel_add(&s->wheel, &s->drain, cs_now_ms() + CS_DRAIN_MS);
    sched_arm(s);
}


void
cs_sched_free(cs_sched_t *s)
{
    if (s->dispatch) {
        cs_dispatch_free(s->dispatch);
    }
    if (s->pg) {
        cs_pg_free(s->pg);
    }
    if (s->writer) {
        cs_pg_free(s->writer);
    }
    campaigns_clear(s);
    if (s->tfd >= 0) {
        close(s->tfd);
    }
    free(s);
}
