/*
 * Request bodies as the module sees them: JSON checked (UTF-8, depth 64)
 * and CSV turned into the JSON array of recipients. Byte 0 picks which.
 * Properties: a body the check accepts has no NUL and parses as JSON; CSV
 * that converts gives JSON the check accepts, an array of objects each
 * with a "to".
 */

#include <yajl/yajl_tree.h>

#include "module_fuzz.h"


static void
check_recipients(ngx_str_t *json)
{
    size_t                   i;
    char                    *text;
    yajl_val                 tree, item;
    ngx_http_campaign_err_e  err;
    static const char       *to[] = { "to", NULL };

    FUZZ_CHECK(ngx_http_campaign_json_check(json, &err) == NGX_OK);

    text = malloc(json->len + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, json->data, json->len);
    text[json->len] = '\0';

    tree = yajl_tree_parse(text, NULL, 0);
    FUZZ_CHECK(tree != NULL && YAJL_IS_ARRAY(tree));

    for (i = 0; i < tree->u.array.len; i++) {
        item = tree->u.array.values[i];
        FUZZ_CHECK(YAJL_IS_OBJECT(item));
        FUZZ_CHECK(YAJL_IS_STRING(yajl_tree_get(item, to, yajl_t_string)));
    }

    yajl_tree_free(tree);
    free(text);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     *text;
    yajl_val                  tree;
    ngx_str_t                 body, json;
    ngx_uint_t                index;
    ngx_pool_t               *pool;
    ngx_http_campaign_err_e   err;

    if (size < 1) {
        return 0;
    }

    pool = fuzz_pool();

    /* the module reads bodies into a buffer with room for a NUL */
    body.len = size - 1;
    body.data = ngx_pnalloc(pool, body.len + 1);
    FUZZ_CHECK(body.data != NULL);
    ngx_memcpy(body.data, data + 1, body.len);
    body.data[body.len] = '\0';

    if (data[0] & 1) {
        if (ngx_http_campaign_json_check(&body, &err) == NGX_OK) {
            text = malloc(body.len + 1);
            FUZZ_CHECK(text != NULL);
            memcpy(text, body.data, body.len + 1);
            /* libpq would see the text up to a NUL: there must be none */
            FUZZ_CHECK(strlen(text) == body.len);
            tree = yajl_tree_parse(text, NULL, 0);
            FUZZ_CHECK(tree != NULL);
            yajl_tree_free(tree);
            free(text);
        }

    } else {
        index = 0;
        if (ngx_http_campaign_csv_to_json(pool, &body, &json, &err, &index)
            == NGX_OK)
        {
            check_recipients(&json);
        }
    }

    ngx_destroy_pool(pool);
    return 0;
}
