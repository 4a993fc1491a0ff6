/*
 * A type's rate: deliveries per second for the type, over all schedulers.
 * The token bucket is in Postgres (campaign.next_recipients takes from it
 * with each claim); here is how much a job asks for, and how long it waits
 * when the bucket had nothing for it.
 */

#ifndef CS_RATE_H
#define CS_RATE_H

#include <stdint.h>

#include "config.h"

/* room: what the job can read ahead; now: what it could send at once */
long cs_rate_claim(const cs_type_conf_t *type, long room, long now);

/* after a claim of a type with a rate came back empty */
uint64_t cs_rate_wait_ms(const cs_type_conf_t *type);

#endif
