#include <stdlib.h>

#include "backoff.h"


uint64_t
cs_backoff_ms(const cs_config_t *cf, long attempts, long retry_after_ms)
{
    long      i;
    uint64_t  ms = cf->retry_first;

    for (i = 1; i < attempts && ms < cf->retry_longest; i++) {
        ms *= 2;
    }
    if (ms > cf->retry_longest) {
        ms = cf->retry_longest;
    }

    ms = ms * (80 + (uint64_t) (rand() % 41)) / 100;

    if (retry_after_ms > 0 && (uint64_t) retry_after_ms > ms) {
        ms = (uint64_t) retry_after_ms;
    }
    return ms;
}
