/* Unit tests of scheduler/config.c: one case per behaviour, as data. */

#include <string.h>

#include "../../scheduler/config.h"
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
    { "block", "database x;\npool sms {\n", ":2: unexpected \"{\"" },
    { "control byte", "database x;\npool sms \x01;\n", "unexpected byte" },
    { "empty file", "", "no \"database\" directive" },
    { "window and timeout", "database x;\nwindow 128;\ntimeout 1s 5s;\n",
      NULL },
    { "duplicate rate", "database x;\nrate sms 1;\nrate sms 2;\n",
      ":3: rate sms is duplicate" },
    { "window 0", "database x;\nwindow 0;\n", ":2: window must be" },
    { "timeout reversed", "database x;\ntimeout 5s 1s;\n",
      ":2: timeout needs" },
};


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
    ok(strcmp(cs_config_type(&cf, "email")->provider,
              "http://127.0.0.1:9001/email") == 0, "provider email");
    ok(cf.retry_attempts == 5 && cf.retry_first == 250
       && cf.retry_longest == 30000, "retry 5 250ms 30s");
    ok(cf.horizon == 600000 && cf.lease == 30000 && cf.sweep == 1000,
       "defaults: horizon 10m, lease 30s, sweep 1s");
    ok(cf.window == 64 && cf.connect_timeout == 2000
       && cf.request_timeout == 10000,
       "defaults: window 64, timeout 2s 10s");
    cs_config_free(&cf);

    ok(cs_parse_duration("1h") == 3600000 && cs_parse_duration("15") == 15
       && cs_parse_duration("x") == -1 && cs_parse_duration("-5s") == -1,
       "durations");

    return done_testing();
}
