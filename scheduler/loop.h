/*
 * The event loop: epoll, level-triggered, one handler per fd (as redis's
 * ae). Timers are not here: timers.c arms a timerfd per clock. A turn of
 * the loop (a batch of events, or the work before a wait) that takes more
 * than 10 ms of CPU is logged (event=slow_step): nothing any tenant sends
 * may hold the loop that long.
 */

#ifndef CS_LOOP_H
#define CS_LOOP_H

#include <stdint.h>

#define CS_READ   1
#define CS_WRITE  2

typedef void (*cs_fd_handler_pt)(int fd, int events, void *data);
/* returns 1 if it left work for the next pass: the loop then does not
 * wait for an event before it */
typedef int (*cs_idle_handler_pt)(void *data);

typedef struct cs_loop_s cs_loop_t;

cs_loop_t *cs_loop_create(void);
void cs_loop_free(cs_loop_t *loop);
int cs_loop_watch(cs_loop_t *loop, int fd, int events,
    cs_fd_handler_pt handler, void *data);
void cs_loop_unwatch(cs_loop_t *loop, int fd);
void cs_loop_stop(cs_loop_t *loop);

/* handler runs before the loop waits, i.e. after every batch of events:
 * work deferred there is done once per batch, not once per event */
int cs_loop_on_idle(cs_loop_t *loop, cs_idle_handler_pt handler, void *data);
void cs_loop_off_idle(cs_loop_t *loop, cs_idle_handler_pt handler, void *data);
int cs_loop_run(cs_loop_t *loop);

/* microseconds on CLOCK_MONOTONIC */
uint64_t cs_loop_mono_us(void);

#endif
