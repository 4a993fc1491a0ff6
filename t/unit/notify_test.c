/* Unit tests of scheduler/notify.c: payloads as the trigger writes them,
 * and the malformed ones that must make the scheduler resync instead. */

#include <string.h>

#include "../../scheduler/notify.h"
#include "tap.h"

#define ID "5f0c6c1e-8c8e-4a39-9f1f-1f2e3d4c5b6a"

int
main(void)
{
    cs_notify_t  n;

    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"type\" : \"sms\", "
                       "\"status\" : \"scheduled\", \"scheduled_at\" : "
                       "\"2026-12-01T09:00:00.000Z\", \"due_ms\" : "
                       "1764579600001}", &n) == 0
       && strcmp(n.id, ID) == 0 && strcmp(n.status, "scheduled") == 0
       && n.due_us == 1764579600001000ull,
       "a scheduled campaign of before 019: due_ms, in us");
    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"type\" : \"sms\", "
                       "\"status\" : \"scheduled\", \"scheduled_at\" : "
                       "\"2026-12-01T09:00:00.000Z\", \"due_ms\" : "
                       "1764579600001, \"due_us\" : 1764579600000250}", &n)
       == 0 && n.due_us == 1764579600000250ull,
       "a scheduled campaign: due_us, to the us");
    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"type\" : \"sms\", "
                       "\"status\" : \"queued\", \"scheduled_at\" : null, "
                       "\"due_ms\" : null, \"due_us\" : null}", &n) == 0
       && strcmp(n.status, "queued") == 0 && n.due_us == 0,
       "no time: due_us 0");
    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"status\" : \"queued\", "
                       "\"due_ms\" : 1, \"due_us\" : \"x\"}", &n) != 0,
       "a due_us not a number");
    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"status\" : \"queued\", "
                       "\"due_ms\" : 999999999999999999}", &n) != 0,
       "a due_ms too large to be in us");
    ok(cs_notify_parse("", &n) != 0, "empty");
    ok(cs_notify_parse("{\"status\" : \"queued\"}", &n) != 0, "no id");
    ok(cs_notify_parse("{\"id\" : \"short\", \"status\" : \"queued\"}", &n)
       != 0, "an id that is not a UUID");
    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"status\" : "
                       "\"a-status-far-too-long-to-be-one\"}", &n) != 0,
       "a status too long");
    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"status\" : \"queued\", "
                       "\"due_ms\" : 99999999999999999999}", &n) != 0,
       "a due_ms out of range");
    ok(cs_notify_parse("{\"id\" : \"" ID "\", \"status\" : \"queued\", "
                       "\"due_ms\" : \"x\"}", &n) != 0, "a due_ms not a number");
    ok(cs_notify_parse("{\"id\" : \"" ID, &n) != 0, "truncated");

    return done_testing();
}
