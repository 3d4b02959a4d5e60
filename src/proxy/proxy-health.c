/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-health.h"
#include "proxy-http.h"
#include "acs-list.h"
#include "proxy-manager.h"

typedef struct HealthProbe HealthProbe;

struct HealthChecker {
        Manager *manager;
        sd_event_source *timer;
        HealthProbe *probes;
};

struct HealthProbe {
        HealthChecker *checker;
        LIST_FIELDS(HealthProbe, probes);
        Backend *backend;
        int fd;
        sd_event_source *io;
        sd_event_source *timeout;
        HttpParser parser;
        AcsBuf out;
        bool connected;
        bool done;
        unsigned status;
};

static HealthProbe *probe_free(HealthProbe *p) {
        if (!p)
                return NULL;
        LIST_REMOVE(probes, p->checker->probes, p);
        sd_event_source_disable_unref(p->io);
        sd_event_source_disable_unref(p->timeout);
        safe_close(p->fd);
        http_parser_done(&p->parser);
        acs_buf_done(&p->out);
        backend_unref(p->backend);
        free(p);
        return NULL;
}

/* Applies one result with rise/fall hysteresis. */
static void probe_finish(HealthProbe *p, bool ok, const char *why) {
        Manager *m = p->checker->manager;
        Backend *b = p->backend;
        bool down = atomic_load(&b->checked_down);

        if (ok) {
                b->check_fail = 0;
                if (down && ++b->check_ok >= m->settings.health_rise) {
                        atomic_store(&b->up_since, now_usec(CLOCK_MONOTONIC));
                        atomic_store(&b->checked_down, false);
                        log_event(LOG_NOTICE, "backend-up", NULL, NULL, "Backend %s is up (health check passed %u times).",
                                  b->name, b->check_ok);
                }
        } else {
                b->check_ok = 0;
                if (!down && ++b->check_fail >= m->settings.health_fall) {
                        atomic_store(&b->checked_down, true);
                        log_event(LOG_WARNING, "backend-down", NULL, NULL, "Backend %s is down: %s (%u failed checks).",
                                  b->name, why, b->check_fail);
                }
        }
        probe_free(p);
}

static int probe_headers_complete(HttpParser *hp) {
        HealthProbe *p = hp->userdata;

        p->status = hp->llhttp.status_code;
        return 0;
}

static int probe_message_complete(HttpParser *hp) {
        HealthProbe *p = hp->userdata;

        if (p->status >= 100 && p->status < 200)
                return 0;
        p->done = true;
        return HPE_PAUSED;
}

static const HttpParserOps probe_ops = {
        .headers_complete = probe_headers_complete,
        .body = http_parser_drop_body,
        .message_complete = probe_message_complete,
};

static int probe_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HealthProbe *p = userdata;
        char buf[4096];
        size_t consumed;
        ssize_t n;

        if (!p->connected) {
                int error = 0;
                socklen_t len = sizeof(error);

                (void) getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
                if (error != 0) {
                        probe_finish(p, false, strerror(error));
                        return 0;
                }
                p->connected = true;
        }
        while (acs_buf_len(&p->out) > 0) {
                n = write(fd, acs_buf_peek(&p->out), acs_buf_len(&p->out));
                if (n < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        probe_finish(p, false, strerror(errno));
                        return 0;
                }
                acs_buf_consume(&p->out, (size_t) n);
                if (acs_buf_len(&p->out) == 0)
                        (void) sd_event_source_set_io_events(p->io, EPOLLIN);
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EAGAIN)
                return 0;
        if (n <= 0) {
                if (n == 0 && p->parser.in_message)
                        (void) llhttp_finish(&p->parser.llhttp);
                if (p->done)
                        probe_finish(p, p->status >= 200 && p->status < 300, "unexpected status");
                else
                        probe_finish(p, false, n == 0 ? "connection closed" : strerror(errno));
                return 0;
        }
        llhttp_errno_t e = http_parser_feed(&p->parser, buf, (size_t) n, &consumed);
        if (e != HPE_OK && e != HPE_PAUSED) {
                probe_finish(p, false, "malformed response");
                return 0;
        }
        if (p->done) {
                char why[32];
                snprintf(why, sizeof(why), "status %u", p->status);
                probe_finish(p, p->status >= 200 && p->status < 300, why);
        }
        return 0;
}

static int probe_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        probe_finish(userdata, false, "timed out");
        return 0;
}

static void probe_start(HealthChecker *h, Backend *b) {
        Manager *m = h->manager;
        HealthProbe *p;
        usec_t timeout = MIN(m->settings.health_interval, 2 * USEC_PER_SEC);
        int r;

        /* One probe per backend at a time. */
        for (p = h->probes; p; p = p->probes_next)
                if (p->backend == b)
                        return;

        p = calloc(1, sizeof(HealthProbe));
        if (!p)
                return;
        p->checker = h;
        p->backend = backend_ref(b);
        p->fd = -1;
        LIST_PREPEND(probes, h->probes, p);
        http_parser_init(&p->parser, HTTP_RESPONSE, &probe_ops, p, 8192, 16384);

        p->fd = socket(b->sockaddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->fd < 0 || (connect(p->fd, (struct sockaddr *) &b->sockaddr, b->sockaddr_len) < 0 && errno != EINPROGRESS)) {
                probe_finish(p, false, strerror(errno));
                return;
        }
        r = acs_buf_printf(&p->out, "GET /healthz HTTP/1.1\r\nHost: %s\r\nUser-Agent: acs-proxy-check\r\n"
                           "Connection: close\r\n\r\n", b->name);
        if (r >= 0)
                r = sd_event_add_io(m->event, &p->io, p->fd, EPOLLOUT, probe_on_io, p);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &p->timeout, CLOCK_MONOTONIC, timeout, 0,
                                               probe_on_timeout, p);
        if (r < 0)
                probe_free(p);
}

static int health_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        HealthChecker *h = userdata;
        _cleanup_(backend_set_unrefp) BackendSet *set = manager_get_backends(h->manager);

        for (unsigned i = 0; set && i < set->n_backends; i++)
                probe_start(h, set->backends[i]);
        return sd_event_source_set_time_relative(s, h->manager->settings.health_interval);
}

int health_checker_new(Manager *m, HealthChecker **ret) {
        HealthChecker *h = calloc(1, sizeof(HealthChecker));
        int r;

        if (!h)
                return log_oom();
        h->manager = m;
        r = sd_event_add_time_relative(m->event, &h->timer, CLOCK_MONOTONIC, 0, 0, health_on_timer, h);
        if (r < 0) {
                free(h);
                return log_error_errno(r, "Failed to add the health check timer: %m");
        }
        (void) sd_event_source_set_enabled(h->timer, SD_EVENT_ON);
        *ret = h;
        return 0;
}

HealthChecker *health_checker_free(HealthChecker *h) {
        if (!h)
                return NULL;
        while (h->probes)
                probe_free(h->probes);
        sd_event_source_disable_unref(h->timer);
        free(h);
        return NULL;
}
