/*
 * The scheduler's configuration file. Properties: a text that parses has
 * a database, sane bounds (window >= 1, retry longest >= first), names
 * that fit, and parses again the same; one that does not says where.
 */

#include "config.h"
#include "sched_fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *text = fuzz_cstr(data, size), err[512];
    size_t         i;
    cs_config_t    a, b;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    err[0] = '\0';

    if (cs_config_parse(&a, "fuzz.conf", text, err, sizeof(err)) == 0) {
        FUZZ_CHECK(a.database != NULL);
        FUZZ_CHECK(a.window >= 1);
        FUZZ_CHECK(a.retry_longest >= a.retry_first);
        FUZZ_CHECK(a.ntypes <= CS_MAX_TYPES);
        for (i = 0; i < a.ntypes; i++) {
            FUZZ_CHECK(strlen(a.types[i].name) < CS_NAME_MAX);
        }

        FUZZ_CHECK(cs_config_parse(&b, "fuzz.conf", text, err, sizeof(err))
                   == 0);
        FUZZ_CHECK(b.ntypes == a.ntypes && b.window == a.window
                   && strcmp(a.database, b.database) == 0);
        cs_config_free(&b);
        cs_config_free(&a);

    } else {
        FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
    }

    free(text);
    return 0;
}
