
/*
 * GET /v1/openapi.json: docs/openapi.json as this module was built with it
 * (config turns the file into the bytes and ETag of
 * ngx_http_campaign_openapi_json.h), so the document served always
 * describes the binary serving it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"
#include "ngx_http_campaign_openapi_json.h"


ngx_int_t
ngx_http_campaign_openapi_send(ngx_http_request_t *r)
{
    ngx_str_t  body;

    static ngx_str_t  etag = ngx_string(NGX_HTTP_CAMPAIGN_OPENAPI_ETAG);

    /* nginx's not_modified filter answers If-None-Match with a 304 */
    r->headers_out.etag = ngx_http_campaign_push_header(r, "ETag", &etag);
    if (r->headers_out.etag == NULL) {
        return NGX_ERROR;
    }

    body.data = ngx_http_campaign_openapi_json;
    body.len = sizeof(ngx_http_campaign_openapi_json);

    return ngx_http_campaign_send(r, NGX_HTTP_OK, &body);
}
