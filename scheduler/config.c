/*
 * The configuration file: a tokenizer for nginx's syntax (words, quoted
 * strings, ';', '#' comments) and a table of directives. Loading, -t
 * checking and SIGHUP reload all go through cs_config_parse().
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define CS_MAX_ARGS   8
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


static int
set_pool(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    (void) nargs;

    return type_count(cf, args, lx, "pool", "pool size",
                      offsetof(cs_type_conf_t, pool), 100000);
}


static int
set_rate(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    (void) nargs;

    return type_count(cf, args, lx, "rate", "rate",
                      offsetof(cs_type_conf_t, rate), 10000000);
}


static int
set_provider(cs_config_t *cf, char **args, int nargs, cs_lexer_t *lx)
{
    cs_type_conf_t  *t;

    (void) nargs;

    t = type_get(cf, args[0], lx);
    if (t == NULL) {
        return -1;
    }
    if (t->provider != NULL) {
        return fail(lx, "provider %s is duplicate", args[0]);
    }
    if (strncmp(args[1], "http://", 7) != 0
        && strncmp(args[1], "https://", 8) != 0)
    {
        return fail(lx, "provider URL must be http:// or https://: \"%s\"",
                    args[1]);
    }
    t->provider = strdup(args[1]);
    return t->provider ? 0 : fail(lx, "out of memory");
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


static const cs_directive_t  directives[] = {
    { "database", 1, 1, 0, set_database },
    { "id",       1, 1, 0, set_id },
    { "pool",     2, 2, 1, set_pool },
    { "provider", 2, 2, 1, set_provider },
    { "rate",     2, 2, 1, set_rate },
    { "retry",    3, 3, 0, set_retry },
    { "horizon",  1, 1, 0, set_horizon },
    { "lease",    1, 1, 0, set_lease },
    { "sweep",    1, 1, 0, set_sweep },
    { "window",   1, 1, 0, set_window },
    { "timeout",  2, 2, 0, set_timeout },
    { "database_timeout", 1, 1, 0, set_database_timeout },
    { NULL, 0, 0, 0, NULL }
};


/*
 * The next token into buf: 1 a word or string, 2 ';', 0 the end, -1 an
 * error. Quoted strings take \" \\ \n \t escapes.
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

    if (*lx->p == '{' || *lx->p == '}') {
        return fail(lx, "unexpected \"%c\"", *lx->p);
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


int
cs_config_parse(cs_config_t *cf, const char *name, const char *text,
    char *err, size_t errlen)
{
    int                    rc, nargs, i, start_line;
    char                  *args[CS_MAX_ARGS + 1];
    char                   word[CS_ARG_MAX];
    unsigned char          seen[sizeof(directives) / sizeof(directives[0])];
    const cs_directive_t  *d;
    cs_lexer_t             lx = { name, text, 1, err, errlen };

    config_defaults(cf);
    memset(seen, 0, sizeof(seen));
    err[0] = '\0';

    for ( ;; ) {
        rc = next_token(&lx, word, sizeof(word));
        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            goto failed;
        }
        if (rc == 2) {
            fail(&lx, "unexpected \";\"");
            goto failed;
        }

        start_line = lx.line;
        for (d = directives; d->name; d++) {
            if (strcmp(d->name, word) == 0) {
                break;
            }
        }
        if (d->name == NULL) {
            fail(&lx, "unknown directive \"%s\"", word);
            goto failed;
        }
        if (seen[d - directives] && !d->repeat) {
            fail(&lx, "\"%s\" directive is duplicate", d->name);
            goto failed;
        }
        seen[d - directives] = 1;

        nargs = 0;
        for ( ;; ) {
            rc = next_token(&lx, word, sizeof(word));
            if (rc < 0) {
                goto args_failed;
            }
            if (rc == 0) {
                lx.line = start_line;
                fail(&lx, "\"%s\" directive is not terminated by \";\"",
                     d->name);
                goto args_failed;
            }
            if (rc == 2) {
                break;
            }
            if (nargs == CS_MAX_ARGS) {
                fail(&lx, "too many arguments");
                goto args_failed;
            }
            args[nargs] = strdup(word);
            if (args[nargs] == NULL) {
                fail(&lx, "out of memory");
                goto args_failed;
            }
            nargs++;
        }

        if (nargs < d->min_args || nargs > d->max_args) {
            lx.line = start_line;
            fail(&lx, "invalid number of arguments in \"%s\" directive",
                 d->name);
            goto args_failed;
        }

        lx.line = start_line;
        rc = d->set(cf, args, nargs, &lx);
        for (i = 0; i < nargs; i++) {
            free(args[i]);
        }
        if (rc != 0) {
            goto failed;
        }
        continue;

    args_failed:
        for (i = 0; i < nargs; i++) {
            free(args[i]);
        }
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
        free(cf->types[i].provider);
    }
    memset(cf, 0, sizeof(*cf));
}
