/*
 * See pg_conninfo.h. The host list is split into entries of one host name
 * and one address each; a socket path or an empty name keeps an empty
 * address (libpq then uses the name, which needs no lookup); a port list
 * follows its hosts.
 */

#include <libpq-fe.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "pg_conninfo.h"

#define PG_CONNINFO_MAX  1024       /* options, and addresses in all */

typedef struct {
    char   *s;
    size_t  len;
    size_t  cap;
} pg_list_t;


/* Appends an item to a comma-separated list. */
static int
pg_list_add(pg_list_t *l, const char *item, size_t n)
{
    char    *p;
    size_t   need = l->len + n + 2;

    if (need > l->cap) {
        l->cap = need * 2;
        p = realloc(l->s, l->cap);
        if (p == NULL) {
            return -1;
        }
        l->s = p;
    }
    if (l->len > 0) {
        l->s[l->len++] = ',';
    }
    memcpy(l->s + l->len, item, n);
    l->len += n;
    l->s[l->len] = '\0';
    return 0;
}


/* The i-th item of a comma-separated list (or the whole, if no commas). */
static const char *
pg_list_item(const char *list, size_t i, size_t *n)
{
    const char  *p = list, *e;

    while (i-- > 0 && (p = strchr(p, ',')) != NULL) {
        p++;
    }
    if (p == NULL) {
        *n = 0;
        return "";
    }
    e = strchr(p, ',');
    *n = e ? (size_t) (e - p) : strlen(p);
    return p;
}


static size_t
pg_list_count(const char *list)
{
    size_t  n = 1;

    for (; *list; list++) {
        n += (*list == ',');
    }
    return n;
}


static int
pg_conninfo_push(pg_conninfo_t *ci, size_t *n, const char *k, const char *v)
{
    if (*n + 1 >= PG_CONNINFO_MAX) {
        return -1;
    }
    ci->keywords[*n] = strdup(k);
    ci->values[*n] = strdup(v);
    (*n)++;
    return ci->keywords[*n - 1] && ci->values[*n - 1] ? 0 : -1;
}


/* One host of the list: an entry per address it resolves to. */
static int
pg_conninfo_resolve(const char *host, size_t len, const char *port,
    size_t port_len, pg_list_t *hosts, pg_list_t *addrs, pg_list_t *ports,
    char *err, size_t errlen)
{
    int              rc, i, found = 0;
    char             name[NI_MAXHOST], addr[NI_MAXHOST];
    char             seen[32][INET6_ADDRSTRLEN + 16];
    struct addrinfo  hints, *res, *a;

    if (len >= sizeof(name)) {
        snprintf(err, errlen, "a host name is too long");
        return -1;
    }
    memcpy(name, host, len);
    name[len] = '\0';

    /* a socket path, an abstract socket or the default: no lookup */
    if (len == 0 || name[0] == '/' || name[0] == '@') {
        return pg_list_add(hosts, name, len) || pg_list_add(addrs, "", 0)
               || pg_list_add(ports, port, port_len);
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve \"%s\": %s", name,
                 gai_strerror(rc));
        return -1;
    }

    for (a = res; a && found < 32; a = a->ai_next) {
        if (getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof(addr), NULL,
                        0, NI_NUMERICHOST) != 0
            || strlen(addr) >= sizeof(seen[0]))
        {
            continue;
        }
        /* a resolver may give an address twice */
        for (i = 0; i < found && strcmp(seen[i], addr) != 0; i++) {
            /* void */
        }
        if (i < found) {
            continue;
        }
        strcpy(seen[found], addr);
        if (pg_list_add(hosts, name, len) != 0
            || pg_list_add(addrs, addr, strlen(addr)) != 0
            || pg_list_add(ports, port, port_len) != 0)
        {
            freeaddrinfo(res);
            return -1;
        }
        found++;
    }
    freeaddrinfo(res);

    if (found == 0) {
        snprintf(err, errlen, "\"%s\" has no address", name);
        return -1;
    }
    return 0;
}


/* The items of a comma-separated list, from the i-th on, round again. */
static char *
pg_list_rotate(const char *list, size_t n, size_t first)
{
    size_t      k, len;
    pg_list_t   out = { 0 };
    const char *item;

    for (k = 0; k < n; k++) {
        item = pg_list_item(list, (first + k) % n, &len);
        if (pg_list_add(&out, item, len) != 0) {
            free(out.s);
            return NULL;
        }
    }
    return out.s ? out.s : strdup("");
}


/* ci->rotated: a copy of the values per entry of the host list. */
static int
pg_conninfo_rotations(pg_conninfo_t *ci, size_t n)
{
    size_t  i, k, count;

    for (count = 0; ci->keywords[count]; count++) {
        /* void */
    }

    ci->rotated = calloc(n, sizeof(char **));
    if (ci->rotated == NULL) {
        return -1;
    }
    ci->nhosts = n;

    for (i = 0; i < n; i++) {
        ci->rotated[i] = calloc(count + 1, sizeof(char *));
        if (ci->rotated[i] == NULL) {
            return -1;
        }
        for (k = 0; k < count; k++) {
            if (strcmp(ci->keywords[k], "host") == 0
                || strcmp(ci->keywords[k], "hostaddr") == 0
                || (strcmp(ci->keywords[k], "port") == 0
                    && strchr(ci->values[k], ',') != NULL))
            {
                ci->rotated[i][k] = pg_list_rotate(ci->values[k], n, i);
            } else {
                ci->rotated[i][k] = strdup(ci->values[k]);
            }
            if (ci->rotated[i][k] == NULL) {
                return -1;
            }
        }
    }
    return 0;
}


const char *const *
pg_conninfo_values(const pg_conninfo_t *ci, size_t n)
{
    if (ci->nhosts < 2) {
        return (const char *const *) ci->values;
    }
    return (const char *const *) ci->rotated[n % ci->nhosts];
}


int
pg_conninfo_build(pg_conninfo_t *ci, const char *conninfo,
    const char *const *defaults, char *err, size_t errlen)
{
    int                rc = -1;
    char              *msg = NULL;
    size_t             n = 0, i, nhosts, len, port_len;
    pg_list_t          hosts = { 0 }, addrs = { 0 }, ports = { 0 };
    const char        *host = NULL, *hostaddr = NULL, *port = NULL, *p, *pp;
    const char *const *d;
    PQconninfoOption  *opts, *o;

    memset(ci, 0, sizeof(*ci));
    err[0] = '\0';

    opts = PQconninfoParse(conninfo, &msg);
    if (opts == NULL) {
        /* libpq's message may quote a piece of the string: a password */
        snprintf(err, errlen, "%s", msg && strncmp(msg, "invalid connection "
                                                   "option", 25) == 0
                                    ? msg : "not a valid connection string");
        err[strcspn(err, "\n")] = '\0';
        PQfreemem(msg);
        return -1;
    }

    ci->keywords = calloc(PG_CONNINFO_MAX, sizeof(char *));
    ci->values = calloc(PG_CONNINFO_MAX, sizeof(char *));
    if (ci->keywords == NULL || ci->values == NULL) {
        goto failed;
    }

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }
        if (strcmp(o->keyword, "host") == 0) {
            host = o->val;
        } else if (strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        } else if (strcmp(o->keyword, "port") == 0) {
            port = o->val;
        } else if (pg_conninfo_push(ci, &n, o->keyword, o->val) != 0) {
            goto failed;
        }
    }

    if (host != NULL && hostaddr == NULL) {
        nhosts = pg_list_count(host);
        if (port && strchr(port, ',') && pg_list_count(port) != nhosts) {
            snprintf(err, errlen, "the port list does not match the hosts");
            goto failed;
        }
        for (i = 0; i < nhosts; i++) {
            p = pg_list_item(host, i, &len);
            pp = port ? pg_list_item(port, strchr(port, ',') ? i : 0,
                                     &port_len)
                      : "";
            if (port == NULL) {
                port_len = 0;
            }
            if (pg_conninfo_resolve(p, len, pp, port_len, &hosts, &addrs,
                                    &ports, err, errlen) != 0)
            {
                goto failed;
            }
        }
        if (pg_conninfo_push(ci, &n, "host", hosts.s) != 0
            || pg_conninfo_push(ci, &n, "hostaddr", addrs.s) != 0
            || (port && pg_conninfo_push(ci, &n, "port", ports.s) != 0))
        {
            goto failed;
        }

    } else if ((host && pg_conninfo_push(ci, &n, "host", host) != 0)
               || (hostaddr
                   && pg_conninfo_push(ci, &n, "hostaddr", hostaddr) != 0)
               || (port && pg_conninfo_push(ci, &n, "port", port) != 0))
    {
        goto failed;
    }

    for (d = defaults; d && d[0]; d += 2) {
        if (pg_conninfo_get(ci, d[0]) == NULL
            && pg_conninfo_push(ci, &n, d[0], d[1]) != 0)
        {
            goto failed;
        }
    }

    nhosts = pg_conninfo_get(ci, "host")
             ? pg_list_count(pg_conninfo_get(ci, "host")) : 1;
    if (nhosts > 1 && pg_conninfo_rotations(ci, nhosts) != 0) {
        goto failed;
    }

    rc = 0;

failed:

    if (rc != 0) {
        if (err[0] == '\0') {
            snprintf(err, errlen, "out of memory");
        }
        pg_conninfo_free(ci);
    }
    free(hosts.s);
    free(addrs.s);
    free(ports.s);
    PQconninfoFree(opts);
    return rc;
}


void
pg_conninfo_free(pg_conninfo_t *ci)
{
    size_t  i, k;

    for (i = 0; ci->rotated && i < ci->nhosts; i++) {
        for (k = 0; ci->rotated[i] && ci->rotated[i][k]; k++) {
            free(ci->rotated[i][k]);
        }
        free(ci->rotated[i]);
    }
    free(ci->rotated);

    for (i = 0; ci->keywords && ci->keywords[i]; i++) {
        free(ci->keywords[i]);
        free(ci->values[i]);
    }
    if (ci->values && ci->keywords) {
        free(ci->values[i]);        /* a value whose keyword failed */
    }
    free(ci->keywords);
    free(ci->values);
    memset(ci, 0, sizeof(*ci));
}


const char *
pg_conninfo_get(const pg_conninfo_t *ci, const char *keyword)
{
    size_t  i;

    for (i = 0; ci->keywords && ci->keywords[i]; i++) {
        if (strcmp(ci->keywords[i], keyword) == 0) {
            return ci->values[i];
        }
    }
    return NULL;
}
