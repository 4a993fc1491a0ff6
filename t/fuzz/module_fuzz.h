/*
 * What the module's fuzz targets share: a property check that aborts (a
 * finding for libFuzzer) and a pool per input (module_stubs.c), so ASan
 * sees every leak and every overflow.
 */

#ifndef MODULE_FUZZ_H
#define MODULE_FUZZ_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <unistd.h>

#include "ngx_http_campaign_module.h"
#include "fuzz.h"

static ngx_log_t  fuzz_log;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    return 0;
}


static ngx_pool_t *
fuzz_pool(void)
{
    ngx_pool_t  *pool = ngx_create_pool(4096, &fuzz_log);

    FUZZ_CHECK(pool != NULL);
    return pool;
}

#endif
