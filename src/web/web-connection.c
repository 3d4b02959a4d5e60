/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "web-connection.h"

/* acs-web serves tiny GETs: anything much bigger is a mistake or an attack. */
static const AcsHttpLimits web_request_limits = {
        .max_target = 4096,
        .max_header_bytes = 8192,
        .max_headers = 48,
        .max_body = 64 * 1024,
};

#define READ_CHUNK (16 * 1024)
#define IN_MAX (64 * 1024)
#define OUT_MAX (1024 * 1024)
/* Past this much unwritten output, stop parsing pipelined requests until the client reads. */
#define OUT_HIGH_WATER (64 * 1024)
/* How long a closing connection reads and drops what the client still sends. */
#define LINGER_USEC (2 * USEC_PER_SEC)

int web_connection_new(WebServer *s, int fd, WebConnection **ret) {
        WebConnection *c;
        struct epoll_event ev;

        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->server = s;
        c->fd = fd;
        c->in.max = IN_MAX;
        c->out.max = OUT_MAX;
        c->last_activity = now_usec(CLOCK_MONOTONIC);
        c->parser = acs_http_request_parser_new(&web_request_limits);
        if (!c->parser) {
                web_connection_free(c);
                return -ENOMEM;
        }

        ev = (struct epoll_event) {
                .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                .data.ptr = c,
        };
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = negative_errno();
                web_connection_free(c);
                return r;
        }

        LIST_PREPEND(connections, s->connections, c);
        s->n_connections++;
        *ret = c;
        return 0;
}

WebConnection *web_connection_free(WebConnection *c) {
        if (!c)
                return NULL;
        if (c->connections_prev || c->connections_next || c->server->connections == c) {
                LIST_REMOVE(connections, c->server->connections, c);
                c->server->n_connections--;
                web_server_connection_closed(c->server, c);
        }
        /* Closing the fd also takes it out of the epoll set. */
        safe_close(c->fd);
        acs_http_request_parser_free(c->parser);
        acs_buf_done(&c->in);
        acs_buf_done(&c->out);
        return mfree(c);
}

/* Answers are assembled by hand rather than with printf: formatting was most of the work of a
 * cost_ms=0 request (callgrind), and acs-web is meant to keep up with nginx. */
static char *put_mem(char *p, const void *s, size_t n) {
        memcpy(p, s, n);
        return p + n;
}

static char *put_str(char *p, const char *s) {
        return put_mem(p, s, strlen(s));
}

static char *put_uint(char *p, uint64_t v) {
        char digits[20];
        size_t n = 0;

        do
                digits[n++] = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        while (n > 0)
                *p++ = digits[--n];
        return p;
}

#define PUT_LITERAL(p, s) put_mem((p), (s), sizeof(s) - 1)

/* The most a header block takes besides extra_headers: status line, fixed fields, date,
 * length digits. */
#define HEADER_MAX 384

/* Queues an answer. keep_alive false closes the connection once it is written. */
static void connection_respond(WebConnection *c, int status, const char *extra_headers,
                               const char *body, size_t body_size, bool head, bool keep_alive) {
        size_t extra = extra_headers ? strlen(extra_headers) : 0;
        char *start, *p;
        int r = 0;

        keep_alive = keep_alive && !c->server->draining;
        start = p = (char *) acs_buf_reserve(&c->out, HEADER_MAX + extra + body_size, &r);
        if (!p) {
                /* A client that pipelines without reading its answers: stop serving it. */
                log_debug_errno(r, "Failed to queue an answer, closing the connection: %m");
                c->want_close = true;
                return;
        }
        p = PUT_LITERAL(p, "HTTP/1.1 ");
        p = put_uint(p, (uint64_t) status);
        *p++ = ' ';
        p = put_str(p, acs_http_status_reason(status));
        p = PUT_LITERAL(p, "\r\nServer: acs-web\r\nDate: ");
        p = put_str(p, c->server->date);
        p = PUT_LITERAL(p, "\r\nContent-Type: application/json\r\nContent-Length: ");
        p = put_uint(p, body_size);
        p = PUT_LITERAL(p, "\r\n");
        if (extra_headers)
                p = put_mem(p, extra_headers, extra);
        if (keep_alive)
                p = PUT_LITERAL(p, "Connection: keep-alive\r\n\r\n");
        else
                p = PUT_LITERAL(p, "Connection: close\r\n\r\n");
        if (!head)
                p = put_mem(p, body, body_size);
        acs_buf_commit(&c->out, (size_t) (p - start));
        if (!keep_alive)
                c->want_close = true;
}

static void connection_respond_json(WebConnection *c, int status, bool head, bool keep_alive,
                                    const char *format, ...) _printf_(5, 6);

/* Errors and health answers: rare or tiny, printf is fine here. */
static void connection_respond_json(WebConnection *c, int status, bool head, bool keep_alive,
                                    const char *format, ...) {
        char body[512];
        va_list ap;
        int n;

        va_start(ap, format);
        n = vsnprintf(body, sizeof(body), format, ap);
        va_end(ap);
        n = CLAMP(n, 0, (int) sizeof(body) - 1);
        connection_respond(c, status, status == 405 ? "Allow: GET, HEAD\r\n" : NULL, body, (size_t) n,
                           head, keep_alive);
}

/* {"vm":…,"container":…,"service":…,"request":N,"cpu_ms":M.mmm} */
static void connection_respond_root(WebConnection *c, uint64_t number, usec_t cpu_used, bool head, bool keep_alive) {
        const WebServer *s = c->server;
        char body[WEB_IDENTITY_MAX + 96], *p = body;
        uint64_t frac = cpu_used % USEC_PER_MSEC;

        *p++ = '{';
        p = put_mem(p, s->identity_json, s->identity_json_len);
        p = PUT_LITERAL(p, ",\"request\":");
        p = put_uint(p, number);
        p = PUT_LITERAL(p, ",\"cpu_ms\":");
        p = put_uint(p, cpu_used / USEC_PER_MSEC);
        *p++ = '.';
        *p++ = (char) ('0' + frac / 100);
        *p++ = (char) ('0' + frac / 10 % 10);
        *p++ = (char) ('0' + frac % 10);
        p = PUT_LITERAL(p, "}\n");
        connection_respond(c, 200, NULL, body, (size_t) (p - body), head, keep_alive);
}

/* "/": burns the request's cost on a worker, or answers at once when it costs nothing. */
static void connection_handle_root(WebConnection *c, const AcsHttpRequest *req, bool head) {
        WebServer *s = c->server;
        double cost_ms = s->settings.cost.cost_ms;
        const char *v;
        size_t len;

        /* Without the operator's leave a client's ?cost_ms= is ignored, not refused: the request
         * costs what every request costs, so it cannot make the container burn more. */
        v = s->settings.client_cost ? acs_http_query_find(req->query, "cost_ms", &len) : NULL;
        if (v && web_cost_parse_ms(v, len, s->settings.max_cost_ms, &cost_ms) < 0) {
                connection_respond_json(c, 400, head, req->keep_alive,
                                        "{\"error\":\"cost_ms must be a number of milliseconds from 0 to %g\"}\n",
                                        s->settings.max_cost_ms);
                return;
        }

        s->n_requests++;
        if (cost_ms <= 0) {
                connection_respond_root(c, s->n_requests, 0, head, req->keep_alive);
                return;
        }

        c->busy = true;
        c->head = head;
        c->keep_alive = req->keep_alive;
        c->request_number = s->n_requests;
        c->job = (WebJob) {
                .cost = (usec_t) (cost_ms * (double) USEC_PER_MSEC),
                .userdata = c,
        };
        s->n_in_flight++;
        web_workers_submit(s->workers, &c->job);
}

static void connection_handle_request(WebConnection *c, const AcsHttpRequest *req) {
        bool head = streq(req->method, "HEAD");

        if (!head && !streq(req->method, "GET")) {
                connection_respond_json(c, 405, false, req->keep_alive,
                                        "{\"error\":\"method %s is not allowed\"}\n", req->method);
                return;
        }
        if (streq(req->path, "/")) {
                connection_handle_root(c, req, head);
                return;
        }
        if (streq(req->path, "/healthz")) {
                connection_respond_json(c, 200, head, req->keep_alive, "{\"status\":\"alive\"}\n");
                return;
        }
        if (streq(req->path, "/readyz")) {
                if (c->server->draining) {
                        connection_respond_json(c, 503, head, req->keep_alive, "{\"status\":\"draining\"}\n");
                        return;
                }
                connection_respond_json(c, 200, head, req->keep_alive, "{\"status\":\"ready\"}\n");
                return;
        }
        connection_respond_json(c, 404, head, req->keep_alive, "{\"error\":\"not found\"}\n");
}

/* Reads and drops what the client sends until it closes; frees the connection then. */
static int connection_linger(WebConnection *c) {
        char buf[4096];

        for (;;) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

                if (n > 0)
                        continue;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                web_connection_free(c);
                return -ECONNRESET;
        }
}

/* Closing while the client may still be sending (a refused body, pipelined requests) would
 * make the kernel answer with a reset, which can destroy our last answer before the client
 * reads it. So shut down our side, and close once the client did, or after LINGER_USEC. */
static int connection_close_gracefully(WebConnection *c) {
        if (shutdown(c->fd, SHUT_WR) < 0) {
                web_connection_free(c);
                return -ECONNRESET;
        }
        c->lingering = true;
        c->linger_deadline = now_usec(CLOCK_MONOTONIC) + LINGER_USEC;
        return connection_linger(c);
}

/* Writes what is queued. Returns -ECONNRESET when the connection was closed (and freed). */
static int connection_flush(WebConnection *c) {
        while (acs_buf_len(&c->out) > 0) {
                ssize_t n = send(c->fd, acs_buf_peek(&c->out), acs_buf_len(&c->out), MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;   /* EPOLLOUT brings us back */
                        log_debug_errno(errno, "Failed to write to a client, closing: %m");
                        c->want_close = true;
                        acs_buf_clear(&c->out);
                        break;
                }
                acs_buf_consume(&c->out, (size_t) n);
                c->last_activity = now_usec(CLOCK_MONOTONIC);
        }
        if (c->want_close && !c->busy && !c->lingering)
                return connection_close_gracefully(c);
        return 0;
}

/* Reads one chunk: 1 when bytes came, 0 when there are none now, -ECONNRESET at EOF or error. */
static int connection_read(WebConnection *c) {
        uint8_t *p;
        ssize_t n;
        int r = 0;

        if (c->drained)
                return 0;
        p = acs_buf_reserve(&c->in, READ_CHUNK, &r);
        if (!p)
                return r;
        for (;;) {
                n = recv(c->fd, p, READ_CHUNK, 0);
                if (n > 0) {
                        acs_buf_commit(&c->in, (size_t) n);
                        c->last_activity = now_usec(CLOCK_MONOTONIC);
                        /* Less than asked for: the socket is empty now, and new bytes will
                         * raise a new edge. Saves the recv() that would say EAGAIN. */
                        c->drained = n < READ_CHUNK;
                        return 1;
                }
                if (n == 0)
                        return -ECONNRESET;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN)
                        return 0;
                return negative_errno();
        }
}

/* Reads, parses and answers until the socket is empty, a job is running, or the client must
 * first read what we wrote. */
static void connection_process(WebConnection *c) {
        while (!c->busy && !c->want_close && acs_buf_len(&c->out) < OUT_HIGH_WATER) {
                const AcsHttpRequest *req;
                size_t consumed;
                int r;

                if (acs_buf_len(&c->in) == 0) {
                        r = connection_read(c);
                        if (r == 0)
                                break;
                        if (r < 0) {
                                /* The client is gone or half-closed: what it sent in full is
                                 * answered above, a request it cut short is dropped. */
                                c->want_close = true;
                                break;
                        }
                }

                r = acs_http_request_parser_feed(c->parser, acs_buf_peek(&c->in), acs_buf_len(&c->in),
                                                 &consumed, &req);
                acs_buf_consume(&c->in, consumed);
                /* The request's clock runs from its first byte, whatever trickles after it. */
                if (r > 0)
                        c->request_started = 0;
                else if (c->request_started == 0 && acs_http_request_parser_in_request(c->parser))
                        c->request_started = c->last_activity;
                if (r < 0) {
                        log_debug("Refusing a request: %s", acs_http_request_parser_error_reason(c->parser));
                        connection_respond_json(c, acs_http_request_parser_error_status(c->parser), false, false,
                                                "{\"error\":\"%s\"}\n",
                                                acs_http_request_parser_error_reason(c->parser));
                        break;
                }
                if (r > 0)
                        connection_handle_request(c, req);
        }
        (void) connection_flush(c);
}

void web_connection_dispatch(WebConnection *c, uint32_t events) {
        if (c->lingering) {
                (void) connection_linger(c);
                return;
        }
        if (events & EPOLLERR) {
                if (c->busy)
                        c->want_close = true;  /* freed when its job comes back */
                else
                        web_connection_free(c);
                return;
        }
        if ((events & EPOLLOUT) && connection_flush(c) < 0)
                return;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
                c->drained = false;
                connection_process(c);
        }
        else if (!c->busy && acs_buf_len(&c->out) < OUT_HIGH_WATER)
                /* Writable again after a high-water stop: parse what is still waiting. */
                connection_process(c);
}

void web_connection_job_done(WebConnection *c) {
        WebServer *s = c->server;

        s->n_in_flight--;
        c->busy = false;
        if (c->want_close && acs_buf_len(&c->out) == 0) {
                /* The client went away while we worked. */
                web_connection_free(c);
                return;
        }
        connection_respond_root(c, c->request_number, c->job.used, c->head, c->keep_alive);
        /* Edge-triggered: bytes that came while busy raised no new event, so look now. */
        connection_process(c);
}

void web_connection_drain(WebConnection *c) {
        if (c->busy || acs_http_request_parser_in_request(c->parser) || acs_buf_len(&c->out) > 0)
                return;  /* answered with "Connection: close", then closed */
        web_connection_free(c);
}

void web_connection_check_timeout(WebConnection *c, usec_t now) {
        bool in_request;
        usec_t limit;

        if (c->lingering) {
                if (now >= c->linger_deadline)
                        web_connection_free(c);
                return;
        }
        if (c->busy)
                return;
        in_request = acs_http_request_parser_in_request(c->parser);
        /* A request has request_timeout from its first byte on, not from its last: a byte now
         * and then must not hold the connection. */
        if (in_request && c->request_started > 0) {
                if (now - c->request_started < c->server->settings.request_timeout)
                        return;
        } else {
                limit = in_request ? c->server->settings.request_timeout : c->server->settings.idle_timeout;
                if (now - c->last_activity < limit)
                        return;
        }
        if (in_request && acs_buf_len(&c->out) == 0) {
                connection_respond_json(c, 408, false, false, "{\"error\":\"request not received in time\"}\n");
                (void) connection_flush(c);
                return;
        }
        web_connection_free(c);
}
