/*
 * A database link of the scheduler: one non-blocking libpq connection
 * driven by the loop. It runs one query at a time and reports results and
 * losses; given a notify handler, it LISTENs on "campaign" whenever it
 * connects and reports notifications too.
 */

#ifndef CS_PG_H
#define CS_PG_H

#include <libpq-fe.h>

#include "loop.h"

typedef struct cs_pg_s cs_pg_t;

typedef struct {
    void  (*up)(void *data);                        /* connected, listening */
    void  (*down)(void *data);                      /* failed or lost */
    void  (*notify)(const char *payload, void *data); /* NULL: no LISTEN */
} cs_pg_events_t;

/* res NULL: the query failed (the reason is logged) */
typedef void (*cs_pg_result_pt)(PGresult *res, void *data);

/* name tells the connections apart in the log */
cs_pg_t *cs_pg_create(cs_loop_t *loop, const char *name,
    const cs_pg_events_t *events, void *data);
void cs_pg_free(cs_pg_t *pg);
int cs_pg_connect(cs_pg_t *pg, const char *conninfo);
void cs_pg_close(cs_pg_t *pg);
/* drops the connection as a loss: the query in flight fails, down() runs */
void cs_pg_reset(cs_pg_t *pg, const char *why);
int cs_pg_ready(const cs_pg_t *pg);                 /* up and idle */
int cs_pg_query(cs_pg_t *pg, const char *sql, int nparams,
    const char *const *values, cs_pg_result_pt done, void *data);

#endif
