/*
 * GET /metrics over HTTP/1.x on the scheduler's own loop: one request per
 * connection, answered from memory in one write, or a few when the peer
 * reads slowly; a connection idle 5 s, or sending more than a request's
 * head, is closed. Nothing here waits on Postgres or a provider.
 */

#ifndef CS_METRICS_HTTP_H
#define CS_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "loop.h"
#include "timers.h"

typedef struct cs_metrics_http_s cs_metrics_http_t;

cs_metrics_http_t *cs_metrics_http_create(cs_loop_t *loop,
    cs_timers_t *timers);
void cs_metrics_http_free(cs_metrics_http_t *h);

/*
 * Listens on addr (len 0: not at all), unless it already does; the old
 * socket is kept if the new one cannot be bound. 0, or -1 with err set.
 */
int cs_metrics_http_listen(cs_metrics_http_t *h,
    const struct sockaddr_storage *addr, socklen_t len, char *err,
    size_t errlen);

#endif
