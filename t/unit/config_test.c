/* Unit tests of scheduler/config.c: one case per behaviour, as data. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../scheduler/config.h"
#include "../../scheduler/provider.h"
#include "tap.h"

static const struct {
    const char  *name;
    const char  *text;
    const char  *error;             /* NULL: loads; else a substring */
} cases[] = {
    { "the API.md example",
      "database \"host=127.0.0.1 port=5432 dbname=campaigns user=campaign\";\n"
      "pool     sms   10;          # at most 10 sms campaigns\n"
      "pool     voice 5;\n"
      "pool     email 10;\n"
      "provider sms   http://127.0.0.1:9001/sms;\n"
      "provider voice http://127.0.0.1:9001/voice;\n"
      "provider email http://127.0.0.1:9001/email;\n"
      "rate     sms   500;\n"
      "retry    5 250ms 30s;\n", NULL },
    { "database only", "database 'dbname=x';", NULL },
    { "no database", "pool sms 1;\n", "no \"database\" directive" },
    { "unknown directive", "database x;\n\npoll sms 1;\n",
      "t.conf:3: unknown directive \"poll\"" },
    { "bad pool size", "database x;\npool sms ten;\n",
      "t.conf:2: invalid pool size \"ten\"" },
    { "negative pool", "database x;\npool sms -1;\n", ":2: invalid pool" },
    { "duplicate pool", "database x;\npool sms 1;\npool sms 2;\n",
      ":3: pool sms is duplicate" },
    { "bad type name", "database x;\npool SMS 1;\n", ":2: invalid type" },
    { "provider not http", "database x;\nprovider sms ftp://x;\n",
      ":2: provider URL must be http" },
    { "missing ;", "database x;\npool sms 1\n",
      ":2: \"pool\" directive is not terminated" },
    { "too few arguments", "database x;\n\nretry 5 250ms;\n",
      ":3: invalid number of arguments in \"retry\"" },
    { "retry backoffs reversed", "database x;\nretry 5 30s 250ms;\n",
      ":2: retry needs" },
    { "bad duration", "database x;\nhorizon 10 minutes;\n",
      ":2: invalid number of arguments" },
    { "bad duration unit", "database x;\nhorizon 10y;\n",
      ":2: horizon must be a duration" },
    { "duplicate database", "database x;\ndatabase y;\n",
      ":2: \"database\" directive is duplicate" },
    { "unterminated string", "database \"x;\n", "unterminated string" },
    { "stray ;", "database x;;\n", ":1: unexpected \";\"" },
    { "block", "database x;\npool sms 1 {\n", ":2: \"pool\" takes no block" },
    { "stray }", "database x;\n}\n", ":2: unexpected \"}\"" },
    { "provider block",
      "database x;\nprovider sms https://p/Messages.json {\n"
      "  body form To={{to}} Body={{message.body}} Name={{vars.first}};\n"
      "  header X-Tenant {{campaign.metadata.account}};\n"
      "  answer_id data.id;\n  timeout 1s 3s;\n}\nprovider email http://e;\n",
      NULL },
    { "block not closed", "database x;\nprovider sms http://p {\n"
      "  answer_id sid;\n", "unexpected end of file, expecting \"}\"" },
    { "unknown in a block", "database x;\nprovider sms http://p {\n"
      "  bodi json;\n}\n", ":3: unknown directive \"bodi\" in a provider" },
    { "unknown placeholder", "database x;\nprovider sms http://p {\n"
      "  body form To={{too}};\n}\n", ":3: unknown placeholder \"{{too}}\"" },
    { "vars are flat", "database x;\nprovider sms http://p {\n"
      "  body form To={{vars.a.b}};\n}\n", ":3: unknown placeholder" },
    { "form without =", "database x;\nprovider sms http://p {\n"
      "  body form To;\n}\n", ":3: a form field is NAME=VALUE" },
    { "two bodies", "database x;\nprovider sms http://p {\n"
      "  body form A=1;\n  body json;\n}\n", ":4: \"body\" directive is "
      "duplicate" },
    { "header name", "database x;\nprovider sms http://p {\n"
      "  header \"X-A: b\" c;\n}\n", ":3: invalid header name" },
    { "header of ours", "database x;\nprovider sms http://p {\n"
      "  header Idempotency-Key c;\n}\n", ":3: header \"Idempotency-Key\" "
      "is the scheduler's own" },
    { "secret not declared", "database x;\nprovider sms http://p {\n"
      "  auth basic $tw;\n}\n", ":3: no secret \"tw\" above this line" },
    { "secret file missing", "database x;\nsecret tw /nonexistent/tw;\n",
      ":2: secret \"tw\": cannot open \"/nonexistent/tw\"" },
    { "tls file missing", "database x;\nprovider sms https://p {\n"
      "  tls_ca /nonexistent/ca.pem;\n}\n", ":3: tls_ca \"/nonexistent" },
    { "key without cert", "database x;\nprovider sms https://p {\n"
      "  tls_key /dev/null;\n}\n", "tls_key needs tls_cert" },
    { "answer_id path", "database x;\nprovider sms http://p {\n"
      "  answer_id a..b;\n}\n", ":3: answer_id is a field's path" },
    { "types and a shared pool",
      "database x;\ntype hybrid e164;\npool voice hybrid 5;\n", NULL },
    { "bad address kind", "database x;\ntype fax fax;\n",
      ":2: a type's addresses are e164 or email" },
    { "a shared pool's type alone", "database x;\npool voice hybrid 5;\n"
      "pool hybrid 3;\n", ":3: type hybrid has the pool of voice already" },
    { "a pool shared twice", "database x;\npool voice hybrid 5;\n"
      "pool sms hybrid 3;\n", ":3: pool hybrid is duplicate" },
    { "control byte", "database x;\npool sms \x01;\n", "unexpected byte" },
    { "empty file", "", "no \"database\" directive" },
    { "window and timeout", "database x;\nwindow 128;\ntimeout 1s 5s;\n",
      NULL },
    { "duplicate rate", "database x;\nrate sms 1;\nrate sms 2;\n",
      ":3: rate sms is duplicate" },
    { "window 0", "database x;\nwindow 0;\n", ":2: window must be" },
    { "send windows", "database x;\nsend_window sms mon-fri 08:00-20:00 "
      "Europe/Vienna;\nsend_window email fri-mon,wed 22:00:30-24:00;\n",
      NULL },
    { "send_window days", "database x;\nsend_window sms funday 08:00-20:00;\n",
      ":2: invalid days \"funday\"" },
    { "send_window hours", "database x;\nsend_window sms * 08:00-24:01;\n",
      ":2: invalid hours" },
    { "send_window never closes", "database x;\nsend_window sms * "
      "08:00-08:00:00;\n", ":2: hours \"08:00-08:00:00\" on every day never" },
    { "send_window all day", "database x;\nsend_window sms * 00:00-24:00;\n",
      ":2: hours \"00:00-24:00\" on every day never" },
    { "send_window weekends", "database x;\nsend_window sms sat-sun "
      "00:00-24:00;\n", NULL },
    { "send_window zone dir", "database x;\nsend_window sms * 08:00-20:00 "
      "Europe;\n", ":2: unknown time zone" },
    { "send_window zone", "database x;\nsend_window sms * 08:00-20:00 "
      "../../etc/passwd;\n", ":2: unknown time zone" },
    { "send_window twice", "database x;\nsend_window sms * 08:00-20:00;\n"
      "send_window sms * 09:00-20:00;\n", ":3: send_window sms is duplicate" },
    { "timeout reversed", "database x;\ntimeout 5s 1s;\n",
      ":2: timeout needs" },
};


/* secrets: read from files, never in an error; the shapes each auth wants */
static void
secrets(void)
{
    int               fd;
    char              dir[] = "/tmp/cs-config-test-XXXXXX", path[64], text[1024];
    char              err[512];
    FILE             *f;
    cs_config_t       cf;
    cs_provider_t    *p;
    const cs_secret_t *s;

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/tw", dir);
    f = fopen(path, "w");
    fputs("AC123:s3cr3t-t0ken\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/wh", dir);
    f = fopen(path, "w");
    fputs("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", f);
    fclose(f);

    snprintf(text, sizeof(text), "database x;\nsecret tw %s/tw;\n"
             "secret wh %s/wh;\nprovider sms https://p {\n"
             "  auth basic $tw;\n  sign standard-webhooks $wh;\n}\n"
             "provider email https://e {\n"
             "  auth aws-sigv4 aws:amz:eu-west-1:ses $tw;\n}\n", dir, dir);
    ok(cs_config_parse(&cf, "t.conf", text, err, sizeof(err)) == 0,
       "secrets, basic, aws-sigv4 and standard-webhooks load (%s)", err);
    s = cs_config_secret(&cf, "tw");
    ok(s && strcmp(s->value, "AC123:s3cr3t-t0ken") == 0,
       "a secret's trailing newline is dropped");
    p = cs_config_type(&cf, "sms")->provider;
    ok(p && p->auth == CS_AUTH_BASIC && p->sign_keylen == 24,
       "basic auth, a whsec_ key of 24 bytes");
    cs_config_free(&cf);

    snprintf(text, sizeof(text), "database x;\nsecret wh %s/wh;\n"
             "provider sms http://p {\n  auth basic $wh;\n}\n", dir);
    ok(cs_config_parse(&cf, "t.conf", text, err, sizeof(err)) != 0
       && strstr(err, ":4: secret \"wh\" must hold user:password")
       && strstr(err, "MfKQ") == NULL,
       "a secret of the wrong shape: said, never shown (%s)", err);

    snprintf(text, sizeof(text), "database x;\nsecret tw %s/tw;\n"
             "provider sms http://p {\n  sign standard-webhooks $tw;\n}\n",
             dir);
    ok(cs_config_parse(&cf, "t.conf", text, err, sizeof(err)) != 0
       && strstr(err, "is not whsec_") && strstr(err, "s3cr3t") == NULL,
       "a signing secret that is not whsec_ (%s)", err);

    unsetenv("CREDENTIALS_DIRECTORY");
    ok(cs_config_parse(&cf, "t.conf", "database x;\nsecret tw tw;\n", err,
                       sizeof(err)) != 0
       && strstr(err, ":2: secret \"tw\": \"tw\" is a credential's name, "
                 "and $CREDENTIALS_DIRECTORY is not set"),
       "a credential without $CREDENTIALS_DIRECTORY (%s)", err);
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    ok(cs_config_parse(&cf, "t.conf", "database x;\nsecret tw tw;\n", err,
                       sizeof(err)) == 0
       && strcmp(cs_config_secret(&cf, "tw")->value, "AC123:s3cr3t-t0ken")
          == 0, "a credential from $CREDENTIALS_DIRECTORY");
    cs_config_free(&cf);
    unsetenv("CREDENTIALS_DIRECTORY");

    snprintf(path, sizeof(path), "%s/empty", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    snprintf(text, sizeof(text), "database x;\nsecret e %s;\n", path);
    ok(cs_config_parse(&cf, "t.conf", text, err, sizeof(err)) != 0
       && strstr(err, "is empty"), "an empty secret (%s)", err);

    snprintf(text, sizeof(text), "rm -rf %s", dir);
    if (system(text) != 0) {
        ok(0, "rm");
    }
}


int
main(void)
{
    size_t       i;
    char         err[512];
    cs_config_t  cf;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = cs_config_parse(&cf, "t.conf", cases[i].text, err,
                                 sizeof(err));
        if (cases[i].error == NULL) {
            ok(rc == 0, "%s: loads (%s)", cases[i].name, err);
            cs_config_free(&cf);
        } else {
            ok(rc != 0 && strstr(err, cases[i].error) != NULL,
               "%s: \"%s\" (got \"%s\")", cases[i].name, cases[i].error, err);
        }
    }

    ok(cs_config_parse(&cf, "t.conf", cases[0].text, err, sizeof(err)) == 0,
       "parse the example again");
    ok(strcmp(cf.database, "host=127.0.0.1 port=5432 dbname=campaigns "
              "user=campaign") == 0, "database string, unquoted");
    ok(cf.ntypes == 3, "three types");
    ok(cs_config_type(&cf, "voice") && cs_config_type(&cf, "voice")->pool == 5,
       "pool voice 5");
    ok(cs_config_type(&cf, "sms")->rate == 500, "rate sms 500");
    ok(strcmp(cs_config_type(&cf, "email")->provider->url,
              "http://127.0.0.1:9001/email") == 0, "provider email");
    ok(cs_config_type(&cf, "email")->provider->body == CS_BODY_JSON
       && strcmp(cs_config_type(&cf, "email")->provider->answer_id, "id")
          == 0, "a plain provider: today's JSON body, the answer's id");
    ok(cf.retry_attempts == 5 && cf.retry_first == 250
       && cf.retry_longest == 30000, "retry 5 250ms 30s");
    ok(cf.horizon == 600000 && cf.lease == 30000 && cf.sweep == 1000,
       "defaults: horizon 10m, lease 30s, sweep 1s");
    ok(cf.window == 64 && cf.connect_timeout == 2000
       && cf.request_timeout == 10000,
       "defaults: window 64, timeout 2s 10s");
    cs_config_free(&cf);

    ok(cs_config_parse(&cf, "t.conf", "database x;\nsend_window sms "
                       "fri-mon,wed 22:00-06:00:30 America/Argentina/"
                       "Buenos_Aires;\n", err, sizeof(err)) == 0
       && strcmp(cs_config_type(&cf, "sms")->send_window,
                 "{\"days\": [\"mon\", \"wed\", \"fri\", \"sat\", \"sun\"], "
                 "\"from\": \"22:00\", \"to\": \"06:00:30\", \"timezone\": "
                 "\"America/Argentina/Buenos_Aires\"}") == 0,
       "send_window: the API's JSON, fri-mon wrapping (%s)",
       cs_config_type(&cf, "sms") ? cs_config_type(&cf, "sms")->send_window
                                  : err);
    cs_config_free(&cf);

    secrets();

    ok(cs_parse_duration("1h") == 3600000 && cs_parse_duration("15") == 15
       && cs_parse_duration("x") == -1 && cs_parse_duration("-5s") == -1,
       "durations");

    return done_testing();
}
