/*
 * A database link of the scheduler: one non-blocking libpq connection
 * driven by the loop, the one way the scheduler talks to Postgres. It runs
 * one query at a time and reports results and losses; given a notify
 * handler, it LISTENs on "campaign" whenever it connects and reports
 * notifications too. Every wait is bounded: a connect or a query that
 * takes longer than the time-out drops the connection as lost.
 */

#ifndef CS_PG_H
#define CS_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "../common/pg_conninfo.h"
#include "loop.h"
#include "timers.h"

typedef struct cs_pg_s cs_pg_t;

typedef struct {
    void  (*up)(void *data);                        /* connected, set up */
    void  (*down)(void *data);                      /* failed or lost */
    /* NULL: no LISTEN; be_pid: the backend that notified */
    void  (*notify)(const char *payload, int be_pid, void *data);
} cs_pg_events_t;

typedef enum {
    CS_PG_OK = 0,
    CS_PG_ERROR,                    /* the statement failed: res says why */
    CS_PG_LOST                      /* no answer: the connection is gone */
} cs_pg_status_e;

/*
 * res: the last result (an error's, for CS_PG_ERROR), NULL when lost.
 * Return 1 to keep res (the callee PQclear()s it later), else 0.
 */
typedef int (*cs_pg_result_pt)(PGresult *res, cs_pg_status_e st,
    void *data);

/* name tells the connections apart in the log */
cs_pg_t *cs_pg_create(cs_loop_t *loop, cs_timers_t *timers,
    const char *name, const cs_pg_events_t *events, void *data);
void cs_pg_free(cs_pg_t *pg);

/* timeout_ms bounds the connect and each query; the server ends a
 * statement itself a little before */
int cs_pg_connect(cs_pg_t *pg, const pg_conninfo_t *ci, uint64_t timeout_ms);
void cs_pg_close(cs_pg_t *pg);
/* drops the connection as a loss: the query in flight fails, down() runs */
void cs_pg_reset(cs_pg_t *pg, const char *why);
int cs_pg_ready(const cs_pg_t *pg);                 /* up and idle */
int cs_pg_backend(const cs_pg_t *pg);               /* its pid, or 0 */
int cs_pg_query(cs_pg_t *pg, const char *sql, int nparams,
    const char *const *values, cs_pg_result_pt done, void *data);

#endif
