/*
 * The scheduler's HTTP side alone: POSTs N sms-like bodies to a URL through
 * scheduler/http.c (libcurl's multi interface on the scheduler's loop) with
 * W in flight, and no database at all. t/bench/dispatch runs it against
 * its sink, so what a delivery costs in libcurl is told apart from what it
 * costs in Postgres.
 *
 *   http_only URL N W     prints "N requests in S s: R/s"
 */

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "loop.h"

#define BODY  "{\"campaign_id\":\"c\",\"recipient_id\":\"r\",\"type\":\"sms\"," \
              "\"to\":\"+15550000001\",\"vars\":{\"name\":\"N1\",\"code\":1}," \
              "\"message\":{\"body\":\"Hi N1, your code is 1.\"}}"

typedef struct {
    cs_loop_t   *loop;
    cs_http_t   *http;
    const char  *url;
    long         n;
    long         posted;
    long         answered;
    long         failed;
} bench_t;


static void answered(const cs_http_answer_t *a, void *data);


static void
post(bench_t *b)
{
    char               key[64];
    cs_http_request_t  rq;

    snprintf(key, sizeof(key), "Idempotency-Key: bench:%ld", b->posted++);
    memset(&rq, 0, sizeof(rq));
    rq.url = b->url;
    rq.body = strdup(BODY);
    rq.len = strlen(BODY);
    rq.headers = curl_slist_append(curl_slist_append(NULL,
                     "Content-Type: application/json"), key);
    rq.connect_ms = 2000;
    rq.total_ms = 10000;
    if (rq.body == NULL || cs_http_send(b->http, &rq, answered, b) != 0) {
        fprintf(stderr, "cannot post\n");
        exit(1);
    }
}


static void
answered(const cs_http_answer_t *a, void *data)
{
    bench_t  *b = data;

    if (a->status != 200) {
        b->failed++;
    }
    if (++b->answered == b->n) {
        cs_loop_stop(b->loop);
    } else if (b->posted < b->n) {
        post(b);
    }
}


int
main(int argc, char **argv)
{
    long             i, window;
    double           secs;
    bench_t          b;
    struct timespec  t0, t1;

    if (argc != 4) {
        fprintf(stderr, "usage: http_only URL N WINDOW\n");
        return 2;
    }

    memset(&b, 0, sizeof(b));
    b.url = argv[1];
    b.n = atol(argv[2]);
    window = atol(argv[3]);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    b.loop = cs_loop_create();
    b.http = b.loop ? cs_http_create(b.loop) : NULL;
    if (b.http == NULL || b.n < 1 || window < 1) {
        fprintf(stderr, "cannot start\n");
        return 1;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < window && i < b.n; i++) {
        post(&b);
    }
    cs_loop_run(b.loop);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    secs = (double) (t1.tv_sec - t0.tv_sec)
           + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%ld requests in %.2f s: %.0f/s\n", b.n, secs, (double) b.n / secs);

    cs_http_free(b.http, NULL);
    cs_loop_free(b.loop);
    curl_global_cleanup();
    return b.failed ? 1 : 0;
}
