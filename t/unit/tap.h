/* A few lines of TAP for C unit tests run by prove. */

#ifndef CS_TAP_H
#define CS_TAP_H

#include <stdio.h>

static int  tap_n, tap_failed;

#define ok(cond, ...)                                                        \
    do {                                                                     \
        int ok_ = !!(cond);                                                  \
        printf("%sok %d - ", ok_ ? "" : "not ", ++tap_n);                    \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        if (!ok_) {                                                          \
            tap_failed++;                                                    \
            printf("#   at %s line %d\n", __FILE__, __LINE__);              \
        }                                                                    \
    } while (0)

#define done_testing()                                                       \
    (printf("1..%d\n", tap_n), tap_failed ? 1 : 0)

#endif
