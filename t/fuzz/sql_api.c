/*
 * The SQL side of the API, which validates every body, time stamp and
 * query value the module passes on: campaign.api() on a live Postgres
 * (CAMPAIGN_FUZZ_DB, a conninfo), each input in a transaction rolled back.
 * Byte 0 picks a route; the rest is what the module would pass: a JSON
 * body it accepted (valid UTF-8, depth <= 64), CSV rows as it rewrites
 * them, or, for the lists, query values (printable ASCII, <= 1,024 bytes)
 * one per line. "time" feeds an
 * RFC 3339 candidate to campaign.parse_time() directly.
 * Property: every answer is a status below 500, never an SQL error (which
 * the module would have to answer with a 500).
 */

#include <libpq-fe.h>
#include <yajl/yajl_tree.h>

#include "sched_fuzz.h"

static PGconn  *conn;
static char     draft[37];

static const char  *routes[] = {
    "create", "patch", "schedule", "recipients_add", "recipients_csv",
    "start", "list", "recipients_list", "time", "receipt", "cron",
    "calendar", "zoned"
};

/* a series of the text as its cron, and a campaign of the text as its
 * wall-clock start in a zone with a gap and a fold */
#define CRON "SELECT status, body FROM campaign.api(NULL, false, 'create', " \
             "NULL, json_build_object('name', 'f', 'type', 'sms', "          \
             "'message', '{}'::json, 'recurrence', json_build_object("       \
             "'cron', $1::text, 'timezone', 'Australia/Lord_Howe'))::text, " \
             "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
#define ZONED "SELECT status, body FROM campaign.api(NULL, false, "          \
              "'create', NULL, json_build_object('name', 'f', 'type', "      \
              "'sms', 'message', '{}'::json, 'timezone', "                   \
              "'America/New_York', 'scheduled_at', $1::text)::text, NULL, "  \
              "NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
/* the same text as the cron of a recurrence's preview */
#define PREVIEW "SELECT status, body FROM campaign.api(NULL, false, "        \
                "'recurrence_preview', NULL, NULL, NULL, NULL, NULL, NULL, " \
                "NULL, NULL, NULL, NULL, NULL, NULL, $1, "                   \
                "'Australia/Lord_Howe', '20')"
#define CALENDAR "SELECT status, body FROM campaign.api(NULL, false, "       \
                 "'calendar', NULL, NULL, NULL, NULL, NULL, NULL, NULL, "    \
                 "NULL, NULL, NULL, $1, $2)"

#define API "SELECT status, body FROM campaign.api($1, false, $2, $3, $4, " \
            "NULL, NULL, $5, $6, $7, $8, NULL, $6)"


static PGresult *
run(const char *sql, int n, const char *const *values)
{
    PGresult  *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);

    FUZZ_CHECK(res != NULL);
    return res;
}


/* One call of a route's SQL in a transaction rolled back: an answer
 * below 500, or the run stops here. */
static void
answered(const char *route, const char *sql, int n,
    const char *const *values)
{
    PGresult  *res;

    PQclear(run("BEGIN", 0, NULL));
    res = run(sql, n, values);
    if (PQresultStatus(res) != PGRES_TUPLES_OK
        || atoi(PQgetvalue(res, 0, 0)) >= 500)
    {
        fprintf(stderr, "route %s: %s%s\n", route, PQerrorMessage(conn),
                PQresultStatus(res) == PGRES_TUPLES_OK
                ? PQgetvalue(res, 0, 1) : "");
        abort();
    }
    PQclear(res);
    PQclear(run("ROLLBACK", 0, NULL));
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char         *p;
    PGresult     *res;
    const char   *db = getenv("CAMPAIGN_FUZZ_DB");
    const char   *values[8] = { NULL, "create", NULL,
                                "{\"name\":\"fuzz\",\"type\":\"sms\","
                                "\"message\":{\"body\":\"Hi {{name}}\"}}" };

    (void) argc;
    (void) argv;

    if (db == NULL) {
        fprintf(stderr, "sql_api: set CAMPAIGN_FUZZ_DB to a conninfo\n");
        exit(2);
    }
    conn = PQconnectdb(db);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "sql_api: %s", PQerrorMessage(conn));
        exit(2);
    }

    /* a draft campaign for the routes that change one */
    res = PQexecParams(conn, API, 8, NULL, values, NULL, NULL, 0);
    FUZZ_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK);
    p = strstr(PQgetvalue(res, 0, 1), "\"id\"");
    FUZZ_CHECK(p != NULL && (p = strchr(p + 4, '"')) != NULL);
    snprintf(draft, sizeof(draft), "%.36s", p + 1);
    PQclear(res);

    return 0;
}


static size_t
depth(yajl_val v)
{
    size_t  i, d = 0, n, len;

    if (YAJL_IS_OBJECT(v) || YAJL_IS_ARRAY(v)) {
        len = YAJL_IS_OBJECT(v) ? v->u.object.len : v->u.array.len;
        for (i = 0; i < len; i++) {
            n = depth(YAJL_IS_OBJECT(v) ? v->u.object.values[i]
                                        : v->u.array.values[i]);
            d = n > d ? n : d;
        }
        return d + 1;
    }
    return 0;
}


/* what the module lets through: strict UTF-8, JSON, at most 64 deep */
static int
body_ok(const char *text)
{
    int       ok;
    yajl_val  tree;

    if (!fuzz_utf8_ok((const unsigned char *) text)) {
        return 0;
    }
    tree = yajl_tree_parse(text, NULL, 0);

    ok = tree != NULL && depth(tree) <= 64;
    yajl_tree_free(tree);
    return ok;
}


/*
 * CSV rows as the module passes them (ngx_http_campaign_body.c): lines of
 * the input split at ',' become records (U+001E between them) of fields
 * (U+001F between them), the first "to" and the rest the first line's,
 * every record padded or cut to the header's number of fields, as the
 * module only lets through; malloc'ed.
 */
static char *
csv_rows(const char *text)
{
    char        *out, *o;
    size_t       fields, n, lines;
    const char  *p;

    for (p = text, fields = 1; *p && *p != '\n'; p++) {
        fields += (*p == ',');
    }
    for (lines = 1; *p; p++) {
        lines += (*p == '\n');
    }
    /* each line can grow by the separators it is padded with */
    out = malloc(strlen(text) + lines * fields + 8);
    FUZZ_CHECK(out != NULL);
    o = out;
    o += sprintf(o, "to");

    /* the header: the first line's fields after the first, as names */
    for (p = text, fields = 1; *p && *p != '\n'; p++) {
        if (*p == ',') {
            *o++ = 0x1f;
            fields++;
        } else if (fields > 1 && *p != 0x1e && *p != 0x1f) {
            *o++ = *p;
        }
    }

    while (*p == '\n') {
        *o++ = 0x1e;
        for (p++, n = 1; *p && *p != '\n'; p++) {
            if (*p == ',') {
                if (n < fields) {
                    *o++ = 0x1f;
                }
                n++;
            } else if (n <= fields && *p != 0x1e && *p != 0x1f) {
                *o++ = *p;
            }
        }
        for (; n < fields; n++) {
            *o++ = 0x1f;
        }
    }
    *o = '\0';
    return out;
}


static int
query_ok(const char *s)
{
    size_t  n = 0;

    for (; *s && *s != '\n'; s++, n++) {
        if (*s < 0x20 || *s > 0x7e) {
            return 0;
        }
    }
    return n <= 1024;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          i;
    char        *text, *line[4] = { NULL, NULL, NULL, NULL }, *p;
    PGresult    *res;
    const char  *route, *values[8];

    if (size < 1) {
        return 0;
    }

    route = routes[data[0] % (sizeof(routes) / sizeof(routes[0]))];
    text = fuzz_cstr(data + 1, size - 1);
    memset(values, 0, sizeof(values));     /* $1, the key: none */
    values[1] = route;

    if (strcmp(route, "list") == 0 || strcmp(route, "recipients_list") == 0) {
        for (i = 0, p = text; i < 4 && p; i++) {
            if (!query_ok(p)) {
                goto skip;
            }
            line[i] = p;
            p = strchr(p, '\n');
            if (p) {
                *p++ = '\0';
            }
        }
        for (i = 0; i < 4; i++) {
            values[4 + i] = line[i];
        }
        values[2] = draft;

    } else if (strcmp(route, "time") == 0) {
        if (!fuzz_utf8_ok((unsigned char *) text)) {
            goto skip;
        }
        /* any text, as a JSON string: the schedule body's scheduled_at */
        values[0] = text;
        res = run("SELECT campaign.parse_time(to_jsonb($1::text))", 1, values);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "parse_time failed: %s", PQerrorMessage(conn));
            abort();
        }
        PQclear(res);
        goto skip;

    } else if (strcmp(route, "cron") == 0 || strcmp(route, "zoned") == 0
               || strcmp(route, "calendar") == 0)
    {
        if (!fuzz_utf8_ok((unsigned char *) text)) {
            goto skip;
        }
        values[0] = text;
        values[1] = NULL;
        if (strcmp(route, "calendar") == 0) {
            /* from, a line, then to: query values */
            p = strchr(text, '\n');
            if (p) {
                *p++ = '\0';
            }
            if (!query_ok(text) || (p && !query_ok(p))) {
                goto skip;
            }
            values[1] = p;
        }
        answered(route, strcmp(route, "cron") == 0 ? CRON
                        : strcmp(route, "zoned") == 0 ? ZONED : CALENDAR,
                 strcmp(route, "calendar") == 0 ? 2 : 1, values);
        if (strcmp(route, "cron") == 0 && query_ok(text)) {
            answered("recurrence_preview", PREVIEW, 1, values);
        }
        goto skip;

    } else if (strcmp(route, "recipients_csv") == 0) {
        if (!fuzz_utf8_ok((unsigned char *) text)) {
            goto skip;
        }
        p = csv_rows(text);
        free(text);
        text = p;
        values[2] = draft;
        values[3] = text;

    } else {
        if (!body_ok(text)) {
            goto skip;
        }
        values[2] = strcmp(route, "create") == 0 ? NULL : draft;
        values[3] = text;
    }

    answered(route, API, 8, values);

skip:
    free(text);
    return 0;
}
