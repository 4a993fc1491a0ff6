/*
 * The payload of a "campaign" notification (sql/003_transitions.sql):
 *   {"id" : "<uuid>", "type" : "sms", "status" : "scheduled",
 *    "scheduled_at" : "2026-12-01T09:00:00.000Z" | null,
 *    "due_ms" : 1764579600000 | null, "due_us" : 1764579600000000 | null}
 * due_us is scheduled_at in µs (due_ms, in ms rounded up, for a payload of
 * before it); scheduled_at is for people.
 * It is a hint: anything unparsable makes the scheduler resync.
 */

#ifndef CS_NOTIFY_H
#define CS_NOTIFY_H

#include <stdint.h>

typedef struct {
    char      id[37];
    char      status[16];
    uint64_t  due_us;               /* 0: none */
} cs_notify_t;

/* 0, or -1 for a payload that is not of that shape */
int cs_notify_parse(const char *payload, cs_notify_t *n);

#endif
