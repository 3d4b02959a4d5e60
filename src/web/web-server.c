/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acs-buf.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "web-connection.h"
#include "web-server.h"

#define MAX_EVENTS 256
#define ACCEPT_BATCH 64

/* Appends s as a JSON string, quotes included. */
static int json_append_string(AcsBuf *b, const char *s) {
        int r = acs_buf_append_str(b, "\"");

        for (const unsigned char *p = (const unsigned char *) s; r >= 0 && *p; p++) {
                if (*p == '"' || *p == '\\')
                        r = acs_buf_printf(b, "\\%c", *p);
                else if (*p < 0x20)
                        r = acs_buf_printf(b, "\\u%04x", *p);
                else
                        r = acs_buf_append(b, p, 1);
        }
        return r < 0 ? r : acs_buf_append_str(b, "\"");
}

/* The part of every "/" answer that never changes, escaped once. */
static int server_make_identity(WebServer *s) {
        AcsBuf b = {};
        int r;

        r = acs_buf_append_str(&b, "\"vm\":");
        if (r >= 0)
                r = json_append_string(&b, s->settings.vm);
        if (r >= 0)
                r = acs_buf_append_str(&b, ",\"container\":");
        if (r >= 0)
                r = json_append_string(&b, s->settings.container);
        if (r >= 0)
                r = acs_buf_append_str(&b, ",\"service\":");
        if (r >= 0)
                r = json_append_string(&b, s->settings.service);
        if (r >= 0 && acs_buf_len(&b) >= WEB_IDENTITY_MAX)
                r = -E2BIG;
        if (r >= 0) {
                s->identity_json_len = acs_buf_len(&b);
                s->identity_json = acs_buf_steal_string(&b);
        }
        acs_buf_done(&b);
        if (r < 0)
                return r;
        return s->identity_json ? 0 : -ENOMEM;
}

static int server_listen(WebServer *s) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(s->settings.port),
        };
        _cleanup_close_ int fd = -1;

        if (inet_pton(AF_INET, s->settings.listen_address, &sa.sin_addr) != 1)
                return log_error_errno(EINVAL, "Listen address %s is not an IPv4 address.",
                                       s->settings.listen_address);

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create the listening socket: %m");
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Failed to bind %s:%u: %m", s->settings.listen_address,
                                       s->settings.port);
        if (listen(fd, 1024) < 0)
                return log_error_errno(errno, "Failed to listen on %s:%u: %m", s->settings.listen_address,
                                       s->settings.port);
        s->listen_fd = TAKE_FD(fd);
        return 0;
}

static int server_watch(WebServer *s, int fd, uint32_t events, void *ptr) {
        struct epoll_event ev = { .events = events, .data.ptr = ptr };

        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return log_error_errno(errno, "Failed to watch fd %d: %m", fd);
        return 0;
}

/* Stops or resumes accepting, so that at most max_connections are open. */
static void server_set_accepting(WebServer *s, bool on) {
        struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = &s->listen_fd };

        if (s->listen_fd < 0 || s->accepting == on)
                return;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev) < 0) {
                log_warning_errno(errno, "Failed to %s accepting, ignoring: %m", on ? "resume" : "pause");
                return;
        }
        s->accepting = on;
}

int web_server_new(const WebSettings *settings, WebServer **ret) {
        _cleanup_(web_server_freep) WebServer *s = NULL;
        sigset_t mask;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        s->settings = *settings;
        s->epoll_fd = s->listen_fd = s->signal_fd = -1;

        r = server_make_identity(s);
        if (r < 0)
                return log_error_errno(r, "Failed to prepare the answers' vm/container/service: %m");

        /* Block the signals we handle before any worker starts, so every thread inherits it
         * and they all arrive through the signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (s->signal_fd < 0)
                return log_error_errno(errno, "Failed to create signalfd: %m");

        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epoll_fd < 0)
                return log_error_errno(errno, "Failed to create epoll: %m");

        r = server_listen(s);
        if (r < 0)
                return r;

        r = web_workers_new(s->settings.n_workers, &s->workers);
        if (r < 0)
                return log_error_errno(r, "Failed to start %u workers: %m", s->settings.n_workers);

        r = server_watch(s, s->listen_fd, EPOLLIN, &s->listen_fd);
        if (r < 0)
                return r;
        s->accepting = true;
        r = server_watch(s, s->signal_fd, EPOLLIN, &s->signal_fd);
        if (r < 0)
                return r;
        r = server_watch(s, web_workers_fd(s->workers), EPOLLIN, s->workers);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

WebServer *web_server_free(WebServer *s) {
        if (!s)
                return NULL;
        /* Workers first: jobs live in connections. Burns in progress end early. */
        s->workers = web_workers_free(s->workers);
        while (s->connections)
                web_connection_free(s->connections);
        safe_close(s->listen_fd);
        safe_close(s->signal_fd);
        safe_close(s->epoll_fd);
        free(s->identity_json);
        return mfree(s);
}

void web_server_connection_closed(WebServer *s, WebConnection *c) {
        if (!s->draining && s->n_connections < s->settings.max_connections)
                server_set_accepting(s, true);
}

static void server_accept(WebServer *s) {
        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                WebConnection *c;
                int fd, r;

                if (s->n_connections >= s->settings.max_connections) {
                        /* Leave the rest in the backlog until a connection closes. */
                        server_set_accepting(s, false);
                        return;
                }
                fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return;
                        log_warning_errno(errno, "Failed to accept a connection: %m");
                        /* Out of file descriptors: wait for a connection to close. */
                        if (s->n_connections > 0)
                                server_set_accepting(s, false);
                        return;
                }
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int));
                r = web_connection_new(s, fd, &c);
                if (r < 0)
                        log_warning_errno(r, "Failed to set up a connection, closing it: %m");
                else
                        /* Requests often come with the connection: read without waiting. */
                        web_connection_dispatch(c, EPOLLIN);
        }
}

static void server_start_draining(WebServer *s, int signo) {
        WebConnection *c, *next;

        if (s->draining)
                return;
        s->draining = true;
        s->drain_deadline = now_usec(CLOCK_MONOTONIC) + s->settings.grace;
        log_info("Received %s: no longer accepting; finishing %" PRIu64 " request(s) in flight on %u connection(s).",
                 strsignal(signo), s->n_in_flight, s->n_connections);

        if (s->listen_fd >= 0) {
                (void) epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->listen_fd, NULL);
                s->listen_fd = safe_close(s->listen_fd);
                s->accepting = false;
        }
        for (c = s->connections; c; c = next) {
                next = c->connections_next;
                web_connection_drain(c);
        }
}

static void server_handle_signal(WebServer *s) {
        struct signalfd_siginfo si;

        while (read(s->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                server_start_draining(s, (int) si.ssi_signo);
}

static void server_handle_done_jobs(WebServer *s) {
        WebJob *j, *next;

        for (j = web_workers_take_done(s->workers); j; j = next) {
                next = j->next;
                web_connection_job_done(j->userdata);
        }
}

/* RFC 9110 asks origin servers with a clock for a Date header; format it once a second. */
static void server_update_date(WebServer *s) {
        time_t t = time(NULL);
        struct tm tm;

        if (t == s->date_time)
                return;
        s->date_time = t;
        if (!gmtime_r(&t, &tm) || strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
                s->date[0] = 0;
}

static void server_check_timeouts(WebServer *s, usec_t now) {
        WebConnection *c, *next;

        for (c = s->connections; c; c = next) {
                next = c->connections_next;
                web_connection_check_timeout(c, now);
        }
}

int web_server_run(WebServer *s) {
        struct epoll_event events[MAX_EVENTS];
        usec_t last_sweep = now_usec(CLOCK_MONOTONIC);

        log_info("acs-web %s serving %s:%u: %.1f ms of CPU per request (%.3g CPUs from %s%s%s), %u workers.",
                 ACS_VERSION, s->settings.listen_address, s->settings.port, s->settings.cost.cost_ms,
                 s->settings.cost.cpus, s->settings.cost.source,
                 s->settings.cost.fixed ? ", cost set by ACS_WEB_COST_MS" : "",
                 s->settings.client_cost ? ", clients may ask for up to ACS_WEB_MAX_COST_MS with ?cost_ms=" : "",
                 s->settings.n_workers);

        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                bool got_jobs = false, got_accept = false, got_signal = false;
                int timeout_ms = 1000, n;

                if (s->draining) {
                        if (s->n_connections == 0) {
                                log_info("Every request finished, exiting.");
                                return 0;
                        }
                        if (now >= s->drain_deadline) {
                                log_warning("Grace time over with %" PRIu64 " request(s) still in flight, exiting.",
                                            s->n_in_flight);
                                return -ETIMEDOUT;
                        }
                        timeout_ms = (int) MIN((s->drain_deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC,
                                               (usec_t) 1000);
                }

                n = epoll_wait(s->epoll_fd, events, MAX_EVENTS, timeout_ms);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "epoll_wait() failed: %m");
                }
                server_update_date(s);

                /* Connections first: finished jobs, new connections and signals may free or
                 * create connections, which must not happen while events name them. */
                for (int i = 0; i < n; i++) {
                        void *ptr = events[i].data.ptr;

                        if (ptr == s->workers)
                                got_jobs = true;
                        else if (ptr == &s->listen_fd)
                                got_accept = true;
                        else if (ptr == &s->signal_fd)
                                got_signal = true;
                        else
                                web_connection_dispatch(ptr, events[i].events);
                }
                if (got_jobs)
                        server_handle_done_jobs(s);
                if (got_accept && s->accepting)
                        server_accept(s);
                if (got_signal)
                        server_handle_signal(s);

                now = now_usec(CLOCK_MONOTONIC);
                if (now - last_sweep >= USEC_PER_SEC) {
                        server_check_timeouts(s, now);
                        last_sweep = now;
                }
        }
}
