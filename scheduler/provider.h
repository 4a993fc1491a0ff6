/*
 * A type's provider, from the file:
 *
 *   provider sms https://api.twilio.com/.../Messages.json {
 *       body      form To={{to}} Body={{message.body}};
 *       auth      basic $twilio;
 *       answer_id sid;
 *   }
 *
 * or `provider TYPE URL;` for the project's own JSON body and no
 * credentials. What one delivery sends is made here: the body (json,
 * form, json-template), the headers (rendered), the credentials
 * (basic, bearer, aws-sigv4 through libcurl) and a Standard Webhooks
 * signature.
 */

#ifndef CS_PROVIDER_H
#define CS_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "config.h"
#include "render.h"

typedef enum {
    CS_BODY_JSON = 0,
    CS_BODY_FORM,
    CS_BODY_TEMPLATE
} cs_body_e;

typedef enum {
    CS_AUTH_NONE = 0,
    CS_AUTH_BASIC,
    CS_AUTH_BEARER,
    CS_AUTH_SIGV4
} cs_auth_e;

struct cs_provider_s {
    char            *url;
    cs_body_e        body;
    char           **form_names;    /* body form: name=value pairs */
    char           **form_values;
    size_t           nform;
    void            *doc;           /* body json-template: a yajl tree */
    cs_auth_e        auth;
    char            *userpwd;       /* basic, aws-sigv4: "id:secret" */
    char            *bearer;
    char            *sigv4;         /* "aws:amz:REGION:SERVICE" */
    char            *session_token; /* aws-sigv4's third part, if any */
    unsigned char   *sign_key;      /* standard-webhooks, decoded */
    size_t           sign_keylen;
    char           **header_names;
    char           **header_values;     /* rendered, or a secret's */
    int             *header_secret;
    size_t           nheaders;
    char            *tls_ca;
    char            *tls_cert;
    char            *tls_key;
    uint64_t         connect_timeout;   /* ms; 0: the file's */
    uint64_t         request_timeout;
    char            *answer_id;     /* dotted path, "id" unless set */
    char           **vars;          /* the vars.* its templates name */
    size_t           nvars;
};

cs_provider_t *cs_provider_new(const char *url, char *err, size_t errlen);
/* a directive of the block: args[0] is its name; 0, or -1 with why */
int cs_provider_set(cs_provider_t *p, cs_config_t *cf, char **args,
    int nargs, char *err, size_t errlen);
/* after the block: what must go together; 0, or -1 with why */
int cs_provider_check(cs_provider_t *p, char *err, size_t errlen);
void cs_provider_free(cs_provider_t *p);

/*
 * One delivery's request into rq (its body and headers malloc'ed, for
 * cs_http_send to take over); 0, or -1 with why: the recipient's
 * last_error, never a secret.
 */
int cs_provider_request(const cs_provider_t *p, const cs_config_t *cf,
    const cs_template_t *t, const cs_render_in_t *in, const char *key,
    cs_http_request_t *rq, const char **why);

#endif
