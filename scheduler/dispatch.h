/*
 * Delivery: one job per running campaign this scheduler holds. A job
 * reads pending recipients ahead in batches (claims), and sends them to
 * its type's provider: at most `window` of them at a time are sent and
 * not yet recorded in Postgres (in flight, or answered with a result not
 * yet committed), which bounds what a crash can repeat. A job sends only
 * while its lease is confirmed: past its last renewal plus the lease, less
 * a margin, it waits for the next confirmation, and a campaign another
 * scheduler took over is dropped with what was read ahead. Bodies are
 * rendered when sent, within a time budget per turn of the loop.
 */

#ifndef CS_DISPATCH_H
#define CS_DISPATCH_H

#include <libpq-fe.h>

#include "config.h"
#include "loop.h"
#include "pg.h"
#include "timers.h"

typedef struct cs_dispatch_s cs_dispatch_t;

/* wake() is called when the dispatcher has a query to send */
cs_dispatch_t *cs_dispatch_create(cs_loop_t *loop, cs_timers_t *timers,
    cs_config_t *cf, void (*wake)(void *data), void *data);
void cs_dispatch_free(cs_dispatch_t *d);

/*
 * The rows of campaign.my_running(), asked for at asked (monotonic ms):
 * start new jobs, stop gone ones, and move each one's lease deadline.
 */
void cs_dispatch_jobs(cs_dispatch_t *d, PGresult *res, uint64_t asked);

/* each sends one query the dispatcher wants, if any; 1 if it did. Results
 * and reads go on different connections. */
int cs_dispatch_flush(cs_dispatch_t *d, cs_pg_t *pg);
int cs_dispatch_claim(cs_dispatch_t *d, cs_pg_t *pg);

/*
 * The connection that holds this scheduler's lock is gone: another may
 * take its campaigns at once, so nothing more is sent until the next
 * campaign.my_running() says which are still its own; and since what it
 * finds on reconnecting may be a promoted standby that never got the last
 * results, each job walks its campaign from the start again.
 */
void cs_dispatch_db_lost(cs_dispatch_t *d);

/* once after a job's send window closed (it sends no more), the close
 * (wall-clock µs), else 0: a start then moves it to waiting and gives its
 * slot to the next */
uint64_t cs_dispatch_closed(cs_dispatch_t *d);

/* stop claiming; 1 once nothing is in flight or unwritten */
int cs_dispatch_drain(cs_dispatch_t *d);

#endif
