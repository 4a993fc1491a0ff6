/*
 * Requests to providers: libcurl's multi interface driven by the loop
 * (CURLMOPT_SOCKETFUNCTION watches sockets, CURLMOPT_TIMERFUNCTION arms a
 * timerfd of its own), with connection reuse and many requests in flight.
 */

#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

#include "loop.h"

typedef struct cs_http_s cs_http_t;

typedef struct {
    long         status;            /* HTTP status, 0 if none */
    int          curl_code;         /* 0, or libcurl's error */
    const char  *curl_error;
    long         retry_after_ms;    /* from Retry-After, or -1 */
    const char  *body;              /* the answer, up to 64 KiB */
    size_t       body_len;
    double       seconds;           /* from its start to its end */
} cs_http_answer_t;

typedef void (*cs_http_done_pt)(const cs_http_answer_t *a, void *data);

cs_http_t *cs_http_create(cs_loop_t *loop);
/* drop(data) for each request still in flight: its done() never runs */
void cs_http_free(cs_http_t *h, void (*drop)(void *data));

/*
 * A POST. body and headers are taken over (freed when done, or at once on
 * failure); the strings are copied by libcurl.
 */
typedef struct {
    const char          *url;
    char                *body;
    size_t               len;
    struct curl_slist   *headers;
    const char          *userpwd;   /* basic auth, or aws-sigv4's keys */
    const char          *bearer;
    const char          *sigv4;     /* CURLOPT_AWS_SIGV4 */
    const char          *tls_ca;    /* NULL: the system's CAs */
    const char          *tls_cert;
    const char          *tls_key;
    long                 connect_ms;
    long                 total_ms;
} cs_http_request_t;

int cs_http_send(cs_http_t *h, cs_http_request_t *r, cs_http_done_pt done,
    void *data);

size_t cs_http_in_flight(const cs_http_t *h);

#endif
