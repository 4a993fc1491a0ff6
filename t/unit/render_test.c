/* Unit tests of scheduler/render.c: placeholders, escaping, provider ids. */

#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "../../scheduler/render.h"
#include "tap.h"

/* the body for a message given as JSON text, as a job parses it */
static char *
body(const char *vars, const char *message_json, size_t *len)
{
    char           *b;
    const char     *why;
    cs_template_t  *t = cs_render_template(message_json, NULL, NULL, 0);

    b = t ? cs_render_body("c1", "r1", "sms", "+15551234567", vars, t, len,
                           &why)
          : NULL;
    cs_render_template_free(t);
    return b;
}


static int
renders(const char *vars, const char *message, const char *want)
{
    size_t  len;
    char   *b = body(vars, message, &len);
    int     ok_ = b && strstr(b, want) != NULL;

    if (!ok_) {
        printf("# got %s\n", b ? b : "(null)");
    }
    free(b);
    return ok_;
}


static char *
pid(const char *answer, const char *path)
{
    return cs_render_provider_id(answer, strlen(answer), path);
}


/* a provider's templates: form values encoded, a document's shape kept,
 * every placeholder's namespace */
static void
provider_templates(void)
{
    char            *b, *names[] = { "To", "Body", "Tag" };
    char            *values[] = { "{{to}}", "{{message.body}} {{vars.n}}",
                                  "{{campaign.metadata.a.b}}/{{type}}" };
    char            *extra[] = { "n" };
    size_t           len;
    yajl_val         doc;
    const char      *why;
    cs_render_t     *rd;
    cs_template_t   *t;
    cs_render_in_t   in = { "c1", "r1", "sms", "+1 555", "{\"n\":\"a&b=c\"}" };

    t = cs_render_template("{\"body\":\"Hi {{n}}\"}",
                           "{\"a\":{\"b\":\"acct\"}}", extra, 1);
    rd = t ? cs_render_begin(t, &in, &why) : NULL;
    ok(rd != NULL, "a provider's rendering begins");
    if (rd == NULL) {
        return;
    }
    b = cs_render_form(rd, names, values, 3, &len, &why);
    ok(b && strcmp(b, "To=%2B1%20555&Body=Hi%20a%26b%3Dc%20a%26b%3Dc"
                      "&Tag=acct%2Fsms") == 0,
       "form: each value rendered, then percent-encoded (%s)", b);
    free(b);
    doc = yajl_tree_parse("{\"x\":[\"{{recipient.id}}\",\"{{campaign.id}}\","
                          "\"{{vars.n}}\"]}", NULL, 0);
    b = cs_render_doc(rd, doc, &len, &why);
    ok(b && strcmp(b, "{\"x\":[\"r1\",\"c1\",\"a&b=c\"]}") == 0,
       "json-template: the shape kept (%s)", b);
    free(b);
    yajl_tree_free(doc);
    cs_render_end(rd);
    cs_render_template_free(t);
}


int
main(void)
{
    char   *id;
    size_t  len;
    char   *b;

    b = body("{\"name\":\"Ann\"}", "{\"body\":\"Hi {{name}}\"}", &len);
    ok(b && strcmp(b, "{\"campaign_id\":\"c1\",\"recipient_id\":\"r1\","
                      "\"type\":\"sms\",\"to\":\"+15551234567\",\"vars\":"
                      "{\"name\":\"Ann\"},\"message\":{\"body\":\"Hi Ann\"}}")
         == 0, "the whole body, with the placeholder filled");
    free(b);

    ok(renders("{}", "{\"b\":\"to {{to}}\"}", "\"to +15551234567\""),
       "{{to}} is the address");
    ok(renders("{}", "{\"b\":\"Hi {{name}}!\"}", "\"Hi !\""),
       "a missing var renders empty");
    ok(renders("{\"n\":42,\"t\":true}", "{\"b\":\"{{n}} {{t}}\"}",
               "\"42 true\""), "numbers and booleans render as written");
    ok(renders("{\"q\":\"\\\"<x>\\\"\"}", "{\"b\":\"{{q}}\"}",
               "\"\\\"<x>\\\"\""), "a var with quotes stays valid JSON");
    ok(renders("{\"a\":\"A\"}", "{\"l\":[\"{{a}}\",{\"d\":\"{{a}}{{a}}\"}],"
               "\"n\":1.5,\"z\":null}", "[\"A\",{\"d\":\"AA\"}],\"n\":1.5,"
               "\"z\":null"), "every string at any depth; other values kept");
    ok(renders("{}", "{\"b\":\"{{ unclosed\"}", "\"{{ unclosed\""),
       "an unclosed placeholder is kept as text");
    ok(renders("{\"a\":\"{{a}}\"}", "{\"b\":\"{{a}}\"}", "\"{{a}}\""),
       "a var's value is not rendered again");
    ok(body("{", "{}", &len) == NULL, "bad vars: no body");
    ok(cs_render_template("[1]", NULL, NULL, 0) == NULL
       && cs_render_template("{", NULL, NULL, 0) == NULL,
       "a message that is not a JSON object: none");

    id = cs_render_provider_id("{\"id\":\"msg-1\"}", 14, "id");
    ok(id && strcmp(id, "msg-1") == 0, "provider id, a string");
    free(id);
    id = cs_render_provider_id("{\"id\":12}", 9, "id");
    ok(id && strcmp(id, "12") == 0, "provider id, a number");
    free(id);
    ok(cs_render_provider_id("not json", 8, "id") == NULL, "no JSON: no id");
    ok(cs_render_provider_id("{}", 2, "id") == NULL, "no id");
    id = pid("{\"data\":{\"id\":\"d-1\"}}", "data.id");
    ok(id && strcmp(id, "d-1") == 0, "answer_id data.id");
    free(id);
    id = pid("{\"message_uuid\":[\"u-1\",\"u-2\"]}", "message_uuid.1");
    ok(id && strcmp(id, "u-2") == 0, "answer_id message_uuid.1: an array's "
       "element (Plivo)");
    free(id);
    ok(pid("{\"a\":[\"x\"]}", "a.1") == NULL
       && pid("{\"a\":[\"x\"]}", "a.x") == NULL
       && pid("{\"a\":{\"0\":\"y\"}}", "a.0.b") == NULL,
       "a path past the answer: no id");

    provider_templates();

    return done_testing();
}
