#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"


void
cs_log(const char *level, const char *fmt, ...)
{
    char            ts[32];
    va_list         ap;
    struct tm       tm;
    struct timeval  tv;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    fprintf(stderr, "%s.%03dZ level=%s ", ts, (int) (tv.tv_usec / 1000),
            level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
