
/*
 * The campaign REST API inside nginx: shared types and prototypes.
 */


#ifndef _NGX_HTTP_CAMPAIGN_MODULE_H_INCLUDED_
#define _NGX_HTTP_CAMPAIGN_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>


#define NGX_HTTP_CAMPAIGN_MAX_BODY      (8 * 1024 * 1024)
#define NGX_HTTP_CAMPAIGN_MAX_DEPTH     64
#define NGX_HTTP_CAMPAIGN_MAX_CSV_ROWS  100000
/* a receipt is read before anyone is known to have sent it: small */
#define NGX_HTTP_CAMPAIGN_MAX_RECEIPT   (64 * 1024)
#define NGX_HTTP_CAMPAIGN_MAX_PARAMS    256
/* a query with a body over this closes its connection when done: libpq
 * never shrinks the buffers it grew for it */
#define NGX_HTTP_CAMPAIGN_LARGE_BODY    (1024 * 1024)

/*
 * The two statements a request runs, prepared once per connection under
 * these names (or, with campaign_database_prepare off, sent as they are:
 * pgbouncer's transaction pooling keeps no prepared statement).
 */
#define NGX_HTTP_CAMPAIGN_STMT_API  "campaign_api"
#define NGX_HTTP_CAMPAIGN_SQL_API                                             \
    "SELECT status, body, etag, location, replayed, tenant "                  \
    "FROM campaign.api($1, $2::boolean, $3, $4, $5, $6, $7, $8, $9, $10, "    \
    "$11, $12, $13, $14, $15, $16, $17, $18)"
#define NGX_HTTP_CAMPAIGN_STMT_GET  "campaign_get"
/*
 * The hot read: the columns ngx_http_campaign_campaign.c renders, in its
 * order. On the table, not a function of the release's SQL, so that this
 * module may run before its migrations do. Not "tenant = $2": a plan
 * cached while the table was small could take campaigns_tenant_seq and
 * read every row of the tenant.
 */
#define NGX_HTTP_CAMPAIGN_SQL_GET                                             \
    "SELECT id, name, type, status, message, scheduled_at, metadata, "        \
    "total, pending, sent, failed, cancelled, delivered, undelivered, "       \
    "created_at, updated_at, started_at, finished_at, failure, created_by, "  \
    "scheduled_by, coalesce(timezone, 'UTC'), recurrence, series_id, "        \
    "next_run_at, last_run_id, send_window, waiting_until, local_time, "      \
    "version, tenant "                                                        \
    "FROM campaign.campaigns "                                                \
    "WHERE id = $1::uuid AND tenant IS NOT DISTINCT FROM $2"
/* and the one /metrics runs, at most every 5 s: never prepared, so that
 * a database not migrated yet fails /metrics alone, not every connection */
#define NGX_HTTP_CAMPAIGN_SQL_METRICS                                         \
    "SELECT metric, label, label2, value FROM campaign.metrics_gauges()"

/* the parameters of campaign.api(), in order */
enum {
    NGX_HTTP_CAMPAIGN_P_KEY = 0,
    NGX_HTTP_CAMPAIGN_P_AUTH,
    NGX_HTTP_CAMPAIGN_P_ROUTE,
    NGX_HTTP_CAMPAIGN_P_ID,
    NGX_HTTP_CAMPAIGN_P_BODY,
    NGX_HTTP_CAMPAIGN_P_IDEMPOTENCY_KEY,
    NGX_HTTP_CAMPAIGN_P_IF_MATCH,
    NGX_HTTP_CAMPAIGN_P_STATUS,
    NGX_HTTP_CAMPAIGN_P_TYPE,
    NGX_HTTP_CAMPAIGN_P_LIMIT,
    NGX_HTTP_CAMPAIGN_P_CURSOR,
    NGX_HTTP_CAMPAIGN_P_TENANT,
    NGX_HTTP_CAMPAIGN_P_DELIVERY,
    NGX_HTTP_CAMPAIGN_P_FROM,
    NGX_HTTP_CAMPAIGN_P_TO,
    NGX_HTTP_CAMPAIGN_P_CRON,
    NGX_HTTP_CAMPAIGN_P_TIMEZONE,
    NGX_HTTP_CAMPAIGN_P_COUNT,
    NGX_HTTP_CAMPAIGN_NPARAMS
};


/* errors the module answers itself; the SQL side has its own table */
typedef enum {
    NGX_HTTP_CAMPAIGN_ERR_INVALID_JSON = 0,
    NGX_HTTP_CAMPAIGN_ERR_INVALID_UTF8,
    NGX_HTTP_CAMPAIGN_ERR_TOO_DEEP,
    NGX_HTTP_CAMPAIGN_ERR_EMPTY_BODY,
    NGX_HTTP_CAMPAIGN_ERR_CSV_HEADER,
    NGX_HTTP_CAMPAIGN_ERR_CSV_ROWS,
    NGX_HTTP_CAMPAIGN_ERR_CSV_ROW,
    NGX_HTTP_CAMPAIGN_ERR_CSV_SEPARATOR,
    NGX_HTTP_CAMPAIGN_ERR_BAD_QUERY,
    NGX_HTTP_CAMPAIGN_ERR_BAD_HEADER,
    NGX_HTTP_CAMPAIGN_ERR_UNAUTHORIZED,
    NGX_HTTP_CAMPAIGN_ERR_NOT_FOUND,
    NGX_HTTP_CAMPAIGN_ERR_NO_CAMPAIGN,
    NGX_HTTP_CAMPAIGN_ERR_METHOD,
    NGX_HTTP_CAMPAIGN_ERR_TOO_LARGE,
    NGX_HTTP_CAMPAIGN_ERR_MEDIA_TYPE,
    NGX_HTTP_CAMPAIGN_ERR_UNAVAILABLE,
    NGX_HTTP_CAMPAIGN_ERR_INTERNAL,
    NGX_HTTP_CAMPAIGN_ERR_SIGNATURE,
    NGX_HTTP_CAMPAIGN_ERR_NO_RECEIPTS,
    NGX_HTTP_CAMPAIGN_ERR_RECEIPT_MEDIA,
    NGX_HTTP_CAMPAIGN_ERR_RECEIPT_FORM,
    NGX_HTTP_CAMPAIGN_ERR_RECEIPT_TOO_LARGE,
    NGX_HTTP_CAMPAIGN_ERR_PRECONDITION
} ngx_http_campaign_err_e;


typedef struct ngx_http_campaign_pg_pool_s  ngx_http_campaign_pg_pool_t;
typedef struct ngx_http_campaign_pg_conn_s  ngx_http_campaign_pg_conn_t;
typedef struct ngx_http_campaign_query_s    ngx_http_campaign_query_t;
typedef struct ngx_http_campaign_keys_s     ngx_http_campaign_keys_t;

/*
 * res: the answer. NULL: none; then err is Postgres's refusal, or NULL if
 * the query was not sent (no connection in time, too little time left)
 * or its connection was lost or timed out.
 */
typedef void (*ngx_http_campaign_query_handler_pt)(
    ngx_http_campaign_query_t *q, PGresult *res, PGresult *err);

struct ngx_http_campaign_query_s {
    ngx_queue_t                          queue;
    ngx_event_t                          timer;
    ngx_http_campaign_pg_pool_t         *pool;
    ngx_http_campaign_pg_conn_t         *conn;
    const char                          *stmt;     /* a prepared name */
    const char                          *sql;      /* and what it is */
    ngx_msec_t                           deadline;
    int                                  nparams;
    const char                          *values[NGX_HTTP_CAMPAIGN_NPARAMS];
    ngx_http_campaign_query_handler_pt   handler;
    void                                *data;
    ngx_uint_t                           slot;     /* its place on conn */
    ngx_msec_t                           sent;     /* when it went out */
    unsigned                             waiting:1;
    /* a read that may share a pipeline with other reads */
    unsigned                             batch:1;
    unsigned                             binary:1; /* results in binary */
    unsigned                             large:1;
    unsigned                             unprepared:1;  /* sent as sql */
};


typedef struct {
    ngx_str_t                            database;
    const char                         **keywords;
    const char                         **values;
    /* values with the host list rotated: see common/pg_conninfo.h */
    const char                        ***rotated;
    ngx_uint_t                           nhosts;
    ngx_uint_t                           pool_size;
    ngx_msec_t                           timeout;
    ngx_msec_t                           statement_timeout;   /* the server's */
    ngx_flag_t                           prepare;
    ngx_http_campaign_pg_pool_t         *pool;     /* per worker */
    ngx_http_campaign_keys_t            *keys;     /* per worker */
    ngx_array_t                         *receipt_secrets;
} ngx_http_campaign_main_conf_t;


typedef struct {
    ngx_flag_t                           enabled;
    ngx_flag_t                           metrics;  /* campaign_metrics */
    ngx_flag_t                           auth;
    ngx_str_t                            prefix;   /* the location's */
    /* whether core's body directives were set here or above (merge only) */
    ngx_flag_t                           body_max_set;
    ngx_flag_t                           body_buffer_set;
} ngx_http_campaign_loc_conf_t;


typedef enum {
    NGX_HTTP_CAMPAIGN_BODY_NONE = 0,      /* discarded */
    NGX_HTTP_CAMPAIGN_BODY_OPTIONAL,      /* empty or JSON */
    NGX_HTTP_CAMPAIGN_BODY_JSON,          /* JSON, required */
    NGX_HTTP_CAMPAIGN_BODY_RECIPIENTS,    /* JSON or CSV, required */
    NGX_HTTP_CAMPAIGN_BODY_RECEIPT        /* signed JSON, or a form */
} ngx_http_campaign_body_e;


typedef struct {
    ngx_uint_t                           method;
    ngx_str_t                            path;     /* "{id}" matches an id */
    const char                          *name;     /* campaign.api route */
    ngx_http_campaign_body_e             body;
    unsigned                             local:1;  /* answered without PG */
    unsigned                             open:1;   /* no key needed */
    unsigned                             fast:1;   /* ..._SQL_GET once
                                                    * the tenant is known */
} ngx_http_campaign_route_t;


typedef struct {
    ngx_http_campaign_query_t            query;
    const ngx_http_campaign_route_t     *route;
    ngx_str_t                            key;
    ngx_str_t                            name;     /* {name}: a type */
    ngx_http_campaign_err_e              err;
    ngx_uint_t                           err_index;
} ngx_http_campaign_ctx_t;


extern ngx_module_t  ngx_http_campaign_module;
/* the routes, in order, ending with one whose name is NULL */
extern const ngx_http_campaign_route_t  ngx_http_campaign_routes[];


ngx_int_t ngx_http_campaign_handler(ngx_http_request_t *r);

ngx_int_t ngx_http_campaign_route_find(ngx_http_request_t *r, ngx_str_t *path,
    const ngx_http_campaign_route_t **route, ngx_str_t *id,
    ngx_str_t *allow);

/* ngx_http_campaign_args.c */
const char *ngx_http_campaign_cstr(ngx_pool_t *pool, ngx_str_t *s,
    size_t max);
ngx_int_t ngx_http_campaign_args(ngx_http_request_t *r, const char **values);
ngx_table_elt_t *ngx_http_campaign_find_header(ngx_http_request_t *r,
    const char *name);

ngx_int_t ngx_http_campaign_key(ngx_http_request_t *r, ngx_str_t *key);
ngx_http_campaign_keys_t *ngx_http_campaign_keys_create(ngx_pool_t *pool);
ngx_int_t ngx_http_campaign_keys_get(ngx_http_campaign_keys_t *keys,
    ngx_str_t *key, ngx_str_t *tenant);
void ngx_http_campaign_keys_put(ngx_http_campaign_keys_t *keys,
    ngx_str_t *key, ngx_str_t *tenant, ngx_msec_t checked);

ngx_int_t ngx_http_campaign_utf8_check(ngx_str_t *s);
ngx_int_t ngx_http_campaign_json_check(ngx_str_t *body,
    ngx_http_campaign_err_e *err);
ngx_int_t ngx_http_campaign_csv_to_rows(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_campaign_err_e *err, ngx_uint_t *index);

/* docs/openapi.json, with its ETag */
ngx_int_t ngx_http_campaign_openapi_send(ngx_http_request_t *r);
ngx_int_t ngx_http_campaign_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_http_campaign_send_as(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_campaign_send_error(ngx_http_request_t *r,
    ngx_http_campaign_err_e err, ngx_uint_t index);
ngx_int_t ngx_http_campaign_send_result(ngx_http_request_t *r,
    PGresult *res);
/* the hot read's answer for id and tenant (ngx_http_campaign_campaign.c) */
ngx_int_t ngx_http_campaign_send_campaign(ngx_http_request_t *r,
    PGresult *res, const char *id, const char *tenant);
ngx_int_t ngx_http_campaign_send_refusal(ngx_http_request_t *r,
    PGresult *err);
ngx_table_elt_t *ngx_http_campaign_push_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);
ngx_int_t ngx_http_campaign_add_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);

/* a form's parameter (ngx_http_campaign_receipt_parse.c) */
typedef struct {
    ngx_str_t                            name;
    ngx_str_t                            value;
    ngx_uint_t                           index;    /* its place, for ties */
} ngx_http_campaign_param_t;

ngx_int_t ngx_http_campaign_receipt_form(ngx_pool_t *pool, ngx_str_t *body,
    ngx_array_t **params);
ngx_int_t ngx_http_campaign_receipt_twilio_json(ngx_pool_t *pool,
    ngx_array_t *params, ngx_str_t *json);
ngx_flag_t ngx_http_campaign_receipt_sig_in(ngx_str_t *list,
    const char *want);

/* ngx_http_campaign_receipt.c */
char *ngx_http_campaign_receipt_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_campaign_receipt(ngx_http_request_t *r, ngx_str_t *type,
    ngx_str_t *body, ngx_str_t *json, ngx_http_campaign_err_e *err);

/* ngx_http_campaign_metrics.c: connection states and database errors */
enum {
    NGX_HTTP_CAMPAIGN_M_CLOSED = 0,
    NGX_HTTP_CAMPAIGN_M_CONNECTING,
    NGX_HTTP_CAMPAIGN_M_IDLE,
    NGX_HTTP_CAMPAIGN_M_BUSY,
    NGX_HTTP_CAMPAIGN_M_STATES
};

enum {
    NGX_HTTP_CAMPAIGN_M_ERR_CONNECT = 0,
    NGX_HTTP_CAMPAIGN_M_ERR_LOST,
    NGX_HTTP_CAMPAIGN_M_ERR_TIMEOUT,
    NGX_HTTP_CAMPAIGN_M_ERR_NO_CONNECTION,   /* none in time */
    NGX_HTTP_CAMPAIGN_M_ERR_PASSING,         /* a refusal worth a retry */
    NGX_HTTP_CAMPAIGN_M_ERR_INTERNAL,        /* any other refusal */
    NGX_HTTP_CAMPAIGN_M_ERRORS
};

ngx_int_t ngx_http_campaign_metrics_zone(ngx_conf_t *cf);
void ngx_http_campaign_metrics_worker(ngx_uint_t pool_size);
void ngx_http_campaign_metrics_worker_exit(void);
void ngx_http_campaign_metrics_conn(ngx_uint_t from, ngx_uint_t to);
void ngx_http_campaign_metrics_waiting(ngx_uint_t n);
void ngx_http_campaign_metrics_wait(ngx_msec_t ms);
void ngx_http_campaign_metrics_error(ngx_uint_t kind);
void ngx_http_campaign_metrics_key(ngx_flag_t hit);
ngx_int_t ngx_http_campaign_metrics_log(ngx_http_request_t *r);
ngx_int_t ngx_http_campaign_metrics_handler(ngx_http_request_t *r);

ngx_http_campaign_pg_pool_t *ngx_http_campaign_pg_pool_create(
    ngx_cycle_t *cycle, ngx_http_campaign_main_conf_t *cmcf);
void ngx_http_campaign_pg_pool_destroy(ngx_http_campaign_pg_pool_t *pool);
void ngx_http_campaign_pg_query(ngx_http_campaign_query_t *q);
void ngx_http_campaign_pg_query_abort(ngx_http_campaign_query_t *q);


#endif /* _NGX_HTTP_CAMPAIGN_MODULE_H_INCLUDED_ */
