#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "notify.h"


/* The string value of "key" : "...", copied into out; -1 if absent. */
static int
field(const char *payload, const char *key, char *out, size_t size)
{
    char         pat[32];
    const char  *p, *end;
    size_t       n;

    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr(payload, pat);
    if (p == NULL) {
        return -1;
    }

    p += strlen(pat);
    while (*p == ' ' || *p == ':') {
        p++;
    }
    if (*p != '"') {
        return -1;                  /* null, or not a string */
    }

    p++;
    end = strchr(p, '"');
    if (end == NULL) {
        return -1;
    }

    n = (size_t) (end - p);
    if (n >= size) {
        return -1;
    }

    memcpy(out, p, n);
    out[n] = '\0';

    return 0;
}


static int
atoi_n(const char *s, int n)
{
    int  v = 0;

    while (n--) {
        v = v * 10 + (*s++ - '0');
    }
    return v;
}


/* "YYYY-MM-DDTHH:MM:SS.mmmZ" to ms since the epoch. */
static int
parse_ts(const char *s, uint64_t *ms)
{
    int        i;
    struct tm  tm;
    time_t     t;

    static const char  shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

    if (strlen(s) != sizeof(shape) - 1) {
        return -1;
    }
    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char) s[i])
                            : s[i] != shape[i])
        {
            return -1;
        }
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = atoi_n(s, 4) - 1900;
    tm.tm_mon = atoi_n(s + 5, 2) - 1;
    tm.tm_mday = atoi_n(s + 8, 2);
    tm.tm_hour = atoi_n(s + 11, 2);
    tm.tm_min = atoi_n(s + 14, 2);
    tm.tm_sec = atoi_n(s + 17, 2);

    if (tm.tm_year < 70 || tm.tm_mon > 11 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60)
    {
        return -1;
    }

    t = timegm(&tm);
    if (t < 0) {
        return -1;
    }

    *ms = (uint64_t) t * 1000 + (uint64_t) atoi_n(s + 20, 3);

    return 0;
}


int
cs_notify_parse(const char *payload, cs_notify_t *n)
{
    char  ts[40];

    memset(n, 0, sizeof(*n));

    if (field(payload, "id", n->id, sizeof(n->id)) != 0
        || strlen(n->id) != 36
        || field(payload, "status", n->status, sizeof(n->status)) != 0)
    {
        return -1;
    }

    if (field(payload, "scheduled_at", ts, sizeof(ts)) == 0) {
        if (parse_ts(ts, &n->scheduled_ms) != 0) {
            return -1;
        }
    }

    return 0;
}
