/*
 * The floor for the scheduler's lateness on this machine: how late an
 * absolute CLOCK_REALTIME timerfd wakes, armed N times for whole ms.
 * Prints p50, p99 and max in ms.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


int
main(int argc, char **argv)
{
    int                n = argc > 1 ? atoi(argv[1]) : 1000, i, fd;
    double            *late;
    uint64_t           count, at;
    struct timespec    now;
    struct itimerspec  its = { { 0, 0 }, { 0, 0 } };

    fd = timerfd_create(CLOCK_REALTIME, 0);
    late = calloc(n, sizeof(double));
    if (fd < 0 || late == NULL) {
        return 1;
    }

    for (i = 0; i < n; i++) {
        clock_gettime(CLOCK_REALTIME, &now);
        at = (uint64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000 + 2;
        its.it_value.tv_sec = at / 1000;
        its.it_value.tv_nsec = (at % 1000) * 1000000;
        timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
        if (read(fd, &count, sizeof(count)) != sizeof(count)) {
            return 1;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        late[i] = (now.tv_sec * 1000.0 + now.tv_nsec / 1e6) - (double) at;
    }

    qsort(late, n, sizeof(double), cmp);
    printf("%.3f %.3f %.3f\n", late[n / 2], late[(int) (n * 0.99)],
           late[n - 1]);
    return 0;
}
