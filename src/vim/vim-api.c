/* SPDX-License-Identifier: MIT */
/*
 * The HTTP side of the VIM: a small non-blocking HTTP/1.1 server on the event loop. Requests are
 * read with the bounded llhttp reader (acs-http-request.h); each connection's error closes that
 * connection only. Reads need nothing; every change needs the [Api] Token= as a bearer token.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "acs-log.h"
#include "acs-ratelimit.h"
#include "acs-macro.h"
#include "acs-tls-stream.h"
#include "vim-api-internal.h"
#include "vim-manager.h"
#include "vim-policy.h"

#define API_CONNECTIONS_MAX 256
/* A request is a small JSON object at most: a head and 64 KiB of body. */
#define API_BODY_MAX ((size_t) 64 * 1024)
#define API_INPUT_MAX ((size_t) 32 * 1024 + API_BODY_MAX)
#define API_OUTPUT_MAX ((size_t) 8 * 1024 * 1024)
#define API_STATIC_FILE_MAX ((size_t) 8 * 1024 * 1024)
/* Pipelined requests wait while this much of the answers is unread. */
#define API_OUTPUT_PAUSE ((size_t) 64 * 1024)
/* What an event stream may have queued: a client that does not read is dropped, not buffered. */
#define API_EVENT_QUEUE_MAX ((size_t) 256 * 1024)
#define API_EVENT_STALL_MAX (10 * USEC_PER_SEC)

static const AcsHttpLimits api_http_limits = {
        .max_target = 8 * 1024,
        .max_header_bytes = 16 * 1024,
        .max_headers = 64,
        .max_body = API_BODY_MAX,
};




VimProbe **vim_api_connection_probe(VimApiConnection *c) {
        return &c->probe;
}

static void connection_update_events(VimApiConnection *c);

static VimApiConnection *connection_free(VimApiConnection *c) {
        if (!c)
                return NULL;
        vim_api_probe_forget(c);
        if (c->api) {
                LIST_REMOVE(connections, c->api->connections, c);
                c->api->n_connections--;
                c->api->n_event_streams -= c->sse;
                acs_accept_guard_resume(&c->api->accept_guard);
        }
        sd_event_source_disable_unref(c->io);
        acs_tls_stream_done(&c->stream);
        safe_close(c->fd);
        acs_http_request_parser_free(c->parser);
        acs_buf_done(&c->in);
        acs_buf_done(&c->out);
        return mfree(c);
}

/* Queues bytes; a peer that does not read (an event stream) is cut off rather than buffered
 * without bound. */
static void connection_write(VimApiConnection *c, const void *p, size_t n) {
        if (acs_buf_append(&c->out, p, n) < 0) {
                if (log_ratelimit_here(LOG_INFO, NULL))
                        log_info("API client %s does not read, closing.", c->peer);
                acs_buf_clear(&c->out);
                c->closing = true;
                (void) shutdown(c->fd, SHUT_RDWR);
        }
        connection_update_events(c);
}

void vim_api_connection_reply(VimApiConnection *c, int status, const char *content_type, const void *body,
                              size_t size, const char *extra_headers) {
        char head[512];
        int l;

        if (!c->keep_alive)
                c->closing = true;
        l = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "%s"
                     "Connection: %s\r\n\r\n",
                     status, acs_http_status_reason(status), content_type, size, strempty(extra_headers),
                     c->closing ? "close" : "keep-alive");
        connection_write(c, head, (size_t) l);
        if (size > 0)
                connection_write(c, body, size);
}

void vim_api_connection_reply_json(VimApiConnection *c, int status, json_object *body) {
        const char *s = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);

        c->busy = false;
        vim_api_connection_reply(c, status, "application/json", s, strlen(s), NULL);
}

void vim_api_connection_reply_error(VimApiConnection *c, int status, const char *format, ...) {
        _cleanup_(vim_json_putp) json_object *o = json_object_new_object();
        char message[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        if (!o || json_object_object_add(o, "error", json_object_new_string(message)) < 0) {
                vim_api_connection_reply(c, 500, "text/plain", "", 0, NULL);
                return;
        }
        c->busy = false;
        vim_api_connection_reply(c, status, "application/json", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                         strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)),
                         status == 401 ? "WWW-Authenticate: Bearer realm=\"acs\"\r\n" : NULL);
}

/* --- events */

static void sse_broadcast(VimApi *api, const char *event, const char *data) {
        for (VimApiConnection *c = api->connections; c; c = c->connections_next) {
                if (!c->sse || c->closing)
                        continue;
                if (acs_buf_len(&c->out) > API_EVENT_QUEUE_MAX) {
                        if (log_ratelimit_here(LOG_INFO, NULL))
                                log_info("Event stream client %s does not read, closing.", c->peer);
                        acs_buf_clear(&c->out);
                        c->closing = true;
                        (void) shutdown(c->fd, SHUT_RDWR);
                        connection_update_events(c);
                        continue;
                }
                connection_write(c, "event: ", 7);
                connection_write(c, event, strlen(event));
                connection_write(c, "\ndata: ", 7);
                connection_write(c, data, strlen(data));
                connection_write(c, "\n\n", 2);
        }
}

static void api_on_log_event(int level, const char *event, const char *vm, const char *container, const char *message,
                             void *userdata) {
        VimApi *api = userdata;
        _cleanup_(vim_json_putp) json_object *o = json_object_new_object();
        char *s;

        if (!o)
                return;
        (void) json_object_object_add(o, "time", vim_json_double((double) now_usec(CLOCK_REALTIME) / USEC_PER_SEC, 3));
        (void) json_object_object_add(o, "level", json_object_new_string(log_level_to_string(level)));
        (void) json_object_object_add(o, "event", json_object_new_string(event));
        (void) json_object_object_add(o, "vm", vm ? json_object_new_string(vm) : NULL);
        (void) json_object_object_add(o, "container", container ? json_object_new_string(container) : NULL);
        (void) json_object_object_add(o, "message", json_object_new_string(message));
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        if (!s)
                return;

        if (api->log_n == VIM_API_LOG_REPLAY) {
                free(api->log_ring[api->log_head]);
                api->log_ring[api->log_head] = s;
                api->log_head = (api->log_head + 1) % VIM_API_LOG_REPLAY;
        } else
                api->log_ring[(api->log_head + api->log_n++) % VIM_API_LOG_REPLAY] = s;
        sse_broadcast(api, "log", s);
}

/* Whether the connection has outlived one of its deadlines; closes it if so. The head and body
 * of a request must arrive within [Api] RequestTimeout= of its first byte, however they trickle
 * in; a connection waiting for its next request gets IdleTimeout=; an event stream whose output
 * has not drained for a while is a client that does not read. */
static bool connection_check_deadlines(VimApiConnection *c, usec_t now) {
        const VimSettings *s = &c->api->manager->settings;
        const char *why = NULL;

        if (c->busy)
                return false;
        if (c->stalled_since > 0)
                why = c->stalled_since + (c->sse ? API_EVENT_STALL_MAX : s->request_timeout) < now ? "does not read"
                                                                                                   : NULL;
        else if (c->sse)
                why = NULL;
        else if (c->request_started > 0)
                why = c->request_started + s->request_timeout < now ? "sent no whole request in time" : NULL;
        else if (acs_buf_len(&c->out) == 0)
                why = c->last_activity + s->idle_timeout < now ? "idle" : NULL;
        if (!why)
                return false;
        log_debug("API client %s %s, closing.", c->peer, why);
        connection_free(c);
        return true;
}

static int api_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        VimApi *api = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        bool any = false;

        (void) sd_event_source_set_time_relative(s, USEC_PER_SEC);
        for (VimApiConnection *c = api->connections, *next; c; c = next) {
                next = c->connections_next;
                if (connection_check_deadlines(c, now))
                        continue;
                any = any || c->sse;
        }
        if (any) {
                _cleanup_(vim_json_putp) json_object *state = vim_api_state_json(api->manager);

                if (state)
                        sse_broadcast(api, "state", json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN));
        }
        return 0;
}

void vim_api_serve_events(VimApiConnection *c) {
        static const char head[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/event-stream\r\n"
                                   "Cache-Control: no-store\r\n"
                                   "X-Accel-Buffering: no\r\n"
                                   "Connection: keep-alive\r\n\r\n";
        VimApi *api = c->api;
        _cleanup_(vim_json_putp) json_object *state = NULL;

        if (api->n_event_streams >= api->manager->settings.max_event_streams) {
                if (log_ratelimit_here(LOG_NOTICE, NULL))
                        log_notice("Refusing event stream client %s: [Api] MaxEventStreams=%u reached.", c->peer,
                                   api->manager->settings.max_event_streams);
                c->keep_alive = false;
                return vim_api_connection_reply_error(c, 503, "Too many event streams.");
        }
        c->sse = true;
        api->n_event_streams++;
        /* What a stream client leaves unread stays small in the kernel too; the rest queues in
         * out, up to API_EVENT_QUEUE_MAX. */
        (void) setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &(int) { 64 * 1024 }, sizeof(int));
        connection_write(c, head, sizeof(head) - 1);
        /* The last events first, so a new page shows what just happened. */
        for (size_t i = 0; i < api->log_n; i++) {
                const char *s = api->log_ring[(api->log_head + i) % VIM_API_LOG_REPLAY];

                connection_write(c, "event: log\ndata: ", 17);
                connection_write(c, s, strlen(s));
                connection_write(c, "\n\n", 2);
        }
        state = vim_api_state_json(api->manager);
        if (state) {
                const char *s = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN);

                connection_write(c, "event: state\ndata: ", 19);
                connection_write(c, s, strlen(s));
                connection_write(c, "\n\n", 2);
        }
}

/* --- static files */

static const char *content_type_of(const char *path) {
        static const struct { const char *ext, *type; } types[] = {
                { ".html", "text/html; charset=utf-8" },
                { ".js", "text/javascript; charset=utf-8" },
                { ".mjs", "text/javascript; charset=utf-8" },
                { ".css", "text/css; charset=utf-8" },
                { ".json", "application/json" },
                { ".svg", "image/svg+xml" },
                { ".png", "image/png" },
                { ".ico", "image/x-icon" },
                { ".map", "application/json" },
                { ".txt", "text/plain; charset=utf-8" },
        };
        const char *dot = strrchr(path, '.');

        for (size_t i = 0; dot && i < ELEMENTSOF(types); i++)
                if (streq(dot, types[i].ext))
                        return types[i].type;
        return "application/octet-stream";
}

/* A path inside the dashboard directory: no "..", no hidden files, no backslashes. */
static bool static_path_is_safe(const char *rel) {
        if (!rel[0] || strchr(rel, '\\') || strstr(rel, "//"))
                return false;
        for (const char *p = rel; p; p = strchr(p, '/')) {
                if (*p == '/')
                        p++;
                if (*p == '.' || *p == 0)
                        return false;
        }
        return true;
}

void vim_api_serve_static(VimApiConnection *c, const AcsHttpRequest *req, const char *path) {
        const char *dir = c->api->manager->settings.dashboard_directory;
        const char *rel = streq(path, "/") ? "index.html" : path + 1;
        _cleanup_free_ char *file = NULL, *data = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t done = 0;

        if (!static_path_is_safe(rel) || asprintf(&file, "%s/%s", dir, rel) < 0)
                return vim_api_connection_reply_error(c, 404, "No such page.");
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return vim_api_connection_reply_error(c, 404, "No such page.");
        if ((size_t) st.st_size > API_STATIC_FILE_MAX)
                return vim_api_connection_reply_error(c, 500, "File too large.");
        data = malloc(st.st_size + 1);
        if (!data)
                return vim_api_connection_reply_error(c, 500, "Out of memory.");
        while (done < (size_t) st.st_size) {
                ssize_t n = read(fd, data + done, st.st_size - done);

                if (n <= 0)
                        return vim_api_connection_reply_error(c, 500, "Failed to read the file.");
                done += n;
        }
        vim_api_connection_reply(c, 200, content_type_of(rel), data, streq(req->method, "HEAD") ? 0 : done, NULL);
}

/* --- connection I/O */

static void connection_process(VimApiConnection *c) {
        while (!c->busy && !c->closing && !c->sse && acs_buf_len(&c->in) > 0 &&
               acs_buf_len(&c->out) < API_OUTPUT_PAUSE) {
                const AcsHttpRequest *req;
                size_t consumed;
                int r;

                r = acs_http_request_parser_feed(c->parser, acs_buf_peek(&c->in), acs_buf_len(&c->in), &consumed, &req);
                acs_buf_consume(&c->in, consumed);
                if (r < 0) {
                        int status = acs_http_request_parser_error_status(c->parser);

                        log_debug("API client %s: %s", c->peer, acs_http_request_parser_error_reason(c->parser));
                        c->keep_alive = false;
                        vim_api_connection_reply_error(c, status ?: 400, "%s",
                                                       acs_http_request_parser_error_reason(c->parser));
                        return;
                }
                if (r == 0)
                        break;
                /* The next request's deadline starts with its first byte. */
                c->request_started = acs_buf_len(&c->in) > 0 ? now_usec(CLOCK_MONOTONIC) : 0;
                vim_api_handle_request(c, req);
        }
        /* An event stream reads nothing more; what the client sends is dropped. */
        if (c->sse)
                acs_buf_clear(&c->in);
}

static int connection_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VimApiConnection *c = userdata;

        if (acs_tls_stream_can_read(&c->stream, revents)) {
                int err = 0;
                uint8_t *p = acs_buf_reserve(&c->in, 16 * 1024, &err);
                ssize_t n;

                if (!p) {
                        connection_free(c);
                        return 0;
                }
                /* A TLS record carries at most 16 KiB: reading as much leaves none in OpenSSL's
                 * buffer, where the socket's readiness would not show it. */
                n = acs_tls_stream_recv(&c->stream, p, 16 * 1024);
                if (n < 0 && n != -EAGAIN) {
                        connection_free(c);
                        return 0;
                }
                if (n == 0) {
                        /* The client is done sending; answer what is pending, then close. */
                        if (!c->busy && acs_buf_len(&c->out) == 0) {
                                connection_free(c);
                                return 0;
                        }
                        c->keep_alive = false;
                        c->closing = c->closing || !c->busy;
                        (void) shutdown(fd, SHUT_RD);
                } else if (n > 0) {
                        /* Not per byte: a client trickling bytes must not keep its slot. */
                        if (c->request_started == 0 && !c->sse)
                                c->request_started = now_usec(CLOCK_MONOTONIC);
                        acs_buf_commit(&c->in, (size_t) n);
                        connection_process(c);
                }
        }

        if ((revents & (EPOLLERR | EPOLLHUP)) && !(revents & EPOLLIN)) {
                connection_free(c);
                return 0;
        }

        while (acs_buf_len(&c->out) > 0) {
                ssize_t n = acs_tls_stream_send(&c->stream, acs_buf_peek(&c->out), acs_buf_len(&c->out));

                if (n < 0) {
                        if (n == -EAGAIN)
                                break;
                        connection_free(c);
                        return 0;
                }
                acs_buf_consume(&c->out, (size_t) n);
                /* progress: the stall clock restarts, and stops once all is written */
                c->last_activity = now_usec(CLOCK_MONOTONIC);
                c->stalled_since = acs_buf_len(&c->out) > 0 ? c->last_activity : 0;
        }
        if (acs_buf_len(&c->out) == 0 && c->closing) {
                connection_free(c);
                return 0;
        }
        if (acs_buf_len(&c->out) == 0)
                connection_process(c); /* pipelined requests waiting behind an answer */
        connection_update_events(c);
        return 0;
}

static void connection_update_events(VimApiConnection *c) {
        if (!c->io)
                return;
        if (acs_buf_len(&c->out) > 0 && c->stalled_since == 0)
                c->stalled_since = now_usec(CLOCK_MONOTONIC);
        (void) sd_event_source_set_io_events(c->io,
                        acs_tls_stream_events(&c->stream, !c->closing, acs_buf_len(&c->out) > 0));
}

/* At the connection cap, the client that has been sending its request the longest, or idling
 * the longest, leaves its slot to the new one: slow clients cannot lock everyone out. Event
 * streams (capped on their own) and answers in progress are kept. */
static bool api_make_room(VimApi *api) {
        VimApiConnection *victim = NULL;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        for (VimApiConnection *c = api->connections; c; c = c->connections_next) {
                usec_t since = c->request_started ?: c->last_activity;

                if (c->sse || c->busy || acs_buf_len(&c->out) > 0)
                        continue;
                if (!victim || since < (victim->request_started ?: victim->last_activity))
                        victim = c;
        }
        if (now >= api->cap_logged + 10 * USEC_PER_SEC) {
                api->cap_logged = now;
                log_warning("API connection limit (%d) reached: %s.", API_CONNECTIONS_MAX,
                            victim ? "closing the slowest clients for new ones" : "refusing new clients");
        }
        if (!victim)
                return false;
        connection_free(victim);
        return true;
}

static int api_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VimApi *api = userdata;
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        _cleanup_close_ int cfd = -1;
        VimApiConnection *c;
        char host[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        int r;

        cfd = accept4(fd, (struct sockaddr *) &sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (acs_accept_error_is_resource(errno))
                        acs_accept_guard_pause(&api->accept_guard, errno);
                else if (errno != EAGAIN && errno != EINTR)
                        log_debug_errno(negative_errno(), "Failed to accept an API connection, ignoring: %m");
                return 0;
        }
        if (api->n_connections >= API_CONNECTIONS_MAX && !api_make_room(api))
                return 0;

        if (sa.ss_family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *) &sa;

                (void) inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                port = ntohs(in->sin_port);
        } else if (sa.ss_family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;

                (void) inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                port = ntohs(in6->sin6_port);
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom(), 0;
        c->fd = TAKE_FD(cfd);
        c->stream = (AcsTlsStream) { .fd = c->fd };
        c->api = api;
        c->in.max = API_INPUT_MAX;
        c->out.max = API_OUTPUT_MAX;
        c->keep_alive = true;
        c->last_activity = now_usec(CLOCK_MONOTONIC);
        (void) snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
        c->parser = acs_http_request_parser_new(&api_http_limits);
        LIST_PREPEND(connections, api->connections, c);
        api->n_connections++;
        if (!c->parser) {
                connection_free(c);
                return log_oom(), 0;
        }
        if (api->tls) {
                /* The handshake runs inside the first reads, on this loop, never blocking it. */
                c->stream.ssl = acs_tls_server_new_ssl(api->tls, c->fd);
                if (!c->stream.ssl) {
                        connection_free(c);
                        return log_oom(), 0;
                }
        }
        r = sd_event_add_io(api->manager->event, &c->io, c->fd, EPOLLIN, connection_on_io, c);
        if (r < 0) {
                connection_free(c);
                return log_warning_errno(r, "Failed to watch an API connection, ignoring: %m"), 0;
        }
        return 0;
}

static int api_listen(const char *address, int *ret_fd) {
        _cleanup_free_ char *host = NULL;
        _cleanup_close_ int fd = -1;
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        socklen_t salen;
        uint16_t port;
        int r;

        r = vim_parse_listen(address, &host, &port);
        if (r < 0)
                return r;
        if (inet_pton(AF_INET, host, &sa.in.sin_addr) == 1) {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons(port);
                salen = sizeof(sa.in);
        } else if (inet_pton(AF_INET6, host, &sa.in6.sin6_addr) == 1) {
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons(port);
                salen = sizeof(sa.in6);
        } else
                return -EINVAL;

        fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int));
        if (bind(fd, &sa.sa, salen) < 0 || listen(fd, SOMAXCONN) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int vim_api_start(VimManager *m, int fd) {
        _cleanup_close_ int listen_fd = fd;
        VimApi *api;
        int r;

        api = calloc(1, sizeof(*api));
        if (!api)
                return log_oom();
        api->manager = m;
        api->listen_fd = -1;
        vim_load_runner_init(&api->load, m->event, &m->settings);
        m->api = api;

        if (acs_tls_settings_enabled(&m->settings.tls)) {
                static const char *const alpn[] = { "http/1.1", NULL };

                r = acs_tls_server_new(&m->settings.tls, alpn, &api->tls);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up TLS for the API: %m");
        }

        if (listen_fd < 0) {
                r = api_listen(m->settings.api_listen, &listen_fd);
                if (r < 0)
                        return log_error_errno(r, "Failed to listen for the API on %s: %m", m->settings.api_listen);
                log_info("Serving the API and dashboard on %s://%s/ (files from %s).", api->tls ? "https" : "http",
                         m->settings.api_listen, m->settings.dashboard_directory);
        } else {
                (void) fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
                log_info("Serving the API and dashboard on the socket passed by the service manager.");
        }

        r = sd_event_add_io(m->event, &api->listen_source, listen_fd, EPOLLIN, api_on_accept, api);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the API socket: %m");
        api->listen_fd = TAKE_FD(listen_fd);
        acs_accept_guard_init(&api->accept_guard, api->listen_source, "API connections");

        r = sd_event_add_time_relative(m->event, &api->tick, CLOCK_MONOTONIC, USEC_PER_SEC, 50 * USEC_PER_MSEC,
                                       api_on_tick, api);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the event stream timer: %m");
        (void) sd_event_source_set_enabled(api->tick, SD_EVENT_ON);

        log_set_event_hook(api_on_log_event, api);
        return 0;
}

VimApi *vim_api_free(VimApi *api) {
        if (!api)
                return NULL;
        log_set_event_hook(NULL, NULL);
        vim_load_runner_done(&api->load);
        while (api->connections)
                connection_free(api->connections);
        acs_accept_guard_done(&api->accept_guard);
        sd_event_source_disable_unref(api->listen_source);
        sd_event_source_disable_unref(api->tick);
        safe_close(api->listen_fd);
        acs_tls_server_free(api->tls);
        for (size_t i = 0; i < api->log_n; i++)
                free(api->log_ring[(api->log_head + i) % VIM_API_LOG_REPLAY]);
        return mfree(api);
}
