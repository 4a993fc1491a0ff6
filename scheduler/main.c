/*
 * campaign-scheduler: starts campaigns at their time, within the per-type
 * pool limits, over any number of scheduler processes.
 *
 *   campaign-scheduler -c FILE        run
 *   campaign-scheduler -c FILE -t     check the file, exit 0 or 1
 */

#define _GNU_SOURCE                 /* pipe2() */

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/hmac.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sched.h"

#define CS_VERSION  "0.1.0"

typedef struct {
    const char   *path;
    cs_sched_t   *sched;
    cs_config_t  *cf;
    cs_loop_t    *loop;
    /* a reload reads the file and resolves its hosts on a thread of its
     * own: a slow resolver must not hold the loop (nor the watchdog) */
    int           reload_pipe[2];
    int           reloading;
    int           reload_again;     /* a SIGHUP came meanwhile */
    int           reload_rc;
    cs_config_t   reload_cf;
    char          reload_err[1024];
} cs_main_t;


static void
usage(FILE *f)
{
    fprintf(f, "usage: campaign-scheduler [-c FILE] [-t] [-h] [-v]\n"
               "  -c FILE  configuration (default "
               "/etc/campaign/scheduler.conf)\n"
               "  -t       check the configuration and exit\n"
               "  -h       this help\n"
               "  -v       the version\n");
}


static int
load(const char *path, cs_config_t *cf, char *err, size_t errlen)
{
    char  why[768], host[256];

    if (cs_config_load(cf, path, err, errlen) != 0) {
        return -1;
    }

    /* host names are resolved now: never by libpq, inside the loop */
    if (cs_config_resolve(cf, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        cs_config_free(cf);
        return -1;
    }

    if (cf->id == NULL) {
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(host, sizeof(host), "scheduler");
        }
        host[sizeof(host) - 1] = '\0';
        cf->id = malloc(strlen(host) + 24);
        if (cf->id == NULL) {
            return -1;
        }
        sprintf(cf->id, "%s:%ld", host, (long) getpid());
    }

    return 0;
}


static void *
reload_thread(void *data)
{
    char        done = 1;
    cs_main_t  *m = data;

    m->reload_rc = load(m->path, &m->reload_cf, m->reload_err,
                        sizeof(m->reload_err));
    if (write(m->reload_pipe[1], &done, 1) != 1) {
        /* the loop never hears of it: the next SIGHUP is refused */
    }
    return NULL;
}


static void
reload_start(cs_main_t *m)
{
    pthread_t       t;
    pthread_attr_t  attr;

    if (m->reloading) {
        m->reload_again = 1;
        return;
    }

    m->reloading = 1;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, reload_thread, m) != 0) {
        m->reloading = 0;
        log_error("event=reload_failed file=%s reason=%s", log_esc(m->path),
                  log_esc(strerror(errno)));
    }
    pthread_attr_destroy(&attr);
}


/* The thread has read the file: the loop takes what it read. */
static void
reload_done(int fd, int events, void *data)
{
    char        c;
    cs_main_t  *m = data;

    (void) events;

    if (read(fd, &c, 1) != 1) {
        return;
    }
    m->reloading = 0;

    if (m->reload_rc != 0) {
        log_error("event=reload_failed file=%s reason=%s "
                  "action=\"keeping the running configuration\"",
                  log_esc(m->path), log_esc(m->reload_err));
    } else {
        log_info("event=reloaded file=%s", log_esc(m->path));
        cs_sched_reload(m->sched, &m->reload_cf);   /* takes its contents */
    }

    if (m->reload_again) {
        m->reload_again = 0;
        reload_start(m);
    }
}


static void
on_signal(int fd, int events, void *data)
{
    cs_main_t                *m = data;
    struct signalfd_siginfo   si;

    (void) events;

    while (read(fd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {

        case SIGHUP:
            reload_start(m);
            break;

        case SIGTERM:
        case SIGINT:
            log_info("event=stopping signal=%d", (int) si.ssi_signo);
            cs_sched_stop(m->sched);
            break;

        default:
            break;
        }
    }
}


int
main(int argc, char **argv)
{
    int          opt, test = 0, sfd, rc;
    char         err[1024];
    sigset_t     mask;
    cs_main_t    m;
    cs_loop_t   *loop;
    cs_config_t  cf;

    memset(&m, 0, sizeof(m));
    m.path = "/etc/campaign/scheduler.conf";

    while ((opt = getopt(argc, argv, "c:thv")) != -1) {
        switch (opt) {
        case 'c':
            m.path = optarg;
            break;
        case 't':
            test = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("campaign-scheduler %s\n", CS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }

    if (optind != argc) {
        usage(stderr);
        return 1;
    }

    if (load(m.path, &cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "campaign-scheduler: %s\n", err);
        return 1;
    }

    if (test) {
        printf("campaign-scheduler: the configuration file %s syntax is ok\n",
               m.path);
        cs_config_free(&cf);
        return 0;
    }

    /* signals arrive as reads on the loop, never in signal context */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGPIPE);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sigdelset(&mask, SIGPIPE);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    srand((unsigned) getpid() ^ (unsigned) time(NULL));

    loop = cs_loop_create();
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    m.cf = &cf;
    m.loop = loop;
    m.sched = loop ? cs_sched_create(loop, &cf) : NULL;

    if (loop == NULL || sfd < 0 || m.sched == NULL
        || pipe2(m.reload_pipe, O_NONBLOCK | O_CLOEXEC) != 0
        || cs_loop_watch(loop, sfd, CS_READ, on_signal, &m) != 0
        || cs_loop_watch(loop, m.reload_pipe[0], CS_READ, reload_done, &m)
           != 0)
    {
        fprintf(stderr, "campaign-scheduler: cannot start: %s\n",
                strerror(errno));
        return 1;
    }

    log_info("event=starting id=%s horizon_ms=%llu", log_esc(cf.id),
             (unsigned long long) cf.horizon);

    cs_metrics_init(CS_VERSION, cf.id);
    if (cs_sched_start(m.sched, err, sizeof(err)) != 0) {
        fprintf(stderr, "campaign-scheduler: %s\n", err);
        log_error("event=cannot_start reason=%s", log_esc(err));
        return 1;
    }
    rc = cs_loop_run(loop);

    /* a reload still reading the file: what it reads is not taken */
    if (m.reloading) {
        char  c;

        fcntl(m.reload_pipe[0], F_SETFL, 0);
        if (read(m.reload_pipe[0], &c, 1) == 1 && m.reload_rc == 0) {
            cs_config_free(&m.reload_cf);
        }
    }
    close(m.reload_pipe[0]);
    close(m.reload_pipe[1]);

    cs_sched_free(m.sched);
    cs_loop_free(loop);
    close(sfd);
    log_info("event=stopped");
    cs_config_free(&cf);
    cs_metrics_free();
    cs_hmac_free();
    curl_global_cleanup();

    return rc == 0 ? 0 : 1;
}
