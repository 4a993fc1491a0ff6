/*
 * The scheduler proper: campaigns due within the horizon sit in the wheel,
 * one timerfd is armed for the next expiry, and every wake-up, notification
 * or sweep turns into the few queries of sql/006_scheduler.sql. Its memory
 * is a cache of the database, rebuilt by one resync at start, on reconnect
 * and as the horizon moves.
 */

#ifndef CS_SCHED_H
#define CS_SCHED_H

#include <stddef.h>

#include "config.h"
#include "loop.h"

typedef struct cs_sched_s cs_sched_t;

cs_sched_t *cs_sched_create(cs_loop_t *loop, cs_config_t *cf);
void cs_sched_free(cs_sched_t *s);
/* 0, or -1 with why in err (the metrics address cannot be bound) */
int cs_sched_start(cs_sched_t *s, char *err, size_t errlen);

/* takes the new configuration; the old one is freed */
void cs_sched_reload(cs_sched_t *s, cs_config_t *cf);

/* stops taking work; calls the loop to stop when nothing is in flight */
void cs_sched_stop(cs_sched_t *s);

#endif
