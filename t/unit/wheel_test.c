/* Unit tests of scheduler/wheel.c against brute force. */

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../../scheduler/wheel.h"
#include "tap.h"

typedef struct {
    cs_timer_t  timer;              /* first: a cs_timer_t * is the job */
    uint64_t    due;
    uint64_t    fired_at;
    int         fired;
    int         cancelled;
} job_t;

static uint64_t  rng = 88172645463325252ull;

static uint64_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}


/* Drives the wheel as the daemon does: wake at next(), update, drain. */
static uint64_t
drive(cs_wheel_t *w, uint64_t until, int check_every)
{
    uint64_t     now, steps = 0;
    cs_timer_t  *t;
    job_t       *j;

    for ( ;; ) {
        now = cs_wheel_next(w);
        if (now == UINT64_MAX || now > until) {
            break;
        }
        cs_wheel_update(w, now);
        while ((t = cs_wheel_get(w)) != NULL) {
            j = (job_t *) t;
            j->fired++;
            j->fired_at = now;
        }
        if (check_every && ++steps % check_every == 0
            && cs_wheel_check(w) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static int
all_on_time(job_t *jobs, size_t n, size_t *late, size_t *twice)
{
    size_t  i;

    *late = *twice = 0;
    for (i = 0; i < n; i++) {
        if (jobs[i].cancelled) {
            if (jobs[i].fired) {
                (*twice)++;
            }
            continue;
        }
        if (jobs[i].fired != 1) {
            (*twice)++;
        } else if (jobs[i].fired_at != jobs[i].due) {
            (*late)++;
        }
    }
    return *late == 0 && *twice == 0;
}


static size_t
fired_count(job_t *jobs, size_t n)
{
    size_t  i, k = 0;

    for (i = 0; i < n; i++) {
        k += jobs[i].fired > 0;
    }
    return k;
}


static int
none_early(job_t *jobs, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (jobs[i].fired && jobs[i].fired_at < jobs[i].due) {
            return 0;
        }
    }
    return 1;
}


static size_t
due_by(job_t *jobs, size_t n, uint64_t at)
{
    size_t  i, k = 0;

    for (i = 0; i < n; i++) {
        k += jobs[i].due <= at;
    }
    return k;
}


int
main(void)
{
    size_t       i, n, late, twice;
    uint64_t     start = 1764000000000ull;     /* an epoch in ms */
    cs_wheel_t  *w;
    job_t       *jobs;
    clock_t      c0;
    double       secs;

    w = malloc(sizeof(cs_wheel_t));
    jobs = calloc(1000000, sizeof(job_t));
    if (w == NULL || jobs == NULL) {
        return 2;
    }

    /* order of expiry, millisecond by millisecond */
    cs_wheel_init(w, start);
    for (i = 0; i < 200; i++) {
        cs_timer_init(&jobs[i].timer);
        jobs[i].due = start + 1 + (rnd() % 5000);
        cs_wheel_add(w, &jobs[i].timer, jobs[i].due);
    }
    ok(cs_wheel_check(w) == 0, "invariants hold after adding");
    {
        uint64_t  now, prev = 0;
        int       in_order = 1, early = 0;
        cs_timer_t *t;

        for (now = start + 1; now <= start + 5001; now++) {
            cs_wheel_update(w, now);
            while ((t = cs_wheel_get(w)) != NULL) {
                job_t *j = (job_t *) t;
                if (j->due < prev) in_order = 0;
                if (j->due > now) early = 1;
                if (j->due != now) in_order = 0;
                prev = j->due;
                j->fired++;
            }
        }
        ok(in_order, "ticking by 1 ms, each timer fires at its own ms, in order");
        ok(!early, "no timer fires early");
        ok(w->count == 0, "the wheel is empty after the last");
    }

    /* next() never overshoots; cancel; re-arm */
    cs_wheel_init(w, start);
    n = 20000;
    for (i = 0; i < n; i++) {
        cs_timer_init(&jobs[i].timer);
        jobs[i].fired = 0;
        jobs[i].cancelled = 0;
        jobs[i].due = start + 1 + (rnd() % 600000);        /* 10 minutes */
        cs_wheel_add(w, &jobs[i].timer, jobs[i].due);
    }
    for (i = 0; i < n; i += 3) {
        cs_wheel_del(w, &jobs[i].timer);
        jobs[i].cancelled = 1;
    }
    for (i = 1; i < n; i += 3) {
        jobs[i].due = start + 1 + (rnd() % 600000);        /* reschedule */
        cs_wheel_add(w, &jobs[i].timer, jobs[i].due);
    }
    ok(cs_wheel_check(w) == 0, "invariants hold after cancel and re-arm");
    ok(drive(w, UINT64_MAX, 97), "invariants hold at every 97th wake-up");
    ok(all_on_time(jobs, n, &late, &twice),
       "driven by next(): every live timer fires once, at its ms "
       "(late %zu, wrong count %zu)", late, twice);

    /* far future: hours and days away, cascading down */
    cs_wheel_init(w, start);
    {
        uint64_t  far[] = { 1, 63, 64, 65, 4095, 4096, 262144, 3600000,
                            5 * 3600000ull, 86400000ull * 3, 86400000ull * 400 };
        n = sizeof(far) / sizeof(far[0]);
        for (i = 0; i < n; i++) {
            cs_timer_init(&jobs[i].timer);
            jobs[i].fired = 0;
            jobs[i].cancelled = 0;
            jobs[i].due = start + far[i];
            cs_wheel_add(w, &jobs[i].timer, jobs[i].due);
        }
        ok(drive(w, UINT64_MAX, 1), "far-future invariants at every wake-up");
        ok(all_on_time(jobs, n, &late, &twice),
           "far-future timers (up to 400 days) fire exactly on time");
    }

    /* a big jump in time: everything due fires, nothing early */
    cs_wheel_init(w, start);
    n = 5000;
    for (i = 0; i < n; i++) {
        cs_timer_init(&jobs[i].timer);
        jobs[i].due = start + 1 + (rnd() % 100000000);
        cs_wheel_add(w, &jobs[i].timer, jobs[i].due);
    }
    cs_wheel_update(w, start + 50000000);
    {
        size_t      got = 0, want = 0, early = 0;
        cs_timer_t *t;

        while ((t = cs_wheel_get(w)) != NULL) {
            got++;
            if (((job_t *) t)->due > start + 50000000) early++;
        }
        for (i = 0; i < n; i++) {
            want += jobs[i].due <= start + 50000000;
        }
        ok(got == want && early == 0,
           "after a jump of 14 h: the %zu due fired, none early", want);
        ok(cs_wheel_check(w) == 0, "invariants hold after the jump");
    }

    /*
     * the clock set back an hour, then forward two: every timer keeps its
     * expiry, none fires before it, those due by the new time fire
     */
    cs_wheel_init(w, start);
    for (i = 0; i < 1000; i++) {
        cs_timer_init(&jobs[i].timer);
        jobs[i].fired = 0;
        jobs[i].cancelled = 0;
        jobs[i].due = start + 1 + (rnd() % 7200000);
        cs_wheel_add(w, &jobs[i].timer, jobs[i].due);
    }
    ok(drive(w, start + 600000, 0), "driven 10 minutes");
    cs_wheel_rebase(w, start - 3600000);
    ok(cs_wheel_check(w) == 0
       && w->count == (uint64_t) (1000 - fired_count(jobs, 1000)),
       "set back an hour: the timers not fired are all still there");
    ok(drive(w, start + 600000, 0) && fired_count(jobs, 1000) ==
       due_by(jobs, 1000, start + 600000),
       "nothing fires again until the clock is back where it was");
    cs_wheel_rebase(w, start + 7200000);
    ok(drive(w, start + 7200000, 0), "set forward past them all");
    (void) all_on_time(jobs, 1000, &late, &twice);
    ok(twice == 0 && none_early(jobs, 1000),
       "each fires once, none before its time");
    ok(cs_wheel_check(w) == 0 && w->count == 0, "invariants hold");

    /* a million timers */
    cs_wheel_init(w, start);
    n = 1000000;
    c0 = clock();
    for (i = 0; i < n; i++) {
        cs_timer_init(&jobs[i].timer);
        jobs[i].fired = 0;
        jobs[i].cancelled = 0;
        jobs[i].due = start + 1 + (rnd() % 600000);
        cs_wheel_add(w, &jobs[i].timer, jobs[i].due);
    }
    ok(drive(w, UINT64_MAX, 0), "a million timers driven to the end");
    secs = (double) (clock() - c0) / CLOCKS_PER_SEC;
    ok(all_on_time(jobs, n, &late, &twice),
       "a million timers: each fires once, at its ms (late %zu, wrong %zu)",
       late, twice);
    printf("# 1,000,000 timers added and expired in %.2f s of CPU\n", secs);
    ok(w->count == 0 && cs_wheel_next(w) == UINT64_MAX,
       "empty at the end, nothing to wake for");

    free(jobs);
    free(w);
    return done_testing();
}
