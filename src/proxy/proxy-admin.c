/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acs-accept.h"
#include "acs-buf.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-admin.h"
#include "proxy-http.h"
#include "acs-list.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define ADMIN_TIMEOUT_USEC (5 * USEC_PER_SEC)

typedef struct AdminConn AdminConn;

/* /metrics and /stats are for a scraper or two; more is a flood. */
#define ADMIN_CONNECTIONS_MAX 64

struct Admin {
        Manager *manager;
        int fd;
        bool owns_fd;
        sd_event_source *listen_source;
        AcsAcceptGuard accept_guard;    /* out of fds or ADMIN_CONNECTIONS_MAX: pause */
        AdminConn *conns;
        unsigned n_conns;
};

struct AdminConn {
        Admin *admin;
        LIST_FIELDS(AdminConn, conns);
        int fd;
        sd_event_source *io;
        sd_event_source *timer;
        HttpParser parser;
        AcsBuf out;
        bool answered;
};

static AdminConn *admin_conn_free(AdminConn *ac) {
        if (!ac)
                return NULL;
        LIST_REMOVE(conns, ac->admin->conns, ac);
        ac->admin->n_conns--;
        acs_accept_guard_resume(&ac->admin->accept_guard);
        sd_event_source_disable_unref(ac->io);
        sd_event_source_disable_unref(ac->timer);
        safe_close(ac->fd);
        http_parser_done(&ac->parser);
        acs_buf_done(&ac->out);
        free(ac);
        return NULL;
}

enum {
        FAMILY_REQUESTS,
        FAMILY_ERRORS,
        FAMILY_IN_FLIGHT,
        FAMILY_UP,
        FAMILY_P99,
        _FAMILY_MAX,
};

static const char *const family_heads[_FAMILY_MAX] = {
        [FAMILY_REQUESTS] = "# HELP acs_proxy_backend_requests_total Requests sent to a backend.\n"
                            "# TYPE acs_proxy_backend_requests_total counter\n",
        [FAMILY_ERRORS] = "# HELP acs_proxy_backend_errors_total Failed requests per backend.\n"
                          "# TYPE acs_proxy_backend_errors_total counter\n",
        [FAMILY_IN_FLIGHT] = "# HELP acs_proxy_backend_in_flight Requests in flight per backend.\n"
                             "# TYPE acs_proxy_backend_in_flight gauge\n",
        [FAMILY_UP] = "# HELP acs_proxy_backend_up 1 when the backend takes new requests.\n"
                      "# TYPE acs_proxy_backend_up gauge\n",
        [FAMILY_P99] = "# HELP acs_proxy_backend_p99_seconds p99 latency over the last 10 s.\n"
                       "# TYPE acs_proxy_backend_p99_seconds gauge\n",
};

static void metric_backend(AcsBuf *b, unsigned family, Manager *m, Backend *be, usec_t now) {
        switch (family) {
        case FAMILY_REQUESTS:
                acs_buf_printf(b, "acs_proxy_backend_requests_total{backend=\"%s\"} %llu\n", be->name,
                               (unsigned long long) atomic_load(&be->requests_total));
                break;
        case FAMILY_ERRORS:
                acs_buf_printf(b, "acs_proxy_backend_errors_total{backend=\"%s\"} %llu\n", be->name,
                               (unsigned long long) atomic_load(&be->errors_total));
                break;
        case FAMILY_IN_FLIGHT:
                acs_buf_printf(b, "acs_proxy_backend_in_flight{backend=\"%s\"} %u\n", be->name,
                               atomic_load(&be->in_flight));
                break;
        case FAMILY_UP:
                acs_buf_printf(b, "acs_proxy_backend_up{backend=\"%s\",health=\"%s\"} %d\n", be->name,
                               backend_health_to_string(backend_health(be, now, m->settings.slow_start)),
                               backend_available(be, now) ? 1 : 0);
                break;
        case FAMILY_P99:
                acs_buf_printf(b, "acs_proxy_backend_p99_seconds{backend=\"%s\"} %.6f\n", be->name,
                               (double) backend_latency_p99(be, now) / (double) USEC_PER_SEC);
                break;
        }
}

/* Each family is one group of lines, as the Prometheus text format requires. */
static void metrics_backends(AcsBuf *b, Manager *m, BackendSet *set, usec_t now) {
        for (unsigned f = 0; f < _FAMILY_MAX; f++) {
                acs_buf_printf(b, "%s", family_heads[f]);
                for (unsigned i = 0; set && i < set->n_backends; i++)
                        metric_backend(b, f, m, set->backends[i], now);
        }
}

char *proxy_metrics_text(Manager *m) {
        _cleanup_(backend_set_unrefp) BackendSet *set = manager_get_backends(m);
        usec_t now = now_usec(CLOCK_MONOTONIC);
        AcsBuf b = {};

        acs_buf_printf(&b,
                       "# HELP acs_proxy_requests_total Requests answered by a backend.\n"
                       "# TYPE acs_proxy_requests_total counter\n"
                       "acs_proxy_requests_total %llu\n"
                       "# HELP acs_proxy_errors_total Backend failures and local error answers.\n"
                       "# TYPE acs_proxy_errors_total counter\n"
                       "acs_proxy_errors_total %llu\n"
                       "# HELP acs_proxy_in_flight Requests in flight.\n"
                       "# TYPE acs_proxy_in_flight gauge\n"
                       "acs_proxy_in_flight %u\n"
                       "# HELP acs_proxy_connections_total Client connections accepted.\n"
                       "# TYPE acs_proxy_connections_total counter\n"
                       "acs_proxy_connections_total %llu\n"
                       "# HELP acs_proxy_h2_streams_total HTTP/2 streams opened by clients.\n"
                       "# TYPE acs_proxy_h2_streams_total counter\n"
                       "acs_proxy_h2_streams_total %llu\n"
                       "# HELP acs_proxy_h2_stream_errors_total HTTP/2 streams refused (RST_STREAM PROTOCOL_ERROR or REFUSED_STREAM).\n"
                       "# TYPE acs_proxy_h2_stream_errors_total counter\n"
                       "acs_proxy_h2_stream_errors_total %llu\n"
                       "# HELP acs_proxy_h2_connections_refused_total HTTP/2 connections ended with an error, by reason.\n"
                       "# TYPE acs_proxy_h2_connections_refused_total counter\n"
                       "acs_proxy_h2_connections_refused_total{reason=\"rapid_reset\"} %llu\n"
                       "acs_proxy_h2_connections_refused_total{reason=\"flood\"} %llu\n"
                       "acs_proxy_h2_connections_refused_total{reason=\"protocol\"} %llu\n"
                       "# HELP acs_proxy_backend_generation Generation of the backend set in force.\n"
                       "# TYPE acs_proxy_backend_generation gauge\n"
                       "acs_proxy_backend_generation %llu\n",
                       (unsigned long long) atomic_load(&m->requests_total),
                       (unsigned long long) atomic_load(&m->errors_total),
                       atomic_load(&m->in_flight),
                       (unsigned long long) atomic_load(&m->connections_total),
                       (unsigned long long) atomic_load(&m->h2_streams_total),
                       (unsigned long long) atomic_load(&m->h2_stream_errors_total),
                       (unsigned long long) atomic_load(&m->h2_refused_total[H2_REFUSED_RAPID_RESET]),
                       (unsigned long long) atomic_load(&m->h2_refused_total[H2_REFUSED_FLOOD]),
                       (unsigned long long) atomic_load(&m->h2_refused_total[H2_REFUSED_PROTOCOL]),
                       (unsigned long long) (set ? set->generation : 0));
        metrics_backends(&b, m, set, now);
        char *text = acs_buf_steal_string(&b);
        acs_buf_done(&b);
        return text;
}

static int admin_conn_flush(AdminConn *ac) {
        while (acs_buf_len(&ac->out) > 0) {
                ssize_t n = write(ac->fd, acs_buf_peek(&ac->out), acs_buf_len(&ac->out));
                if (n < 0)
                        return errno == EAGAIN ? 0 : -errno;
                acs_buf_consume(&ac->out, (size_t) n);
        }
        if (ac->answered) {
                (void) shutdown(ac->fd, SHUT_WR);
                return 1;
        }
        return 0;
}

static void admin_reply(AdminConn *ac, unsigned status, const char *type, const char *body) {
        bool head = ac->parser.llhttp.method == HTTP_HEAD;

        acs_buf_printf(&ac->out, "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                       status, status == 200 ? "OK" : status == 404 ? "Not Found" : http_status_reason(status),
                       type, strlen(body), head ? "" : body);
        ac->answered = true;
        (void) sd_event_source_set_io_events(ac->io, EPOLLIN | EPOLLOUT);
}

static int admin_headers_complete(HttpParser *hp) {
        return 0;
}

static int admin_message_complete(HttpParser *hp) {
        AdminConn *ac = hp->userdata;
        const HttpHead *h = &hp->head;
        _cleanup_free_ char *path = strndup(h->buf + h->target, h->target_len), *text = NULL;

        if (!path)
                admin_reply(ac, 503, "text/plain", "out of memory\n");
        else if (hp->llhttp.method != HTTP_GET && hp->llhttp.method != HTTP_HEAD)
                admin_reply(ac, 405, "text/plain", "only GET\n");
        else if (streq(path, "/metrics")) {
                text = proxy_metrics_text(ac->admin->manager);
                admin_reply(ac, text ? 200 : 503, "text/plain; version=0.0.4", text ?: "");
        } else if (streq(path, "/healthz"))
                admin_reply(ac, 200, "text/plain", "ok\n");
        else
                admin_reply(ac, 404, "text/plain", "not found\n");
        return HPE_PAUSED;
}

static const HttpParserOps admin_parser_ops = {
        .headers_complete = admin_headers_complete,
        .body = http_parser_drop_body,
        .message_complete = admin_message_complete,
};

static int admin_conn_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AdminConn *ac = userdata;
        char buf[4096];
        size_t consumed;
        ssize_t n;
        int r;

        if ((revents & EPOLLIN) && !ac->answered) {
                n = read(fd, buf, sizeof(buf));
                if (n <= 0) {
                        if (n < 0 && errno == EAGAIN)
                                return 0;
                        admin_conn_free(ac);
                        return 0;
                }
                llhttp_errno_t e = http_parser_feed(&ac->parser, buf, (size_t) n, &consumed);
                if (e != HPE_OK && e != HPE_PAUSED)
                        admin_reply(ac, ac->parser.status ?: 400, "text/plain", "bad request\n");
        } else if ((revents & EPOLLIN) && ac->answered) {
                n = read(fd, buf, sizeof(buf));
                if (n == 0 || (n < 0 && errno != EAGAIN)) {
                        admin_conn_free(ac);
                        return 0;
                }
        }
        r = admin_conn_flush(ac);
        if (r < 0)
                admin_conn_free(ac);
        else if (r > 0)
                (void) sd_event_source_set_io_events(ac->io, EPOLLIN);
        return 0;
}

static int admin_conn_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        admin_conn_free(userdata);
        return 0;
}

static int admin_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Admin *a = userdata;
        Manager *m = a->manager;
        AdminConn *ac;
        int cfd, r;

        if (a->n_conns >= ADMIN_CONNECTIONS_MAX) {
                acs_accept_guard_pause_at_limit(&a->accept_guard, ADMIN_CONNECTIONS_MAX);
                return 0;
        }
        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                /* Out of fds the socket stays readable: stop watching it for a while. */
                if (acs_accept_error_is_resource(errno))
                        acs_accept_guard_pause(&a->accept_guard, errno);
                return 0;
        }
        ac = calloc(1, sizeof(AdminConn));
        if (!ac) {
                safe_close(cfd);
                return 0;
        }
        ac->admin = a;
        ac->fd = cfd;
        LIST_PREPEND(conns, a->conns, ac);
        a->n_conns++;
        http_parser_init(&ac->parser, HTTP_REQUEST, &admin_parser_ops, ac, 1024, 8192);
        r = sd_event_add_io(m->event, &ac->io, cfd, EPOLLIN, admin_conn_on_io, ac);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &ac->timer, CLOCK_MONOTONIC, ADMIN_TIMEOUT_USEC, 0,
                                               admin_conn_on_timeout, ac);
        if (r < 0)
                admin_conn_free(ac);
        return 0;
}

int admin_new(Manager *m, Admin **ret) {
        Admin *a = calloc(1, sizeof(Admin));
        int r;

        if (!a)
                return log_oom();
        a->manager = m;
        if (m->admin_fd >= 0) {
                a->fd = m->admin_fd;
                m->admin_fd = -1;
        } else {
                r = proxy_listen_socket(m->settings.admin_listen, false, &a->fd);
                if (r < 0) {
                        free(a);
                        return r;
                }
        }
        r = sd_event_add_io(m->event, &a->listen_source, a->fd, EPOLLIN, admin_on_accept, a);
        if (r < 0) {
                admin_free(a);
                return log_error_errno(r, "Failed to watch the admin socket: %m");
        }
        acs_accept_guard_init(&a->accept_guard, a->listen_source, "admin connections");
        *ret = a;
        return 0;
}

Admin *admin_free(Admin *a) {
        if (!a)
                return NULL;
        acs_accept_guard_done(&a->accept_guard);
        while (a->conns)
                admin_conn_free(a->conns);
        sd_event_source_disable_unref(a->listen_source);
        safe_close(a->fd);
        free(a);
        return NULL;
}
