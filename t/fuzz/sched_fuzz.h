/* What the scheduler's and the SQL fuzz targets share besides fuzz.h: the
 * strict UTF-8 filter, an oracle written apart from the module's. */

#ifndef SCHED_FUZZ_H
#define SCHED_FUZZ_H

#include "fuzz.h"

/* strict UTF-8 without NUL: what the module lets through and Postgres
 * takes (no overlong forms, no surrogates, nothing past U+10FFFF) */
static int
fuzz_utf8_ok(const unsigned char *s)
{
    int       n;
    uint32_t  c, min;

    while (*s) {
        c = *s++;
        if (c < 0x80) {
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            n = 1; min = 0x80; c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2; min = 0x800; c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3; min = 0x10000; c &= 0x07;
        } else {
            return 0;
        }
        for (; n > 0; n--, s++) {
            if ((*s & 0xc0) != 0x80) {
                return 0;
            }
            c = (c << 6) | (*s & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }
    }
    return 1;
}

#endif
