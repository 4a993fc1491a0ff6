
/*
 * Delivery receipts: POST /v1/receipts/{type}, with no API key, taken only
 * when the provider's signature is right.
 *
 *   campaign_receipt_secret sms /etc/campaign/sms-receipts [twilio];
 *
 * Standard Webhooks (the default): a JSON body signed with a whsec_
 * secret, HMAC-SHA256 over "id.timestamp.body", the timestamp within 5
 * minutes. Twilio: a form with MessageSid and MessageStatus, signed in
 * X-Twilio-Signature, HMAC-SHA1 with the auth token over the URL Twilio
 * called and the parameters sorted by name. What passes goes to
 * campaign.api_receipt() as {"provider_id", "status", "error"?, "at"?}.
 * The parsers are in ngx_http_campaign_receipt_parse.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"
#include "hmac.h"


#define NGX_HTTP_CAMPAIGN_RECEIPT_SKEW  300     /* s, either way */
#define NGX_HTTP_CAMPAIGN_SECRET_MAX    4096


typedef enum {
    NGX_HTTP_CAMPAIGN_RECEIPT_WEBHOOKS = 0,
    NGX_HTTP_CAMPAIGN_RECEIPT_TWILIO
} ngx_http_campaign_receipt_kind_e;


typedef struct {
    ngx_str_t                          type;
    ngx_http_campaign_receipt_kind_e   kind;
    u_char                            *key;
    size_t                             keylen;
    ngx_str_t                          origin;  /* Twilio's scheme://host,
                                                 * if not this request's */
} ngx_http_campaign_receipt_secret_t;


/* the bytes of a secret, wiped when the configuration goes (a reload, the
 * end): ngx_pool_cleanup_file_t's fields, as a name and a length */
static void
ngx_http_campaign_receipt_wipe(void *data)
{
    ngx_str_t  *key = data;

    ngx_explicit_memzero(key->data, key->len);
}


/*
 * campaign_receipt_secret TYPE FILE [standard-webhooks | twilio]
 *                         [origin=https://public.host]
 */
char *
ngx_http_campaign_receipt_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_campaign_main_conf_t *cmcf = conf;

    long                                 n;
    u_char                              *buf;
    u_char                               key[NGX_HTTP_CAMPAIGN_SECRET_MAX];
    ssize_t                              size;
    ngx_str_t                           *value, path;
    ngx_uint_t                           i;
    ngx_file_t                           file;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_campaign_receipt_secret_t  *s;

    value = cf->args->elts;

    if (cmcf->receipt_secrets == NULL) {
        cmcf->receipt_secrets = ngx_array_create(cf->pool, 4,
                                  sizeof(ngx_http_campaign_receipt_secret_t));
        if (cmcf->receipt_secrets == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    s = cmcf->receipt_secrets->elts;
    for (i = 0; i < cmcf->receipt_secrets->nelts; i++) {
        if (s[i].type.len == value[1].len
            && ngx_strncmp(s[i].type.data, value[1].data, value[1].len) == 0)
        {
            return "is duplicate for this type";
        }
    }

    s = ngx_array_push(cmcf->receipt_secrets);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }
    s->type = value[1];
    s->kind = NGX_HTTP_CAMPAIGN_RECEIPT_WEBHOOKS;

    ngx_str_null(&s->origin);
    s->key = NULL;

    for (i = 3; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "twilio") == 0) {
            s->kind = NGX_HTTP_CAMPAIGN_RECEIPT_TWILIO;

        } else if (ngx_strcmp(value[i].data, "standard-webhooks") == 0) {
            s->kind = NGX_HTTP_CAMPAIGN_RECEIPT_WEBHOOKS;

        } else if (value[i].len > 7
                   && ngx_strncmp(value[i].data, "origin=", 7) == 0)
        {
            /* behind a proxy: the scheme and host Twilio called */
            s->origin.data = value[i].data + 7;
            s->origin.len = value[i].len - 7;
            if (s->origin.data[s->origin.len - 1] == '/') {
                return "origin= is a scheme and host, no \"/\" after";
            }
            if ((s->origin.len <= 8
                 || ngx_strncmp(s->origin.data, "https://", 8) != 0)
                && (s->origin.len <= 7
                    || ngx_strncmp(s->origin.data, "http://", 7) != 0))
            {
                return "origin= must be http://HOST or https://HOST";
            }

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid argument "
                               "\"%V\": standard-webhooks, twilio or "
                               "origin=URL", &value[i]);
            return NGX_CONF_ERROR;
        }
    }
    if (s->origin.len && s->kind != NGX_HTTP_CAMPAIGN_RECEIPT_TWILIO) {
        return "origin= is for twilio receipts";
    }

    /* read at each (re)load; never shown, only its file is named */
    path = value[2];
    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = path;
    file.log = cf->log;
    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_CONF_ERROR;
    }

    /* the file's bytes go when the configuration does, whatever happens */
    buf = ngx_pnalloc(cf->pool, NGX_HTTP_CAMPAIGN_SECRET_MAX + 1);
    cln = buf ? ngx_pool_cleanup_add(cf->pool, sizeof(ngx_str_t)) : NULL;
    if (cln == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }
    cln->handler = ngx_http_campaign_receipt_wipe;
    ((ngx_str_t *) cln->data)->data = buf;
    ((ngx_str_t *) cln->data)->len = NGX_HTTP_CAMPAIGN_SECRET_MAX + 1;

    size = ngx_read_file(&file, buf, NGX_HTTP_CAMPAIGN_SECRET_MAX + 1, 0);
    ngx_close_file(file.fd);

    if (size == NGX_ERROR || size > NGX_HTTP_CAMPAIGN_SECRET_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cannot read the receipt "
                           "secret \"%V\", or it is over 4 KiB", &path);
        return NGX_CONF_ERROR;
    }

    while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == '\r')) {
        size--;
    }
    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "the receipt secret \"%V\" "
                           "is empty", &path);
        return NGX_CONF_ERROR;
    }

    if (s->kind == NGX_HTTP_CAMPAIGN_RECEIPT_TWILIO) {
        s->key = buf;               /* the auth token itself */
        s->keylen = size;
        return NGX_CONF_OK;
    }

    /* the key, decoded, in place of the file's bytes (base64 is longer) */
    n = cs_whsec_key((char *) buf, size, key, sizeof(key));
    if (n > 0) {
        ngx_memcpy(buf, key, n);
    }
    ngx_explicit_memzero(key, sizeof(key));
    if (n <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "the receipt secret \"%V\" "
                           "is not whsec_ and base64", &path);
        return NGX_CONF_ERROR;
    }
    s->key = buf;
    s->keylen = n;

    return NGX_CONF_OK;
}


static ngx_http_campaign_receipt_secret_t *
ngx_http_campaign_receipt_find(ngx_http_request_t *r, ngx_str_t *type)
{
    ngx_uint_t                           i;
    ngx_http_campaign_main_conf_t       *cmcf;
    ngx_http_campaign_receipt_secret_t  *s;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);
    if (cmcf->receipt_secrets == NULL) {
        return NULL;
    }

    s = cmcf->receipt_secrets->elts;
    for (i = 0; i < cmcf->receipt_secrets->nelts; i++) {
        if (s[i].type.len == type->len
            && ngx_strncmp(s[i].type.data, type->data, type->len) == 0)
        {
            return &s[i];
        }
    }
    return NULL;
}


static ngx_int_t
ngx_http_campaign_receipt_webhooks(ngx_http_request_t *r,
    ngx_http_campaign_receipt_secret_t *s, ngx_str_t *body,
    ngx_http_campaign_err_e *err)
{
    char              sig[CS_HMAC_B64_MAX];
    time_t            ts, now;
    ngx_int_t         rc;
    cs_piece_t        pieces[5];
    ngx_table_elt_t  *id, *stamp, *list;

    *err = NGX_HTTP_CAMPAIGN_ERR_SIGNATURE;

    id = ngx_http_campaign_find_header(r, "webhook-id");
    stamp = ngx_http_campaign_find_header(r, "webhook-timestamp");
    list = ngx_http_campaign_find_header(r, "webhook-signature");
    if (id == NULL || stamp == NULL || list == NULL || id->value.len == 0
        || id->value.len > 256 || stamp->value.len > 12)
    {
        return NGX_DECLINED;
    }

    ts = ngx_atotm(stamp->value.data, stamp->value.len);
    now = ngx_time();
    if (ts == NGX_ERROR || ts < now - NGX_HTTP_CAMPAIGN_RECEIPT_SKEW
        || ts > now + NGX_HTTP_CAMPAIGN_RECEIPT_SKEW)
    {
        return NGX_DECLINED;
    }

    pieces[0] = (cs_piece_t) { id->value.data, id->value.len };
    pieces[1] = (cs_piece_t) { ".", 1 };
    pieces[2] = (cs_piece_t) { stamp->value.data, stamp->value.len };
    pieces[3] = (cs_piece_t) { ".", 1 };
    pieces[4] = (cs_piece_t) { body->data, body->len };

    if (cs_hmac_b64("SHA256", s->key, s->keylen, pieces, 5, sig) != 0) {
        return NGX_ERROR;
    }
    if (!ngx_http_campaign_receipt_sig_in(&list->value, sig)) {
        return NGX_DECLINED;
    }

    /* signed: now its JSON is read (the fields are campaign.api_receipt's
     * to check) */
    rc = ngx_http_campaign_json_check(body, err);
    return rc;
}


static ngx_int_t
ngx_http_campaign_receipt_twilio(ngx_http_request_t *r,
    ngx_http_campaign_receipt_secret_t *s, ngx_str_t *body,
    ngx_array_t **out, ngx_http_campaign_err_e *err)
{
    char                        sig[CS_HMAC_B64_MAX];
    ngx_int_t                   rc;
    ngx_str_t                   scheme, *host;
    ngx_uint_t                  i;
    cs_piece_t                 *pieces;
    ngx_array_t                *params;
    ngx_table_elt_t            *h;
    ngx_http_campaign_param_t  *prm;

    static ngx_str_t  empty = ngx_null_string;

    *err = NGX_HTTP_CAMPAIGN_ERR_SIGNATURE;

    h = ngx_http_campaign_find_header(r, "X-Twilio-Signature");
    if (h == NULL || h->value.len == 0 || h->value.len >= CS_HMAC_B64_MAX) {
        return NGX_DECLINED;
    }

    /* the parameters, decoded and sorted by name */
    rc = ngx_http_campaign_receipt_form(r->pool, body, &params);
    if (rc != NGX_OK) {
        *err = NGX_HTTP_CAMPAIGN_ERR_RECEIPT_FORM;
        return rc;
    }

    /* the URL it called: scheme, host, path and query as received */
#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https://");
    } else
#endif
    {
        ngx_str_set(&scheme, "http://");
    }
    host = r->headers_in.host ? &r->headers_in.host->value
                              : &r->headers_in.server;
    if (s->origin.len) {
        scheme = s->origin;
        host = &empty;
    }

    pieces = ngx_palloc(r->pool, (3 + 2 * params->nelts) * sizeof(cs_piece_t));
    if (pieces == NULL) {
        return NGX_ERROR;
    }
    pieces[0] = (cs_piece_t) { scheme.data, scheme.len };
    pieces[1] = (cs_piece_t) { host->data, host->len };
    pieces[2] = (cs_piece_t) { r->unparsed_uri.data, r->unparsed_uri.len };
    prm = params->elts;
    for (i = 0; i < params->nelts; i++) {
        pieces[3 + 2 * i] = (cs_piece_t) { prm[i].name.data, prm[i].name.len };
        pieces[4 + 2 * i] = (cs_piece_t) { prm[i].value.data,
                                           prm[i].value.len };
    }

    if (cs_hmac_b64("SHA1", s->key, s->keylen, pieces, 3 + 2 * params->nelts,
                    sig) != 0)
    {
        return NGX_ERROR;
    }
    if (ngx_strlen(sig) != h->value.len
        || !cs_equal_ct(sig, h->value.data, h->value.len))
    {
        return NGX_DECLINED;
    }

    *out = params;
    return NGX_OK;
}


/*
 * NGX_OK: json is the receipt for campaign.api_receipt(); NGX_DONE: taken,
 * nothing to record (a status that is not an end); NGX_DECLINED: refused,
 * with err; NGX_ERROR.
 */
ngx_int_t
ngx_http_campaign_receipt(ngx_http_request_t *r, ngx_str_t *type,
    ngx_str_t *body, ngx_str_t *json, ngx_http_campaign_err_e *err)
{
    u_char                              *ct;
    size_t                               n;
    ngx_int_t                            rc;
    ngx_array_t                         *params;
    ngx_http_campaign_receipt_secret_t  *s;

    s = ngx_http_campaign_receipt_find(r, type);
    if (s == NULL) {
        *err = NGX_HTTP_CAMPAIGN_ERR_NO_RECEIPTS;
        return NGX_DECLINED;
    }

    ct = r->headers_in.content_type ? r->headers_in.content_type->value.data
                                    : (u_char *) "";
    n = r->headers_in.content_type ? r->headers_in.content_type->value.len
                                   : 0;

    if (s->kind == NGX_HTTP_CAMPAIGN_RECEIPT_TWILIO) {
        if (n < 33 || ngx_strncasecmp(ct, (u_char *)
                          "application/x-www-form-urlencoded", 33) != 0)
        {
            *err = NGX_HTTP_CAMPAIGN_ERR_RECEIPT_MEDIA;
            return NGX_DECLINED;
        }
        rc = ngx_http_campaign_receipt_twilio(r, s, body, &params, err);
        if (rc != NGX_OK) {
            return rc;
        }
        rc = ngx_http_campaign_receipt_twilio_json(r->pool, params, json);
        if (rc == NGX_DECLINED) {
            *err = NGX_HTTP_CAMPAIGN_ERR_RECEIPT_FORM;
        }
        return rc;
    }

    if (n < 16 || ngx_strncasecmp(ct, (u_char *) "application/json", 16)
                  != 0)
    {
        *err = NGX_HTTP_CAMPAIGN_ERR_RECEIPT_MEDIA;
        return NGX_DECLINED;
    }
    rc = ngx_http_campaign_receipt_webhooks(r, s, body, err);
    if (rc == NGX_OK) {
        *json = *body;
    }
    return rc;
}
