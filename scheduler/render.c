#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "render.h"

#define CS_VAR_MAX  64

/* what one rendering of a message knows and may still spend */
typedef struct {
    yajl_gen     g;
    yajl_val     vars;
    const char  *to;
    size_t       room;              /* bytes the message may still take */
    int          over;              /* it would take more */
} cs_render_t;


/* The text a var renders as: strings as they are, numbers as written. */
static const char *
var_text(cs_render_t *rd, const char *name, size_t *len)
{
    size_t      i;
    yajl_val    v = NULL;

    if (strcmp(name, "to") == 0) {
        *len = strlen(rd->to);
        return rd->to;
    }

    if (YAJL_IS_OBJECT(rd->vars)) {
        for (i = 0; i < rd->vars->u.object.len; i++) {
            if (strcmp(rd->vars->u.object.keys[i], name) == 0) {
                v = rd->vars->u.object.values[i];
                break;
            }
        }
    }

    if (YAJL_IS_STRING(v)) {
        *len = strlen(v->u.string);
        return v->u.string;
    }
    if (YAJL_IS_NUMBER(v)) {
        *len = strlen(v->u.number.r);
        return v->u.number.r;
    }
    if (YAJL_IS_TRUE(v)) {
        *len = 4;
        return "true";
    }
    if (YAJL_IS_FALSE(v)) {
        *len = 5;
        return "false";
    }

    *len = 0;
    return "";
}


/* Counts len bytes against the room; 0 once the message is over it. */
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


/*
 * Writes s with its {{name}} placeholders filled, in time linear in s:
 * the next "}}" is searched for once and kept while the scan is behind it
 * (a search to the end of the string at every "{{" made a message of
 * "{{{{..." quadratic: 55 ms a recipient for 60 KiB).
 */
static int
gen_template(cs_render_t *rd, const char *s)
{
    int          rc;
    char         name[CS_VAR_MAX + 1];
    char        *out, *o, *bigger;
    size_t       cap, len, n, vlen;
    const char  *p, *close, *v;

    len = strlen(s);
    close = strstr(s, "}}");
    if (close == NULL || strstr(s, "{{") == NULL) {
        if (!spend(rd, len)) {
            return -1;
        }
        return yajl_gen_string(rd->g, (const unsigned char *) s, len);
    }

    cap = len + 1;
    out = malloc(cap);
    if (out == NULL) {
        return -1;
    }
    o = out;

    for (p = s; *p; /* void */) {
        n = CS_VAR_MAX + 1;

        if (p[0] == '{' && p[1] == '{' && close != NULL) {
            if (close < p + 2) {
                close = strstr(p + 2, "}}");    /* moves only forward */
            }
            if (close != NULL) {
                n = (size_t) (close - p - 2);
            }
        }

        if (n <= CS_VAR_MAX) {
            memcpy(name, p + 2, n);
            name[n] = '\0';
            v = var_text(rd, name, &vlen);
            p = close + 2;

        } else {
            v = p++;
            vlen = 1;
        }

        if (!spend(rd, vlen)) {
            free(out);
            return -1;
        }

        if ((size_t) (o - out) + vlen + 1 > cap) {
            cap = (cap + vlen) * 2;
            bigger = realloc(out, cap);
            if (bigger == NULL) {
                free(out);
                return -1;
            }
            o = bigger + (o - out);
            out = bigger;
        }
        memcpy(o, v, vlen);
        o += vlen;
    }

    rc = yajl_gen_string(rd->g, (const unsigned char *) out,
                         (size_t) (o - out));
    free(out);
    return rc;
}


/* Copies a JSON value, filling placeholders in its strings if render. */
static int
gen_value(cs_render_t *rd, yajl_val v, int render)
{
    size_t    i;
    int       rc = 0;
    yajl_gen  g = rd->g;

    if (YAJL_IS_STRING(v)) {
        if (render) {
            return gen_template(rd, v->u.string);
        }
        return yajl_gen_string(g, (const unsigned char *) v->u.string,
                               strlen(v->u.string));
    }
    if (YAJL_IS_NUMBER(v)) {
        return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    }
    if (YAJL_IS_OBJECT(v)) {
        rc = yajl_gen_map_open(g);
        for (i = 0; i < v->u.object.len && rc == 0; i++) {
            rc = yajl_gen_string(g,
                                 (const unsigned char *) v->u.object.keys[i],
                                 strlen(v->u.object.keys[i]));
            if (rc == 0) {
                rc = gen_value(rd, v->u.object.values[i], render);
            }
        }
        return rc ? rc : (int) yajl_gen_map_close(g);
    }
    if (YAJL_IS_ARRAY(v)) {
        rc = yajl_gen_array_open(g);
        for (i = 0; i < v->u.array.len && rc == 0; i++) {
            rc = gen_value(rd, v->u.array.values[i], render);
        }
        return rc ? rc : (int) yajl_gen_array_close(g);
    }
    if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        return yajl_gen_bool(g, YAJL_IS_TRUE(v));
    }
    return yajl_gen_null(g);
}


static int
gen_pair(yajl_gen g, const char *key, const char *value)
{
    return yajl_gen_string(g, (const unsigned char *) key, strlen(key))
           | yajl_gen_string(g, (const unsigned char *) value, strlen(value));
}


yajl_val
cs_render_message(const char *message_json)
{
    yajl_val  message = yajl_tree_parse(message_json, NULL, 0);

    if (message != NULL && !YAJL_IS_OBJECT(message)) {
        yajl_tree_free(message);
        return NULL;
    }
    return message;
}


char *
cs_render_body(const char *campaign_id, const char *recipient_id,
    const char *type, const char *to, const char *vars_json,
    yajl_val message, size_t *len, const char **why)
{
    int                   rc;
    char                 *body = NULL;
    size_t                n;
    cs_render_t           rd;
    const unsigned char  *buf;

    *why = "cannot render the message: its vars are not a JSON object";

    memset(&rd, 0, sizeof(rd));
    rd.to = to;
    rd.room = CS_RENDER_MAX;
    rd.vars = yajl_tree_parse(vars_json, NULL, 0);
    rd.g = yajl_gen_alloc(NULL);

    if (!YAJL_IS_OBJECT(rd.vars) || message == NULL || rd.g == NULL) {
        goto done;
    }

    rc = yajl_gen_map_open(rd.g);
    rc |= gen_pair(rd.g, "campaign_id", campaign_id);
    rc |= gen_pair(rd.g, "recipient_id", recipient_id);
    rc |= gen_pair(rd.g, "type", type);
    rc |= gen_pair(rd.g, "to", to);
    rc |= yajl_gen_string(rd.g, (const unsigned char *) "vars", 4);
    rc |= gen_value(&rd, rd.vars, 0);
    rc |= yajl_gen_string(rd.g, (const unsigned char *) "message", 7);
    if (rc == 0) {
        rc = gen_value(&rd, message, 1);
    }
    rc |= yajl_gen_map_close(rd.g);

    if (rd.over) {
        *why = "cannot render the message: it is over 1 MiB once its "
               "placeholders are filled";

    } else if (rc == 0
               && yajl_gen_get_buf(rd.g, &buf, &n) == yajl_gen_status_ok)
    {
        body = malloc(n + 1);
        if (body) {
            memcpy(body, buf, n);
            body[n] = '\0';
            *len = n;
            *why = NULL;
        } else {
            *why = "cannot render the message: out of memory";
        }
    }

done:
    if (rd.g) {
        yajl_gen_free(rd.g);
    }
    yajl_tree_free(rd.vars);
    return body;
}


char *
cs_render_provider_id(const char *answer, size_t len)
{
    char        *copy, *id = NULL;
    yajl_val     root, v;
    const char  *path[] = { "id", NULL };

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

    v = root ? yajl_tree_get(root, path, yajl_t_any) : NULL;
    if (YAJL_IS_STRING(v)) {
        id = strndup(v->u.string, 200);
    } else if (YAJL_IS_NUMBER(v)) {
        id = strndup(v->u.number.r, 200);
    }

    yajl_tree_free(root);
    return id;
}
