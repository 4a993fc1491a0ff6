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

#ifdef YAJL_TREE_H
/* two documents of one shape: the same keys in the same order, the same
 * lengths of arrays, the same types (any string for a string) */
static inline void
same_shape(yajl_val a, yajl_val b)
{
    size_t  i;

    FUZZ_CHECK(a->type == b->type
               || (YAJL_IS_STRING(a) && YAJL_IS_STRING(b)));

    if (YAJL_IS_OBJECT(a)) {
        FUZZ_CHECK(a->u.object.len == b->u.object.len);
        for (i = 0; i < a->u.object.len; i++) {
            FUZZ_CHECK(strcmp(a->u.object.keys[i], b->u.object.keys[i]) == 0);
            same_shape(a->u.object.values[i], b->u.object.values[i]);
        }
    } else if (YAJL_IS_ARRAY(a)) {
        FUZZ_CHECK(a->u.array.len == b->u.array.len);
        for (i = 0; i < a->u.array.len; i++) {
            same_shape(a->u.array.values[i], b->u.array.values[i]);
        }
    }
}
#endif


#endif
