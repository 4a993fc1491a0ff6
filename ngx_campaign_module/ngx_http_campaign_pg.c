
/*
 * A per-worker pool of non-blocking libpq connections driven by nginx's
 * event loop. Each connection prepares campaign.api() once; queries beyond
 * the pool wait in order; every query is under a timer, and a connection
 * that times out or errs is closed, never reused.
 *
 * Reads that waited (GET one campaign) go out together: up to
 * NGX_HTTP_CAMPAIGN_PG_BATCH of them in one pipeline with one Sync, so
 * that Postgres reads them in one go and answers them in one write. A
 * change always goes alone: its transaction is its own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>
#include <poll.h>
#include <sys/stat.h>

#include "ngx_http_campaign_module.h"


/*
 * ms left for what statement_timeout does not bound (the commit, the
 * answer's way back) by a request sent from the queue: half of what
 * campaign_timeout gives beyond statement_timeout, at least this
 */
#define NGX_HTTP_CAMPAIGN_PG_MARGIN  50

/* reads sent in one pipeline at most */
#define NGX_HTTP_CAMPAIGN_PG_BATCH   16


typedef enum {
    NGX_HTTP_CAMPAIGN_PG_FREE = 0,
    NGX_HTTP_CAMPAIGN_PG_CONNECTING,
    NGX_HTTP_CAMPAIGN_PG_PREPARING,
    NGX_HTTP_CAMPAIGN_PG_IDLE,
    NGX_HTTP_CAMPAIGN_PG_BUSY
} ngx_http_campaign_pg_state_e;


struct ngx_http_campaign_pg_conn_s {
    ngx_queue_t                      queue;     /* in free or idle */
    ngx_http_campaign_pg_pool_t     *pool;
    PGconn                          *pg;
    ngx_connection_t                *c;
    /* in flight, in order; NULL where a request went away */
    ngx_http_campaign_query_t       *queries[NGX_HTTP_CAMPAIGN_PG_BATCH];
    ngx_uint_t                       nqueries;
    ngx_uint_t                       current;   /* whose results come */
    /* reads put back, in order: to the queue's head when this is done */
    ngx_queue_t                      again;
    PGresult                        *result;
    PGresult                        *error;     /* the first refusal */
    ngx_http_campaign_pg_state_e     state;
    ino_t                            ino;       /* the socket's */
    ngx_uint_t                       start;     /* the host list it began */
    unsigned                         flushing:1;
    unsigned                         failed:1;
    unsigned                         aborted:1; /* behind a refusal */
    unsigned                         large:1;   /* close when done */
    unsigned                         pipeline:1;
};


struct ngx_http_campaign_pg_pool_s {
    ngx_http_campaign_pg_conn_t     *conns;
    ngx_queue_t                      free;
    ngx_queue_t                      idle;
    ngx_queue_t                      waiting;   /* queries, in order */
    ngx_uint_t                       nwaiting;
    ngx_uint_t                       active;    /* slots not free */
    ngx_uint_t                       connecting;
    ngx_http_campaign_main_conf_t   *cmcf;
    char                            *setup;
    ngx_log_t                       *log;
    ngx_uint_t                       start;     /* where a host list begins */
    ngx_msec_t                       margin;    /* see ..._PG_MARGIN */
};


static void ngx_http_campaign_pg_grow(ngx_http_campaign_pg_pool_t *pool);
static void ngx_http_campaign_pg_state(ngx_http_campaign_pg_conn_t *conn,
    ngx_http_campaign_pg_state_e state);
static ngx_int_t ngx_http_campaign_pg_open(ngx_http_campaign_pg_pool_t *pool);
static ngx_int_t ngx_http_campaign_pg_attach(
    ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_detach(ngx_http_campaign_pg_conn_t *conn);
static ngx_uint_t ngx_http_campaign_pg_close(
    ngx_http_campaign_pg_conn_t *conn, ngx_http_campaign_query_t **out);
static void ngx_http_campaign_pg_fail(ngx_http_campaign_pg_conn_t *conn,
    const char *why);
static void ngx_http_campaign_pg_event(ngx_event_t *ev);
static void ngx_http_campaign_pg_connect(ngx_http_campaign_pg_conn_t *conn,
    ngx_event_t *ev);
static void ngx_http_campaign_pg_io(ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_idle(ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_done(ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_ready(ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_take(ngx_http_campaign_pg_conn_t *conn,
    ngx_http_campaign_query_t *q);
static void ngx_http_campaign_pg_send(ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_next(ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_again(ngx_http_campaign_pg_conn_t *conn);
static ngx_int_t ngx_http_campaign_pg_flush(
    ngx_http_campaign_pg_conn_t *conn);
static void ngx_http_campaign_pg_deliver(ngx_http_campaign_query_t *q,
    PGresult *res, PGresult *err);
static void ngx_http_campaign_pg_fail_waiting(
    ngx_http_campaign_pg_pool_t *pool);
static void ngx_http_campaign_pg_timeout(ngx_event_t *ev);
static void ngx_http_campaign_pg_notice(void *arg, const char *message);


ngx_http_campaign_pg_pool_t *
ngx_http_campaign_pg_pool_create(ngx_cycle_t *cycle,
    ngx_http_campaign_main_conf_t *cmcf)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_http_campaign_pg_pool_t  *pool;

    static const char  prepare[] =
        "SET client_min_messages = warning; "
        "PREPARE " NGX_HTTP_CAMPAIGN_STMT_API " (text, text, text, text, "
        "text, text, text, text, text, text, text, text, text, text, "
        "text) AS "
        NGX_HTTP_CAMPAIGN_SQL_API "; "
        "PREPARE " NGX_HTTP_CAMPAIGN_STMT_GET " (text, text) AS "
        NGX_HTTP_CAMPAIGN_SQL_GET;

    pool = ngx_pcalloc(cycle->pool, sizeof(ngx_http_campaign_pg_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->conns = ngx_pcalloc(cycle->pool,
                  cmcf->pool_size * sizeof(ngx_http_campaign_pg_conn_t));
    if (pool->conns == NULL) {
        return NULL;
    }

    ngx_queue_init(&pool->free);
    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->waiting);

    for (i = 0; i < cmcf->pool_size; i++) {
        pool->conns[i].pool = pool;
        ngx_queue_init(&pool->conns[i].again);
        ngx_queue_insert_tail(&pool->free, &pool->conns[i].queue);
    }

    /*
     * The server ends a statement before the module stops waiting for it
     * (statement_timeout is less than campaign_timeout), so that a request
     * answered 503 for its time has not committed. Behind pgbouncer's
     * transaction pooling a session's SET would go to whichever server
     * connection it lands on: there, statement_timeout is the role's.
     */
    pool->setup = ngx_pnalloc(cycle->pool,
                              sizeof("SET statement_timeout = ; ")
                              + NGX_INT_T_LEN + sizeof(prepare));
    if (pool->setup == NULL) {
        return NULL;
    }

    p = ngx_sprintf((u_char *) pool->setup, "SET statement_timeout = %M; %s",
                    cmcf->statement_timeout, prepare);
    *p = '\0';

    pool->cmcf = cmcf;
    pool->log = cycle->log;
    pool->margin = ngx_max((cmcf->timeout - cmcf->statement_timeout) / 2,
                           NGX_HTTP_CAMPAIGN_PG_MARGIN);

    return pool;
}


/* a connection's state, and the worker's gauges of them */
static void
ngx_http_campaign_pg_state(ngx_http_campaign_pg_conn_t *conn,
    ngx_http_campaign_pg_state_e state)
{
    static const ngx_uint_t  gauge[] = {
        NGX_HTTP_CAMPAIGN_M_CLOSED, NGX_HTTP_CAMPAIGN_M_CONNECTING,
        NGX_HTTP_CAMPAIGN_M_CONNECTING, NGX_HTTP_CAMPAIGN_M_IDLE,
        NGX_HTTP_CAMPAIGN_M_BUSY
    };

    ngx_http_campaign_metrics_conn(gauge[conn->state], gauge[state]);
    conn->state = state;
}


void
ngx_http_campaign_pg_pool_destroy(ngx_http_campaign_pg_pool_t *pool)
{
    ngx_uint_t  i;

    for (i = 0; i < pool->cmcf->pool_size; i++) {
        if (pool->conns[i].state != NGX_HTTP_CAMPAIGN_PG_FREE) {
            (void) ngx_http_campaign_pg_close(&pool->conns[i], NULL);
        }
    }
}


void
ngx_http_campaign_pg_query(ngx_http_campaign_query_t *q)
{
    ngx_queue_t                  *qe;
    ngx_http_campaign_pg_conn_t  *conn;
    ngx_http_campaign_pg_pool_t  *pool;

    pool = q->pool;
    q->conn = NULL;
    q->waiting = 0;

    /* the whole wait: for a connection, then for the answer */
    q->timer.handler = ngx_http_campaign_pg_timeout;
    q->timer.data = q;
    q->deadline = ngx_current_msec + pool->cmcf->timeout;
    ngx_add_timer(&q->timer, pool->cmcf->timeout);

    if (!ngx_queue_empty(&pool->idle)) {
        qe = ngx_queue_head(&pool->idle);
        ngx_queue_remove(qe);
        conn = ngx_queue_data(qe, ngx_http_campaign_pg_conn_t, queue);
        ngx_http_campaign_pg_take(conn, q);
        ngx_http_campaign_pg_send(conn);
        return;
    }

    ngx_queue_insert_tail(&pool->waiting, &q->queue);
    q->waiting = 1;
    pool->nwaiting++;
    ngx_http_campaign_metrics_waiting(pool->nwaiting);

    ngx_http_campaign_pg_grow(pool);
}


void
ngx_http_campaign_pg_query_abort(ngx_http_campaign_query_t *q)
{
    if (q->waiting) {
        ngx_queue_remove(&q->queue);
        q->waiting = 0;
        q->pool->nwaiting--;
        ngx_http_campaign_metrics_waiting(q->pool->nwaiting);
    }

    if (q->conn) {
        /* the connection finishes the statement and drops the answer */
        q->conn->queries[q->slot] = NULL;
        q->conn = NULL;
    }

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }
}


/* Opens connections while queries wait for more than are being opened. */
static void
ngx_http_campaign_pg_grow(ngx_http_campaign_pg_pool_t *pool)
{
    while (pool->nwaiting > pool->connecting
           && pool->active < pool->cmcf->pool_size)
    {
        if (ngx_http_campaign_pg_open(pool) != NGX_OK) {
            if (pool->active == 0) {
                ngx_http_campaign_pg_fail_waiting(pool);
            }
            return;
        }
    }
}


static ngx_int_t
ngx_http_campaign_pg_open(ngx_http_campaign_pg_pool_t *pool)
{
    ngx_uint_t                    start;
    PGconn                       *pg;
    ngx_queue_t                  *qe;
    ngx_http_campaign_pg_conn_t  *conn;

    start = pool->start;
    pg = PQconnectStartParams(pool->cmcf->keywords,
                              pool->cmcf->nhosts > 1
                              ? pool->cmcf->rotated[start % pool->cmcf->nhosts]
                              : pool->cmcf->values, 0);

    if (pg == NULL || PQstatus(pg) == CONNECTION_BAD) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "campaign: cannot connect to the database: %s",
                      pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NGX_ERROR;
    }

    (void) PQsetnonblocking(pg, 1);
    PQsetNoticeProcessor(pg, ngx_http_campaign_pg_notice, pool);

    qe = ngx_queue_head(&pool->free);
    ngx_queue_remove(qe);
    conn = ngx_queue_data(qe, ngx_http_campaign_pg_conn_t, queue);

    conn->pg = pg;
    conn->start = start;
    ngx_http_campaign_pg_state(conn, NGX_HTTP_CAMPAIGN_PG_CONNECTING);
    conn->flushing = 0;
    conn->failed = 0;
    pool->active++;
    pool->connecting++;

    if (ngx_http_campaign_pg_attach(conn) != NGX_OK) {
        (void) ngx_http_campaign_pg_close(conn, NULL);
        return NGX_ERROR;
    }

    /* libpq ignores connect_timeout when non-blocking: time it here */
    ngx_add_timer(conn->c->write, pool->cmcf->timeout);

    return NGX_OK;
}


/* Wraps libpq's socket in an nginx connection; libpq keeps owning it. */
static ngx_int_t
ngx_http_campaign_pg_attach(ngx_http_campaign_pg_conn_t *conn)
{
    int                fd;
    struct stat        st;
    ngx_connection_t  *c;

    fd = PQsocket(conn->pg);
    if (fd < 0 || fstat(fd, &st) != 0) {
        return NGX_ERROR;
    }

    conn->ino = st.st_ino;

    c = ngx_get_connection(fd, conn->pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = conn;
    c->log = conn->pool->log;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_http_campaign_pg_event;
    c->write->handler = ngx_http_campaign_pg_event;

    conn->c = c;

    if (ngx_add_conn) {
        if (ngx_add_conn(c) == NGX_ERROR) {
            return NGX_ERROR;
        }

    } else if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT)
               != NGX_OK
               || ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_CLEAR_EVENT)
                  != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Gives the nginx connection back without closing libpq's socket. */
static void
ngx_http_campaign_pg_detach(ngx_http_campaign_pg_conn_t *conn)
{
    ngx_connection_t  *c;

    c = conn->c;
    if (c == NULL) {
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }
    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /* the socket is closed by libpq, which drops it from epoll */
    if (c->read->active || c->write->active) {
        (void) ngx_del_conn(c, NGX_CLOSE_EVENT);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
    conn->c = NULL;
}


/*
 * Frees the slot; the queries that were on it go to out (if not NULL,
 * room for NGX_HTTP_CAMPAIGN_PG_BATCH), their number is returned.
 */
static ngx_uint_t
ngx_http_campaign_pg_close(ngx_http_campaign_pg_conn_t *conn,
    ngx_http_campaign_query_t **out)
{
    ngx_uint_t                    i, n;
    ngx_http_campaign_query_t    *q;
    ngx_http_campaign_pg_pool_t  *pool;

    pool = conn->pool;

    if (conn->result) {
        PQclear(conn->result);
        conn->result = NULL;
    }
    if (conn->error) {
        PQclear(conn->error);
        conn->error = NULL;
    }

    ngx_http_campaign_pg_detach(conn);

    PQfinish(conn->pg);
    conn->pg = NULL;

    switch (conn->state) {
    case NGX_HTTP_CAMPAIGN_PG_CONNECTING:
    case NGX_HTTP_CAMPAIGN_PG_PREPARING:
        pool->connecting--;
        break;
    case NGX_HTTP_CAMPAIGN_PG_IDLE:
        ngx_queue_remove(&conn->queue);
        break;
    default:
        break;
    }

    ngx_http_campaign_pg_state(conn, NGX_HTTP_CAMPAIGN_PG_FREE);
    pool->active--;
    ngx_queue_insert_tail(&pool->free, &conn->queue);

    n = 0;
    for (i = 0; i < conn->nqueries; i++) {
        q = conn->queries[i];
        conn->queries[i] = NULL;
        if (q) {
            q->conn = NULL;
            if (out) {
                out[n++] = q;
            }
        }
    }
    conn->nqueries = 0;
    conn->pipeline = 0;

    /* reads put back still wait: for another connection now */
    ngx_http_campaign_pg_again(conn);

    return n;
}


/* The first request still on the connection, for its log. */
static ngx_http_campaign_query_t *
ngx_http_campaign_pg_first(ngx_http_campaign_pg_conn_t *conn)
{
    ngx_uint_t  i;

    for (i = 0; i < conn->nqueries; i++) {
        if (conn->queries[i]) {
            return conn->queries[i];
        }
    }

    return NULL;
}


static void
ngx_http_campaign_pg_fail(ngx_http_campaign_pg_conn_t *conn, const char *why)
{
    ngx_uint_t                    opening, i, n;
    ngx_http_campaign_query_t    *q, *qs[NGX_HTTP_CAMPAIGN_PG_BATCH];
    ngx_http_campaign_pg_pool_t  *pool;

    pool = conn->pool;
    opening = (conn->state == NGX_HTTP_CAMPAIGN_PG_CONNECTING
               || conn->state == NGX_HTTP_CAMPAIGN_PG_PREPARING);

    /* on a request's log, if one was on it: the line names the request */
    q = ngx_http_campaign_pg_first(conn);
    ngx_log_error(NGX_LOG_ERR, q ? q->timer.log : pool->log, 0,
                  "campaign: database %s: %s",
                  opening ? "connection failed" : "connection lost",
                  why ? why : PQerrorMessage(conn->pg));

    ngx_http_campaign_metrics_error(opening ? NGX_HTTP_CAMPAIGN_M_ERR_CONNECT
                                    : why && ngx_strstr(why, "timed out")
                                      ? NGX_HTTP_CAMPAIGN_M_ERR_TIMEOUT
                                      : NGX_HTTP_CAMPAIGN_M_ERR_LOST);

    n = ngx_http_campaign_pg_close(conn, qs);
    for (i = 0; i < n; i++) {
        ngx_http_campaign_pg_deliver(qs[i], NULL, NULL);
    }

    if (opening) {
        /* the database is not there: answer at once, do not spin */
        if (pool->active == 0) {
            ngx_http_campaign_pg_fail_waiting(pool);
        }
        return;
    }

    ngx_http_campaign_pg_grow(pool);
}


static void
ngx_http_campaign_pg_event(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_campaign_pg_conn_t  *conn;

    c = ev->data;
    conn = c->data;

    switch (conn->state) {

    case NGX_HTTP_CAMPAIGN_PG_CONNECTING:
        ngx_http_campaign_pg_connect(conn, ev);
        break;

    case NGX_HTTP_CAMPAIGN_PG_PREPARING:
    case NGX_HTTP_CAMPAIGN_PG_BUSY:
        if (ev->timedout) {
            /* no answer in time, whether or not a request still waits */
            ev->timedout = 0;
            ngx_http_campaign_pg_fail(conn, "query timed out");
            break;
        }
        if (ev->write && conn->flushing) {
            if (ngx_http_campaign_pg_flush(conn) != NGX_OK) {
                ngx_http_campaign_pg_fail(conn, NULL);
                break;
            }
        }
        ngx_http_campaign_pg_io(conn);
        break;

    case NGX_HTTP_CAMPAIGN_PG_IDLE:
        if (!ev->write) {
            ngx_http_campaign_pg_idle(conn);
        }
        break;

    default:
        break;
    }
}


/* Whether libpq's socket is another than the one nginx watches. */
static ngx_flag_t
ngx_http_campaign_pg_moved(ngx_http_campaign_pg_conn_t *conn)
{
    int          fd;
    struct stat  st;

    fd = PQsocket(conn->pg);

    return fd != conn->c->fd || fstat(fd, &st) != 0 || st.st_ino != conn->ino;
}


/* Whether more bytes already wait: events are edge-triggered. */
static ngx_flag_t
ngx_http_campaign_pg_readable(ngx_http_campaign_pg_conn_t *conn)
{
    struct pollfd  pfd;

    pfd.fd = PQsocket(conn->pg);
    pfd.events = POLLIN;
    pfd.revents = 0;

    return poll(&pfd, 1, 0) > 0 && pfd.revents != 0;
}


/*
 * The next connect begins after the host this one began with: once for
 * every connection of a burst that began there (all failing together
 * must not move the start round to the same host again).
 */
static void
ngx_http_campaign_pg_next_host(ngx_http_campaign_pg_conn_t *conn)
{
    if (conn->pool->start == conn->start) {
        conn->pool->start = conn->start + 1;
    }
}


static void
ngx_http_campaign_pg_connect(ngx_http_campaign_pg_conn_t *conn,
    ngx_event_t *ev)
{
    PostgresPollingStatusType  rc;

    if (ev->timedout) {
        /* a host that never answers: the next connect begins after it */
        ngx_http_campaign_pg_next_host(conn);
        ngx_http_campaign_pg_fail(conn, "timed out");
        return;
    }

    for ( ;; ) {
        rc = PQconnectPoll(conn->pg);

        if (rc == PGRES_POLLING_FAILED) {
            /*
             * libpq tries the next host only for some failures: one that
             * accepts and then closes (a proxy before a dead primary)
             * ends the whole connect; the next begins after it
             */
            ngx_http_campaign_pg_next_host(conn);
            ngx_http_campaign_pg_fail(conn, NULL);
            return;
        }

        if (ngx_http_campaign_pg_moved(conn)) {
            /*
             * libpq moved to another socket (the next host or address of
             * a list, a retry without SSL), maybe under the same number
             */
            ngx_http_campaign_pg_detach(conn);
            if (ngx_http_campaign_pg_attach(conn) != NGX_OK) {
                ngx_http_campaign_pg_fail(conn, "cannot watch the socket");
                return;
            }
            ngx_add_timer(conn->c->write, conn->pool->cmcf->timeout);
        }

        if (rc == PGRES_POLLING_OK) {
            break;
        }

        /* after CONNECTION_MADE libpq can write at once: no edge comes */
        if (rc == PGRES_POLLING_WRITING
            && PQstatus(conn->pg) == CONNECTION_MADE)
        {
            continue;
        }

        if (rc == PGRES_POLLING_READING
            && ngx_http_campaign_pg_readable(conn))
        {
            continue;
        }

        return;
    }

    if (conn->c->write->timer_set) {
        ngx_del_timer(conn->c->write);
    }

    /* behind pgbouncer's transaction pooling nothing of a session stays */
    if (!conn->pool->cmcf->prepare) {
        conn->pool->connecting--;
        ngx_http_campaign_pg_ready(conn);
        return;
    }

    ngx_http_campaign_pg_state(conn, NGX_HTTP_CAMPAIGN_PG_PREPARING);

    if (!PQsendQuery(conn->pg, conn->pool->setup)
        || ngx_http_campaign_pg_flush(conn) != NGX_OK)
    {
        ngx_http_campaign_pg_fail(conn, NULL);
        return;
    }

    /* a server that goes silent now must not keep the slot */
    ngx_add_timer(conn->c->read, conn->pool->cmcf->timeout);
}


static ngx_int_t
ngx_http_campaign_pg_flush(ngx_http_campaign_pg_conn_t *conn)
{
    int  rc;

    rc = PQflush(conn->pg);
    if (rc < 0) {
        return NGX_ERROR;
    }

    conn->flushing = (rc == 1);

    return NGX_OK;
}


/* Reads until the statement's results are all in, then hands them on. */
static void
ngx_http_campaign_pg_io(ngx_http_campaign_pg_conn_t *conn)
{
    PGresult        *res;
    ExecStatusType   st;

    for ( ;; ) {
        if (!PQconsumeInput(conn->pg)) {
            ngx_http_campaign_pg_fail(conn, NULL);
            return;
        }

        while (!PQisBusy(conn->pg)) {
            res = PQgetResult(conn->pg);
            if (res == NULL) {
                if (!conn->pipeline) {
                    ngx_http_campaign_pg_done(conn);
                    return;
                }
                /*
                 * One read of the pipeline is in; libpq answers NULL over
                 * and over on a connection gone bad, and results must
                 * never be matched to the wrong request
                 */
                if (PQstatus(conn->pg) == CONNECTION_BAD
                    || conn->current >= conn->nqueries)
                {
                    ngx_http_campaign_pg_fail(conn,
                                              "the pipeline is out of step");
                    return;
                }
                ngx_http_campaign_pg_next(conn);
                continue;
            }

            st = PQresultStatus(res);

            if (st == PGRES_PIPELINE_SYNC) {
                PQclear(res);
                ngx_http_campaign_pg_done(conn);
                return;
            }

            /* a read after a refused one did not run: it goes again */
            if (st == PGRES_PIPELINE_ABORTED) {
                conn->aborted = 1;
                PQclear(res);
                continue;
            }

            /* the first refusal, for the request to tell what it was */
            if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
                conn->failed = 1;
                if (conn->error == NULL) {
                    conn->error = res;
                    continue;
                }
            }

            if (st == PGRES_TUPLES_OK && conn->result == NULL) {
                conn->result = res;
            } else {
                PQclear(res);
            }
        }

        if (!ngx_http_campaign_pg_readable(conn)) {
            return;
        }
    }
}


/* Takes what the connection collected of the statement just read. */
static ngx_uint_t
ngx_http_campaign_pg_collected(ngx_http_campaign_pg_conn_t *conn,
    PGresult **res, PGresult **err)
{
    ngx_uint_t  failed;

    *res = conn->result;
    conn->result = NULL;
    *err = conn->error;
    conn->error = NULL;
    failed = conn->failed;
    conn->failed = 0;

    return failed;
}


/* Answers q, if any (its refusal, or its rows if none), and frees both. */
static void
ngx_http_campaign_pg_answer(ngx_http_campaign_query_t *q, PGresult *res,
    PGresult *err, ngx_uint_t failed)
{
    if (q) {
        ngx_http_campaign_pg_deliver(q, failed ? NULL : res, err);
    }

    if (res) {
        PQclear(res);
    }
    if (err) {
        PQclear(err);
    }
}


static void
ngx_http_campaign_pg_done(ngx_http_campaign_pg_conn_t *conn)
{
    PGresult                     *res, *err;
    ngx_uint_t                    failed;
    ngx_http_campaign_query_t    *q;
    ngx_http_campaign_pg_pool_t  *pool;

    if (conn->c->read->timer_set) {
        ngx_del_timer(conn->c->read);
    }

    failed = ngx_http_campaign_pg_collected(conn, &res, &err);

    if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE
        || (failed && conn->state == NGX_HTTP_CAMPAIGN_PG_PREPARING))
    {
        if (err && conn->state == NGX_HTTP_CAMPAIGN_PG_PREPARING) {
            ngx_log_error(NGX_LOG_ERR, conn->pool->log, 0,
                          "campaign: query failed: the connection's set-up: "
                          "%s", PQresultErrorField(err,
                                                   PG_DIAG_MESSAGE_PRIMARY));
        }
        ngx_http_campaign_pg_answer(NULL, res, err, failed);
        ngx_http_campaign_pg_fail(conn, "the connection is not idle");
        return;
    }

    /* the set-up's and a pipeline's reads have nobody left to answer */
    if (conn->state == NGX_HTTP_CAMPAIGN_PG_PREPARING || conn->pipeline) {
        ngx_http_campaign_pg_answer(NULL, res, err, failed);
    }

    if (conn->state == NGX_HTTP_CAMPAIGN_PG_PREPARING) {
        conn->pool->connecting--;
        ngx_http_campaign_pg_ready(conn);
        return;
    }

    if (conn->pipeline) {
        /* each read was answered as its results came (pg_next) */
        if (conn->current != conn->nqueries) {
            ngx_http_campaign_pg_fail(conn, "the pipeline is out of step");
            return;
        }
        ngx_http_campaign_pg_again(conn);
        conn->pipeline = 0;
        conn->nqueries = 0;
        if (!PQexitPipelineMode(conn->pg)) {
            ngx_http_campaign_pg_fail(conn, "cannot leave pipeline mode");
            return;
        }
        ngx_http_campaign_pg_ready(conn);
        return;
    }

    q = conn->queries[0];
    conn->queries[0] = NULL;
    conn->nqueries = 0;
    pool = conn->pool;

    /*
     * The connection is free before the answer goes out. One that carried
     * a large body is closed instead, so that libpq gives back the buffers
     * it grew for it.
     */
    if (conn->large) {
        (void) ngx_http_campaign_pg_close(conn, NULL);
        ngx_http_campaign_pg_grow(pool);

    } else {
        ngx_http_campaign_pg_ready(conn);
    }

    ngx_http_campaign_pg_answer(q, res, err, failed);
}


/*
 * A read's results are in: it is answered while the pipeline goes on, or
 * put back at the head of the queue if a refusal before it stopped it.
 */
static void
ngx_http_campaign_pg_next(ngx_http_campaign_pg_conn_t *conn)
{
    PGresult                     *res, *err;
    ngx_uint_t                    failed, aborted;
    ngx_http_campaign_query_t    *q;
    ngx_http_campaign_pg_pool_t  *pool;

    pool = conn->pool;
    failed = ngx_http_campaign_pg_collected(conn, &res, &err);
    aborted = conn->aborted;
    conn->aborted = 0;

    q = NULL;
    if (conn->current < conn->nqueries) {
        q = conn->queries[conn->current];
        conn->queries[conn->current] = NULL;
        conn->current++;
    }

    if (q && aborted && err == NULL) {
        /* waiting (abort and its timer take it off), not yet takeable */
        q->conn = NULL;
        ngx_queue_insert_tail(&conn->again, &q->queue);
        q->waiting = 1;
        pool->nwaiting++;
        ngx_http_campaign_metrics_waiting(pool->nwaiting);
        q = NULL;
    }

    ngx_http_campaign_pg_answer(q, res, err, failed);
}


/* The reads put back go to the head of the queue, in their order. */
static void
ngx_http_campaign_pg_again(ngx_http_campaign_pg_conn_t *conn)
{
    ngx_queue_t  *qe;

    while (!ngx_queue_empty(&conn->again)) {
        qe = ngx_queue_last(&conn->again);
        ngx_queue_remove(qe);
        ngx_queue_insert_head(&conn->pool->waiting, qe);
    }
}


/*
 * Takes the next waiting query, or as many waiting reads as one pipeline
 * holds, or goes idle.
 */
static void
ngx_http_campaign_pg_ready(ngx_http_campaign_pg_conn_t *conn)
{
    ngx_queue_t                  *qe;
    ngx_http_campaign_query_t    *q;
    ngx_http_campaign_pg_pool_t  *pool;

    pool = conn->pool;

    while (!ngx_queue_empty(&pool->waiting)
           && conn->nqueries < NGX_HTTP_CAMPAIGN_PG_BATCH)
    {
        qe = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qe, ngx_http_campaign_query_t, queue);

        /* a change goes alone; reads go with reads */
        if (conn->nqueries > 0 && !q->batch) {
            break;
        }

        ngx_queue_remove(qe);
        pool->nwaiting--;
        ngx_http_campaign_metrics_waiting(pool->nwaiting);
        q->waiting = 0;

        /*
         * Sent only if the server's statement_timeout ends it before the
         * request's time is up: a 503 then always means it rolled back.
         * One that waited too long is answered 503, never sent.
         */
        if ((ngx_msec_int_t) (q->deadline - ngx_current_msec)
            < (ngx_msec_int_t) (pool->cmcf->statement_timeout
                                + pool->margin))
        {
            ngx_log_error(NGX_LOG_WARN, q->timer.log, 0,
                          "campaign: no time left to run the request");
            ngx_http_campaign_pg_deliver(q, NULL, NULL);
            continue;
        }

        ngx_http_campaign_pg_take(conn, q);

        if (!q->batch) {
            break;
        }
    }

    if (conn->nqueries > 0) {
        ngx_http_campaign_pg_send(conn);
        return;
    }

    ngx_http_campaign_pg_state(conn, NGX_HTTP_CAMPAIGN_PG_IDLE);
    ngx_queue_insert_head(&pool->idle, &conn->queue);
}


static void
ngx_http_campaign_pg_take(ngx_http_campaign_pg_conn_t *conn,
    ngx_http_campaign_query_t *q)
{
    /* the deadline is the query's start plus campaign_timeout */
    ngx_http_campaign_metrics_wait(ngx_current_msec
                                   - (q->deadline - conn->pool->cmcf->timeout));
    q->conn = conn;
    q->slot = conn->nqueries;
    q->sent = ngx_current_msec;
    conn->queries[conn->nqueries++] = q;
}


/* Sends what was taken: one query as it is, or reads in one pipeline. */
static void
ngx_http_campaign_pg_send(ngx_http_campaign_pg_conn_t *conn)
{
    ngx_uint_t                  i;
    ngx_http_campaign_query_t  *q;

    ngx_http_campaign_pg_state(conn, NGX_HTTP_CAMPAIGN_PG_BUSY);
    conn->current = 0;
    conn->pipeline = (conn->nqueries > 1);
    conn->large = !conn->pipeline && conn->queries[0]->large;

    if (PQstatus(conn->pg) != CONNECTION_OK
        || (conn->pipeline && !PQenterPipelineMode(conn->pg)))
    {
        goto failed;
    }

    for (i = 0; i < conn->nqueries; i++) {
        q = conn->queries[i];

        if (!(conn->pool->cmcf->prepare && !q->unprepared
              ? PQsendQueryPrepared(conn->pg, q->stmt, q->nparams, q->values,
                                    NULL, NULL, q->binary)
              : PQsendQueryParams(conn->pg, q->sql, q->nparams, NULL,
                                  q->values, NULL, NULL, q->binary)))
        {
            goto failed;
        }
    }

    if ((conn->pipeline && !PQpipelineSync(conn->pg))
        || ngx_http_campaign_pg_flush(conn) != NGX_OK)
    {
        goto failed;
    }

    /* the connection's own time: its requests may all go away */
    ngx_add_timer(conn->c->read, conn->pool->cmcf->timeout);

    return;

failed:

    ngx_http_campaign_pg_fail(conn, NULL);
}


/* An idle connection only hears the server hang up, or a notice. */
static void
ngx_http_campaign_pg_idle(ngx_http_campaign_pg_conn_t *conn)
{
    PGnotify  *n;

    if (!PQconsumeInput(conn->pg) || PQstatus(conn->pg) != CONNECTION_OK) {
        ngx_http_campaign_pg_fail(conn, NULL);
        return;
    }

    while ((n = PQnotifies(conn->pg)) != NULL) {
        PQfreemem(n);
    }
}


static void
ngx_http_campaign_pg_deliver(ngx_http_campaign_query_t *q, PGresult *res,
    PGresult *err)
{
    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    q->conn = NULL;
    q->handler(q, res, err);
}


static void
ngx_http_campaign_pg_fail_waiting(ngx_http_campaign_pg_pool_t *pool)
{
    ngx_queue_t                *qe;
    ngx_http_campaign_query_t  *q;

    while (!ngx_queue_empty(&pool->waiting)) {
        qe = ngx_queue_head(&pool->waiting);
        ngx_queue_remove(qe);
        pool->nwaiting--;
        ngx_http_campaign_metrics_waiting(pool->nwaiting);
        q = ngx_queue_data(qe, ngx_http_campaign_query_t, queue);
        q->waiting = 0;
        ngx_http_campaign_metrics_error(NGX_HTTP_CAMPAIGN_M_ERR_NO_CONNECTION);
        ngx_http_campaign_pg_deliver(q, NULL, NULL);
    }
}


static void
ngx_http_campaign_pg_timeout(ngx_event_t *ev)
{
    ngx_http_campaign_query_t    *q;
    ngx_http_campaign_pg_conn_t  *conn;

    q = ev->data;

    if (q->waiting) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "campaign: no database connection in time");
        ngx_queue_remove(&q->queue);
        q->waiting = 0;
        q->pool->nwaiting--;
        ngx_http_campaign_metrics_waiting(q->pool->nwaiting);
        ngx_http_campaign_metrics_error(NGX_HTTP_CAMPAIGN_M_ERR_NO_CONNECTION);
        ngx_http_campaign_pg_deliver(q, NULL, NULL);
        return;
    }

    conn = q->conn;

    if (conn && conn->pipeline) {
        /*
         * A read in a pipeline changes nothing: it alone is answered, the
         * others keep their time and the connection its own timer
         */
        ngx_log_error(NGX_LOG_ERR, ev->log, 0, "campaign: database read "
                      "timed out");
        ngx_http_campaign_metrics_error(NGX_HTTP_CAMPAIGN_M_ERR_TIMEOUT);
        conn->queries[q->slot] = NULL;
        ngx_http_campaign_pg_deliver(q, NULL, NULL);
        return;
    }

    if (conn) {
        /* a connection stuck mid-statement cannot be reused; closing it
         * answers q */
        ngx_http_campaign_pg_fail(conn, "query timed out");
        return;
    }

    ngx_http_campaign_pg_deliver(q, NULL, NULL);
}


static void
ngx_http_campaign_pg_notice(void *arg, const char *message)
{
    ngx_http_campaign_pg_pool_t  *pool = arg;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0, "campaign: %s",
                   message);
}
