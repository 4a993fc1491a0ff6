/*
 * A provider's templates (render.c): the input is "doc\0vars\0to", a
 * json-template document, a recipient's vars and address. Properties: the
 * document rendered is JSON of the document's shape, whatever the vars
 * hold; its top-level strings as a form are name=value pairs joined by
 * '&', one per string, in nothing but unreserved characters and %XX, and
 * a value with no placeholder decodes back to itself.
 */

#include <yajl/yajl_tree.h>

#include "render.h"
#include "sched_fuzz.h"


typedef struct {
    char    *names[64];
    size_t   n;
} vars_t;


static int
collect(const char *name, size_t n, void *data)
{
    vars_t  *v = data;

    if (n > 5 && memcmp(name, "vars.", 5) == 0 && v->n < 64) {
        v->names[v->n++] = strndup(name + 5, n - 5);
    }
    return 0;
}


static int
hex(int c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}


static void
form(cs_render_t *rd, yajl_val doc)
{
    char        *names[32], *values[32], *body, *p, *q;
    size_t       i, n = 0, len, k;
    const char  *why;

    for (i = 0; i < doc->u.object.len && n < 32; i++) {
        if (YAJL_IS_STRING(doc->u.object.values[i])
            && doc->u.object.keys[i][0] != '\0')
        {
            names[n] = (char *) doc->u.object.keys[i];
            values[n++] = doc->u.object.values[i]->u.string;
        }
    }

    body = cs_render_form(rd, names, values, n, &len, &why);
    if (body == NULL) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(strlen(body) == len);
    FUZZ_CHECK(strspn(body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                            "wxyz0123456789-._~%&=") == len);

    for (i = 0, p = body; i < n; i++) {
        q = strchr(p, '&');
        k = q ? (size_t) (q - p) : strlen(p);
        FUZZ_CHECK(memchr(p, '=', k) != NULL);
        if (strstr(values[i], "{{") == NULL) {
            /* decodes back to what the file said */
            char    *eq = memchr(p, '=', k) + 1, *out = malloc(k + 1);
            size_t   o = 0;

            FUZZ_CHECK(out != NULL);
            while (eq < p + k) {
                if (*eq == '%') {
                    FUZZ_CHECK(eq + 2 < p + k + 1);
                    out[o++] = (char) (hex(eq[1]) * 16 + hex(eq[2]));
                    eq += 3;
                } else {
                    out[o++] = *eq++;
                }
            }
            out[o] = '\0';
            FUZZ_CHECK(strcmp(out, values[i]) == 0);
            free(out);
        }
        FUZZ_CHECK((i + 1 < n) == (q != NULL));
        p = q ? q + 1 : p + k;
    }
    free(body);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char            *in = fuzz_cstr(data, size), *vars, *to, *body;
    size_t           len, n, i;
    vars_t           v = { { NULL }, 0 };
    yajl_val         doc, tree;
    const char      *why;
    cs_render_t     *rd;
    cs_template_t   *t = NULL;
    cs_render_in_t   rin;

    static const char  *id = "0b7e3a52-5a8e-4d8c-9d43-7e1f0c2a9b11";

    n = strlen(in);
    vars = (n < size) ? in + n + 1 : in + n;
    n = strlen(vars);
    to = (vars + n < in + size) ? vars + n + 1 : vars + n;

    doc = yajl_tree_parse(in, NULL, 0);
    if (doc == NULL || !fuzz_utf8_ok((unsigned char *) to)) {
        goto done;
    }
    cs_render_doc_names(doc, collect, &v);

    t = cs_render_template("{\"body\":\"Hi {{name}}!\",\"n\":5}",
                           "{\"account\":\"a{{b}}\",\"x\":{\"y\":true}}",
                           v.names, v.n);
    FUZZ_CHECK(t != NULL);

    rin.campaign_id = id;
    rin.recipient_id = id;
    rin.type = "sms";
    rin.to = to;
    rin.vars_json = vars;
    rd = cs_render_begin(t, &rin, &why);
    if (rd == NULL) {
        FUZZ_CHECK(why != NULL);
        goto done;
    }

    body = cs_render_doc(rd, doc, &len, &why);
    FUZZ_CHECK((body == NULL) == (why != NULL));
    if (body != NULL) {
        FUZZ_CHECK(strlen(body) == len && len <= CS_RENDER_MAX);
        tree = yajl_tree_parse(body, NULL, 0);
        FUZZ_CHECK(tree != NULL);
        same_shape(doc, tree);
        yajl_tree_free(tree);
        free(body);
    }

    if (YAJL_IS_OBJECT(doc)) {
        form(rd, doc);
    }
    cs_render_end(rd);

done:

    for (i = 0; i < v.n; i++) {
        free(v.names[i]);
    }
    cs_render_template_free(t);
    yajl_tree_free(doc);
    free(in);
    return 0;
}
