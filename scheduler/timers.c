#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "timers.h"

struct cs_timers_s {
    cs_loop_t   *loop;
    clockid_t    clock;
    int          tfd;
    uint64_t     armed;             /* when the timerfd fires (µs), or 0 */
    cs_wheel_t   wheel;
    cs_timer_t   stage;             /* timers of this ms, in the order of
                                     * their µs */
    void       (*on_step)(void *data);
    void        *data;
};

static void timers_arm(cs_timers_t *ts);


/*
 * The wheel's time, brought to now. A clock found behind the wheel was set
 * back (and no armed timer was there to be cancelled): every timer is put
 * again from the new time, as for a step seen by the timerfd.
 */
static void
timers_update(cs_timers_t *ts, int stepped)
{
    uint64_t  now = cs_timers_now(ts);

    if (stepped || now < ts->wheel.now) {
        log_warn("event=clock_step clock=%s",
                 ts->clock == CLOCK_REALTIME ? "realtime" : "monotonic");
        cs_wheel_rebase(&ts->wheel, now);
        if (ts->on_step) {
            ts->on_step(ts->data);
        }
    }

    cs_wheel_update(&ts->wheel, now);
}


static uint64_t
clock_us(clockid_t clock)
{
    struct timespec  t;

    clock_gettime(clock, &t);
    return (uint64_t) t.tv_sec * 1000000 + (uint64_t) t.tv_nsec / 1000;
}


static uint64_t
clock_ms(clockid_t clock)
{
    return clock_us(clock) / 1000;
}


uint64_t
cs_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}


uint64_t
cs_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}


/* a timer's time in µs: its own, or its ms */
static uint64_t
timer_us(const cs_timer_t *t)
{
    return t->at_us ? t->at_us : t->expires * 1000;
}


/*
 * A batch the wheel gave, as a singly linked list (through next), sorted
 * by µs: a merge sort, O(n log n) in any order the wheel gives them (ten
 * thousand campaigns of one ms, whatever their µs), stable.
 */
static cs_timer_t *
batch_sort(cs_timer_t *list, size_t n)
{
    size_t       half, i;
    cs_timer_t  *a, *b, *tail, head, *t;

    if (n < 2) {
        return list;
    }

    half = n / 2;
    for (t = list, i = 1; i < half; i++) {
        t = t->next;
    }
    b = t->next;
    t->next = NULL;

    a = batch_sort(list, half);
    b = batch_sort(b, n - half);

    for (tail = &head; a && b; tail = tail->next) {
        if (timer_us(b) < timer_us(a)) {
            tail->next = b;
            b = b->next;
        } else {
            tail->next = a;
            a = a->next;
        }
    }
    tail->next = a ? a : b;

    return head.next;
}


/* The sorted batch, merged into the stage (sorted too): O(n + m). */
static void
stage_merge(cs_timers_t *ts, cs_timer_t *batch)
{
    cs_timer_t  *at, *t;

    at = ts->stage.next;
    while (batch) {
        t = batch;
        batch = batch->next;
        while (at != &ts->stage && timer_us(at) <= timer_us(t)) {
            at = at->next;
        }
        /* before at */
        t->next = at;
        t->prev = at->prev;
        at->prev->next = t;
        at->prev = t;
        t->list = &ts->stage;
    }
}


static void
stage_unlink(cs_timer_t *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t;
    t->prev = t;
    t->list = NULL;
}


uint64_t
cs_timers_now(const cs_timers_t *ts)
{
    return clock_ms(ts->clock);
}


static void
timers_fired(int fd, int events, void *data)
{
    int           stepped = 0;
    size_t        n;
    uint64_t      count, now;
    cs_timer_t   *t, *batch;
    cs_timers_t  *ts = data;

    (void) events;

    ts->armed = 0;

    if (read(fd, &count, sizeof(count)) < 0) {
        if (errno == ECANCELED) {
            stepped = 1;        /* the wall clock was set, either way */

        } else if (errno != EAGAIN) {
            log_error("event=timerfd_read error=%s",
                      log_esc(strerror(errno)));
        }
    }

    timers_update(ts, stepped);
    now = clock_us(ts->clock);

    /* what the wheel gives goes on the stage, in the order of its µs, and
     * waits there for them */
    batch = NULL;
    n = 0;
    while ((t = cs_wheel_get(&ts->wheel)) != NULL) {
        t->next = batch;
        batch = t;
        n++;
    }
    stage_merge(ts, batch_sort(batch, n));

    while (ts->stage.next != &ts->stage && timer_us(ts->stage.next) <= now) {
        t = ts->stage.next;
        stage_unlink(t);
        t->handler(t);
    }

    timers_arm(ts);
}


/*
 * Arms the timerfd for the wheel's next expiry, if that moved earlier. The
 * wall clock's is absolute, so that a step of the clock cancels it; the
 * monotonic one's is relative, which is as good (nothing steps that clock)
 * and keeps libfaketime, which the clock tests use, from shifting it too.
 */
static void
timers_arm(cs_timers_t *ts)
{
    int                flags = 0;
    uint64_t           next, now, at;
    struct itimerspec  its;

    next = cs_wheel_next(&ts->wheel);
    next = next == UINT64_MAX ? UINT64_MAX : next * 1000;
    if (ts->stage.next != &ts->stage && timer_us(ts->stage.next) < next) {
        next = timer_us(ts->stage.next);
    }
    if (next == UINT64_MAX || (ts->armed && ts->armed <= next)) {
        return;                 /* a fire too early finds nothing: fine */
    }

    at = next;
    if (ts->clock == CLOCK_REALTIME) {
        flags = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET;
    } else {
        now = clock_us(ts->clock);
        at = next > now ? next - now : 0;
    }

    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t) (at / 1000000);
    its.it_value.tv_nsec = (long) (at % 1000000) * 1000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
        its.it_value.tv_nsec = 1;       /* all zeros would disarm it */
    }

    if (timerfd_settime(ts->tfd, flags, &its, NULL) != 0) {
        log_error("event=timerfd_settime error=%s",
                  log_esc(strerror(errno)));
        return;
    }
    ts->armed = next;
}


cs_timers_t *
cs_timers_create(cs_loop_t *loop, clockid_t clock,
    void (*on_step)(void *data), void *data)
{
    cs_timers_t  *ts;

    ts = calloc(1, sizeof(cs_timers_t));
    if (ts == NULL) {
        return NULL;
    }

    ts->loop = loop;
    ts->clock = clock;
    ts->on_step = on_step;
    ts->data = data;
    cs_wheel_init(&ts->wheel, cs_timers_now(ts));
    cs_timer_init(&ts->stage);

    ts->tfd = timerfd_create(clock, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ts->tfd < 0
        || cs_loop_watch(loop, ts->tfd, CS_READ, timers_fired, ts) != 0)
    {
        cs_timers_free(ts);
        return NULL;
    }

    return ts;
}


void
cs_timers_free(cs_timers_t *ts)
{
    if (ts->tfd >= 0) {
        cs_loop_unwatch(ts->loop, ts->tfd);
        close(ts->tfd);
    }
    free(ts);
}


void
cs_timers_at(cs_timers_t *ts, cs_timer_t *t, uint64_t at)
{
    cs_timers_del(ts, t);
    /* a wheel never moves back: bring it to now before filing at from it */
    timers_update(ts, 0);
    t->at_us = 0;
    cs_wheel_add(&ts->wheel, t, at);
    timers_arm(ts);
}


/* the wheel holds it to its ms; the stage, from that ms, to its µs */
void
cs_timers_at_us(cs_timers_t *ts, cs_timer_t *t, uint64_t at_us)
{
    cs_timers_del(ts, t);
    timers_update(ts, 0);
    t->at_us = at_us;
    cs_wheel_add(&ts->wheel, t, at_us / 1000);
    timers_arm(ts);
}


void
cs_timers_in(cs_timers_t *ts, cs_timer_t *t, uint64_t ms)
{
    cs_timers_at(ts, t, cs_timers_now(ts) + ms);
}


void
cs_timers_del(cs_timers_t *ts, cs_timer_t *t)
{
    if (t->list == &ts->stage) {
        stage_unlink(t);
    } else {
        cs_wheel_del(&ts->wheel, t);
    }
}
