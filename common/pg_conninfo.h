/*
 * A libpq connection string made ready for connections that must never
 * block: every host name is resolved now, when the configuration is read
 * (libpq would call a blocking getaddrinfo() inside PQconnectPoll), each
 * address becoming its own host/hostaddr entry so that a multi-host string
 * ("host=a,b target_session_attrs=read-write") still tries each in turn;
 * and keywords the operator left out get the caller's defaults. Plain C
 * and malloc, shared by the nginx module and the scheduler.
 */

#ifndef PG_CONNINFO_H
#define PG_CONNINFO_H

#include <stddef.h>

typedef struct {
    char  **keywords;           /* NULL-terminated, for PQconnectStartParams */
    char  **values;
    /*
     * The same values with the host list rotated: rotated[i] starts with
     * its i-th entry. A host that never answers holds a connect until it
     * times out, and libpq starts each connect at the first host: the next
     * connect starts at the next one instead.
     */
    size_t  nhosts;
    char ***rotated;
} pg_conninfo_t;

/*
 * defaults: keyword, value, ..., NULL. 0, or -1 with why in err (the
 * conninfo's own words are never in it: it may hold a password).
 */
int pg_conninfo_build(pg_conninfo_t *ci, const char *conninfo,
    const char *const *defaults, char *err, size_t errlen);
void pg_conninfo_free(pg_conninfo_t *ci);

/* the values for the n-th connect: its host list begins a step further */
const char *const *pg_conninfo_values(const pg_conninfo_t *ci, size_t n);

/* the value of a keyword, or NULL */
const char *pg_conninfo_get(const pg_conninfo_t *ci, const char *keyword);

#endif
