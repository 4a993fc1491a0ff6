#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "render.h"

#define CS_VAR_MAX  64


/* The text a var renders as: strings as they are, numbers as written. */
static const char *
var_text(yajl_val vars, const char *name, const char *to, size_t *len)
{
    size_t      i;
    yajl_val    v = NULL;

    if (strcmp(name, "to") == 0) {
        *len = strlen(to);
        return to;
    }

    if (YAJL_IS_OBJECT(vars)) {
        for (i = 0; i < vars->u.object.len; i++) {
            if (strcmp(vars->u.object.keys[i], name) == 0) {
                v = vars->u.object.values[i];
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


/* Writes s with its {{name}} placeholders filled. */
static int
gen_template(yajl_gen g, const char *s, yajl_val vars, const char *to)
{
    int          rc;
    char         name[CS_VAR_MAX + 1];
    char        *out, *o;
    size_t       cap, len, n, vlen;
    const char  *p, *end, *v;

    len = strlen(s);
    if (strstr(s, "{{") == NULL) {
        return yajl_gen_string(g, (const unsigned char *) s, len);
    }

    cap = len + 1;
    out = malloc(cap);
    if (out == NULL) {
        return -1;
    }
    o = out;

    for (p = s; *p; /* void */) {
        v = NULL;
        vlen = 0;

        if (p[0] == '{' && p[1] == '{'
            && (end = strstr(p + 2, "}}")) != NULL
            && (n = (size_t) (end - p - 2)) <= CS_VAR_MAX)
        {
            memcpy(name, p + 2, n);
            name[n] = '\0';
            v = var_text(vars, name, to, &vlen);
            p = end + 2;
        } else {
            v = p++;
            vlen = 1;
        }

        if ((size_t) (o - out) + vlen + 1 > cap) {
            char *bigger;
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

    rc = yajl_gen_string(g, (const unsigned char *) out, (size_t) (o - out));
    free(out);
    return rc;
}


/* Copies a JSON value, filling placeholders in every string. */
static int
gen_value(yajl_gen g, yajl_val v, yajl_val vars, const char *to, int render)
{
    size_t  i;
    int     rc = 0;

    if (YAJL_IS_STRING(v)) {
        if (render) {
            return gen_template(g, v->u.string, vars, to);
        }
        return yajl_gen_string(g, (const unsigned char *) v->u.string,
                               strlen(v->u.string));
    }
    if (YAJL_IS_NUMBER(v)) {
        return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    }
    if (YAJL_IS_OBJECT(v)) {
        rc |= yajl_gen_map_open(g);
        for (i = 0; i < v->u.object.len && rc == 0; i++) {
            rc |= yajl_gen_string(g,
                                  (const unsigned char *) v->u.object.keys[i],
                                  strlen(v->u.object.keys[i]));
            rc |= gen_value(g, v->u.object.values[i], vars, to, render);
        }
        return rc | yajl_gen_map_close(g);
    }
    if (YAJL_IS_ARRAY(v)) {
        rc |= yajl_gen_array_open(g);
        for (i = 0; i < v->u.array.len && rc == 0; i++) {
            rc |= gen_value(g, v->u.array.values[i], vars, to, render);
        }
        return rc | yajl_gen_array_close(g);
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
    yajl_val message, size_t *len)
{
    int                   rc;
    char                 *body = NULL;
    size_t                n;
    yajl_gen              g;
    yajl_val              vars;
    const unsigned char  *buf;

    vars = yajl_tree_parse(vars_json, NULL, 0);
    g = yajl_gen_alloc(NULL);

    if (vars == NULL || message == NULL || g == NULL) {
        goto done;
    }

    rc = yajl_gen_map_open(g);
    rc |= gen_pair(g, "campaign_id", campaign_id);
    rc |= gen_pair(g, "recipient_id", recipient_id);
    rc |= gen_pair(g, "type", type);
    rc |= gen_pair(g, "to", to);
    rc |= yajl_gen_string(g, (const unsigned char *) "vars", 4);
    rc |= gen_value(g, vars, NULL, to, 0);
    rc |= yajl_gen_string(g, (const unsigned char *) "message", 7);
    rc |= gen_value(g, message, vars, to, 1);
    rc |= yajl_gen_map_close(g);

    if (rc == 0 && yajl_gen_get_buf(g, &buf, &n) == yajl_gen_status_ok) {
        body = malloc(n + 1);
        if (body) {
            memcpy(body, buf, n);
            body[n] = '\0';
            *len = n;
        }
    }

done:
    if (g) {
        yajl_gen_free(g);
    }
    yajl_tree_free(vars);
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
