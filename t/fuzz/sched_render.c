/*
 * The message template renderer. The input is "message\0vars\0to": a
 * campaign's message JSON, a recipient's vars JSON and address. Property:
 * a body rendered is JSON whose campaign_id, recipient_id, type and to are
 * the ones given, whose vars are the vars given, and whose message has the
 * message's shape; none is over CS_RENDER_MAX.
 */

#include <yajl/yajl_tree.h>

#include "render.h"
#include "sched_fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *in = fuzz_cstr(data, size), *vars, *to, *body;
    size_t          len, n;
    yajl_val        message, tree, v;
    const char     *key[2] = { NULL, NULL }, *why;
    cs_template_t  *t;

    static const char  *id = "0b7e3a52-5a8e-4d8c-9d43-7e1f0c2a9b11";

    n = strlen(in);
    vars = (n < size) ? in + n + 1 : in + n;
    n = strlen(vars);
    to = (vars + n < in + size) ? vars + n + 1 : vars + n;

    /* addresses come from Postgres: UTF-8 always */
    t = fuzz_utf8_ok((unsigned char *) to) ? cs_render_template(in, NULL, NULL, 0) : NULL;
    if (t == NULL) {
        free(in);
        return 0;
    }
    message = yajl_tree_parse(in, NULL, 0);
    FUZZ_CHECK(message != NULL);

    body = cs_render_body(id, id, "sms", to, vars, t, &len, &why);
    FUZZ_CHECK((body == NULL) == (why != NULL));
    if (body != NULL) {
        FUZZ_CHECK(strlen(body) == len);
        FUZZ_CHECK(len <= CS_RENDER_MAX);
        tree = yajl_tree_parse(body, NULL, 0);
        FUZZ_CHECK(tree != NULL && YAJL_IS_OBJECT(tree));

        key[0] = "campaign_id";
        v = yajl_tree_get(tree, key, yajl_t_string);
        FUZZ_CHECK(v && strcmp(YAJL_GET_STRING(v), id) == 0);
        key[0] = "type";
        v = yajl_tree_get(tree, key, yajl_t_string);
        FUZZ_CHECK(v && strcmp(YAJL_GET_STRING(v), "sms") == 0);
        key[0] = "to";
        v = yajl_tree_get(tree, key, yajl_t_string);
        /* yajl stops a string at an encoded NUL; "to" has none */
        FUZZ_CHECK(v && strcmp(YAJL_GET_STRING(v), to) == 0);
        key[0] = "message";
        v = yajl_tree_get(tree, key, yajl_t_any);
        FUZZ_CHECK(v != NULL);
        same_shape(message, v);
        key[0] = "vars";
        v = yajl_tree_get(tree, key, yajl_t_object);
        FUZZ_CHECK(v != NULL);
        {
            yajl_val  given = yajl_tree_parse(vars, NULL, 0);

            FUZZ_CHECK(given != NULL && YAJL_IS_OBJECT(given));
            same_shape(given, v);
            yajl_tree_free(given);
        }

        yajl_tree_free(tree);
        free(body);
    }

    yajl_tree_free(message);
    cs_render_template_free(t);
    free(in);
    return 0;
}
