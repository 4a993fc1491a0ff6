/*
 * GET /metrics over HTTP/1.x, on a thread with an event loop of its own:
 * a scrape never waits for a turn of the delivery loop (which may be busy
 * for milliseconds at 20,000 deliveries a second), and never holds one
 * up. One request per connection, answered from memory in one write, or a
 * few when the peer reads slowly; a connection idle 5 s, or sending more
 * than a request's head, is closed. The loop's thread binds the sockets
 * (a bind that fails is its error to report) and hands them over.
 */

#ifndef CS_METRICS_HTTP_H
#define CS_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>


typedef struct cs_metrics_http_s cs_metrics_http_t;

/* starts the thread; NULL if it cannot */
cs_metrics_http_t *cs_metrics_http_create(void);
void cs_metrics_http_free(cs_metrics_http_t *h);

/*
 * Listens on addr (len 0: not at all), unless it already does; the old
 * socket is kept if the new one cannot be bound. 0, or -1 with err set.
 */
int cs_metrics_http_listen(cs_metrics_http_t *h,
    const struct sockaddr_storage *addr, socklen_t len, char *err,
    size_t errlen);

#endif
