#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"

/* every connection; only one that takes notifications also LISTENs */
#define CS_PG_SETUP  "SET statement_timeout = 10000; " \
                     "SET application_name = 'campaign-scheduler'"

typedef enum {
    CS_PG_DOWN = 0,
    CS_PG_CONNECTING,
    CS_PG_SETTING_UP,             /* sent SET and LISTEN, waiting */
    CS_PG_IDLE,
    CS_PG_BUSY
} cs_pg_state_e;

struct cs_pg_s {
    cs_loop_t         *loop;
    const char        *name;
    PGconn            *conn;
    int                fd;
    cs_pg_state_e      state;
    int                flushing;
    PGresult          *result;
    int                failed;
    cs_pg_result_pt    done;
    void              *done_data;   /* the query's, not the owner's */
    cs_pg_events_t     events;
    void              *data;
};

static void pg_event(int fd, int events, void *data);


cs_pg_t *
cs_pg_create(cs_loop_t *loop, const char *name,
    const cs_pg_events_t *events, void *data)
{
    cs_pg_t  *pg;

    pg = calloc(1, sizeof(cs_pg_t));
    if (pg == NULL) {
        return NULL;
    }

    pg->loop = loop;
    pg->name = name;
    pg->events = *events;
    pg->data = data;
    pg->fd = -1;

    return pg;
}


static void
pg_quiet(void *arg, const char *message)
{
    (void) arg;
    (void) message;
}


static int
pg_watch(cs_pg_t *pg, int events)
{
    int  fd = PQsocket(pg->conn);

    if (fd != pg->fd && pg->fd >= 0) {
        cs_loop_unwatch(pg->loop, pg->fd);
    }
    pg->fd = fd;

    return cs_loop_watch(pg->loop, fd, events, pg_event, pg);
}


void
cs_pg_close(cs_pg_t *pg)
{
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

    log_warn("event=db_lost conn=%s reason=\"%s\"", pg->name,
             why ? why : (pg->conn ? PQerrorMessage(pg->conn) : "?"));

    done = pg->done;
    pg->done = NULL;
    cs_pg_close(pg);

    if (was_busy && done) {
        done(NULL, done_data);
    }
    pg->events.down(pg->data);
}


void
cs_pg_reset(cs_pg_t *pg, const char *why)
{
    pg_lost(pg, why);
}


int
cs_pg_connect(cs_pg_t *pg, const char *conninfo)
{
    cs_pg_close(pg);

    pg->conn = PQconnectStart(conninfo);
    if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD) {
        log_warn("event=db_connect_failed conn=%s reason=\"%s\"", pg->name,
                 pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
        cs_pg_close(pg);
        return -1;
    }

    PQsetnonblocking(pg->conn, 1);
    PQsetNoticeProcessor(pg->conn, pg_quiet, NULL);
    pg->state = CS_PG_CONNECTING;

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

    if (!PQsendQueryParams(pg->conn, sql, nparams, NULL, values, NULL, NULL,
                           0))
    {
        pg->state = CS_PG_BUSY;
        pg_lost(pg, NULL);
        return -1;
    }

    pg->state = CS_PG_BUSY;
    pg->done = done;
    pg->done_data = data;
    pg->failed = 0;

    if (pg_flush(pg) != 0) {
        pg_lost(pg, NULL);
        return -1;
    }

    return 0;
}


static void
pg_connect_step(cs_pg_t *pg)
{
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
        pg_lost(pg, NULL);
        return;
    }

    /* notifications sent while we were away are gone: the owner resyncs */
    pg->state = CS_PG_SETTING_UP;
    pg->failed = 0;
    if (!PQsendQuery(pg->conn, pg->events.notify ? CS_PG_SETUP
                                                   "; LISTEN campaign"
                                                 : CS_PG_SETUP)
        || pg_flush(pg) != 0)
    {
        pg_lost(pg, NULL);
    }
}


static void
pg_read(cs_pg_t *pg)
{
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
            pg->events.notify(n->extra, pg->data);
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
            if (pg->state == CS_PG_SETTING_UP) {
                if (pg->failed) {
                    pg_lost(pg, "the set-up failed");
                    return;
                }
                pg->state = CS_PG_IDLE;
                pg->events.up(pg->data);
                return;
            }

            res = pg->result;
            pg->result = NULL;
            done = pg->done;
            pg->done = NULL;
            pg->state = CS_PG_IDLE;

            if (done) {
                done(pg->failed ? NULL : res, pg->done_data);
            }
            if (res) {
                PQclear(res);
            }
            return;
        }

        st = PQresultStatus(res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            /* the first line says what; the context follows in Postgres */
            log_error("event=query_failed error=\"%.*s\"",
                      (int) strcspn(PQresultErrorMessage(res), "\n"),
                      PQresultErrorMessage(res));
            pg->failed = 1;
        }

        if (pg->result) {
            PQclear(pg->result);
        }
        pg->result = res;
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
