/*
 * Delivery results on their way to Postgres: kept in memory from the
 * answer until campaign.record_results() has committed them, written in
 * batches on a connection of their own. A batch whose write is lost with
 * the connection is written again after reconnecting. One that Postgres
 * refuses for a passing reason (a deadlock, a time-out, a server going
 * down) is written again after a back-off. One whose content it refuses
 * is split in halves until the row it cannot take is alone; that row is
 * tried without what the provider said, then recorded failed, with a
 * last_error that says so, and logged. Results behind it are never held
 * up: a refused batch waits apart while the others go.
 */

#ifndef CS_RESULTS_H
#define CS_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "pg.h"
#include "timers.h"

typedef struct cs_results_s cs_results_t;

/* a result is in Postgres now: its owner may let go of the recipient */
typedef void (*cs_results_committed_pt)(void *job, const char *recipient,
    void *owner);

/* wake(data): a write is due, or one is done */
cs_results_t *cs_results_create(cs_timers_t *timers,
    cs_results_committed_pt committed, void *owner,
    void (*wake)(void *data), void *data);
void cs_results_free(cs_results_t *r);

/* outcome: "sent", "retry" or "failed"; provider_id and error may be NULL */
int cs_results_add(cs_results_t *r, void *job, const char *campaign,
    const char *recipient, const char *outcome, const char *provider_id,
    const char *error, uint64_t retry_ms);

/*
 * Sends one write on pg if one is due: a full batch, one whose first
 * result has waited 50 ms, a batch again after its back-off, or any when
 * now (no answer is awaited, a window is full, or draining). 1 if sent.
 */
int cs_results_flush(cs_results_t *r, cs_pg_t *pg, const char *owner,
    int now);

/* added and not yet committed */
size_t cs_results_pending(const cs_results_t *r);

#endif
