/*
 * campaign-scheduler's configuration file, in nginx's syntax:
 *
 *   database "host=127.0.0.1 port=5432 dbname=campaigns user=campaign";
 *   pool     sms 10;
 *   provider sms http://127.0.0.1:9001/sms;
 *   secret   twilio /run/credentials/campaign-scheduler/twilio;
 *   provider voice https://api.twilio.com/... { body form To={{to}}; ... }
 *   type     hybrid e164;
 *   pool     voice hybrid 5;
 *   rate     sms 500;
 *   retry    5 250ms 30s;
 *   send_window sms mon-fri 08:00-20:00 Europe/Vienna;
 *
 * Directives are rows of a table (config.c): name, arguments, parser.
 */

#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/pg_conninfo.h"
#include "secret.h"

#define CS_MAX_TYPES    32
#define CS_MAX_SECRETS  64
#define CS_NAME_MAX     32

typedef struct cs_provider_s  cs_provider_t;

typedef struct {
    char            name[CS_NAME_MAX];
    long            pool;           /* -1: not set here */
    long            rate;           /* per second; 0: no limit, -1: not set */
    cs_provider_t  *provider;       /* NULL: none */
    char            address_kind[8];    /* "type NAME KIND": "" if not */
    char            pool_of[CS_NAME_MAX];   /* shares that type's pool */
    char            send_window[192];   /* its default window, as JSON;
                                         * "" if none */
} cs_type_conf_t;

typedef struct cs_config_s {
    char            *database;
    pg_conninfo_t    db;            /* database, resolved: cs_config_resolve */
    uint64_t         database_timeout;  /* ms: a connect or a query */
    char            *id;            /* this scheduler's name */
    uint64_t         horizon;       /* ms: campaigns due within it are cached */
    uint64_t         lease;         /* ms: how long a running campaign is held */
    uint64_t         sweep;         /* ms: the safety sweep's period */
    long             retry_attempts;
    uint64_t         retry_first;   /* ms */
    uint64_t         retry_longest; /* ms */
    long             window;        /* requests in flight per campaign */
    uint64_t         connect_timeout;   /* ms, to a provider */
    uint64_t         request_timeout;   /* ms, a whole request */
    size_t           ntypes;
    cs_type_conf_t   types[CS_MAX_TYPES];
    size_t           nsecrets;
    cs_secret_t      secrets[CS_MAX_SECRETS];
    struct sockaddr_storage  metrics_addr;  /* GET /metrics is served on */
    socklen_t        metrics_len;   /* 0: not served */
    uint64_t         retention;     /* ms; 0: finished campaigns are kept */
    uint64_t         generation;    /* a new one for each file read */
} cs_config_t;

/* 0, or -1 with "FILE:LINE: why" in err */
int cs_config_load(cs_config_t *cf, const char *path, char *err,
    size_t errlen);
int cs_config_parse(cs_config_t *cf, const char *name, const char *text,
    char *err, size_t errlen);
/*
 * database made ready to connect without blocking: host names resolved,
 * and TCP keepalives and tcp_user_timeout added unless the string sets
 * them (so a database that silently drops packets is noticed). 0, or -1
 * with why in err. Not part of parsing, which never touches the network.
 */
int cs_config_resolve(cs_config_t *cf, char *err, size_t errlen);
void cs_config_free(cs_config_t *cf);
cs_type_conf_t *cs_config_type(cs_config_t *cf, const char *name);
/* a secret of the file, by name, or NULL */
const cs_secret_t *cs_config_secret(const cs_config_t *cf, const char *name);

/* "250ms", "30s", "10m", "1h", "30d", or a bare number of ms, up to 100 years;
 * -1 if bad */
int64_t cs_parse_duration(const char *s);

#endif
