#define _GNU_SOURCE                 /* accept4() */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "metrics.h"
#include "metrics_http.h"
#include "timers.h"

#define CS_HTTP_HEAD_MAX    4096    /* a request's line and headers */
#define CS_HTTP_IDLE_MS     5000
#define CS_HTTP_MAX_CONNS   32

typedef struct cs_mconn_s cs_mconn_t;

struct cs_mconn_s {
    cs_timer_t          timer;      /* first: idle time-out */
    cs_mconn_t         *next;
    cs_metrics_http_t  *h;
    int                 fd;
    char                in[CS_HTTP_HEAD_MAX];
    size_t              inlen;
    cs_prom_t           out;        /* the answer, head and body */
    size_t              sent;
};

#define CS_HTTP_NO_FD   (-2)        /* nothing handed over */
#define CS_HTTP_CACHE_US  100000    /* a text is reused this long */

struct cs_metrics_http_s {
    /* the thread's own */
    cs_loop_t                *loop;
    cs_timers_t              *timers;
    int                       fd;       /* listening, or -1 */
    cs_mconn_t               *conns;
    size_t                    nconns;
    pthread_t                 thread;
    int                       started;
    int                       wake;     /* eventfd: something handed over */
    int                       reserve;  /* a spare fd, for EMFILE */
    cs_prom_t                 text;     /* the last text written */
    uint64_t                  text_at;  /* when, monotonic us */
    /* handed over under the lock */
    pthread_mutex_t           lock;
    int                       next_fd;  /* CS_HTTP_NO_FD, -1 (none), a fd */
    int                       stop;
    /* the loop's thread's own: what is bound now */
    struct sockaddr_storage   addr;
    socklen_t                 addrlen;
};


static void on_wake(int fd, int events, void *data);
static void on_accept(int fd, int events, void *data);


static void *
metrics_thread(void *data)
{
    cs_metrics_http_t  *h = data;

    cs_loop_run(h->loop);
    return NULL;
}


cs_metrics_http_t *
cs_metrics_http_create(void)
{
    cs_metrics_http_t  *h = calloc(1, sizeof(cs_metrics_http_t));

    if (h == NULL) {
        return NULL;
    }
    h->fd = -1;
    h->next_fd = CS_HTTP_NO_FD;
    cs_prom_init(&h->text);
    h->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    h->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&h->lock, NULL);
    h->loop = cs_loop_create();
    h->timers = h->loop ? cs_timers_create(h->loop, CLOCK_MONOTONIC, NULL,
                                           NULL)
                        : NULL;

    /* the signals the loop's thread reads stay blocked here (inherited) */
    if (h->wake < 0 || h->timers == NULL
        || cs_loop_watch(h->loop, h->wake, CS_READ, on_wake, h) != 0
        || pthread_create(&h->thread, NULL, metrics_thread, h) != 0)
    {
        cs_metrics_http_free(h);
        return NULL;
    }
    h->started = 1;
    return h;
}


/* the listener and the stop handed over, on the thread */
static void
on_wake(int fd, int events, void *data)
{
    int                 next, stop;
    uint64_t            n;
    cs_metrics_http_t  *h = data;

    (void) events;

    if (read(fd, &n, sizeof(n)) != sizeof(n)) {
        return;
    }

    pthread_mutex_lock(&h->lock);
    next = h->next_fd;
    h->next_fd = CS_HTTP_NO_FD;
    stop = h->stop;
    pthread_mutex_unlock(&h->lock);

    if (next != CS_HTTP_NO_FD || stop) {
        if (h->fd >= 0) {
            cs_loop_unwatch(h->loop, h->fd);
            close(h->fd);
            h->fd = -1;
        }
        if (next >= 0) {
            if (stop || cs_loop_watch(h->loop, next, CS_READ, on_accept, h)
                        != 0)
            {
                close(next);
            } else {
                h->fd = next;
            }
        }
    }

    if (stop) {
        cs_loop_stop(h->loop);
    }
}


static void
conn_close(cs_mconn_t *c)
{
    cs_mconn_t  **p;

    for (p = &c->h->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    c->h->nconns--;
    cs_timers_del(c->h->timers, &c->timer);
    cs_loop_unwatch(c->h->loop, c->fd);
    close(c->fd);
    cs_prom_free(&c->out);
    free(c);
}


static void
conn_timeout(cs_timer_t *t)
{
    conn_close((cs_mconn_t *) t);
}


static void conn_event(int fd, int events, void *data);


/* the head and the body into c->out */
static void
conn_answer(cs_mconn_t *c, int status, const char *reason, const char *body,
    size_t len, int head)
{
    char  hdr[256];
    int   n;

    n = snprintf(hdr, sizeof(hdr),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                 status, reason,
                 status == 200 ? CS_PROM_CONTENT_TYPE : "text/plain",
                 len, status == 405 ? "Allow: GET, HEAD\r\n" : "");

    cs_prom_init(&c->out);
    c->out.data = malloc((size_t) n + (head ? 0 : len) + 1);
    if (c->out.data == NULL) {
        return;
    }
    memcpy(c->out.data, hdr, (size_t) n);
    if (!head && len) {
        memcpy(c->out.data + n, body, len);
    }
    c->out.len = (size_t) n + (head ? 0 : len);
    c->out.cap = c->out.len + 1;
}


#define ANSWER(c, status, reason, text, head)                                 \
    conn_answer(c, status, reason, text, sizeof(text) - 1, head)


static void
conn_request(cs_mconn_t *c)
{
    int                 head = 0;
    char               *sp, *path, *end;
    uint64_t            now;
    cs_metrics_http_t  *h = c->h;

    c->in[c->inlen] = '\0';
    sp = strchr(c->in, ' ');
    path = sp ? sp + 1 : NULL;
    end = path ? strpbrk(path, " ?\r\n") : NULL;

    if (path == NULL || end == NULL) {
        ANSWER(c, 400, "Bad Request", "bad request\n", 0);

    } else if (!((sp - c->in == 3 && memcmp(c->in, "GET", 3) == 0)
                 || (head = sp - c->in == 4 && memcmp(c->in, "HEAD", 4) == 0)))
    {
        ANSWER(c, 405, "Method Not Allowed", "only GET\n", 0);

    } else if (end - path != 8 || memcmp(path, "/metrics", 8) != 0) {
        ANSWER(c, 404, "Not Found",
               "not found: the metrics are at /metrics\n", head);

    } else {
        /* a flood of scrapes costs one text per 100 ms */
        now = cs_loop_mono_us();
        if (h->text.data == NULL || now - h->text_at >= CS_HTTP_CACHE_US) {
            cs_prom_free(&h->text);
            cs_metrics_write(&h->text);
            h->text_at = now;
        }
        if (h->text.failed) {
            cs_prom_free(&h->text);
            ANSWER(c, 500, "Internal Server Error", "out of memory\n", head);
        } else {
            conn_answer(c, 200, "OK", h->text.data, h->text.len, head);
        }
    }

    if (c->out.data == NULL) {
        conn_close(c);
        return;
    }
    cs_loop_unwatch(h->loop, c->fd);
    if (cs_loop_watch(h->loop, c->fd, CS_WRITE, conn_event, c) != 0) {
        conn_close(c);
    }
}


static void
conn_event(int fd, int events, void *data)
{
    ssize_t      n;
    cs_mconn_t  *c = data;

    if (c->out.data == NULL) {
        n = read(fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_close(c);
            return;
        }
        if (n < 0) {
            return;
        }
        c->inlen += (size_t) n;
        c->in[c->inlen] = '\0';
        if (strstr(c->in, "\r\n\r\n") == NULL
            && strstr(c->in, "\n\n") == NULL)
        {
            if (c->inlen == sizeof(c->in) - 1) {
                conn_close(c);      /* no head is that long */
            }
            return;
        }
        conn_request(c);
        return;
    }

    (void) events;

    n = write(fd, c->out.data + c->sent, c->out.len - c->sent);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->sent += (size_t) n;
    if (c->sent == c->out.len) {
        conn_close(c);
    }
}


/* the oldest connection still reading its request, or NULL */
static cs_mconn_t *
oldest_reading(cs_metrics_http_t *h)
{
    cs_mconn_t  *c, *found = NULL;

    for (c = h->conns; c; c = c->next) {
        if (c->out.data == NULL) {
            found = c;              /* the list is newest first */
        }
    }
    return found;
}


static void
on_accept(int fd, int events, void *data)
{
    int                 cfd;
    cs_mconn_t         *c;
    cs_metrics_http_t  *h = data;

    (void) events;

    for ( ;; ) {
        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && h->reserve >= 0) {
                /* out of descriptors: the peer is told so by a close,
                 * not left in the backlog for a level-triggered spin */
                close(h->reserve);
                cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                if (cfd >= 0) {
                    close(cfd);
                }
                h->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            break;                  /* EAGAIN, or nothing to be done */
        }

        if (h->nconns >= CS_HTTP_MAX_CONNS) {
            /* idle peers cannot lock a scraper out; an answer being
             * written is never cut */
            c = oldest_reading(h);
            if (c == NULL) {
                close(cfd);
                continue;
            }
            conn_close(c);
        }
        c = calloc(1, sizeof(cs_mconn_t));
        if (c == NULL) {
            close(cfd);
            continue;
        }
        c->h = h;
        c->fd = cfd;
        cs_timer_init(&c->timer);
        c->timer.handler = conn_timeout;
        if (cs_loop_watch(h->loop, cfd, CS_READ, conn_event, c) != 0) {
            close(cfd);
            free(c);
            continue;
        }
        c->next = h->conns;
        h->conns = c;
        h->nconns++;
        cs_timers_in(h->timers, &c->timer, CS_HTTP_IDLE_MS);
    }
}


static void
handover(cs_metrics_http_t *h, int fd, int stop)
{
    uint64_t  one = 1;

    pthread_mutex_lock(&h->lock);
    if (fd != CS_HTTP_NO_FD) {
        if (h->next_fd >= 0) {
            close(h->next_fd);      /* never taken: a newer one came */
        }
        h->next_fd = fd;
    }
    h->stop |= stop;
    pthread_mutex_unlock(&h->lock);

    if (write(h->wake, &one, sizeof(one)) != sizeof(one)) {
        /* the counter is already due to wake the thread */
    }
}


int
cs_metrics_http_listen(cs_metrics_http_t *h,
    const struct sockaddr_storage *addr, socklen_t len, char *err,
    size_t errlen)
{
    int  fd, one = 1;

    if (len == h->addrlen && (len == 0 || memcmp(addr, &h->addr, len) == 0))
    {
        return 0;
    }

    fd = -1;
    if (len > 0) {
        fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK
                                     | SOCK_CLOEXEC, 0);
        if (fd < 0
            || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))
               != 0
            || bind(fd, (const struct sockaddr *) addr, len) != 0
            || listen(fd, 16) != 0)
        {
            snprintf(err, errlen, "metrics: cannot listen: %s",
                     strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
    }

    handover(h, fd, 0);
    memcpy(&h->addr, addr, len);
    h->addrlen = len;
    return 0;
}


void
cs_metrics_http_free(cs_metrics_http_t *h)
{
    if (h == NULL) {
        return;
    }
    if (h->started) {
        handover(h, CS_HTTP_NO_FD, 1);
        pthread_join(h->thread, NULL);
    }
    while (h->conns) {
        conn_close(h->conns);
    }
    if (h->next_fd >= 0) {
        close(h->next_fd);
    }
    if (h->fd >= 0) {
        close(h->fd);
    }
    if (h->timers) {
        cs_timers_free(h->timers);
    }
    if (h->loop) {
        if (h->wake >= 0) {
            cs_loop_unwatch(h->loop, h->wake);
        }
        cs_loop_free(h->loop);
    }
    if (h->wake >= 0) {
        close(h->wake);
    }
    if (h->reserve >= 0) {
        close(h->reserve);
    }
    cs_prom_free(&h->text);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
