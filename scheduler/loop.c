#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define CS_LOOP_FDS   1024
#define CS_LOOP_IDLE  4
#define CS_LOOP_SLOW  10000         /* us of CPU: a turn longer is logged */
/* us a batch of events may take: the rest, level-triggered, come back */
#define CS_LOOP_BATCH_US  4000

typedef struct {
    int                events;
    cs_fd_handler_pt   handler;
    void              *data;
} cs_fd_t;

typedef struct {
    cs_idle_handler_pt   handler;
    void                *data;
} cs_idle_t;

struct cs_loop_s {
    int         epfd;
    int         stop;
    int         nidle;
    cs_idle_t   idle[CS_LOOP_IDLE];
    cs_fd_t     fds[CS_LOOP_FDS];
};


/* this thread's CPU time: a machine that is busy elsewhere does not
 * make a turn look long */
static uint64_t
loop_cpu_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


/* cheap (vDSO), unlike the thread's CPU clock: for budgets within a turn */
uint64_t
cs_loop_mono_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


cs_loop_t *
cs_loop_create(void)
{
    cs_loop_t  *loop;

    loop = calloc(1, sizeof(cs_loop_t));
    if (loop == NULL) {
        return NULL;
    }

    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }

    return loop;
}


void
cs_loop_free(cs_loop_t *loop)
{
    close(loop->epfd);
    free(loop);
}


int
cs_loop_watch(cs_loop_t *loop, int fd, int events, cs_fd_handler_pt handler,
    void *data)
{
    int                 op;
    struct epoll_event  ev;

    if (fd < 0 || fd >= CS_LOOP_FDS) {
        return -1;
    }

    memset(&ev, 0, sizeof(ev));
    ev.events = (events & CS_READ ? EPOLLIN : 0)
                | (events & CS_WRITE ? EPOLLOUT : 0);
    ev.data.fd = fd;

    /*
     * A socket closed and another opened under the same number (libpq
     * moving to the next host) left epoll without it: then add it.
     */
    op = loop->fds[fd].handler ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, fd, &ev) != 0) {
        op = (errno == ENOENT) ? EPOLL_CTL_ADD
             : (errno == EEXIST) ? EPOLL_CTL_MOD : -1;
        if (op < 0 || epoll_ctl(loop->epfd, op, fd, &ev) != 0) {
            return -1;
        }
    }

    loop->fds[fd].events = events;
    loop->fds[fd].handler = handler;
    loop->fds[fd].data = data;

    return 0;
}


void
cs_loop_unwatch(cs_loop_t *loop, int fd)
{
    if (fd < 0 || fd >= CS_LOOP_FDS || loop->fds[fd].handler == NULL) {
        return;
    }

    (void) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&loop->fds[fd], 0, sizeof(cs_fd_t));
}


int
cs_loop_on_idle(cs_loop_t *loop, cs_idle_handler_pt handler, void *data)
{
    if (loop->nidle == CS_LOOP_IDLE) {
        return -1;
    }

    loop->idle[loop->nidle].handler = handler;
    loop->idle[loop->nidle].data = data;
    loop->nidle++;

    return 0;
}


void
cs_loop_off_idle(cs_loop_t *loop, cs_idle_handler_pt handler, void *data)
{
    int  i;

    for (i = 0; i < loop->nidle; i++) {
        if (loop->idle[i].handler == handler && loop->idle[i].data == data) {
            loop->nidle--;
            memmove(&loop->idle[i], &loop->idle[i + 1],
                    (loop->nidle - i) * sizeof(cs_idle_t));
            return;
        }
    }
}


void
cs_loop_stop(cs_loop_t *loop)
{
    loop->stop = 1;
}


int
cs_loop_run(cs_loop_t *loop)
{
    int                 i, n, fd, events, more;
    uint64_t            t, us, start;
    cs_fd_t            *f;
    struct epoll_event  evs[64];

    loop->stop = 0;             /* until stopped again: it may run twice */
    while (!loop->stop) {
        /* before each wait: the work the last batch (or the code that
         * ran before the loop) left for once per batch */
        more = 0;
        t = loop_cpu_us();
        for (i = 0; i < loop->nidle && !loop->stop; i++) {
            more |= loop->idle[i].handler(loop->idle[i].data);
        }
        us = loop_cpu_us() - t;
        if (us > CS_LOOP_SLOW) {
            log_warn("event=slow_step what=idle cpu_ms=%.1f",
                     (double) us / 1000);
        }
        if (loop->stop) {
            break;
        }

        n = epoll_wait(loop->epfd, evs, 64, more ? 0 : -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_error("event=epoll_wait error=%s", log_esc(strerror(errno)));
            return -1;
        }

        t = loop_cpu_us();
        start = cs_loop_mono_us();

        for (i = 0; i < n && !loop->stop; i++) {
            /*
             * a batch that took its time leaves the rest: epoll reports
             * them again (level-triggered, the ready list in turn), after
             * the once-per-batch work had its turn
             */
            if (i > 0 && cs_loop_mono_us() - start > CS_LOOP_BATCH_US) {
                break;
            }

            fd = evs[i].data.fd;
            f = &loop->fds[fd];

            /* an earlier handler of this batch may have dropped the fd */
            if (f->handler == NULL) {
                continue;
            }

            events = 0;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                events |= CS_READ;
            }
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                events |= CS_WRITE;
            }

            f->handler(fd, events & (f->events | CS_READ), f->data);
        }

        us = loop_cpu_us() - t;
        if (us > CS_LOOP_SLOW) {
            log_warn("event=slow_step what=events events=%d cpu_ms=%.1f", n,
                     (double) us / 1000);
        }
    }

    return 0;
}
