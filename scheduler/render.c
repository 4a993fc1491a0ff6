#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "render.h"

#define CS_VAR_MAX  64              /* bytes in a placeholder's name */

struct cs_template_s {
    yajl_val     message;
    yajl_val     metadata;          /* the campaign's, or NULL */
    char       **names;             /* the vars it names, sorted, once each */
    size_t       nnames;
};

/* a value of a var the message names, for one recipient */
typedef struct {
    char        *text;              /* NULL: none (renders empty) */
    size_t       len;
} cs_value_t;

/* what one recipient's rendering knows and may still spend */
struct cs_render_s {
    yajl_gen              g;
    const cs_template_t  *t;
    cs_value_t           *values;   /* by the template's names */
    cs_render_in_t        in;
    const char           *to;
    size_t                room;     /* raw bytes it may still take */
    int                   over;     /* the body would be over the cap */
    /* placeholders name vars (a message), or reach everything (a
     * provider's template: to, vars.*, message.*, campaign.*, ...) */
    int                 (*var)(const char *name, size_t n, void *data);
};


/* ------------------------------------------------------ placeholders */


/* The next "}}" from s on, or NULL. (Not strstr(): sanitizers' strstr
 * reads the whole rest of the string each time.) */
static const char *
closing(const char *s)
{
    for ( ; *s; s++) {
        if (s[0] == '}' && s[1] == '}') {
            return s;
        }
    }
    return NULL;
}


/*
 * Calls found(name, n, data) for each {{name}} of s, in time linear in s:
 * the next "}}" is searched for once and kept while the scan is behind it
 * (a search to the end of the string at every "{{" made a message of
 * "{{{{..." quadratic: 55 ms a recipient for 60 KiB). Between them,
 * literal(from, n, data) for the text. A non-zero return stops it.
 */
static int
placeholders(const char *s, int (*found)(const char *name, size_t n,
    void *data), int (*literal)(const char *from, size_t n, void *data),
    void *data)
{
    size_t       n;
    const char  *p, *text, *close;

    close = closing(s);
    text = s;

    for (p = s; close != NULL && *p; p++) {
        if (p[0] != '{' || p[1] != '{') {
            continue;
        }
        if (close < p + 2) {
            close = closing(p + 2);             /* moves only forward */
            if (close == NULL) {
                break;
            }
        }
        n = (size_t) (close - p - 2);
        if (n > CS_VAR_MAX) {
            continue;
        }
        if ((literal && p > text && literal(text, (size_t) (p - text), data))
            || found(p + 2, n, data))
        {
            return -1;
        }
        p = close + 1;
        text = close + 2;
    }

    if (literal && *text) {
        return literal(text, strlen(text), data);
    }
    return 0;
}


typedef struct {
    char   **names;
    size_t   n;
    size_t   cap;
} cs_names_t;


static int
name_add(const char *name, size_t n, void *data)
{
    char        **p;
    cs_names_t   *ns = data;

    if (ns->n == ns->cap) {
        p = realloc(ns->names, (ns->cap ? ns->cap * 2 : 16) * sizeof(char *));
        if (p == NULL) {
            return -1;
        }
        ns->names = p;
        ns->cap = ns->cap ? ns->cap * 2 : 16;
    }
    ns->names[ns->n] = strndup(name, n);
    return ns->names[ns->n++] == NULL ? -1 : 0;
}


/* found() for each placeholder of each string of v */
static int
names_of(yajl_val v, int (*found)(const char *name, size_t n, void *data),
    void *data)
{
    size_t  i, len;

    if (YAJL_IS_STRING(v)) {
        return placeholders(v->u.string, found, NULL, data);
    }
    if (YAJL_IS_OBJECT(v) || YAJL_IS_ARRAY(v)) {
        len = YAJL_IS_OBJECT(v) ? v->u.object.len : v->u.array.len;
        for (i = 0; i < len; i++) {
            if (names_of(YAJL_IS_OBJECT(v) ? v->u.object.values[i]
                                           : v->u.array.values[i],
                         found, data) != 0)
            {
                return -1;
            }
        }
    }
    return 0;
}


int
cs_render_names(const char *s, int (*found)(const char *name, size_t n,
    void *data), void *data)
{
    return placeholders(s, found, NULL, data);
}


int
cs_render_doc_names(const void *doc, int (*found)(const char *name,
    size_t n, void *data), void *data)
{
    return names_of((yajl_val) doc, found, data);
}


static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


cs_template_t *
cs_render_template(const char *message_json, const char *metadata_json,
    char *const *extra, size_t nextra)
{
    size_t          i, k;
    cs_names_t      ns = { NULL, 0, 0 };
    cs_template_t  *t;

    t = calloc(1, sizeof(cs_template_t));
    if (t == NULL) {
        return NULL;
    }

    t->message = yajl_tree_parse(message_json, NULL, 0);
    if (metadata_json != NULL) {
        t->metadata = yajl_tree_parse(metadata_json, NULL, 0);
    }
    for (i = 0; i < nextra; i++) {
        if (name_add(extra[i], strlen(extra[i]), &ns) != 0) {
            break;
        }
    }
    if (i < nextra || !YAJL_IS_OBJECT(t->message)
        || (metadata_json != NULL && !YAJL_IS_OBJECT(t->metadata))
        || names_of(t->message, name_add, &ns) != 0)
    {
        t->names = ns.names;
        t->nnames = ns.n;
        cs_render_template_free(t);
        return NULL;
    }

    /* sorted, and each once */
    if (ns.n > 1) {
        qsort(ns.names, ns.n, sizeof(char *), name_cmp);
    }
    for (i = 0, k = 0; i < ns.n; i++) {
        if (k > 0 && strcmp(ns.names[k - 1], ns.names[i]) == 0) {
            free(ns.names[i]);
            continue;
        }
        ns.names[k++] = ns.names[i];
    }
    t->names = ns.names;
    t->nnames = k;

    return t;
}


void
cs_render_template_free(cs_template_t *t)
{
    size_t  i;

    if (t == NULL) {
        return;
    }
    for (i = 0; i < t->nnames; i++) {
        free(t->names[i]);
    }
    free(t->names);
    yajl_tree_free(t->message);
    yajl_tree_free(t->metadata);
    free(t);
}


/* The index of a name among the template's, or -1. */
static long
name_index(const cs_template_t *t, const char *name, size_t n)
{
    int     c;
    size_t  lo = 0, hi = t->nnames, mid, len;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        len = strlen(t->names[mid]);
        c = strncmp(t->names[mid], name, n < len ? n : len);
        if (c == 0) {
            c = (len > n) - (len < n);
        }
        if (c == 0) {
            return (long) mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}


/* --------------------------------------------------------------- vars */


/* a reading of the vars that keeps what the template names, at depth 1 */
typedef struct {
    cs_render_t  *rd;
    yajl_handle   h;
    int           depth;
    long          want;             /* the name whose value comes, or -1 */
    size_t        end;              /* where the top object closed */
} cs_vars_t;


static int
vars_value(cs_vars_t *v, const char *text, size_t len)
{
    cs_value_t  *val;

    if (v->depth == 1 && v->want >= 0) {
        val = &v->rd->values[v->want];
        free(val->text);
        val->text = malloc(len + 1);
        if (val->text == NULL) {
            return 0;
        }
        memcpy(val->text, text, len);
        val->text[len] = '\0';
        val->len = len;
    }
    v->want = -1;
    return 1;
}


static int
vars_null(void *ctx)
{
    ((cs_vars_t *) ctx)->want = -1;
    return 1;
}


static int
vars_bool(void *ctx, int b)
{
    return vars_value(ctx, b ? "true" : "false", b ? 4 : 5);
}


static int
vars_number(void *ctx, const char *s, size_t len)
{
    return vars_value(ctx, s, len);
}


static int
vars_string(void *ctx, const unsigned char *s, size_t len)
{
    return vars_value(ctx, (const char *) s, len);
}


static int
vars_open(void *ctx)
{
    cs_vars_t  *v = ctx;

    v->want = -1;                   /* an object or array renders empty */
    v->depth++;
    return 1;
}


static int
vars_key(void *ctx, const unsigned char *key, size_t len)
{
    cs_vars_t  *v = ctx;

    v->want = v->depth == 1 ? name_index(v->rd->t, (const char *) key, len)
                            : -1;
    return 1;
}


static int
vars_close(void *ctx)
{
    cs_vars_t  *v = ctx;

    if (--v->depth == 0) {
        v->end = yajl_get_bytes_consumed(v->h);
    }
    return 1;
}


static yajl_callbacks  vars_callbacks = {
    vars_null, vars_bool, NULL, NULL, vars_number, vars_string,
    vars_open, vars_key, vars_close, vars_open, vars_close
};


/* Reads the vars (a JSON object), keeping the values the message names. */
static int
vars_read(cs_render_t *rd, const char *vars_json)
{
    size_t       len = strlen(vars_json), i;
    cs_vars_t    v = { rd, NULL, 0, -1, 0 };
    yajl_handle  h;
    yajl_status  st;

    /* an object, and nothing else, at the top */
    for (i = 0; i < len && strchr(" \t\r\n", vars_json[i]); i++) {
        /* void */
    }
    if (i == len || vars_json[i] != '{') {
        return -1;
    }

    h = yajl_alloc(&vars_callbacks, NULL, &v);
    if (h == NULL) {
        return -1;
    }
    v.h = h;
    st = yajl_parse(h, (const unsigned char *) vars_json, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }
    yajl_free(h);

    /* they go into the body as they came: nothing may follow the object
     * (yajl lets an unfinished token after it pass) */
    for (i = v.end; st == yajl_status_ok && i < len; i++) {
        if (!strchr(" \t\r\n", vars_json[i])) {
            return -1;
        }
    }
    return st == yajl_status_ok && v.end > 0 ? 0 : -1;
}


/* ------------------------------------------------------------ message */


/* Counts raw bytes against the room; 0 once the message is over it. */
static int
spend(cs_render_t *rd, size_t len)
{
    if (len > rd->room) {
        rd->over = 1;
        return 0;
    }
    rd->room -= len;
    return 1;
}


/* Writes a string; -1 once the message, escaped as written, is too long */
static int
gen_string(cs_render_t *rd, const char *s, size_t len)
{
    size_t                n;
    const unsigned char  *buf;

    if (yajl_gen_string(rd->g, (const unsigned char *) s, len)
        != yajl_gen_status_ok)
    {
        return -1;
    }
    if (yajl_gen_get_buf(rd->g, &buf, &n) == yajl_gen_status_ok
        && n > CS_RENDER_MAX)
    {
        rd->over = 1;
        return -1;
    }
    return 0;
}


/* a string being rendered */
typedef struct {
    cs_render_t  *rd;
    char         *out;
    size_t        len;
    size_t        cap;
} cs_out_t;


static int
out_add(cs_out_t *o, const char *s, size_t n)
{
    char    *bigger;
    size_t   cap;

    if (!spend(o->rd, n)) {
        return -1;
    }
    if (o->len + n + 1 > o->cap) {
        cap = (o->cap + n + 1) * 2;
        bigger = realloc(o->out, cap);
        if (bigger == NULL) {
            return -1;
        }
        o->out = bigger;
        o->cap = cap;
    }
    memcpy(o->out + o->len, s, n);
    o->len += n;
    return 0;
}


static int
out_literal(const char *from, size_t n, void *data)
{
    return out_add(data, from, n);
}


/* a var of the message's own placeholders: {{to}} or a var's name */
static int
out_var(const char *name, size_t n, void *data)
{
    long         i;
    cs_out_t    *o = data;
    cs_value_t  *v;

    if (n == 2 && memcmp(name, "to", 2) == 0) {
        return out_add(o, o->rd->to, strlen(o->rd->to));
    }
    i = name_index(o->rd->t, name, n);
    v = i >= 0 ? &o->rd->values[i] : NULL;
    return v && v->text ? out_add(o, v->text, v->len) : 0;
}


/*
 * The value at a dotted path (at most 8 parts) below v, or NULL: a part
 * is an object's key, or an array's index ("message_uuid.0", as Plivo
 * answers).
 */
static yajl_val
tree_at(yajl_val v, const char *path, size_t n)
{
    int          k;
    char        *end;
    size_t       i, len;
    const char  *p = path, *dot, *stop = path + n;
    unsigned long  idx;

    for (k = 0; v != NULL && p <= stop && k < 8; k++) {
        dot = memchr(p, '.', (size_t) (stop - p));
        len = (size_t) ((dot ? dot : stop) - p);
        if (len == 0) {
            return NULL;
        }

        if (YAJL_IS_OBJECT(v)) {
            for (i = 0; i < v->u.object.len; i++) {
                if (strlen(v->u.object.keys[i]) == len
                    && memcmp(v->u.object.keys[i], p, len) == 0)
                {
                    break;
                }
            }
            v = i < v->u.object.len ? v->u.object.values[i] : NULL;

        } else if (YAJL_IS_ARRAY(v) && p[0] >= '0' && p[0] <= '9'
                   && len < 10)
        {
            idx = strtoul(p, &end, 10);
            v = end == p + len && idx < v->u.array.len
                ? v->u.array.values[idx] : NULL;

        } else {
            return NULL;
        }

        if (dot == NULL) {
            return v;
        }
        p = dot + 1;
    }
    return NULL;
}


static int
prefixed(const char *name, size_t n, const char *prefix, size_t *skip)
{
    size_t  len = strlen(prefix);

    if (n > len && memcmp(name, prefix, len) == 0) {
        *skip = len;
        return 1;
    }
    return 0;
}


/* a scalar of the message or the metadata; a message's strings have their
 * own placeholders filled (from the vars), the metadata's are as written */
static int
out_tree(cs_out_t *o, yajl_val v, int fill)
{
    if (YAJL_IS_STRING(v)) {
        return fill ? placeholders(v->u.string, out_var, out_literal, o)
                    : out_add(o, v->u.string, strlen(v->u.string));
    }
    if (YAJL_IS_NUMBER(v)) {
        return out_add(o, v->u.number.r, strlen(v->u.number.r));
    }
    if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        return out_add(o, YAJL_IS_TRUE(v) ? "true" : "false",
                       YAJL_IS_TRUE(v) ? 4 : 5);
    }
    return 0;                       /* none, null, an object, an array */
}


/* a provider template's placeholder (cs_render_field_ok() says which) */
static int
out_field(const char *name, size_t n, void *data)
{
    long                  i;
    size_t                k;
    cs_out_t             *o = data;
    const cs_render_in_t *in = &o->rd->in;

#define CS_IS(s)  (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)

    if (CS_IS("to")) {
        return out_add(o, in->to, strlen(in->to));
    }
    if (CS_IS("recipient.id")) {
        return out_add(o, in->recipient_id, strlen(in->recipient_id));
    }
    if (CS_IS("campaign.id")) {
        return out_add(o, in->campaign_id, strlen(in->campaign_id));
    }
    if (CS_IS("type")) {
        return out_add(o, in->type, strlen(in->type));
    }
    if (prefixed(name, n, "vars.", &k)) {
        i = name_index(o->rd->t, name + k, n - k);
        if (i >= 0 && o->rd->values[i].text) {
            return out_add(o, o->rd->values[i].text, o->rd->values[i].len);
        }
        return 0;
    }
    if (prefixed(name, n, "message.", &k)) {
        return out_tree(o, tree_at(o->rd->t->message, name + k, n - k), 1);
    }
    if (prefixed(name, n, "campaign.metadata.", &k)) {
        return out_tree(o, tree_at(o->rd->t->metadata, name + k, n - k), 0);
    }
    return 0;

#undef CS_IS
}


int
cs_render_field_ok(const char *name, size_t n)
{
    size_t  k;

    if ((n == 2 && memcmp(name, "to", 2) == 0)
        || (n == 4 && memcmp(name, "type", 4) == 0)
        || (n == 12 && memcmp(name, "recipient.id", 12) == 0)
        || (n == 11 && memcmp(name, "campaign.id", 11) == 0))
    {
        return 1;
    }
    if (prefixed(name, n, "vars.", &k)) {
        return memchr(name + k, '.', n - k) == NULL;    /* vars are flat */
    }
    return prefixed(name, n, "message.", &k)
           || prefixed(name, n, "campaign.metadata.", &k);
}


/* s with its placeholders filled, raw, into o */
static int
render_raw(cs_render_t *rd, const char *s, cs_out_t *o)
{
    o->rd = rd;
    o->out = NULL;
    o->len = o->cap = 0;
    if (placeholders(s, rd->var, out_literal, o) != 0) {
        free(o->out);
        o->out = NULL;
        return -1;
    }
    if (o->out == NULL) {
        o->out = strdup("");
        if (o->out == NULL) {
            return -1;
        }
    }
    o->out[o->len] = '\0';
    return 0;
}


static int
gen_template(cs_render_t *rd, const char *s)
{
    int       rc;
    cs_out_t  o;

    if (strstr(s, "{{") == NULL) {
        return spend(rd, strlen(s)) ? gen_string(rd, s, strlen(s)) : -1;
    }

    if (render_raw(rd, s, &o) != 0) {
        return -1;
    }
    rc = gen_string(rd, o.out, o.len);
    free(o.out);
    return rc;
}


/* Copies a document, filling placeholders in its strings. */
static int
gen_value(cs_render_t *rd, yajl_val v)
{
    size_t    i;
    int       rc;
    yajl_gen  g = rd->g;

    if (YAJL_IS_STRING(v)) {
        return gen_template(rd, v->u.string);
    }
    if (YAJL_IS_NUMBER(v)) {
        return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    }
    if (YAJL_IS_OBJECT(v)) {
        rc = yajl_gen_map_open(g);
        for (i = 0; i < v->u.object.len && rc == 0; i++) {
            rc = gen_string(rd, v->u.object.keys[i],
                            strlen(v->u.object.keys[i]));
            if (rc == 0) {
                rc = gen_value(rd, v->u.object.values[i]);
            }
        }
        return rc ? rc : (int) yajl_gen_map_close(g);
    }
    if (YAJL_IS_ARRAY(v)) {
        rc = yajl_gen_array_open(g);
        for (i = 0; i < v->u.array.len && rc == 0; i++) {
            rc = gen_value(rd, v->u.array.values[i]);
        }
        return rc ? rc : (int) yajl_gen_array_close(g);
    }
    if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        return yajl_gen_bool(g, YAJL_IS_TRUE(v));
    }
    return yajl_gen_null(g);
}


/* ---------------------------------------------------------- a recipient */


#define CS_OOM  "cannot render the message: out of memory"
#define CS_OVER "cannot render the message: the body is over 1 MiB once " \
                "its placeholders are filled"


cs_render_t *
cs_render_begin(const cs_template_t *t, const cs_render_in_t *in,
    const char **why)
{
    cs_render_t  *rd;

    *why = CS_OOM;

    rd = calloc(1, sizeof(cs_render_t));
    if (rd == NULL) {
        return NULL;
    }
    rd->t = t;
    rd->in = *in;
    rd->to = in->to;
    rd->room = CS_RENDER_MAX;
    rd->values = calloc(t->nnames ? t->nnames : 1, sizeof(cs_value_t));
    if (rd->values == NULL) {
        free(rd);
        return NULL;
    }

    if (vars_read(rd, in->vars_json) != 0) {
        *why = "cannot render the message: its vars are not a JSON object";
        cs_render_end(rd);
        return NULL;
    }

    *why = NULL;
    return rd;
}


void
cs_render_end(cs_render_t *rd)
{
    size_t  i;

    if (rd == NULL) {
        return;
    }
    for (i = 0; i < rd->t->nnames; i++) {
        free(rd->values[i].text);
    }
    free(rd->values);
    free(rd);
}


/* a document rendered with the placeholders of var(), into a fresh gen */
static int
gen_doc(cs_render_t *rd, yajl_val doc, int (*var)(const char *, size_t,
    void *), const unsigned char **buf, size_t *n)
{
    rd->var = var;
    rd->g = yajl_gen_alloc(NULL);
    if (rd->g == NULL) {
        return -1;
    }
    if (gen_value(rd, doc) != 0
        || yajl_gen_get_buf(rd->g, buf, n) != yajl_gen_status_ok)
    {
        return -1;
    }
    return 0;
}


static void
gen_done(cs_render_t *rd)
{
    if (rd->g) {
        yajl_gen_free(rd->g);
        rd->g = NULL;
    }
}


static int
gen_pair(yajl_gen g, const char *key, const char *value)
{
    return yajl_gen_string(g, (const unsigned char *) key, strlen(key))
           | yajl_gen_string(g, (const unsigned char *) value, strlen(value));
}


char *
cs_render_json(cs_render_t *rd, size_t *len, const char **why)
{
    int                   rc;
    char                 *body = NULL, *p;
    size_t                n, pn, vlen;
    yajl_gen              head;
    const unsigned char  *msg, *pre;
    const cs_render_in_t *in = &rd->in;

    static const char  message_key[] = ",\"message\":";

    *why = CS_OOM;

    head = yajl_gen_alloc(NULL);
    if (head == NULL) {
        return NULL;
    }

    if (gen_doc(rd, rd->t->message, out_var, &msg, &n) != 0) {
        goto over;
    }

    /* what comes before the vars, up to their key: the vars follow as
     * Postgres gave them (valid JSON: read above), then the message */
    rc = yajl_gen_map_open(head);
    rc |= gen_pair(head, "campaign_id", in->campaign_id);
    rc |= gen_pair(head, "recipient_id", in->recipient_id);
    rc |= gen_pair(head, "type", in->type);
    rc |= gen_pair(head, "to", in->to);
    rc |= yajl_gen_string(head, (const unsigned char *) "vars", 4);
    if (rc != 0 || yajl_gen_get_buf(head, &pre, &pn) != yajl_gen_status_ok) {
        goto done;
    }

    /* (yajl writes the ':' with the value, which is not its to write) */
    vlen = strlen(in->vars_json);
    *len = pn + 1 + vlen + sizeof(message_key) - 1 + n + 1;
    if (*len > CS_RENDER_MAX) {
        rd->over = 1;
        goto over;
    }

    body = malloc(*len + 1);
    if (body == NULL) {
        goto done;
    }

    p = (char *) memcpy(body, pre, pn) + pn;
    *p++ = ':';
    p = (char *) memcpy(p, in->vars_json, vlen) + vlen;
    p = (char *) memcpy(p, message_key, sizeof(message_key) - 1)
        + sizeof(message_key) - 1;
    p = (char *) memcpy(p, msg, n) + n;
    *p++ = '}';
    *p = '\0';

    *why = NULL;
    goto done;

over:

    if (rd->over) {
        *why = CS_OVER;
    }

done:

    gen_done(rd);
    yajl_gen_free(head);
    return body;
}


char *
cs_render_doc(cs_render_t *rd, const void *doc, size_t *len,
    const char **why)
{
    char                 *body = NULL;
    size_t                n;
    const unsigned char  *buf;

    *why = CS_OOM;

    /* yajl_gen escapes what it writes: no value changes the shape */
    if (gen_doc(rd, (yajl_val) doc, out_field, &buf, &n) == 0) {
        body = malloc(n + 1);
        if (body != NULL) {
            memcpy(body, buf, n);
            body[n] = '\0';
            *len = n;
            *why = NULL;
        }
    } else if (rd->over) {
        *why = CS_OVER;
    }

    gen_done(rd);
    return body;
}


char *
cs_render_text(cs_render_t *rd, const char *s, size_t *len,
    const char **why)
{
    cs_out_t  o;

    rd->var = out_field;
    if (render_raw(rd, s, &o) != 0) {
        *why = rd->over ? CS_OVER : CS_OOM;
        return NULL;
    }
    *len = o.len;
    *why = NULL;
    return o.out;
}


char *
cs_render_form(cs_render_t *rd, char *const *names, char *const *values,
    size_t npairs, size_t *len, const char **why)
{
    char      *e, *v;
    size_t     i, vlen;
    cs_out_t   body = { rd, NULL, 0, 0 };

    *why = NULL;

    for (i = 0; i < npairs; i++) {
        /* the name is the file's; the value is rendered, then encoded */
        v = cs_render_text(rd, values[i], &vlen, why);
        if (v == NULL) {
            goto failed;
        }
        e = curl_easy_escape(NULL, names[i], 0);
        if (e == NULL || (i && out_add(&body, "&", 1) != 0)
            || out_add(&body, e, strlen(e)) != 0
            || out_add(&body, "=", 1) != 0)
        {
            curl_free(e);
            free(v);
            goto failed;
        }
        curl_free(e);
        e = vlen ? curl_easy_escape(NULL, v, (int) vlen) : NULL;
        free(v);
        if (vlen && (e == NULL || out_add(&body, e, strlen(e)) != 0)) {
            curl_free(e);
            goto failed;
        }
        curl_free(e);
    }

    if (body.out == NULL && (body.out = strdup("")) == NULL) {
        goto failed;
    }
    body.out[body.len] = '\0';
    *len = body.len;
    return body.out;

failed:

    if (*why == NULL) {
        *why = rd->over ? CS_OVER : CS_OOM;
    }
    free(body.out);
    return NULL;
}


char *
cs_render_body(const char *campaign_id, const char *recipient_id,
    const char *type, const char *to, const char *vars_json,
    const cs_template_t *t, size_t *len, const char **why)
{
    char            *body;
    cs_render_t     *rd;
    cs_render_in_t   in = { campaign_id, recipient_id, type, to, vars_json };

    rd = cs_render_begin(t, &in, why);
    if (rd == NULL) {
        return NULL;
    }
    body = cs_render_json(rd, len, why);
    cs_render_end(rd);
    return body;
}


/* A copy of at most max bytes, cut before a character, not inside one. */
static char *
utf8_cut(const char *s, size_t max)
{
    size_t  n = strlen(s);

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }
    }
    return strndup(s, n);
}


char *
cs_render_provider_id(const char *answer, size_t len, const char *path)
{
    char      *copy, *id = NULL;
    yajl_val   root, v;

    if (len == 0 || len > 65536) {
        return NULL;
    }

    copy = malloc(len + 1);
    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, answer, len);
    copy[len] = '\0';

    root = yajl_tree_parse(copy, NULL, 0);
    free(copy);

    v = tree_at(root, path, strlen(path));
    if (YAJL_IS_STRING(v)) {
        id = utf8_cut(v->u.string, 200);
    } else if (YAJL_IS_NUMBER(v)) {
        id = utf8_cut(v->u.number.r, 200);
    }

    yajl_tree_free(root);
    return id;
}
