/*
 * NOTIFY payloads. Properties: one that parses has a 36-character id and
 * a NUL-terminated status; parsing the same text twice gives the same.
 */

#include "notify.h"
#include "sched_fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         *payload = fuzz_cstr(data, size);
    cs_notify_t   a, b;

    if (cs_notify_parse(payload, &a) == 0) {
        FUZZ_CHECK(strlen(a.id) == 36);
        FUZZ_CHECK(memchr(a.status, '\0', sizeof(a.status)) != NULL);
        FUZZ_CHECK(cs_notify_parse(payload, &b) == 0);
        FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    }

    free(payload);
    return 0;
}
