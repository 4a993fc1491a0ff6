#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define CS_ANSWER_MAX  65536
#define CS_SPARE_MAX   512          /* finished requests kept for reuse */

typedef struct cs_request_s cs_request_t;

struct cs_request_s {
    cs_request_t       *prev;       /* in flight, or (next only) spare */
    cs_request_t       *next;
    CURL               *easy;
    struct curl_slist  *headers;
    char               *body;
    char               *answer;
    size_t              answer_len;
    cs_http_done_pt     done;
    int                 tls;        /* TLS options of its own are set */
    void               *data;
    char                error[CURL_ERROR_SIZE];
};

/*
 * libcurl changes its time-out on nearly every request added or done; a
 * timerfd_settime() each time cost a third of the daemon's CPU. So the
 * wish is noted (due_ns, kick) and applied once per loop batch: "now" is
 * served by one socket_action for the whole batch, and the timerfd is
 * re-armed only when the wish is earlier than what is armed (a timer that
 * fires early is harmless: libcurl finds nothing expired).
 */
struct cs_http_s {
    cs_loop_t  *loop;
    CURLM      *multi;
    int         tfd;
    int         kick;           /* libcurl asked for a time-out "now" */
    uint64_t    due_ns;         /* libcurl's next time-out, 0 if none */
    uint64_t    armed_ns;       /* what the timerfd is armed for, 0 if not */
    size_t      in_flight;
    cs_request_t  *flying;      /* freed with the multi if never done */
    /* an easy handle is a few KiB set up afresh; reusing one is cheaper */
    cs_request_t  *spare;
    size_t         nspare;
};


static uint64_t
http_mono_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


/* What one request owned; its easy handle stays, with its options. */
static void
http_request_clear(cs_request_t *rq)
{
    curl_slist_free_all(rq->headers);
    free(rq->body);
    free(rq->answer);
    rq->headers = NULL;
    rq->body = NULL;
    rq->answer = NULL;
    rq->answer_len = 0;
    rq->error[0] = '\0';
}


static void
http_request_free(cs_request_t *rq)
{
    http_request_clear(rq);
    if (rq->easy) {
        curl_easy_cleanup(rq->easy);
    }
    free(rq);
}


static void
http_flying_del(cs_http_t *h, cs_request_t *rq)
{
    if (rq->prev) {
        rq->prev->next = rq->next;
    } else {
        h->flying = rq->next;
    }
    if (rq->next) {
        rq->next->prev = rq->prev;
    }
    h->in_flight--;
}


/* Done: kept as a spare for the next request, or freed. */
static void
http_request_done(cs_http_t *h, cs_request_t *rq)
{
    if (h->nspare == CS_SPARE_MAX) {
        http_request_free(rq);
        return;
    }

    http_request_clear(rq);
    rq->prev = NULL;
    rq->next = h->spare;
    h->spare = rq;
    h->nspare++;
}


static void
http_drain(cs_http_t *h)
{
    int                msgs;
    CURLMsg           *m;
    cs_request_t      *rq;
    curl_off_t         after;
    cs_http_answer_t   a;

    while ((m = curl_multi_info_read(h->multi, &msgs)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }

        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &rq);

        memset(&a, 0, sizeof(a));
        a.curl_code = m->data.result;
        a.curl_error = rq->error[0] ? rq->error
                                    : curl_easy_strerror(m->data.result);
        a.retry_after_ms = -1;
        if (m->data.result == CURLE_OK) {
            curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &a.status);
            /* seconds, or an HTTP date (libcurl reads both) */
            if (curl_easy_getinfo(rq->easy, CURLINFO_RETRY_AFTER, &after)
                == CURLE_OK && after > 0)
            {
                a.retry_after_ms = after < 86400 ? (long) after * 1000
                                                 : 86400000L;
            }
        }
        if (curl_easy_getinfo(rq->easy, CURLINFO_TOTAL_TIME_T, &after)
            == CURLE_OK)
        {
            a.seconds = (double) after / 1e6;
        }
        a.body = rq->answer ? rq->answer : "";
        a.body_len = rq->answer_len;

        curl_multi_remove_handle(h->multi, rq->easy);
        http_flying_del(h, rq);

        rq->done(&a, rq->data);
        http_request_done(h, rq);
    }
}


static void
http_socket_event(int fd, int events, void *data)
{
    int         running, mask = 0;
    cs_http_t  *h = data;

    if (events & CS_READ) {
        mask |= CURL_CSELECT_IN;
    }
    if (events & CS_WRITE) {
        mask |= CURL_CSELECT_OUT;
    }

    curl_multi_socket_action(h->multi, fd, mask, &running);
    http_drain(h);
}


static void
http_timer_event(int fd, int events, void *data)
{
    int         running;
    uint64_t    count;
    cs_http_t  *h = data;

    (void) events;

    if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
        log_error("event=timerfd_read error=%s", log_esc(strerror(errno)));
    }

    h->armed_ns = 0;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    http_drain(h);
}


/* libcurl says which socket to watch for what; fd 0 is a valid socket. */
static int
http_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    cs_http_t  *h = userp;

    (void) easy;
    (void) socketp;

    if (what == CURL_POLL_REMOVE) {
        cs_loop_unwatch(h->loop, s);
        return 0;
    }

    return cs_loop_watch(h->loop, s,
                         (what & CURL_POLL_IN ? CS_READ : 0)
                         | (what & CURL_POLL_OUT ? CS_WRITE : 0),
                         http_socket_event, h) == 0 ? 0 : -1;
}


/* Notes libcurl's wish; http_idle() acts on it. Never calls libcurl. */
static int
http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    cs_http_t  *h = userp;

    (void) multi;

    h->kick = (timeout_ms == 0);
    h->due_ns = 0;
    if (timeout_ms > 0) {
        /* libcurl truncates to ms: one more so we never wake too early */
        h->due_ns = http_mono_ns() + (uint64_t) (timeout_ms + 1) * 1000000;
    }

    return 0;
}


static int
http_idle(void *data)
{
    int                 running, rounds;
    uint64_t            now, rel;
    cs_http_t          *h = data;
    struct itimerspec   its;

    for (rounds = 0; h->kick && rounds < 8; rounds++) {
        h->kick = 0;
        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        http_drain(h);
    }

    if (h->kick) {
        return 1;                   /* still busy: the loop comes back */
    }

    if (h->due_ns == 0 || (h->armed_ns && h->armed_ns <= h->due_ns)) {
        return 0;
    }

    /* relative, as timers.c arms its monotonic timerfd */
    now = http_mono_ns();
    rel = h->due_ns > now ? h->due_ns - now : 1;

    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = rel / 1000000000;
    its.it_value.tv_nsec = rel % 1000000000;

    if (timerfd_settime(h->tfd, 0, &its, NULL) != 0) {
        log_error("event=timerfd_settime error=%s",
                  log_esc(strerror(errno)));
        return 0;
    }

    h->armed_ns = h->due_ns;
    return 0;
}


static size_t
http_write_cb(char *ptr, size_t size, size_t n, void *userdata)
{
    cs_request_t  *rq = userdata;
    size_t         len = size * n, room;
    char          *p;

    room = CS_ANSWER_MAX - rq->answer_len;
    if (len > room) {
        len = room;                 /* keep the head, drop the rest */
    }
    if (len) {
        p = realloc(rq->answer, rq->answer_len + len + 1);
        if (p == NULL) {
            return 0;
        }
        memcpy(p + rq->answer_len, ptr, len);
        rq->answer = p;
        rq->answer_len += len;
        p[rq->answer_len] = '\0';
    }

    return size * n;
}


/* The options all requests share, on a new or a reset handle. */
static void
http_request_setup(cs_request_t *rq)
{
    curl_easy_setopt(rq->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(rq->easy, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(rq->easy, CURLOPT_WRITEDATA, rq);
    curl_easy_setopt(rq->easy, CURLOPT_ERRORBUFFER, rq->error);
    curl_easy_setopt(rq->easy, CURLOPT_PRIVATE, rq);
    curl_easy_setopt(rq->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(rq->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(rq->easy, CURLOPT_USERAGENT, "campaign-scheduler");
}


/* A request with its easy handle and the options all requests share. */
static cs_request_t *
http_request_new(void)
{
    cs_request_t  *rq;

    rq = calloc(1, sizeof(cs_request_t));
    if (rq == NULL) {
        return NULL;
    }

    rq->easy = curl_easy_init();
    if (rq->easy == NULL) {
        free(rq);
        return NULL;
    }

    http_request_setup(rq);
    return rq;
}


cs_http_t *
cs_http_create(cs_loop_t *loop)
{
    cs_http_t  *h;

    h = calloc(1, sizeof(cs_http_t));
    if (h == NULL) {
        return NULL;
    }

    h->loop = loop;
    h->multi = curl_multi_init();
    h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

    if (h->multi == NULL || h->tfd < 0
        || cs_loop_watch(loop, h->tfd, CS_READ, http_timer_event, h) != 0
        || cs_loop_on_idle(loop, http_idle, h) != 0)
    {
        cs_http_free(h, NULL);
        return NULL;
    }

    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 512L);
    /* else the cache shrinks with the requests in flight, and connections
     * are closed and opened again between batches */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 512L);

    return h;
}


void
cs_http_free(cs_http_t *h, void (*drop)(void *data))
{
    cs_loop_off_idle(h->loop, http_idle, h);
    if (h->tfd >= 0) {
        cs_loop_unwatch(h->loop, h->tfd);
        close(h->tfd);
    }
    while (h->flying) {             /* dropped: their answers never come */
        cs_request_t  *rq = h->flying;

        curl_multi_remove_handle(h->multi, rq->easy);
        http_flying_del(h, rq);
        drop(rq->data);
        http_request_free(rq);
    }
    while (h->spare) {
        cs_request_t  *rq = h->spare;

        h->spare = rq->next;
        http_request_free(rq);
    }
    if (h->multi) {
        curl_multi_cleanup(h->multi);
    }
    free(h);
}


size_t
cs_http_in_flight(const cs_http_t *h)
{
    return h->in_flight;
}


int
cs_http_send(cs_http_t *h, cs_http_request_t *r, cs_http_done_pt done,
    void *data)
{
    int            tls;
    cs_request_t  *rq;

    rq = h->spare;
    if (rq) {
        h->spare = rq->next;
        h->nspare--;

    } else {
        rq = http_request_new();
        if (rq == NULL) {
            free(r->body);
            curl_slist_free_all(r->headers);
            return -1;
        }
    }

    rq->body = r->body;
    rq->headers = r->headers;
    rq->done = done;
    rq->data = data;

    /* libcurl has no "back to the system's CAs": a handle that had a CA,
     * a certificate or a key of its own starts again from its defaults */
    tls = r->tls_ca || r->tls_cert || r->tls_key;
    if (rq->tls) {
        curl_easy_reset(rq->easy);
        http_request_setup(rq);
    }
    rq->tls = tls;
    /* each only when set: a NULL CAINFO would drop libcurl's own bundle */
    if (r->tls_ca) {
        curl_easy_setopt(rq->easy, CURLOPT_CAINFO, r->tls_ca);
    }
    if (r->tls_cert) {
        curl_easy_setopt(rq->easy, CURLOPT_SSLCERT, r->tls_cert);
    }
    if (r->tls_key) {
        curl_easy_setopt(rq->easy, CURLOPT_SSLKEY, r->tls_key);
    }

    /* what changes from one request to the next; credentials are set, or
     * cleared, every time */
    curl_easy_setopt(rq->easy, CURLOPT_URL, r->url);
    curl_easy_setopt(rq->easy, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(rq->easy, CURLOPT_POSTFIELDSIZE, (long) r->len);
    curl_easy_setopt(rq->easy, CURLOPT_HTTPHEADER, rq->headers);
    curl_easy_setopt(rq->easy, CURLOPT_CONNECTTIMEOUT_MS, r->connect_ms);
    curl_easy_setopt(rq->easy, CURLOPT_TIMEOUT_MS, r->total_ms);
    curl_easy_setopt(rq->easy, CURLOPT_USERPWD, r->userpwd);
    curl_easy_setopt(rq->easy, CURLOPT_XOAUTH2_BEARER, r->bearer);
    curl_easy_setopt(rq->easy, CURLOPT_HTTPAUTH,
                     r->bearer ? CURLAUTH_BEARER : CURLAUTH_BASIC);
    /* after HTTPAUTH: a signature sets it to CURLAUTH_AWS_SIGV4 */
    curl_easy_setopt(rq->easy, CURLOPT_AWS_SIGV4, r->sigv4);

    if (curl_multi_add_handle(h->multi, rq->easy) != CURLM_OK) {
        http_request_free(rq);
        return -1;
    }

    rq->prev = NULL;
    rq->next = h->flying;
    if (h->flying) {
        h->flying->prev = rq;
    }
    h->flying = rq;
    h->in_flight++;
    return 0;
}
