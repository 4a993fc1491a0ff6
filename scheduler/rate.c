#include "rate.h"


/*
 * With a rate, a job asks only for what it can send at once and what the
 * bucket can hold (a tenth of a second of the rate): a token taken for a
 * recipient that then waits in the read-ahead would let a burst through
 * later.
 */
long
cs_rate_claim(const cs_type_conf_t *type, long room, long now)
{
    long  cap;

    if (type->rate <= 0) {
        return room;
    }

    cap = type->rate / 10 > 1 ? type->rate / 10 : 1;
    if (now < cap) {
        cap = now;
    }
    return cap < room ? cap : room;
}


/* the bucket is full again after a tenth of a second, or one token's time */
uint64_t
cs_rate_wait_ms(const cs_type_conf_t *type)
{
    if (type->rate <= 0) {
        return 0;
    }
    return type->rate >= 10 ? 100 : (uint64_t) (1000 / type->rate);
}
