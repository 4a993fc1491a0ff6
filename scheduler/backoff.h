/* How long a delivery that failed and may succeed waits before its retry. */

#ifndef CS_BACKOFF_H
#define CS_BACKOFF_H

#include <stdint.h>

#include "config.h"

/*
 * first x 2^(attempts-1), at most longest, with +-20 % jitter so that the
 * retries of a burst spread out, and at least Retry-After (-1: none).
 */
uint64_t cs_backoff_ms(const cs_config_t *cf, long attempts,
    long retry_after_ms);

#endif
