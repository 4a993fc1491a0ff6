#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "notify.h"


/* Where the value of "key" : ... starts, or NULL. */
static const char *
value_of(const char *payload, const char *key)
{
    char         pat[32];
    const char  *p;

    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr(payload, pat);
    if (p == NULL) {
        return NULL;
    }

    p += strlen(pat);
    while (*p == ' ' || *p == ':') {
        p++;
    }

    return p;
}


/* The string value of "key", copied into out; -1 if absent or not one. */
static int
field(const char *payload, const char *key, char *out, size_t size)
{
    const char  *p, *end;
    size_t       n;

    p = value_of(payload, key);
    if (p == NULL || *p != '"') {
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


/* The value of "key" as a whole number: 0 for null, -1 if neither. */
static int
number(const char *payload, const char *key, uint64_t *out)
{
    const char          *p;
    unsigned long long   v = 0;
    int                  digits = 0;

    p = value_of(payload, key);
    if (p == NULL) {
        return -1;
    }

    if (strncmp(p, "null", 4) == 0) {
        *out = 0;
        return 0;
    }

    while (isdigit((unsigned char) *p) && digits < 18) {
        v = v * 10 + (unsigned long long) (*p++ - '0');
        digits++;
    }

    if (digits == 0 || isdigit((unsigned char) *p)) {
        return -1;
    }

    *out = v;
    return 0;
}


int
cs_notify_parse(const char *payload, cs_notify_t *n)
{
    uint64_t  ms;

    memset(n, 0, sizeof(*n));

    if (field(payload, "id", n->id, sizeof(n->id)) != 0
        || strlen(n->id) != 36
        || field(payload, "status", n->status, sizeof(n->status)) != 0)
    {
        return -1;
    }

    if (number(payload, "due_ms", &ms) != 0 || ms > UINT64_MAX / 1000) {
        return -1;
    }

    /* the µs where the payload has them (since 019), else the ms */
    if (value_of(payload, "due_us") == NULL) {
        n->due_us = ms * 1000;

    } else if (number(payload, "due_us", &n->due_us) != 0) {
        return -1;
    }

    return 0;
}
