#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "metrics.h"
#include "pg.h"

typedef enum {
    CS_PG_DOWN = 0,
    CS_PG_CONNECTING,
    CS_PG_SETTING_UP,             /* sent SET and LISTEN, waiting */
    CS_PG_IDLE,
    CS_PG_BUSY
} cs_pg_state_e;

struct cs_pg_s {
    cs_timer_t         timer;       /* first: the connect's or query's */
    cs_loop_t         *loop;
    cs_timers_t       *timers;
    const char        *name;
    PGconn            *conn;
    int                fd;
    ino_t              ino;         /* the socket's: its number may be
                                     * reused by the next one libpq opens */
    uint64_t           timeout;
    size_t             start;       /* where in a host list to begin */
    cs_pg_state_e      state;
    int                flushing;
    PGresult          *result;
    int                failed;
    cs_pg_result_pt    done;
    void              *done_data;   /* the query's, not the owner's */
    cs_pg_events_t     events;
    void              *data;
    char               setup[160];
    int                kind;        /* the query's, for its metrics */
    uint64_t           sent_us;
    int                was_up;      /* a connect after it is a reconnect */
};

static void pg_event(int fd, int events, void *data);
static void pg_timed_out(cs_timer_t *t);


cs_pg_t *
cs_pg_create(cs_loop_t *loop, cs_timers_t *timers, const char *name,
    const cs_pg_events_t *events, void *data)
{
    cs_pg_t  *pg;

    pg = calloc(1, sizeof(cs_pg_t));
    if (pg == NULL) {
        return NULL;
    }

    pg->loop = loop;
    pg->timers = timers;
    pg->name = name;
    pg->events = *events;
    pg->data = data;
    pg->fd = -1;
    cs_timer_init(&pg->timer);
    pg->timer.handler = pg_timed_out;

    return pg;
}


static void
pg_quiet(void *arg, const char *message)
{
    (void) arg;
    (void) message;
}


/*
 * Watches libpq's socket for events. After every step of a connect libpq
 * may have closed it and opened another (the next host of a list, a retry
 * without SSL), possibly under the same number: the socket's inode tells.
 */
static int
pg_watch(cs_pg_t *pg, int events)
{
    int          fd = PQsocket(pg->conn);
    struct stat  st;

    if (fd < 0 || fstat(fd, &st) != 0) {
        return -1;
    }

    if (pg->fd >= 0 && (fd != pg->fd || st.st_ino != pg->ino)) {
        cs_loop_unwatch(pg->loop, pg->fd);
    }
    pg->fd = fd;
    pg->ino = st.st_ino;

    return cs_loop_watch(pg->loop, fd, events, pg_event, pg);
}


void
cs_pg_close(cs_pg_t *pg)
{
    cs_timers_del(pg->timers, &pg->timer);
    if (pg->fd >= 0) {
        cs_loop_unwatch(pg->loop, pg->fd);
        pg->fd = -1;
    }
    if (pg->result) {
        PQclear(pg->result);
        pg->result = NULL;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    pg->state = CS_PG_DOWN;
    pg->failed = 0;
    pg->flushing = 0;
}


void
cs_pg_free(cs_pg_t *pg)
{
    cs_pg_close(pg);
    free(pg);
}


/* Drops the connection and tells the owner, who decides when to retry. */
static void
pg_lost(cs_pg_t *pg, const char *why)
{
    cs_pg_result_pt  done;
    void            *done_data = pg->done_data;
    int              was_busy = pg->state == CS_PG_BUSY;

    log_warn("event=db_lost conn=%s reason=%s", pg->name,
             log_esc(why ? why : (pg->conn ? PQerrorMessage(pg->conn)
                                           : "?")));

    done = pg->done;
    pg->done = NULL;
    cs_pg_close(pg);

    if (was_busy && done) {
        (void) done(NULL, CS_PG_LOST, done_data);
    }
    pg->events.down(pg->data);
}


void
cs_pg_reset(cs_pg_t *pg, const char *why)
{
    pg_lost(pg, why);
}


static void
pg_timed_out(cs_timer_t *t)
{
    cs_pg_t  *pg = (cs_pg_t *) t;

    if (pg->state == CS_PG_CONNECTING) {
        /* a host that never answers: the next connect begins after it */
        pg->start++;
        pg_lost(pg, "the connect timed out");
        return;
    }
    pg_lost(pg, "the query timed out");
}


int
cs_pg_connect(cs_pg_t *pg, const pg_conninfo_t *ci, uint64_t timeout_ms)
{
    cs_pg_close(pg);

    pg->timeout = timeout_ms;
    pg->conn = PQconnectStartParams((const char *const *) ci->keywords,
                                    pg_conninfo_values(ci, pg->start), 0);
    if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD) {
        log_warn("event=db_connect_failed conn=%s reason=%s", pg->name,
                 log_esc(pg->conn ? PQerrorMessage(pg->conn)
                                  : "out of memory"));
        cs_pg_close(pg);
        return -1;
    }

    PQsetnonblocking(pg->conn, 1);
    PQsetNoticeProcessor(pg->conn, pg_quiet, NULL);
    pg->state = CS_PG_CONNECTING;

    /* libpq ignores connect_timeout when non-blocking: time it here */
    cs_timers_in(pg->timers, &pg->timer, timeout_ms);

    /* libpq's first step is a write: wait until the socket is writable */
    if (pg_watch(pg, CS_WRITE) != 0) {
        cs_pg_close(pg);
        return -1;
    }

    return 0;
}


int
cs_pg_ready(const cs_pg_t *pg)
{
    return pg->state == CS_PG_IDLE;
}


int
cs_pg_backend(const cs_pg_t *pg)
{
    return pg->conn ? PQbackendPID(pg->conn) : 0;
}


static int
pg_flush(cs_pg_t *pg)
{
    int  rc = PQflush(pg->conn);

    if (rc < 0) {
        return -1;
    }
    pg->flushing = rc == 1;

    return pg_watch(pg, CS_READ | (pg->flushing ? CS_WRITE : 0));
}


int
cs_pg_query(cs_pg_t *pg, const char *sql, int nparams,
    const char *const *values, cs_pg_result_pt done, void *data)
{
    if (pg->state != CS_PG_IDLE) {
        return -1;
    }

    pg->state = CS_PG_BUSY;
    pg->done = NULL;
    pg->failed = 0;

    /* a failure here is told by the -1 alone, not by done() as well */
    if (!PQsendQueryParams(pg->conn, sql, nparams, NULL, values, NULL, NULL,
                           0)
        || pg_flush(pg) != 0)
    {
        pg_lost(pg, NULL);
        return -1;
    }

    pg->done = done;
    pg->done_data = data;
    pg->kind = cs_metrics_query_kind(sql);
    pg->sent_us = cs_loop_mono_us();
    cs_timers_in(pg->timers, &pg->timer, pg->timeout);

    return 0;
}


static void
pg_connect_step(cs_pg_t *pg)
{
    unsigned long long  statement_ms;

    switch (PQconnectPoll(pg->conn)) {

    case PGRES_POLLING_READING:
        if (pg_watch(pg, CS_READ) != 0) {
            pg_lost(pg, "cannot watch the socket");
        }
        return;

    case PGRES_POLLING_WRITING:
        if (pg_watch(pg, CS_WRITE) != 0) {
            pg_lost(pg, "cannot watch the socket");
        }
        return;

    case PGRES_POLLING_OK:
        break;

    default:
        /*
         * libpq tries the next host only for some failures: a host that
         * accepts and then closes (a proxy before a dead primary) ends
         * the whole connect. The next one begins after it.
         */
        pg->start++;
        pg_lost(pg, NULL);
        return;
    }

    /*
     * The server ends a statement a little before the scheduler stops
     * waiting for it. Notifications sent while we were away are gone: the
     * owner resyncs when told the connection is up.
     */
    statement_ms = (unsigned long long) pg->timeout * 4 / 5;
    snprintf(pg->setup, sizeof(pg->setup),
             "SET statement_timeout = %llu; "
             "SET application_name = 'campaign-scheduler'%s",
             statement_ms, pg->events.notify ? "; LISTEN campaign" : "");

    pg->state = CS_PG_SETTING_UP;
    pg->failed = 0;
    cs_timers_in(pg->timers, &pg->timer, pg->timeout);

    if (pg_watch(pg, CS_READ) != 0 || !PQsendQuery(pg->conn, pg->setup)
        || pg_flush(pg) != 0)
    {
        pg_lost(pg, NULL);
    }
}


static void
pg_read(cs_pg_t *pg)
{
    int               keep;
    PGnotify         *n;
    PGresult         *res;
    cs_pg_result_pt   done;
    ExecStatusType    st;

    if (!PQconsumeInput(pg->conn)) {
        pg_lost(pg, NULL);
        return;
    }

    while ((n = PQnotifies(pg->conn)) != NULL) {
        if (pg->events.notify) {
            pg->events.notify(n->extra, n->be_pid, pg->data);
        }
        PQfreemem(n);
        if (pg->conn == NULL) {
            return;                 /* the owner closed us */
        }
    }

    if (pg->state != CS_PG_BUSY && pg->state != CS_PG_SETTING_UP) {
        return;
    }

    while (!PQisBusy(pg->conn)) {
        res = PQgetResult(pg->conn);

        if (res == NULL) {
            cs_timers_del(pg->timers, &pg->timer);

            if (pg->state == CS_PG_SETTING_UP) {
                if (pg->failed) {
                    pg_lost(pg, "the set-up failed");
                    return;
                }
                if (pg->result) {
                    PQclear(pg->result);
                    pg->result = NULL;
                }
                pg->state = CS_PG_IDLE;
                cs_metrics_connected(pg->name, pg->was_up);
                pg->was_up = 1;
                pg->events.up(pg->data);
                return;
            }

            res = pg->result;
            pg->result = NULL;
            done = pg->done;
            pg->done = NULL;
            pg->state = CS_PG_IDLE;
            cs_metrics_query(pg->kind,
                             (double) (cs_loop_mono_us() - pg->sent_us) / 1e6);

            keep = done ? done(res, pg->failed ? CS_PG_ERROR : CS_PG_OK,
                               pg->done_data)
                        : 0;
            if (res && !keep) {
                PQclear(res);
            }
            return;
        }

        st = PQresultStatus(res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            log_error("event=query_failed conn=%s sqlstate=%s error=%s",
                      pg->name,
                      log_esc(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
                      log_esc(PQresultErrorField(res,
                                                 PG_DIAG_MESSAGE_PRIMARY)));
            pg->failed = 1;
        }

        /* the first error, or else the last result, is the answer */
        if (pg->result == NULL) {
            pg->result = res;

        } else if (PQresultStatus(pg->result) != PGRES_TUPLES_OK
                   && PQresultStatus(pg->result) != PGRES_COMMAND_OK)
        {
            PQclear(res);

        } else {
            PQclear(pg->result);
            pg->result = res;
        }
    }
}


static void
pg_event(int fd, int events, void *data)
{
    cs_pg_t  *pg = data;

    (void) fd;

    if (pg->state == CS_PG_CONNECTING) {
        pg_connect_step(pg);
        return;
    }

    if ((events & CS_WRITE) && pg->flushing) {
        if (pg_flush(pg) != 0) {
            pg_lost(pg, NULL);
            return;
        }
    }

    if (events & CS_READ) {
        pg_read(pg);
    }
}
