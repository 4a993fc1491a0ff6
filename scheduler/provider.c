#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "../common/hmac.h"
#include "config.h"
#include "provider.h"

#define CS_DOC_MAX     (1024 * 1024)
#define CS_HEADER_MAX  8192


static int why(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


static int
why(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}


static char *
secret_copy(const char *s, size_t len)
{
    char  *p = malloc(len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}


static void
secret_drop(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}


cs_provider_t *
cs_provider_new(const char *url, char *err, size_t errlen)
{
    cs_provider_t  *p;

    /* (not echoed: a mistyped URL may hold credentials) */
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        why(err, errlen, "provider URL must be http:// or https://");
        return NULL;
    }

    p = calloc(1, sizeof(cs_provider_t));
    if (p == NULL || (p->url = strdup(url)) == NULL
        || (p->answer_id = strdup("id")) == NULL)
    {
        cs_provider_free(p);
        why(err, errlen, "%s", "out of memory");
        return NULL;
    }
    return p;
}


static void
strings_free(char **v, size_t n)
{
    size_t  i;

    for (i = 0; v && i < n; i++) {
        free(v[i]);
    }
    free(v);
}


void
cs_provider_free(cs_provider_t *p)
{
    size_t  i;

    if (p == NULL) {
        return;
    }
    free(p->url);
    strings_free(p->form_names, p->nform);
    strings_free(p->form_values, p->nform);
    yajl_tree_free(p->doc);
    secret_drop(p->userpwd);
    secret_drop(p->bearer);
    free(p->sigv4);
    secret_drop(p->session_token);
    if (p->sign_key) {
        OPENSSL_cleanse(p->sign_key, p->sign_keylen);
        free(p->sign_key);
    }
    /* (some are secrets: all wiped) */
    for (i = 0; p->header_values && i < p->nheaders; i++) {
        secret_drop(p->header_values[i]);
    }
    free(p->header_values);
    strings_free(p->header_names, p->nheaders);
    free(p->header_secret);
    free(p->tls_ca);
    free(p->tls_cert);
    free(p->tls_key);
    free(p->answer_id);
    strings_free(p->vars, p->nvars);
    free(p);
}


/* ---------------------------------------------------------- placeholders */


typedef struct {
    cs_provider_t  *p;
    char           *err;
    size_t          errlen;
} cs_names_check_t;


static int
name_check(const char *name, size_t n, void *data)
{
    char              buf[80], **v;
    size_t            i;
    cs_names_check_t *c = data;
    cs_provider_t    *p = c->p;

    if (!cs_render_field_ok(name, n)) {
        snprintf(buf, sizeof(buf), "%.*s", (int) (n < 64 ? n : 64), name);
        return why(c->err, c->errlen, "unknown placeholder \"{{%s}}\" (to, "
                   "type, recipient.id, campaign.id, vars.*, message.*, "
                   "campaign.metadata.*)", buf);
    }
    if (n <= 5 || memcmp(name, "vars.", 5) != 0) {
        return 0;
    }
    for (i = 0; i < p->nvars; i++) {
        if (strlen(p->vars[i]) == n - 5 && memcmp(p->vars[i], name + 5,
                                                  n - 5) == 0)
        {
            return 0;
        }
    }
    v = realloc(p->vars, (p->nvars + 1) * sizeof(char *));
    if (v == NULL) {
        return why(c->err, c->errlen, "%s", "out of memory");
    }
    p->vars = v;
    p->vars[p->nvars] = strndup(name + 5, n - 5);
    if (p->vars[p->nvars] == NULL) {
        return why(c->err, c->errlen, "%s", "out of memory");
    }
    p->nvars++;
    return 0;
}


static int
names_check(cs_provider_t *p, const char *s, const void *doc, char *err,
    size_t errlen)
{
    cs_names_check_t  c = { p, err, errlen };

    return s ? cs_render_names(s, name_check, &c)
             : cs_render_doc_names(doc, name_check, &c);
}


/* ------------------------------------------------------------ directives */


static const cs_secret_t *
secret_arg(cs_config_t *cf, const char *arg, char *err, size_t errlen)
{
    const cs_secret_t  *s;

    if (arg[0] != '$') {
        why(err, errlen, "\"%s\" must name a secret: $NAME", arg);
        return NULL;
    }
    s = cs_config_secret(cf, arg + 1);
    if (s == NULL) {
        why(err, errlen, "no secret \"%s\" above this line", arg + 1);
    }
    return s;
}


static char *
read_file(const char *path, size_t max, char *err, size_t errlen)
{
    FILE    *f;
    char    *text;
    size_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open \"%s\": %s", path,
                 strerror(errno));
        return NULL;
    }
    text = malloc(max + 1);
    n = text ? fread(text, 1, max + 1, f) : 0;
    fclose(f);
    if (text == NULL || n > max) {
        free(text);
        why(err, errlen, "\"%s\" is over 1 MiB", path);
        return NULL;
    }
    text[n] = '\0';
    return text;
}


/* 1 if a document nests deeper than max levels; goes no deeper itself */
static int
doc_too_deep(yajl_val v, int max)
{
    size_t  i, n;

    if (!YAJL_IS_OBJECT(v) && !YAJL_IS_ARRAY(v)) {
        return 0;
    }
    if (max == 0) {
        return 1;
    }
    n = YAJL_IS_OBJECT(v) ? v->u.object.len : v->u.array.len;
    for (i = 0; i < n; i++) {
        if (doc_too_deep(YAJL_IS_OBJECT(v) ? v->u.object.values[i]
                                           : v->u.array.values[i], max - 1))
        {
            return 1;
        }
    }
    return 0;
}


static int
set_body(cs_provider_t *p, char **args, int nargs, char *err, size_t errlen)
{
    int    i;
    char  *text, *eq, yerr[256];

    if (strcmp(args[1], "json") == 0 && nargs == 2) {
        p->body = CS_BODY_JSON;
        return 0;
    }

    if (strcmp(args[1], "form") == 0 && nargs >= 3) {
        p->form_names = calloc(nargs - 2, sizeof(char *));
        p->form_values = calloc(nargs - 2, sizeof(char *));
        if (p->form_names == NULL || p->form_values == NULL) {
            return why(err, errlen, "%s", "out of memory");
        }
        for (i = 2; i < nargs; i++) {
            eq = strchr(args[i], '=');
            if (eq == NULL || eq == args[i]) {
                return why(err, errlen, "a form field is NAME=VALUE: \"%s\"",
                           args[i]);
            }
            p->form_names[p->nform] = strndup(args[i], eq - args[i]);
            p->form_values[p->nform] = strdup(eq + 1);
            p->nform++;
            if (p->form_names[p->nform - 1] == NULL
                || p->form_values[p->nform - 1] == NULL)
            {
                return why(err, errlen, "%s", "out of memory");
            }
            if (names_check(p, eq + 1, NULL, err, errlen) != 0) {
                return -1;
            }
        }
        p->body = CS_BODY_FORM;
        return 0;
    }

    if (strcmp(args[1], "json-template") == 0 && nargs == 3) {
        text = read_file(args[2], CS_DOC_MAX, err, errlen);
        if (text == NULL) {
            return -1;
        }
        yerr[0] = '\0';
        p->doc = yajl_tree_parse(text, yerr, sizeof(yerr));
        free(text);
        if (p->doc == NULL) {
            yerr[strcspn(yerr, "\n")] = '\0';
            snprintf(err, errlen, "\"%s\" is not JSON: %s", args[2], yerr);
            return -1;
        }
        p->body = CS_BODY_TEMPLATE;
        /* yajl's generator writes at most 128 levels */
        if (doc_too_deep(p->doc, 64)) {
            snprintf(err, errlen, "\"%s\" nests deeper than 64 levels",
                     args[2]);
            return -1;
        }
        return names_check(p, NULL, p->doc, err, errlen);
    }

    return why(err, errlen, "body is \"json\", \"form NAME=VALUE ...\" or "
               "\"json-template FILE\"");
}


static int
set_auth(cs_provider_t *p, cs_config_t *cf, char **args, int nargs,
    char *err, size_t errlen)
{
    const char         *colon;
    const cs_secret_t  *s;

    if (strcmp(args[1], "basic") == 0 && nargs == 3) {
        s = secret_arg(cf, args[2], err, errlen);
        if (s == NULL) {
            return -1;
        }
        if (strchr(s->value, ':') == NULL) {
            return why(err, errlen, "secret \"%s\" must hold user:password",
                       s->name);
        }
        p->auth = CS_AUTH_BASIC;
        p->userpwd = secret_copy(s->value, s->len);
        return p->userpwd ? 0 : why(err, errlen, "%s", "out of memory");
    }

    if (strcmp(args[1], "bearer") == 0 && nargs == 3) {
        s = secret_arg(cf, args[2], err, errlen);
        if (s == NULL) {
            return -1;
        }
        p->auth = CS_AUTH_BEARER;
        p->bearer = secret_copy(s->value, s->len);
        return p->bearer ? 0 : why(err, errlen, "%s", "out of memory");
    }

    if (strcmp(args[1], "aws-sigv4") == 0 && nargs == 4) {
        /* "provider1[:provider2[:region[:service]]]", as libcurl reads it */
        if (strncmp(args[2], "aws:amz:", 8) != 0 || strlen(args[2]) > 200
            || strspn(args[2], "abcdefghijklmnopqrstuvwxyz0123456789-:")
               != strlen(args[2]))
        {
            return why(err, errlen, "aws-sigv4 wants aws:amz:REGION:SERVICE, "
                       "not \"%s\"", args[2]);
        }
        s = secret_arg(cf, args[3], err, errlen);
        if (s == NULL) {
            return -1;
        }
        /* ACCESS_KEY_ID:SECRET[:SESSION_TOKEN] */
        colon = strchr(s->value, ':');
        if (colon == NULL || colon == s->value || colon[1] == '\0') {
            return why(err, errlen, "secret \"%s\" must hold "
                       "KEY_ID:SECRET[:SESSION_TOKEN]", s->name);
        }
        colon = strchr(colon + 1, ':');
        p->auth = CS_AUTH_SIGV4;
        p->sigv4 = strdup(args[2]);
        p->userpwd = secret_copy(s->value, colon ? (size_t) (colon - s->value)
                                                 : s->len);
        if (colon) {
            p->session_token = secret_copy(colon + 1, strlen(colon + 1));
        }
        return p->sigv4 && p->userpwd && (!colon || p->session_token)
               ? 0 : why(err, errlen, "%s", "out of memory");
    }

    return why(err, errlen, "auth is \"basic $SECRET\", \"bearer $SECRET\" "
               "or \"aws-sigv4 aws:amz:REGION:SERVICE $SECRET\"");
}


static int
set_sign(cs_provider_t *p, cs_config_t *cf, char **args, int nargs,
    char *err, size_t errlen)
{
    long                n;
    const cs_secret_t  *s;

    if (strcmp(args[1], "standard-webhooks") != 0 || nargs != 3) {
        return why(err, errlen, "sign is \"standard-webhooks $SECRET\"");
    }
    s = secret_arg(cf, args[2], err, errlen);
    if (s == NULL) {
        return -1;
    }
    p->sign_key = malloc(s->len);
    if (p->sign_key == NULL) {
        return why(err, errlen, "%s", "out of memory");
    }
    n = cs_whsec_key(s->value, s->len, p->sign_key, s->len);
    if (n <= 0) {
        return why(err, errlen, "secret \"%s\" is not whsec_ and base64",
                   s->name);
    }
    p->sign_keylen = (size_t) n;
    return 0;
}


static int
set_header(cs_provider_t *p, cs_config_t *cf, char **args, int nargs,
    char *err, size_t errlen)
{
    int                *flags;
    size_t              i;
    char              **names, **values;
    const cs_secret_t  *sec = NULL;
    const char   *n = args[1];
    static const char *const  ours[] = {
        "content-type", "content-length", "host", "transfer-encoding",
        "idempotency-key", "webhook-id", "webhook-timestamp",
        "webhook-signature", "authorization", "expect", "x-amz-date",
        "x-amz-content-sha256", "x-amz-security-token",
        "proxy-authorization", "connection", "keep-alive", "te", "upgrade",
        "trailer", NULL
    };

    if (nargs != 3) {
        return why(err, errlen, "header is \"NAME VALUE\"");
    }
    /* a token (RFC 9110): no way to end the line or start another */
    if (n[0] == '\0' || strspn(n, "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "!#$%&'*+-.^_`|~") != strlen(n))
    {
        return why(err, errlen, "invalid header name \"%s\"", n);
    }
    for (i = 0; ours[i]; i++) {
        if (strcasecmp(n, ours[i]) == 0) {
            return why(err, errlen, "header \"%s\" is the scheduler's own",
                       n);
        }
    }
    if (strpbrk(args[2], "\r\n") != NULL) {
        return why(err, errlen, "header \"%s\" holds a line break", n);
    }

    /* "$NAME": a secret's value (an API key), sent as it is */
    if (args[2][0] == '$') {
        sec = secret_arg(cf, args[2], err, errlen);
        if (sec == NULL) {
            return -1;
        }
    }

    names = realloc(p->header_names, (p->nheaders + 1) * sizeof(char *));
    if (names == NULL) {
        return why(err, errlen, "%s", "out of memory");
    }
    p->header_names = names;
    values = realloc(p->header_values, (p->nheaders + 1) * sizeof(char *));
    if (values == NULL) {
        return why(err, errlen, "%s", "out of memory");
    }
    p->header_values = values;
    if (sec && (strpbrk(sec->value, "\r\n") || strlen(sec->value) != sec->len))
    {
        return why(err, errlen, "secret \"%s\" cannot be a header's value",
                   sec->name);
    }

    flags = realloc(p->header_secret, (p->nheaders + 1) * sizeof(int));
    if (flags == NULL) {
        return why(err, errlen, "%s", "out of memory");
    }
    p->header_secret = flags;
    names[p->nheaders] = strdup(n);
    values[p->nheaders] = sec ? secret_copy(sec->value, sec->len)
                              : strdup(args[2]);
    flags[p->nheaders] = sec != NULL;
    p->nheaders++;
    if (names[p->nheaders - 1] == NULL || values[p->nheaders - 1] == NULL) {
        return why(err, errlen, "%s", "out of memory");
    }
    return sec ? 0 : names_check(p, args[2], NULL, err, errlen);
}


static int
set_file(char **field, char **args, int nargs, char *err, size_t errlen)
{
    if (nargs != 2) {
        return why(err, errlen, "%s takes a file", args[0]);
    }
    if (access(args[1], R_OK) != 0) {
        snprintf(err, errlen, "%s \"%s\": %s", args[0], args[1],
                 strerror(errno));
        return -1;
    }
    *field = strdup(args[1]);
    return *field ? 0 : why(err, errlen, "%s", "out of memory");
}


static int
set_timeout(cs_provider_t *p, char **args, int nargs, char *err,
    size_t errlen)
{
    int64_t  connect, total;

    if (nargs != 3) {
        return why(err, errlen, "timeout is \"CONNECT TOTAL\"");
    }
    connect = cs_parse_duration(args[1]);
    total = cs_parse_duration(args[2]);
    if (connect <= 0 || total < connect || total > 600000) {
        return why(err, errlen, "timeout needs 0 < connect <= total <= "
                   "10m");
    }
    p->connect_timeout = (uint64_t) connect;
    p->request_timeout = (uint64_t) total;
    return 0;
}


static int
set_answer_id(cs_provider_t *p, char **args, int nargs, char *err,
    size_t errlen)
{
    const char  *s = args[1];
    size_t       n = strlen(s);

    size_t       dots = 0, i;

    for (i = 0; i < n; i++) {
        dots += s[i] == '.';
    }
    if (nargs != 2 || n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.'
        || strstr(s, "..") != NULL || dots > 7)
    {
        return why(err, errlen, "answer_id is a field's path of at most 8 "
                   "parts, such as sid, data.id or message_uuid.0");
    }
    free(p->answer_id);
    p->answer_id = strdup(s);
    return p->answer_id ? 0 : why(err, errlen, "%s", "out of memory");
}


int
cs_provider_set(cs_provider_t *p, cs_config_t *cf, char **args, int nargs,
    char *err, size_t errlen)
{
    const char  *d = args[0];

#define CS_ONCE(cond)                                                         \
    if (cond) {                                                               \
        return why(err, errlen, "\"%s\" directive is duplicate", d);          \
    }

    if (nargs < 2) {
        return why(err, errlen, "invalid number of arguments in \"%s\" "
                   "directive", d);
    }
    if (strcmp(d, "body") == 0) {
        CS_ONCE(p->body != CS_BODY_JSON || p->nform);
        return set_body(p, args, nargs, err, errlen);
    }
    if (strcmp(d, "auth") == 0) {
        CS_ONCE(p->auth != CS_AUTH_NONE);
        return set_auth(p, cf, args, nargs, err, errlen);
    }
    if (strcmp(d, "sign") == 0) {
        CS_ONCE(p->sign_key != NULL);
        return set_sign(p, cf, args, nargs, err, errlen);
    }
    if (strcmp(d, "header") == 0) {
        return set_header(p, cf, args, nargs, err, errlen);
    }
    if (strcmp(d, "tls_ca") == 0) {
        CS_ONCE(p->tls_ca != NULL);
        return set_file(&p->tls_ca, args, nargs, err, errlen);
    }
    if (strcmp(d, "tls_cert") == 0) {
        CS_ONCE(p->tls_cert != NULL);
        return set_file(&p->tls_cert, args, nargs, err, errlen);
    }
    if (strcmp(d, "tls_key") == 0) {
        CS_ONCE(p->tls_key != NULL);
        return set_file(&p->tls_key, args, nargs, err, errlen);
    }
    if (strcmp(d, "timeout") == 0) {
        CS_ONCE(p->request_timeout != 0);
        return set_timeout(p, args, nargs, err, errlen);
    }
    if (strcmp(d, "answer_id") == 0) {
        return set_answer_id(p, args, nargs, err, errlen);
    }

#undef CS_ONCE

    return why(err, errlen, "unknown directive \"%s\" in a provider block",
               d);
}


int
cs_provider_check(cs_provider_t *p, char *err, size_t errlen)
{
    if (p->tls_key && !p->tls_cert) {
        return why(err, errlen, "tls_key needs tls_cert");
    }
    if ((p->tls_ca || p->tls_cert) && strncmp(p->url, "https://", 8) != 0) {
        return why(err, errlen, "tls_ca and tls_cert need an https:// "
                   "URL");
    }
    return 0;
}


/* --------------------------------------------------------------- requests */


static int
add_header(struct curl_slist **list, const char *name, const char *value,
    size_t len)
{
    char               *line;
    size_t              n = strlen(name);
    struct curl_slist  *l;

    line = malloc(n + len + 3);
    if (line == NULL) {
        return -1;
    }
    memcpy(line, name, n);
    /* "Name;" is libcurl's way to send a header with no value */
    if (len == 0) {
        line[n] = ';';
        line[n + 1] = '\0';
    } else {
        line[n] = ':';
        line[n + 1] = ' ';
        memcpy(line + n + 2, value, len);
        line[n + 2 + len] = '\0';
    }
    l = curl_slist_append(*list, line);
    free(line);
    if (l == NULL) {
        return -1;
    }
    *list = l;
    return 0;
}


/* webhook-id, webhook-timestamp, webhook-signature (Standard Webhooks) */
static int
add_signature(const cs_provider_t *p, const char *key, const char *body,
    size_t len, struct curl_slist **list)
{
    char        ts[24], sig[CS_HMAC_B64_MAX + 3];
    cs_piece_t  pieces[5];

    snprintf(ts, sizeof(ts), "%lld", (long long) time(NULL));
    pieces[0] = (cs_piece_t) { key, strlen(key) };
    pieces[1] = (cs_piece_t) { ".", 1 };
    pieces[2] = (cs_piece_t) { ts, strlen(ts) };
    pieces[3] = (cs_piece_t) { ".", 1 };
    pieces[4] = (cs_piece_t) { body, len };

    memcpy(sig, "v1,", 3);
    if (cs_hmac_b64("SHA256", p->sign_key, p->sign_keylen, pieces, 5,
                    sig + 3) != 0)
    {
        return -1;
    }
    return add_header(list, "webhook-id", key, strlen(key))
           | add_header(list, "webhook-timestamp", ts, strlen(ts))
           | add_header(list, "webhook-signature", sig, strlen(sig));
}


int
cs_provider_request(const cs_provider_t *p, const cs_config_t *cf,
    const cs_template_t *t, const cs_render_in_t *in, const char *key,
    cs_http_request_t *rq, const char **why_out)
{
    char               *body = NULL, *v;
    size_t              i, len = 0, vlen;
    cs_render_t        *rd;
    const char         *ctype;
    struct curl_slist  *list = NULL, *l;

    static const char  oom[] = "cannot make the request: out of memory";

    memset(rq, 0, sizeof(*rq));

    rd = cs_render_begin(t, in, why_out);
    if (rd == NULL) {
        return -1;
    }

    switch (p->body) {
    case CS_BODY_FORM:
        body = cs_render_form(rd, p->form_names, p->form_values, p->nform,
                              &len, why_out);
        ctype = "application/x-www-form-urlencoded";
        break;
    case CS_BODY_TEMPLATE:
        body = cs_render_doc(rd, p->doc, &len, why_out);
        ctype = "application/json";
        break;
    default:
        body = cs_render_json(rd, &len, why_out);
        ctype = "application/json";
    }
    if (body == NULL) {
        goto failed;
    }

    *why_out = oom;
    if (add_header(&list, "Content-Type", ctype, strlen(ctype)) != 0
        || add_header(&list, "Idempotency-Key", key, strlen(key)) != 0)
    {
        goto failed;
    }
    /* no "Expect: 100-continue" wait; but libcurl signs every header it
     * is given, and a signed "Expect:" never reaches AWS */
    if (p->auth != CS_AUTH_SIGV4) {
        l = curl_slist_append(list, "Expect:");       /* "Name:": none */
        if (l == NULL) {
            goto failed;
        }
        list = l;
    }

    for (i = 0; i < p->nheaders; i++) {
        if (p->header_secret[i]) {
            if (add_header(&list, p->header_names[i], p->header_values[i],
                           strlen(p->header_values[i])) != 0)
            {
                *why_out = oom;
                goto failed;
            }
            continue;
        }
        v = cs_render_text(rd, p->header_values[i], &vlen, why_out);
        if (v == NULL) {
            goto failed;
        }
        /* a value may not end the header, or hold what ends strings */
        if (strlen(v) != vlen || strpbrk(v, "\r\n") != NULL
            || vlen > CS_HEADER_MAX)
        {
            free(v);
            *why_out = "cannot make the request: a header would hold a line "
                       "break, or be over 8 KiB";
            goto failed;
        }
        if (add_header(&list, p->header_names[i], v, vlen) != 0) {
            free(v);
            *why_out = oom;
            goto failed;
        }
        free(v);
    }

    *why_out = oom;
    if (p->session_token
        && add_header(&list, "X-Amz-Security-Token", p->session_token,
                      strlen(p->session_token)) != 0)
    {
        goto failed;
    }
    if (p->sign_key && add_signature(p, key, body, len, &list) != 0) {
        goto failed;
    }

    cs_render_end(rd);

    rq->url = p->url;
    rq->body = body;
    rq->len = len;
    rq->headers = list;
    rq->userpwd = p->userpwd;
    rq->bearer = p->bearer;
    rq->sigv4 = p->sigv4;
    rq->tls_ca = p->tls_ca;
    rq->tls_cert = p->tls_cert;
    rq->tls_key = p->tls_key;
    rq->connect_ms = (long) (p->connect_timeout ? p->connect_timeout
                                                : cf->connect_timeout);
    rq->total_ms = (long) (p->request_timeout ? p->request_timeout
                                              : cf->request_timeout);
    *why_out = NULL;
    return 0;

failed:

    cs_render_end(rd);
    free(body);
    curl_slist_free_all(list);
    return -1;
}
