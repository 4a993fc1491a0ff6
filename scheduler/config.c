/*
 * The configuration file: a tokenizer for nginx's syntax (words, quoted
 * strings, ';', '#' comments) and a table of directives. Loading, -t
 * checking and SIGHUP reload all go through cs_config_parse().
 */

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "provider.h"

#define CS_MAX_ARGS   32
#define CS_ARG_MAX    4096

#define CS_RETRY_ATTEMPTS_MAX  100
#define CS_RETRY_LONGEST_MAX   86400000       /* ms: a day */

typedef struct {
    const char  *name;              /* the file, for messages */
    const char  *p;
    int          line;
    char        *err;
    size_t       errlen;
} cs_lexer_t;

typedef int (*cs_directive_pt)(cs_config_t *cf, char **args, int nargs,
    cs_lexer_t *lx);

typedef struct {
    const char       *name;
    int               min_args;     /* after the name */
    int               max_args;
    int               repeat;       /* may appear more than once */
    cs_directive_pt   set;
    int               block;        /* may end with a { ... } block */
} cs_directive_t;


static int
fail(cs_lexer_t *lx, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    n = snprintf(lx->err, lx->errlen, "%s:%d: ", lx->name, lx->line);
    if (n < 0 || (size_t) n >= lx->errlen) {
        return -1;
    }

    va_start(ap, fmt);
    vsnprintf(lx->err + n, lx->errlen - n, fmt, ap);
    va_end(ap);

    return -1;
}


#define CS_DURATION_MAX  (100LL * 365 * 86400 * 1000)


int64_t
cs_parse_duration(const char *s)
{
    char       *end;
    long long   v, unit;

    if (!isdigit((unsigned char) *s)) {
        return -1;
    }

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || v < 0) {
        return -1;
    }

    if (*end == '\0' || strcmp(end, "ms") == 0) {
        unit = 1;
    } else if (strcmp(end, "s") == 0) {
        unit = 1000;
    } else if (strcmp(end, "m") == 0) {
        unit = 60000;
    } else if (strcmp(end, "h") == 0) {
        unit = 3600000;
    } else if (strcmp(end, "d") == 0) {
        unit = 86400000;
    } else {
        return -1;
    }

    /* checked before it is multiplied: no overflow */
    if (v > CS_DURATION_MAX / unit) {
        return -1;
    }
    return v * unit;
}


static int
parse_count(const char *s, long max, long *out)
{
    char  *end;
    long   v;

    if (!isdigit((unsigned char) *s)) {
        return -1;
    }

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < 0 || v > max) {
        return -1;
    }

    *out = v;
    return 0;
}


static int
type_name_ok(const char *s)
{
    size_t  i, n = strlen(s);

    if (n == 0 || n >= CS_NAME_MAX || !islower((unsigned char) s[0])) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!islower((unsigned char) s[i]) && !isdigit((unsigned char) s[i])
            && s[i] != '_')
        {
            return 0;
        }
    }
    return 1;
}


cs_type_conf_t *
cs_config_type(cs_config_t *cf, const char *name)
{
    size_t  i;

    for (i = 0; i < cf->ntypes; i++) {
        if (strcmp(cf->types[i].name, name) == 0) {
            return &cf->types[i];
        }
    }
    return NULL;
}


static cs_type_conf_t *
type_get(cs_config_t *cf, const char *name, cs_lexer_t *lx)
{
    cs_type_conf_t  *t;

    if (!type_name_ok(name)) {
        fail(lx, "invalid type \"%s\"", name);
        return NULL;
    }

    t = cs_config_type(cf, name);
    if (t != NULL) {
        return t;
    }

    if (cf->ntypes == CS_MAX_TYPES) {
        fail(lx, "too many types (at most %d)", CS_MAX_TYPES);
        return NULL;
    }

    t = &cf->types[cf->ntypes++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->pool = -1;
    t->rate = -1;

    return t;
}


static int
set_database(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    (void) nargs;

    if (args[0][0] == '\0') {
        return fail(lx, "database needs a connection string");
    }
    cf->database = strdup(args[0]);
    return cf->database ? 0 : fail(lx, "out of memory");
}


static int
set_id(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    (void) nargs;

    if (args[0][0] == '\0' || strlen(args[0]) > 200) {
        return fail(lx, "id must be 1 to 200 characters");
    }
    cf->id = strdup(args[0]);
    return cf->id ? 0 : fail(lx, "out of memory");
}


/* "pool TYPE N" and "rate TYPE N": a count per type, set once */
static int
type_count(cs_config_t *cf, char **args, cs_lexer_t *lx, const char *what,
    const char *noun, size_t offset, long max)
{
    long            *v;
    cs_type_conf_t  *t;

    t = type_get(cf, args[0], lx);
    if (t == NULL) {
        return -1;
    }
    v = (long *) ((char *) t + offset);
    if (*v >= 0) {
        return fail(lx, "%s %s is duplicate", what, args[0]);
    }
    if (parse_count(args[1], max, v) != 0) {
        return fail(lx, "invalid %s \"%s\"", noun, args[1]);
    }
    return 0;
}


/* "pool TYPE N", or "pool TYPE OTHER... N": one pool the types share,
 * named by the first */
static int
set_pool(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    int              i;
    char            *last[2];
    cs_type_conf_t  *t;

    t = type_get(cf, args[0], lx);
    if (t == NULL) {
        return -1;
    }
    if (t->pool_of[0] != '\0') {
        return fail(lx, "type %s has the pool of %s already", args[0],
                    t->pool_of);
    }
    last[0] = args[0];
    last[1] = args[nargs - 1];
    if (type_count(cf, last, lx, "pool", "pool size",
                   offsetof(cs_type_conf_t, pool), 100000) != 0)
    {
        return -1;
    }
    for (i = 1; i < nargs - 1; i++) {
        t = type_get(cf, args[i], lx);
        if (t == NULL) {
            return -1;
        }
        if (t->pool >= 0 || t->pool_of[0] != '\0' || strcmp(args[i],
                                                             args[0]) == 0)
        {
            return fail(lx, "pool %s is duplicate", args[i]);
        }
        snprintf(t->pool_of, sizeof(t->pool_of), "%s", args[0]);
    }
    return 0;
}


static int
set_rate(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    (void) nargs;

    return type_count(cf, args, lx, "rate", "rate",
                      offsetof(cs_type_conf_t, rate), 10000000);
}


/* "HH:MM" or "HH:MM:SS" (24:00 when end is set) into out: its second of
 * the day, or -1 */
static long
window_time(const char *s, size_t len, int end, char *out)
{
    int  h, m, sec = 0;

    if ((len != 5 && len != 8) || s[2] != ':' || (len == 8 && s[5] != ':')
        || !isdigit((unsigned char) s[0]) || !isdigit((unsigned char) s[1])
        || !isdigit((unsigned char) s[3]) || !isdigit((unsigned char) s[4])
        || (len == 8 && (!isdigit((unsigned char) s[6])
                         || !isdigit((unsigned char) s[7]))))
    {
        return -1;
    }
    h = (s[0] - '0') * 10 + s[1] - '0';
    m = (s[3] - '0') * 10 + s[4] - '0';
    if (len == 8) {
        sec = (s[6] - '0') * 10 + s[7] - '0';
    }
    if (m > 59 || sec > 59 || h > 24 || (h == 24 && (!end || m || sec))) {
        return -1;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return h * 3600L + m * 60 + sec;
}


/* a send window's days, Monday first, as the API names them */
static const char  *window_day_names[] = { "mon", "tue", "wed", "thu", "fri",
                                           "sat", "sun" };


/* "mon-fri", "sat,sun", "fri-mon", "*": a bit per day, Monday first */
static int
window_days(const char *s)
{
    int                 days = 0, a, b, i;
    const char         *p = s;

    if (strcmp(s, "*") == 0) {
        return 0x7f;
    }
    for ( ;; ) {
        for (a = 0; a < 7; a++) {
            if (strncasecmp(p, window_day_names[a], 3) == 0) {
                break;
            }
        }
        if (a == 7) {
            return -1;
        }
        p += 3;
        b = a;
        if (*p == '-') {
            for (b = 0; b < 7; b++) {
                if (strncasecmp(p + 1, window_day_names[b], 3) == 0) {
                    break;
                }
            }
            if (b == 7) {
                return -1;
            }
            p += 4;
        }
        for (i = a; ; i = (i + 1) % 7) {    /* fri-mon wraps */
            days |= 1 << i;
            if (i == b) {
                break;
            }
        }
        if (*p == '\0') {
            return days;
        }
        if (*p++ != ',') {
            return -1;
        }
    }
}


/* "send_window TYPE DAYS FROM-TO [ZONE]": the type's default window
 * (a campaign's own wins), as the API's JSON */
static int
set_send_window(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    char                from[9], to[9], path[300];
    const char         *dash;
    int                 days, i, n;
    long                f, e;
    size_t              len;
    struct stat         st;
    cs_type_conf_t     *t;

    t = type_get(cf, args[0], lx);
    if (t == NULL) {
        return -1;
    }
    if (t->send_window[0] != '\0') {
        return fail(lx, "send_window %s is duplicate", args[0]);
    }
    days = window_days(args[1]);
    if (days <= 0) {
        return fail(lx, "invalid days \"%s\": *, or names and ranges of "
                    "mon..sun such as mon-fri,sun", args[1]);
    }
    dash = strchr(args[2], '-');
    f = e = -1;
    if (dash != NULL) {
        f = window_time(args[2], dash - args[2], 0, from);
        e = window_time(dash + 1, strlen(dash + 1), 1, to);
    }
    if (f < 0 || e < 0) {
        return fail(lx, "invalid hours \"%s\": FROM-TO such as 08:00-20:00 "
                    "(22:00-06:00 crosses midnight)", args[2]);
    }
    /* as the API's check (window.sql): from = to is a whole day, which on
     * every day never closes */
    if (days == 0x7f && (f == e || f + 86400 == e)) {
        return fail(lx, "hours \"%s\" on every day never close: leave the "
                    "send_window out", args[2]);
    }
    /* a zone of the tz data Postgres reads (Debian's: the system's) */
    if (nargs == 4) {
        n = snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", args[3]);
        if (args[3][0] == '\0' || args[3][0] == '.' || strstr(args[3], "..")
            || strspn(args[3], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                      "rstuvwxyz0123456789/_+-") != strlen(args[3])
            || n >= (int) sizeof(path) || stat(path, &st) != 0
            || !S_ISREG(st.st_mode) || access(path, R_OK) != 0)
        {
            return fail(lx, "unknown time zone \"%s\"", args[3]);
        }
    }

    len = snprintf(t->send_window, sizeof(t->send_window), "{\"days\": [");
    for (i = 0, n = 0; i < 7; i++) {
        if (days & (1 << i)) {
            len += snprintf(t->send_window + len, sizeof(t->send_window) - len,
                            "%s\"%s\"", n++ ? ", " : "", window_day_names[i]);
        }
    }
    len += snprintf(t->send_window + len, sizeof(t->send_window) - len,
                    "], \"from\": \"%s\", \"to\": \"%s\"", from, to);
    if (nargs == 4) {
        len += snprintf(t->send_window + len, sizeof(t->send_window) - len,
                        ", \"timezone\": \"%s\"", args[3]);
    }
    if (len + 2 > sizeof(t->send_window)) {
        return fail(lx, "send_window %s is too long", args[0]);
    }
    snprintf(t->send_window + len, sizeof(t->send_window) - len, "}");
    return 0;
}


/* "provider TYPE URL;", or with a block: the block's lines follow */
static int
set_provider(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    char             why[512];
    cs_type_conf_t  *t;

    (void) nargs;

    t = type_get(cf, args[0], lx);
    if (t == NULL) {
        return -1;
    }
    if (t->provider != NULL) {
        return fail(lx, "provider %s is duplicate", args[0]);
    }
    t->provider = cs_provider_new(args[1], why, sizeof(why));
    return t->provider ? 0 : fail(lx, "%s", why);
}


static int
set_secret(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    char          why[512];
    cs_secret_t  *s;

    (void) nargs;

    if (!type_name_ok(args[0])) {
        return fail(lx, "invalid secret name \"%s\"", args[0]);
    }
    if (cs_config_secret(cf, args[0]) != NULL) {
        return fail(lx, "secret %s is duplicate", args[0]);
    }
    if (cf->nsecrets == CS_MAX_SECRETS) {
        return fail(lx, "too many secrets (at most %d)", CS_MAX_SECRETS);
    }
    s = &cf->secrets[cf->nsecrets];
    if (cs_secret_read(s, args[0], args[1], why, sizeof(why)) != 0) {
        return fail(lx, "%s", why);
    }
    cf->nsecrets++;
    return 0;
}


const cs_secret_t *
cs_config_secret(const cs_config_t *cf, const char *name)
{
    size_t  i;

    for (i = 0; i < cf->nsecrets; i++) {
        if (strcmp(cf->secrets[i].name, name) == 0) {
            return &cf->secrets[i];
        }
    }
    return NULL;
}


/* "type NAME e164|email": a type of the operator's, written to Postgres */
static int
set_type(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    cs_type_conf_t  *t;

    (void) nargs;

    t = type_get(cf, args[0], lx);
    if (t == NULL) {
        return -1;
    }
    if (t->address_kind[0] != '\0') {
        return fail(lx, "type %s is duplicate", args[0]);
    }
    if (strcmp(args[1], "e164") != 0 && strcmp(args[1], "email") != 0) {
        return fail(lx, "a type's addresses are e164 or email, not \"%s\"",
                    args[1]);
    }
    snprintf(t->address_kind, sizeof(t->address_kind), "%s", args[1]);
    return 0;
}


static int
set_retry(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    int64_t  first, longest;

    (void) nargs;

    if (parse_count(args[0], CS_RETRY_ATTEMPTS_MAX, &cf->retry_attempts)
        != 0 || cf->retry_attempts < 1)
    {
        return fail(lx, "retry attempts must be from 1 to %d",
                    CS_RETRY_ATTEMPTS_MAX);
    }
    first = cs_parse_duration(args[1]);
    longest = cs_parse_duration(args[2]);
    if (first <= 0 || longest < first || longest > CS_RETRY_LONGEST_MAX) {
        return fail(lx, "retry needs 0 < first backoff <= longest backoff "
                    "<= 24h");
    }
    cf->retry_first = (uint64_t) first;
    cf->retry_longest = (uint64_t) longest;
    return 0;
}


static int
set_window(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    (void) nargs;

    if (parse_count(args[0], 10000, &cf->window) != 0 || cf->window < 1) {
        return fail(lx, "window must be from 1 to 10000");
    }
    return 0;
}


static int
set_timeout(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    int64_t  connect, total;

    (void) nargs;

    connect = cs_parse_duration(args[0]);
    total = cs_parse_duration(args[1]);
    if (connect <= 0 || total < connect || total > 600000) {
        return fail(lx, "timeout needs 0 < connect <= total <= 10m");
    }
    cf->connect_timeout = (uint64_t) connect;
    cf->request_timeout = (uint64_t) total;
    return 0;
}


#define CS_DURATION_SETTER(field, lo, hi)                                     \
static int                                                                    \
set_##field(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)          \
{                                                                             \
    int64_t  v = cs_parse_duration(args[0]);                                  \
    (void) nargs;                                                             \
    if (v < (lo) || v > (hi)) {                                               \
        return fail(lx, #field " must be a duration from %lldms to %lldms",   \
                    (long long) (lo), (long long) (hi));                      \
    }                                                                         \
    cf->field = (uint64_t) v;                                                 \
    return 0;                                                                 \
}

CS_DURATION_SETTER(horizon, 1000, 86400000)
CS_DURATION_SETTER(lease, 1000, 3600000)
CS_DURATION_SETTER(sweep, 100, 60000)
CS_DURATION_SETTER(database_timeout, 100, 600000)


/* metrics 127.0.0.1:9464 | [::1]:9464 | *:9464 | off: numeric only, as
 * parsing never touches the network */
static int
set_metrics(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    int               rc;
    char              host[64], *colon;
    const char       *port;
    struct addrinfo   hints, *ai;

    (void) nargs;

    if (strcmp(args[0], "off") == 0) {
        cf->metrics_len = 0;
        return 0;
    }

    colon = strrchr(args[0], ':');
    if (colon == NULL || colon == args[0] || colon[1] == '\0'
        || (size_t) (colon - args[0]) >= sizeof(host))
    {
        return fail(lx, "metrics needs ADDRESS:PORT (127.0.0.1:9464, "
                    "[::1]:9464, *:9464) or off");
    }
    memcpy(host, args[0], (size_t) (colon - args[0]));
    host[colon - args[0]] = '\0';
    port = colon + 1;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints,
                     &ai);
    if (rc != 0 || ai->ai_addrlen > sizeof(cf->metrics_addr)) {
        if (rc == 0) {
            freeaddrinfo(ai);
        }
        return fail(lx, "metrics: \"%s\" is not a numeric address and "
                    "port", args[0]);
    }
    memcpy(&cf->metrics_addr, ai->ai_addr, ai->ai_addrlen);
    cf->metrics_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}


/* retention 30d | off: finished campaigns older than this are deleted */
static int
set_retention(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    int64_t  v;

    (void) nargs;

    if (strcmp(args[0], "off") == 0) {
        cf->retention = 0;
        return 0;
    }
    v = cs_parse_duration(args[0]);
    if (v < 60000) {
        return fail(lx, "retention must be off or a duration of at least "
                    "1m (30d, 12h)");
    }
    cf->retention = (uint64_t) v;
    return 0;
}


static const cs_directive_t  directives[] = {
    { "database", 1, 1, 0, set_database, 0 },
    { "id",       1, 1, 0, set_id, 0 },
    { "secret",   2, 2, 1, set_secret, 0 },
    { "type",     2, 2, 1, set_type, 0 },
    { "pool",     2, CS_MAX_TYPES + 1, 1, set_pool, 0 },
    { "provider", 2, 2, 1, set_provider, 1 },
    { "rate",     2, 2, 1, set_rate, 0 },
    { "send_window", 3, 4, 1, set_send_window, 0 },
    { "retry",    3, 3, 0, set_retry, 0 },
    { "horizon",  1, 1, 0, set_horizon, 0 },
    { "lease",    1, 1, 0, set_lease, 0 },
    { "sweep",    1, 1, 0, set_sweep, 0 },
    { "window",   1, 1, 0, set_window, 0 },
    { "timeout",  2, 2, 0, set_timeout, 0 },
    { "database_timeout", 1, 1, 0, set_database_timeout, 0 },
    { "metrics",  1, 1, 0, set_metrics, 0 },
    { "retention", 1, 1, 0, set_retention, 0 },
    { NULL, 0, 0, 0, NULL, 0 }
};


/*
 * The next token into buf: 1 a word or string, 2 ';', 3 '{', 4 '}', 0 the
 * end, -1 an error. Quoted strings take \" \\ \n \t escapes.
 */
static int
next_token(cs_lexer_t *lx, char *buf, size_t size)
{
    char    q;
    size_t  n = 0;

    for ( ;; ) {
        while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r'
               || *lx->p == '\n')
        {
            if (*lx->p == '\n') {
                lx->line++;
            }
            lx->p++;
        }
        if (*lx->p != '#') {
            break;
        }
        while (*lx->p && *lx->p != '\n') {
            lx->p++;
        }
    }

    if (*lx->p == '\0') {
        return 0;
    }

    if (*lx->p == ';') {
        lx->p++;
        return 2;
    }

    /* a block's brace, unless doubled: "{{" and "}}" are placeholders */
    if ((*lx->p == '{' || *lx->p == '}') && lx->p[1] != *lx->p) {
        return *lx->p++ == '{' ? 3 : 4;
    }

    if (*lx->p == '"' || *lx->p == '\'') {
        q = *lx->p++;
        while (*lx->p != q) {
            if (*lx->p == '\0') {
                return fail(lx, "unterminated string");
            }
            if (*lx->p == '\n') {
                lx->line++;
            }
            if (*lx->p == '\\' && lx->p[1] != '\0') {
                lx->p++;
                buf[n] = *lx->p == 'n' ? '\n' : *lx->p == 't' ? '\t'
                                                              : *lx->p;
            } else {
                buf[n] = *lx->p;
            }
            lx->p++;
            if (++n == size) {
                return fail(lx, "string too long");
            }
        }
        lx->p++;
        buf[n] = '\0';
        return 1;
    }

    while (*lx->p && !isspace((unsigned char) *lx->p) && *lx->p != ';'
           && *lx->p != '#' && *lx->p != '"' && *lx->p != '\'')
    {
        if ((*lx->p == '{' || *lx->p == '}') && lx->p[1] != *lx->p) {
            break;
        }
        if (*lx->p == '{' || *lx->p == '}') {
            buf[n++] = *lx->p++;            /* the first of a pair */
            if (n == size) {
                return fail(lx, "word too long");
            }
        }
        if (!isprint((unsigned char) *lx->p)) {
            return fail(lx, "unexpected byte 0x%02x",
                        (unsigned char) *lx->p);
        }
        buf[n] = *lx->p++;
        if (++n == size) {
            return fail(lx, "word too long");
        }
    }
    buf[n] = '\0';

    return 1;
}


static void
config_defaults(cs_config_t *cf)
{
    memset(cf, 0, sizeof(*cf));
    cf->horizon = 600000;
    cf->lease = 30000;
    cf->sweep = 1000;
    cf->retry_attempts = 5;
    cf->retry_first = 250;
    cf->retry_longest = 30000;
    cf->window = 64;
    cf->connect_timeout = 2000;
    cf->request_timeout = 10000;
    cf->database_timeout = 5000;
}


/*
 * The next statement: its words into args (args[0] its name), and how it
 * ends: 2 ';', 3 '{', 4 a '}' alone, 0 the end of the file alone, -1 an
 * error. The words are malloc'ed, also on error.
 */
static int
next_statement(cs_lexer_t *lx, char **args, int *nargs, int *start_line)
{
    int    rc;
    char  *word;

    *nargs = 0;
    word = malloc(CS_ARG_MAX);
    if (word == NULL) {
        return fail(lx, "out of memory");
    }

    for ( ;; ) {
        rc = next_token(lx, word, CS_ARG_MAX);
        if (*nargs == 0) {
            *start_line = lx->line;
        }
        if (rc < 0) {
            break;
        }
        if (rc == 0 || rc == 4) {
            if (*nargs == 0) {
                break;
            }
            lx->line = *start_line;
            rc = fail(lx, "\"%s\" directive is not terminated by \";\"",
                      args[0]);
            break;
        }
        if (rc == 2 || rc == 3) {
            if (*nargs == 0) {
                rc = fail(lx, "unexpected \"%s\"", rc == 2 ? ";" : "{");
            }
            break;
        }
        if (*nargs == CS_MAX_ARGS + 1) {
            rc = fail(lx, "too many arguments");
            break;
        }
        args[*nargs] = strdup(word);
        if (args[*nargs] == NULL) {
            rc = fail(lx, "out of memory");
            break;
        }
        (*nargs)++;
    }

    free(word);
    return rc;
}


static void
args_free(char **args, int nargs)
{
    int  i;

    for (i = 0; i < nargs; i++) {
        free(args[i]);
    }
}


/* a provider's block, after its '{', up to its '}' */
static int
provider_block(cs_config_t *cf, cs_provider_t *p, cs_lexer_t *lx)
{
    int    rc, nargs, start_line;
    char  *args[CS_MAX_ARGS + 2], why[512];

    for ( ;; ) {
        rc = next_statement(lx, args, &nargs, &start_line);
        if (rc == 4 && nargs == 0) {
            break;
        }
        if (rc == 0 && nargs == 0) {
            rc = fail(lx, "unexpected end of file, expecting \"}\"");
        } else if (rc == 3) {
            lx->line = start_line;
            rc = fail(lx, "\"%s\" takes no block", args[0]);
        } else if (rc == 2) {
            rc = cs_provider_set(p, cf, args, nargs, why, sizeof(why));
            if (rc != 0) {
                lx->line = start_line;
                fail(lx, "%s", why);
            }
        }
        args_free(args, nargs);
        if (rc < 0) {
            return -1;
        }
    }

    if (cs_provider_check(p, why, sizeof(why)) != 0) {
        return fail(lx, "%s", why);
    }
    return 0;
}


int
cs_config_parse(cs_config_t *cf, const char *name, const char *text,
    char *err, size_t errlen)
{
    int                    rc, nargs, start_line;
    char                  *args[CS_MAX_ARGS + 2];
    unsigned char          seen[sizeof(directives) / sizeof(directives[0])];
    size_t                 i;
    cs_type_conf_t        *t;
    const cs_directive_t  *d;
    cs_lexer_t             lx = { name, text, 1, err, errlen };

    static uint64_t        generations;

    config_defaults(cf);
    cf->generation = __atomic_add_fetch(&generations, 1, __ATOMIC_RELAXED);
    memset(seen, 0, sizeof(seen));
    err[0] = '\0';

    for ( ;; ) {
        rc = next_statement(&lx, args, &nargs, &start_line);
        if (rc == 0 && nargs == 0) {
            break;
        }
        if (rc < 0) {
            args_free(args, nargs);
            goto failed;
        }
        if (rc == 4) {
            fail(&lx, "unexpected \"}\"");
            goto failed;
        }

        lx.line = start_line;
        for (d = directives; d->name; d++) {
            if (strcmp(d->name, args[0]) == 0) {
                break;
            }
        }
        if (d->name == NULL) {
            fail(&lx, "unknown directive \"%s\"", args[0]);
        } else if (seen[d - directives] && !d->repeat) {
            fail(&lx, "\"%s\" directive is duplicate", d->name);
        } else if (nargs - 1 < d->min_args || nargs - 1 > d->max_args) {
            fail(&lx, "invalid number of arguments in \"%s\" directive",
                 d->name);
        } else if (rc == 3 && !d->block) {
            fail(&lx, "\"%s\" takes no block", d->name);
        } else {
            seen[d - directives] = 1;
            rc = d->set(cf, args + 1, nargs - 1, &lx) == 0
                 && (rc != 3 || provider_block(cf,
                        cs_config_type(cf, args[1])->provider, &lx) == 0)
                 ? 0 : -1;
            args_free(args, nargs);
            if (rc != 0) {
                goto failed;
            }
            continue;
        }

        args_free(args, nargs);
        goto failed;
    }

    if (cf->database == NULL) {
        snprintf(err, errlen, "%s: no \"database\" directive", name);
        goto failed;
    }

    /* a job stops sending when its lease is not renewed in time, and the
     * sweep is what renews it (sql/functions/scheduler.sql) */
    if (cf->sweep * 2 > cf->lease) {
        snprintf(err, errlen, "%s: the lease (%llums) must be at least "
                 "twice the sweep (%llums)", name,
                 (unsigned long long) cf->lease,
                 (unsigned long long) cf->sweep);
        goto failed;
    }

    /* a shared pool is one the first type has */
    for (i = 0; i < cf->ntypes; i++) {
        t = &cf->types[i];
        if (t->pool_of[0] && cs_config_type(cf, t->pool_of)->pool_of[0]) {
            snprintf(err, errlen, "%s: type %s shares the pool of %s, which "
                     "shares another's", name, t->name, t->pool_of);
            goto failed;
        }
    }

    return 0;

failed:

    cs_config_free(cf);
    return -1;
}


int
cs_config_load(cs_config_t *cf, const char *path, char *err, size_t errlen)
{
    int     rc;
    long    size;
    char   *text;
    FILE   *f;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || size > 1024 * 1024 || fseek(f, 0, SEEK_SET) != 0)
    {
        snprintf(err, errlen, "%s: cannot read it (or over 1 MiB)", path);
        fclose(f);
        return -1;
    }

    text = malloc(size + 1);
    if (text == NULL || fread(text, 1, size, f) != (size_t) size) {
        snprintf(err, errlen, "%s: cannot read it", path);
        free(text);
        fclose(f);
        return -1;
    }
    fclose(f);
    text[size] = '\0';

    if (strlen(text) != (size_t) size) {
        snprintf(err, errlen, "%s: holds a NUL byte", path);
        free(text);
        return -1;
    }

    rc = cs_config_parse(cf, path, text, err, errlen);
    free(text);

    return rc;
}


int
cs_config_resolve(cs_config_t *cf, char *err, size_t errlen)
{
    int          rc;
    char         why[256], user_timeout[24];
    const char  *defaults[] = {
        "keepalives", "1", "keepalives_idle", "5",
        "keepalives_interval", "1", "keepalives_count", "3",
        "tcp_user_timeout", user_timeout, NULL
    };

    snprintf(user_timeout, sizeof(user_timeout), "%llu",
             (unsigned long long) cf->database_timeout);

    rc = pg_conninfo_build(&cf->db, cf->database, defaults, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "database: %s", why);
    }
    return rc;
}


void
cs_config_free(cs_config_t *cf)
{
    size_t  i;

    pg_conninfo_free(&cf->db);
    free(cf->database);
    free(cf->id);
    for (i = 0; i < cf->ntypes; i++) {
        cs_provider_free(cf->types[i].provider);
    }
    for (i = 0; i < cf->nsecrets; i++) {
        cs_secret_free(&cf->secrets[i]);
    }
    memset(cf, 0, sizeof(*cf));
}
