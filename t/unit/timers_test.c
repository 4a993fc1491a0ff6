/* Unit tests of scheduler/timers.c on a real loop and timerfd: timers given
 * a time in µs fire at or after it, never before, each once and in order,
 * also when cancelled or moved while they wait on the µs stage. */

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../../scheduler/loop.h"
#include "../../scheduler/timers.h"
#include "tap.h"

#define N  200

typedef struct {
    cs_timer_t  timer;              /* first: a cs_timer_t * is the job */
    uint64_t    at_us;
    uint64_t    fired_us;
    int         fired;
    int         order;
} job_t;

static cs_loop_t    *loop;
static cs_timers_t  *ts;
static int           nfired, left;
static job_t         jobs[N];

static uint64_t
wall_us(void)
{
    struct timespec  t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t) t.tv_sec * 1000000 + (uint64_t) t.tv_nsec / 1000;
}


static void
fired(cs_timer_t *t)
{
    job_t  *j = (job_t *) t;

    j->fired_us = wall_us();
    j->fired++;
    j->order = nfired++;
    if (--left == 0) {
        cs_loop_stop(loop);
    }
}


/* on the stage (the wheel gave them, their µs not yet come), the first
 * of the ms cancels the second and moves the third later */
static job_t  first, second, third;

static void
stage_first(cs_timer_t *t)
{
    fired(t);
    cs_timers_del(ts, &second.timer);
    third.at_us += 1500;
    cs_timers_at_us(ts, &third.timer, third.at_us);
}


/* a guard: the loop stops even if a timer never fires */
static void
give_up(cs_timer_t *t)
{
    (void) t;
    cs_loop_stop(loop);
}


int
main(void)
{
    int          i, early, dup, unordered, precise, moved_ok;
    uint64_t     now;
    cs_timer_t   guard;
    cs_timers_t *mono;

    loop = cs_loop_create();
    ts = cs_timers_create(loop, CLOCK_REALTIME, NULL, NULL);
    mono = cs_timers_create(loop, CLOCK_MONOTONIC, NULL, NULL);
    ok(loop && ts && mono, "a loop and its timers");

    cs_timer_init(&guard);
    guard.handler = give_up;
    cs_timers_in(mono, &guard, 5000);

    /* N timers within the next 60 ms: most in pairs sharing a ms, and one
     * in ten 100 µs past a whole ms, which a timer kept to the ms fires
     * 900 µs or more after */
    now = wall_us();
    srand(7);
    for (i = 0; i < N; i++) {
        cs_timer_init(&jobs[i].timer);
        jobs[i].timer.handler = fired;
        jobs[i].at_us = (i % 10 == 0)
                        ? (now / 1000 + 5 + (uint64_t) i / 4) * 1000 + 100
                        : now + 5000 + (uint64_t) (rand() % 55000);
        cs_timers_at_us(ts, &jobs[i].timer, jobs[i].at_us);
    }

    /* one cancelled and one moved later, both before they are due */
    cs_timers_del(ts, &jobs[1].timer);
    jobs[2].at_us += 3333;
    cs_timers_at_us(ts, &jobs[2].timer, jobs[2].at_us);
    /* and one moved to a plain ms: at or after that ms */
    jobs[3].at_us = (now / 1000 + 20) * 1000;
    cs_timers_at(ts, &jobs[3].timer, now / 1000 + 20);

    left = N - 1;
    cs_loop_run(loop);
    cs_timers_del(mono, &guard);

    early = dup = unordered = precise = 0;
    moved_ok = jobs[2].fired == 1 && jobs[2].fired_us >= jobs[2].at_us;
    for (i = 0; i < N; i++) {
        if (i == 1) {
            continue;
        }
        if (jobs[i].fired != 1) {
            dup++;
            continue;
        }
        if (jobs[i].fired_us < jobs[i].at_us) {
            early++;
        }
        if (i % 10 == 0 && jobs[i].fired_us - jobs[i].at_us < 900) {
            precise++;
        }
    }
    for (i = 0; i < N; i++) {
        int  k;

        for (k = 0; k < N; k++) {
            if (i != 1 && k != 1 && jobs[i].fired && jobs[k].fired
                && jobs[i].at_us < jobs[k].at_us
                && jobs[i].order > jobs[k].order)
            {
                unordered++;
            }
        }
    }

    ok(left == 0 && dup == 0, "every timer fired once (%d left, %d not once)",
       left, dup);
    ok(early == 0, "none before its us (%d early)", early);
    ok(unordered == 0, "in the order of their times (%d pairs out)",
       unordered);
    ok(jobs[1].fired == 0, "a cancelled timer never fires");
    ok(moved_ok, "a timer moved later fires at its new time");
    /* a timer kept to the ms is always 900 us late here: one that is not
     * shows the us stage (the machine's wake-up lateness aside) */
    ok(precise > 0, "timers 100 us past a ms fire within 900 us of it "
       "(%d of %d)", precise, N / 10);

    /* a thousand, then ten thousand in one ms, given in descending µs:
     * in order, and the stage's sort grows as n log n, not n^2 (it was an
     * insertion: 10,000 x 10,000 steps for them) */
    {
        static job_t  many[10000];
        clock_t       cpu[2];
        uint64_t      ms;
        int           pass;

        int           count;

        for (pass = 0; pass < 2; pass++) {
            count = pass == 0 ? 1000 : 10000;
            ms = wall_us() / 1000 + 20;
            nfired = 0;
            for (i = 0; i < count; i++) {
                cs_timer_init(&many[i].timer);
                many[i].timer.handler = fired;
                many[i].fired = 0;
                many[i].at_us = ms * 1000 + 999 - (uint64_t) (i * 1000
                                                              / count);
                cs_timers_at_us(ts, &many[i].timer, many[i].at_us);
            }
            left = count;
            cs_timers_in(mono, &guard, 5000);
            cpu[pass] = clock();
            cs_loop_run(loop);
            cpu[pass] = clock() - cpu[pass];
            cs_timers_del(mono, &guard);
            early = unordered = 0;
            for (i = 0; i < count; i++) {
                early += many[i].fired_us < many[i].at_us;
            }
            for (i = 1; i < count; i++) {
                unordered += many[i - 1].at_us < many[i].at_us
                             && many[i - 1].order > many[i].order;
                unordered += many[i - 1].at_us > many[i].at_us
                             && many[i - 1].order < many[i].order;
            }
            ok(left == 0 && early == 0 && unordered == 0,
               "%d in one ms given in reverse: all fire, none early, in "
               "order (%d left, %d early, %d out)", count, left, early,
               unordered);
        }
        ok(cpu[1] <= 40 * cpu[0] + CLOCKS_PER_SEC / 200,
           "ten times as many cost %.1f times the CPU (%.1f ms against "
           "%.1f ms), not a hundred", (double) cpu[1] / (cpu[0] ? cpu[0] : 1),
           (double) cpu[1] * 1000 / CLOCKS_PER_SEC,
           (double) cpu[0] * 1000 / CLOCKS_PER_SEC);
    }

    /* cancelled and moved while on the stage */
    {
        uint64_t  ms = wall_us() / 1000 + 20;

        cs_timer_init(&first.timer);
        cs_timer_init(&second.timer);
        cs_timer_init(&third.timer);
        first.timer.handler = stage_first;
        second.timer.handler = fired;
        third.timer.handler = fired;
        first.at_us = ms * 1000 + 100;
        second.at_us = ms * 1000 + 800;
        third.at_us = ms * 1000 + 900;
        first.fired = second.fired = third.fired = 0;
        cs_timers_at_us(ts, &first.timer, first.at_us);
        cs_timers_at_us(ts, &second.timer, second.at_us);
        cs_timers_at_us(ts, &third.timer, third.at_us);
        left = 2;
        cs_timers_in(mono, &guard, 5000);
        cs_loop_run(loop);
        cs_timers_del(mono, &guard);
        ok(first.fired == 1 && second.fired == 0,
           "a timer cancelled on the stage never fires");
        ok(third.fired == 1 && third.fired_us >= third.at_us,
           "one moved on the stage fires at its new time");
    }

    cs_timers_free(ts);
    cs_timers_free(mono);
    cs_loop_free(loop);
    return done_testing();
}
