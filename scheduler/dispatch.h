/*
 * Delivery: one job per running campaign this scheduler holds. A job
 * claims pending recipients in batches (at most `window` in flight, within
 * its type's `rate`), POSTs each to the type's provider, and the results
 * go back to Postgres in batches. Retries back off exponentially with
 * jitter, honouring Retry-After, up to `retry` attempts.
 */

#ifndef CS_DISPATCH_H
#define CS_DISPATCH_H

#include <libpq-fe.h>

#include "config.h"
#include "loop.h"
#include "pg.h"
#include "wheel.h"

typedef struct cs_dispatch_s cs_dispatch_t;

/* wake() is called when the dispatcher has a query to send */
cs_dispatch_t *cs_dispatch_create(cs_loop_t *loop, cs_wheel_t *wheel,
    cs_config_t *cf, void (*wake)(void *data), void *data);
void cs_dispatch_free(cs_dispatch_t *d);

/* the rows of campaign.my_running(): start new jobs, stop gone ones */
void cs_dispatch_jobs(cs_dispatch_t *d, PGresult *res);

/* each sends one query the dispatcher wants, if any; 1 if it did. Results
 * and reads go on different connections. */
int cs_dispatch_flush(cs_dispatch_t *d, cs_pg_t *pg);
int cs_dispatch_claim(cs_dispatch_t *d, cs_pg_t *pg);

/* stop claiming; 1 once nothing is in flight or unwritten */
int cs_dispatch_drain(cs_dispatch_t *d);

#endif
