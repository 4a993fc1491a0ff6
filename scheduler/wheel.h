/*
 * A hierarchical timing wheel with millisecond resolution, after
 * wahern/timeout: 6 levels of 64 slots, a bitmap of non-empty slots per
 * level, intrusive timers (adding and removing allocate nothing, O(1)).
 * Timers cascade to finer levels as time passes, so none fires early and
 * none fires late by more than the caller's wake-up lateness.
 */

#ifndef CS_WHEEL_H
#define CS_WHEEL_H

#include <stdint.h>

#define CS_WHEEL_BITS    6
#define CS_WHEEL_SLOTS   (1 << CS_WHEEL_BITS)
#define CS_WHEEL_LEVELS  6          /* 2^36 ms: about two years */

typedef struct cs_timer_s cs_timer_t;

struct cs_timer_s {
    uint64_t     expires;           /* absolute, in ms */
    uint64_t     at_us;             /* the timers' µs stage (timers.c): its
                                     * time in µs, or 0 for the ms alone */
    void       (*handler)(cs_timer_t *t);   /* the owner's, or NULL */
    cs_timer_t  *next;
    cs_timer_t  *prev;
    cs_timer_t  *list;              /* the list head it is on, or NULL */
};

typedef struct {
    uint64_t     now;
    uint64_t     pending[CS_WHEEL_LEVELS];
    cs_timer_t   slots[CS_WHEEL_LEVELS][CS_WHEEL_SLOTS];
    cs_timer_t   expired;
    uint64_t     count;
} cs_wheel_t;

void cs_wheel_init(cs_wheel_t *w, uint64_t now);
void cs_timer_init(cs_timer_t *t);
void cs_wheel_add(cs_wheel_t *w, cs_timer_t *t, uint64_t expires);
void cs_wheel_del(cs_wheel_t *w, cs_timer_t *t);
int cs_timer_pending(const cs_timer_t *t);

/* moves time forward; timers due by then become expired */
void cs_wheel_update(cs_wheel_t *w, uint64_t now);

/*
 * Moves now anywhere, backwards too (a clock that was set): every timer
 * keeps its expiry, and those due by the new now are expired.
 */
void cs_wheel_rebase(cs_wheel_t *w, uint64_t now);

/* the next expired timer, taken off the wheel, or NULL */
cs_timer_t *cs_wheel_get(cs_wheel_t *w);

/*
 * When to wake next: an absolute time in ms no later than the earliest
 * expiry (it may be a cascade point before it), or UINT64_MAX for none.
 */
uint64_t cs_wheel_next(const cs_wheel_t *w);

/* checks every invariant; returns 0 or a negative number naming the fault */
int cs_wheel_check(const cs_wheel_t *w);

#endif
