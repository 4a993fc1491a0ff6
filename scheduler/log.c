#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

#define CS_LOG_VALUES  8
#define CS_LOG_VALUE   400


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


const char *
log_esc(const char *s)
{
    char           *buf, *o, *end;
    size_t          i, len;
    static int      next;
    static char     bufs[CS_LOG_VALUES][CS_LOG_VALUE * 4 + 8];
    unsigned char   c;

    buf = bufs[next];
    next = (next + 1) % CS_LOG_VALUES;
    o = buf;
    end = buf + sizeof(bufs[0]) - 8;

    /* libpq's messages end in a line break: nothing to show of it */
    len = s ? strlen(s) : 0;
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) {
        len--;
    }
    if (len > CS_LOG_VALUE) {
        len = CS_LOG_VALUE;
    }

    *o++ = '"';
    for (i = 0; i < len && o < end; i++) {
        c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char) c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\x%02x", c);
        } else {
            *o++ = (char) c;
        }
    }
    *o++ = '"';
    *o = '\0';

    return buf;
}
