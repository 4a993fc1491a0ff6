/*
 * Timers on one clock: a timing wheel (wheel.c) and the one timerfd armed
 * for its next expiry, on the loop. The scheduler keeps two: CLOCK_
 * MONOTONIC for everything it times itself (sweeps, heartbeats, back-offs,
 * time-outs), which no clock step can stall, and CLOCK_REALTIME for the
 * campaigns' start times, which are wall-clock times; that one is armed
 * with TFD_TIMER_CANCEL_ON_SET, so a step of the clock is seen at once:
 * every timer is put again from the new time and the owner is told.
 *
 * A timer may also be given its time in µs: the wheel holds it to its ms,
 * and a small stage in front of it, the timers of the current ms sorted by
 * their µs, arms the timerfd for the µs itself, so that a start time is
 * kept to the µs rather than rounded up to the next ms.
 */

#ifndef CS_TIMERS_H
#define CS_TIMERS_H

#include <stdint.h>
#include <time.h>

#include "loop.h"
#include "wheel.h"

typedef struct cs_timers_s cs_timers_t;

/* on_step: CLOCK_REALTIME only, after the clock was set (may be NULL) */
cs_timers_t *cs_timers_create(cs_loop_t *loop, clockid_t clock,
    void (*on_step)(void *data), void *data);
void cs_timers_free(cs_timers_t *ts);

/* now on the timers' clock, in ms */
uint64_t cs_timers_now(const cs_timers_t *ts);

/* t->handler runs when it is due; the timerfd is armed as needed */
void cs_timers_at(cs_timers_t *ts, cs_timer_t *t, uint64_t at);
void cs_timers_at_us(cs_timers_t *ts, cs_timer_t *t, uint64_t at_us);
void cs_timers_in(cs_timers_t *ts, cs_timer_t *t, uint64_t ms);
void cs_timers_del(cs_timers_t *ts, cs_timer_t *t);

/* the clocks, in ms */
uint64_t cs_mono_ms(void);
uint64_t cs_wall_ms(void);

#endif
