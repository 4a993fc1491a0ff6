
/*
 * ngx_http_campaign_module: directives, configuration and the per-worker
 * Postgres pool's life.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_campaign_module.h"
#include "hmac.h"
#include "pg_conninfo.h"


static char *ngx_http_campaign_database(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_campaign_conninfo(ngx_conf_t *cf,
    ngx_http_campaign_main_conf_t *cmcf);
static const char **ngx_http_campaign_pstrdupv(ngx_pool_t *pool, char **v,
    ngx_uint_t n);
static char *ngx_http_campaign_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_campaign_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_campaign_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_campaign_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_campaign_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_campaign_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_campaign_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_campaign_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_campaign_core_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_campaign_init_process(ngx_cycle_t *cycle);
static void ngx_http_campaign_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_campaign_pool_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};


static ngx_command_t  ngx_http_campaign_commands[] = {

    { ngx_string("campaign_database"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_campaign_database,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_database_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_campaign_main_conf_t, pool_size),
      &ngx_http_campaign_pool_bounds },

    { ngx_string("campaign_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_campaign_main_conf_t, timeout),
      NULL },

    { ngx_string("campaign_statement_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_campaign_main_conf_t, statement_timeout),
      NULL },

    { ngx_string("campaign_database_prepare"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_campaign_main_conf_t, prepare),
      NULL },

    { ngx_string("campaign_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_campaign_loc_conf_t, auth),
      NULL },

    { ngx_string("campaign_receipt_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_http_campaign_receipt_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_campaign_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_campaign_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_campaign_module_ctx = {
    ngx_http_campaign_preconfiguration,    /* preconfiguration */
    ngx_http_campaign_postconfiguration,   /* postconfiguration */

    ngx_http_campaign_create_main_conf,    /* create main configuration */
    ngx_http_campaign_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_campaign_create_loc_conf,     /* create location configuration */
    ngx_http_campaign_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_campaign_module = {
    NGX_MODULE_V1,
    &ngx_http_campaign_module_ctx,         /* module context */
    ngx_http_campaign_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_campaign_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_campaign_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_campaign_init_process(ngx_cycle_t *cycle)
{
    ngx_http_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);
    if (cmcf == NULL || cmcf->keywords == NULL) {
        return NGX_OK;
    }

    cmcf->pool = ngx_http_campaign_pg_pool_create(cycle, cmcf);
    cmcf->keys = ngx_http_campaign_keys_create(cycle->pool);

    if (cmcf->pool == NULL || cmcf->keys == NULL) {
        return NGX_ERROR;
    }

    ngx_http_campaign_metrics_worker(cmcf->pool_size);

    return NGX_OK;
}


static void
ngx_http_campaign_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);
    if (cmcf != NULL && cmcf->pool != NULL) {
        ngx_http_campaign_pg_pool_destroy(cmcf->pool);
        cmcf->pool = NULL;
    }
    ngx_http_campaign_metrics_worker_exit();

    /* receipts' HMAC contexts: the module is unloaded after this */
    cs_hmac_free();
}


static char *
ngx_http_campaign_pstrdup(ngx_pool_t *pool, const char *s)
{
    size_t   len;
    char    *p;

    len = ngx_strlen(s) + 1;
    p = ngx_pnalloc(pool, len);
    if (p != NULL) {
        ngx_memcpy(p, s, len);
    }

    return p;
}


/* A copy of n strings, and a NULL after them, in the pool. */
static const char **
ngx_http_campaign_pstrdupv(ngx_pool_t *pool, char **v, ngx_uint_t n)
{
    ngx_uint_t    i;
    const char  **copy;

    copy = ngx_pcalloc(pool, (n + 1) * sizeof(char *));
    if (copy == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        copy[i] = ngx_http_campaign_pstrdup(pool, v[i]);
        if (copy[i] == NULL) {
            return NULL;
        }
    }

    return copy;
}


static char *
ngx_http_campaign_database(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_campaign_main_conf_t *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->database.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cmcf->database = value[1];

    /* made ready to connect once the time-out is known too: see below */
    return NGX_CONF_OK;
}


/*
 * Host names are resolved here, once, so that no worker ever waits on DNS
 * (common/pg_conninfo.c: every host of a list, each address its own
 * entry); keepalives and tcp_user_timeout are added unless set, so that a
 * database that silently drops packets is noticed on idle connections too.
 */
static char *
ngx_http_campaign_conninfo(ngx_conf_t *cf,
    ngx_http_campaign_main_conf_t *cmcf)
{
    u_char         *p;
    char           *conninfo, err[256], user_timeout[NGX_INT_T_LEN + 1];
    ngx_uint_t      i, n;
    pg_conninfo_t   ci;
    const char     *defaults[] = {
        "fallback_application_name", "nginx-campaign",
        "keepalives", "1", "keepalives_idle", "5",
        "keepalives_interval", "1", "keepalives_count", "3",
        "tcp_user_timeout", user_timeout, NULL
    };

    conninfo = ngx_pnalloc(cf->pool, cmcf->database.len + 1);
    if (conninfo == NULL) {
        return NGX_CONF_ERROR;
    }
    ngx_cpystrn((u_char *) conninfo, cmcf->database.data,
                cmcf->database.len + 1);

    p = ngx_sprintf((u_char *) user_timeout, "%M", cmcf->timeout);
    *p = '\0';

    if (pg_conninfo_build(&ci, conninfo, defaults, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "campaign_database: %s",
                           err);
        return NGX_CONF_ERROR;
    }

    for (n = 0; ci.keywords[n]; n++) {
        /* void */
    }

    cmcf->keywords = ngx_http_campaign_pstrdupv(cf->pool, ci.keywords, n);
    cmcf->values = ngx_http_campaign_pstrdupv(cf->pool, ci.values, n);
    if (cmcf->keywords == NULL || cmcf->values == NULL) {
        pg_conninfo_free(&ci);
        return NGX_CONF_ERROR;
    }

    cmcf->nhosts = ci.nhosts;
    if (ci.nhosts > 1) {
        cmcf->rotated = ngx_pcalloc(cf->pool, ci.nhosts * sizeof(char **));
        if (cmcf->rotated == NULL) {
            pg_conninfo_free(&ci);
            return NGX_CONF_ERROR;
        }
        for (i = 0; i < ci.nhosts; i++) {
            cmcf->rotated[i] = ngx_http_campaign_pstrdupv(cf->pool,
                                                          ci.rotated[i], n);
            if (cmcf->rotated[i] == NULL) {
                pg_conninfo_free(&ci);
                return NGX_CONF_ERROR;
            }
        }
    }

    pg_conninfo_free(&ci);

    return NGX_CONF_OK;
}


static char *
ngx_http_campaign_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_campaign_loc_conf_t *clcf = conf;

    ngx_http_core_loc_conf_t  *core;

    if (clcf->enabled || clcf->metrics) {
        return "is duplicate, or in campaign_metrics' location";
    }

    core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (core->regex || core->named || core->exact_match) {
        return "needs a prefix location";
    }

    clcf->enabled = 1;
    clcf->prefix = core->name;
    core->handler = ngx_http_campaign_handler;

    /* core's body settings get the API's defaults when core merges them */
    return NGX_CONF_OK;
}


/*
 * The API's defaults for two of core's directives, where the operator set
 * neither, in its location or above it, before or after campaign_api:
 * core's merge of a location's configuration is wrapped for the time the
 * configuration is read, since only before that merge is "not set" still
 * told apart from "set to nginx's default" (setting them at campaign_api
 * made a later client_max_body_size "duplicate"). Whether a level set one
 * (or inherited one set) is kept in the module's configuration of that
 * level, as core merges from the top down.
 */
static char *(*ngx_http_campaign_core_merge)(ngx_conf_t *cf, void *parent,
    void *child);


/* core's merge back as it was, if this module's wrapper is still there */
static void
ngx_http_campaign_core_merge_restore(void *data)
{
    ngx_http_module_t  *core = ngx_http_core_module.ctx;

    if (core->merge_loc_conf == ngx_http_campaign_core_merge_loc_conf) {
        core->merge_loc_conf = ngx_http_campaign_core_merge;
    }
}


static ngx_int_t
ngx_http_campaign_preconfiguration(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t  *cln;
    ngx_http_module_t   *core = ngx_http_core_module.ctx;

    /*
     * A configuration that fails to parse never reaches postconfiguration:
     * its pool's cleanup takes the wrapper out then, before the module
     * can be unloaded with it.
     */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }
    cln->handler = ngx_http_campaign_core_merge_restore;

    if (core->merge_loc_conf != ngx_http_campaign_core_merge_loc_conf) {
        ngx_http_campaign_core_merge = core->merge_loc_conf;
        core->merge_loc_conf = ngx_http_campaign_core_merge_loc_conf;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_campaign_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *core;

    /* merged: core is left as it was (the module may be unloaded) */
    ngx_http_campaign_core_merge_restore(NULL);

    /* every request of the API's locations is counted as it is logged */
    core = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    h = ngx_array_push(&core->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_campaign_metrics_log;

    return NGX_OK;
}


static char *
ngx_http_campaign_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_campaign_loc_conf_t *clcf = conf;

    ngx_http_core_loc_conf_t  *core;

    if (clcf->metrics || clcf->enabled) {
        return "is duplicate, or in campaign_api's location";
    }

    if (ngx_http_campaign_metrics_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->metrics = 1;
    core->handler = ngx_http_campaign_metrics_handler;

    return NGX_CONF_OK;
}


/*
 * The module's configuration of the level whose core configuration is
 * given: a location's names its own; a server's is found through the
 * server being merged; the http{} level, never merged, has none here.
 */
static ngx_http_campaign_loc_conf_t *
ngx_http_campaign_level(ngx_conf_t *cf, ngx_http_core_loc_conf_t *core)
{
    ngx_http_conf_ctx_t       *ctx = cf->ctx;
    ngx_http_core_srv_conf_t  *cscf;

    if (core->loc_conf) {
        return core->loc_conf[ngx_http_campaign_module.ctx_index];
    }

    cscf = ctx->srv_conf
           ? ctx->srv_conf[ngx_http_core_module.ctx_index] : NULL;

    if (cscf && cscf->ctx
        && cscf->ctx->loc_conf[ngx_http_core_module.ctx_index] == core)
    {
        return cscf->ctx->loc_conf[ngx_http_campaign_module.ctx_index];
    }

    return NULL;
}


/* set at this level or above: a level not yet merged tells by its value */
static ngx_flag_t
ngx_http_campaign_set_above(ngx_flag_t flag, ngx_flag_t unset)
{
    return flag != NGX_CONF_UNSET ? flag : !unset;
}


static char *
ngx_http_campaign_core_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_core_loc_conf_t      *core = child, *prev = parent;
    ngx_http_campaign_loc_conf_t  *clcf, *plcf;
    ngx_flag_t                     max_set, buffer_set;

    clcf = ngx_http_campaign_level(cf, core);
    plcf = ngx_http_campaign_level(cf, prev);

    max_set = core->client_max_body_size != NGX_CONF_UNSET
              || ngx_http_campaign_set_above(
                     plcf ? plcf->body_max_set : NGX_CONF_UNSET,
                     prev->client_max_body_size == NGX_CONF_UNSET);
    buffer_set = core->client_body_buffer_size != NGX_CONF_UNSET_SIZE
                 || ngx_http_campaign_set_above(
                        plcf ? plcf->body_buffer_set : NGX_CONF_UNSET,
                        prev->client_body_buffer_size == NGX_CONF_UNSET_SIZE);

    if (clcf) {
        clcf->body_max_set = max_set;
        clcf->body_buffer_set = buffer_set;
    }

    if (clcf && clcf->enabled) {

        /*
         * The module answers 413 itself, in JSON, for a declared length
         * over the API's limit, and for a chunked body over it once read;
         * nginx's own limit stays as the backstop for chunked bodies far
         * over it.
         */
        if (!max_set) {
            core->client_max_body_size = 2 * NGX_HTTP_CAMPAIGN_MAX_BODY;
        }

        /*
         * Bodies up to 1 MiB stay in memory (nginx allocates what a
         * declared length needs), so the common ones are not written to a
         * temp file and read back; larger CSV uploads still spill to disk.
         */
        if (!buffer_set) {
            core->client_body_buffer_size = 1024 * 1024;
        }
    }

    return ngx_http_campaign_core_merge(cf, parent, child);
}


static void *
ngx_http_campaign_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_campaign_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_campaign_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->database = { 0, NULL };
     *     cmcf->keywords = NULL;
     *     cmcf->values = NULL;
     *     cmcf->pool = NULL;
     */

    cmcf->pool_size = NGX_CONF_UNSET_UINT;
    cmcf->timeout = NGX_CONF_UNSET_MSEC;
    cmcf->statement_timeout = NGX_CONF_UNSET_MSEC;
    cmcf->prepare = NGX_CONF_UNSET;

    return cmcf;
}


static char *
ngx_http_campaign_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_campaign_main_conf_t *cmcf = conf;

    ngx_conf_init_uint_value(cmcf->pool_size, 8);
    ngx_conf_init_msec_value(cmcf->timeout, 5000);
    ngx_conf_init_value(cmcf->prepare, 1);

    /*
     * The server ends a statement before the module stops waiting for it,
     * so that a 503 for time means it rolled back: four fifths of the
     * request's time, unless set (and then below it).
     */
    if (cmcf->timeout < 500) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign_timeout must be at least 500ms");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(cmcf->statement_timeout, cmcf->timeout * 4 / 5);

    /* 0 would be Postgres's "no limit": then nothing bounds a statement */
    if (cmcf->statement_timeout == 0
        || cmcf->statement_timeout + 100 > cmcf->timeout)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign_statement_timeout must be more than "
                           "0 and at least 100ms less than campaign_timeout");
        return NGX_CONF_ERROR;
    }

    if (cmcf->database.data == NULL) {
        return NGX_CONF_OK;
    }

    /* the counters: served by any campaign_metrics location */
    if (ngx_http_campaign_metrics_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_campaign_conninfo(cf, cmcf);
}


static void *
ngx_http_campaign_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_campaign_loc_conf_t  *clcf;

    clcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_campaign_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     clcf->enabled = 0;
     *     clcf->prefix = { 0, NULL };
     */

    clcf->auth = NGX_CONF_UNSET;
    clcf->body_max_set = NGX_CONF_UNSET;
    clcf->body_buffer_set = NGX_CONF_UNSET;

    return clcf;
}


static char *
ngx_http_campaign_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_campaign_loc_conf_t *prev = parent;
    ngx_http_campaign_loc_conf_t *conf = child;

    ngx_http_campaign_main_conf_t  *cmcf;

    ngx_conf_merge_value(conf->auth, prev->auth, 1);

    if (conf->enabled) {
        cmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_campaign_module);
        if (cmcf->keywords == NULL) {
            return "campaign_api needs campaign_database";
        }
    }

    return NGX_CONF_OK;
}
