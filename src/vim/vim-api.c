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
#include "acs-macro.h"
#include "acs-tls-stream.h"
#include "vim-api.h"
#include "vim-manager.h"
#include "vim-policy.h"

#define API_CONNECTIONS_MAX 256
#define API_INPUT_MAX ((size_t) 1024 * 1024 + 64 * 1024)
#define API_OUTPUT_MAX ((size_t) 8 * 1024 * 1024)
#define API_STATIC_FILE_MAX ((size_t) 8 * 1024 * 1024)

struct VimApiConnection {
        VimApi *api;
        VimApiConnection *next, *prev;
        int fd;
        AcsTlsStream stream;    /* the bytes of fd, in clear or through TLS */
        sd_event_source *io;
        AcsHttpRequestParser *parser;
        AcsBuf in, out;
        char peer[INET6_ADDRSTRLEN + 8];
        bool sse;               /* an event stream: only events are written from now on */
        bool busy;              /* an answer is coming later (probe): read no further request */
        bool closing;           /* close once out is written */
        bool keep_alive;
        usec_t last_activity;   /* monotonic: accepted, or last bytes read */
        VimProbe *probe;        /* POST /api/v1/probe in flight */
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
                if (c->prev)
                        c->prev->next = c->next;
                else
                        c->api->connections = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                c->api->n_connections--;
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
                log_info("API client %s does not read, closing.", c->peer);
                acs_buf_clear(&c->out);
                c->closing = true;
                (void) shutdown(c->fd, SHUT_RDWR);
        }
        connection_update_events(c);
}

static void connection_reply(VimApiConnection *c, int status, const char *content_type, const void *body, size_t size,
                             const char *extra_headers) {
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
        connection_reply(c, status, "application/json", s, strlen(s), NULL);
}

void vim_api_connection_reply_error(VimApiConnection *c, int status, const char *format, ...) {
        _cleanup_(vim_json_putp) json_object *o = json_object_new_object();
        char message[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        if (!o || json_object_object_add(o, "error", json_object_new_string(message)) < 0) {
                connection_reply(c, 500, "text/plain", "", 0, NULL);
                return;
        }
        c->busy = false;
        connection_reply(c, status, "application/json", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                         strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)),
                         status == 401 ? "WWW-Authenticate: Bearer realm=\"acs\"\r\n" : NULL);
}

/* --- events */

static void sse_broadcast(VimApi *api, const char *event, const char *data) {
        for (VimApiConnection *c = api->connections; c; c = c->next) {
                if (!c->sse || c->closing)
                        continue;
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

static int api_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        VimApi *api = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC), idle_timeout = api->manager->settings.idle_timeout;
        bool any = false;

        (void) sd_event_source_set_time_relative(s, USEC_PER_SEC);
        for (VimApiConnection *c = api->connections, *next; c; c = next) {
                next = c->next;
                any = any || c->sse;
                /* [Api] IdleTimeout=: idle or slow clients cannot hold all API_CONNECTIONS_MAX
                 * slots. Event streams are exempt. */
                if (!c->sse && !c->busy && c->last_activity + idle_timeout < now) {
                        log_debug("API client %s idle for %llu s, closing.", c->peer,
                                  (unsigned long long) (idle_timeout / USEC_PER_SEC));
                        connection_free(c);
                }
        }
        if (any) {
                _cleanup_(vim_json_putp) json_object *state = vim_api_state_json(api->manager);

                if (state)
                        sse_broadcast(api, "state", json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN));
        }
        return 0;
}

static void serve_events(VimApiConnection *c) {
        static const char head[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/event-stream\r\n"
                                   "Cache-Control: no-store\r\n"
                                   "X-Accel-Buffering: no\r\n"
                                   "Connection: keep-alive\r\n\r\n";
        VimApi *api = c->api;
        _cleanup_(vim_json_putp) json_object *state = NULL;

        c->sse = true;
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

static void serve_static(VimApiConnection *c, const AcsHttpRequest *req, const char *path) {
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
        connection_reply(c, 200, content_type_of(rel), data, streq(req->method, "HEAD") ? 0 : done, NULL);
}

/* --- mutations */

static bool request_authorized(VimApiConnection *c, const AcsHttpRequest *req) {
        const char *token = c->api->manager->settings.token;
        const char *h = acs_http_request_header(req, "Authorization");
        const char *given;

        if (!token[0] || !h || !(given = startswith(h, "Bearer ")))
                return false;
        return strlen(given) == strlen(token) && CRYPTO_memcmp(given, token, strlen(token)) == 0;
}

/* "alice (api 127.0.0.1:40112)": the X-ACS-User header when it is plain text, else "api". */
static void request_who(VimApiConnection *c, const AcsHttpRequest *req, char *buf, size_t size) {
        const char *user = acs_http_request_header(req, "X-ACS-User");
        bool plain = user && user[0] && strlen(user) <= 64;

        for (const char *p = user; plain && *p; p++)
                plain = *p >= 0x20 && *p < 0x7f;
        (void) snprintf(buf, size, "%s (api %s)", plain ? user : "api", c->peer);
}

/* Parses the request body as a JSON object; replies 400 and returns NULL when it is not one. */
static json_object *request_json(VimApiConnection *c, const AcsHttpRequest *req) {
        json_tokener *tok = json_tokener_new();
        json_object *o = NULL;

        if (tok) {
                o = json_tokener_parse_ex(tok, (const char *) req->body, (int) req->body_size);
                if (o && (json_tokener_get_error(tok) != json_tokener_success ||
                          (size_t) tok->char_offset != req->body_size || !json_object_is_type(o, json_type_object))) {
                        json_object_put(o);
                        o = NULL;
                }
                json_tokener_free(tok);
        }
        if (!o)
                vim_api_connection_reply_error(c, 400, "Expected a JSON object.");
        return o;
}

static bool json_get_uint(json_object *o, const char *key, unsigned max, unsigned *ret) {
        json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        x = json_object_get_int64(v);
        if (x < 0 || (uint64_t) x > max)
                return false;
        *ret = (unsigned) x;
        return true;
}

static void ok(VimApiConnection *c) {
        _cleanup_(vim_json_putp) json_object *o = json_object_new_object();

        if (o)
                (void) json_object_object_add(o, "ok", json_object_new_boolean(true));
        vim_api_connection_reply_json(c, 200, o);
}

static void handle_put_policy(VimApiConnection *c, const AcsHttpRequest *req, const char *who) {
        VimManager *m = c->api->manager;
        char error[256];
        int r;

        r = vim_policy_apply_json(&m->policy, (const char *) req->body, req->body_size, error, sizeof(error));
        if (r == -ENOMEM)
                return vim_api_connection_reply_error(c, 500, "Out of memory.");
        if (r < 0)
                return vim_api_connection_reply_error(c, 400, "%s", error);
        vim_manager_policy_changed(m, who);
        ok(c);
}

static void handle_post_scale(VimApiConnection *c, const AcsHttpRequest *req, const char *who) {
        VimManager *m = c->api->manager;
        _cleanup_(vim_json_putp) json_object *o = request_json(c, req);
        unsigned replicas;

        if (!o)
                return;
        if (!json_get_uint(o, "replicas", m->policy.max_replicas, &replicas) || replicas < m->policy.min_replicas)
                return vim_api_connection_reply_error(c, 400, "Expected {\"replicas\":N} with N in %u..%u.",
                                                      m->policy.min_replicas, m->policy.max_replicas);
        (void) vim_scaler_scale_to(m, replicas, who);
        ok(c);
}

static void handle_vm(VimApiConnection *c, const char *rest, const char *who) {
        VimManager *m = c->api->manager;
        const char *slash = strchr(rest, '/');
        _cleanup_free_ char *name = NULL;
        VimVm *vm;
        int r;

        if (!slash || !(name = strndup(rest, slash - rest)))
                return vim_api_connection_reply_error(c, 404, "No such resource.");
        vm = vim_manager_find_vm(m, name);
        if (!vm)
                return vim_api_connection_reply_error(c, 404, "No VM named \"%s\".",
                                                      acs_proto_vm_name_is_valid(name) ? name : "?");
        if (streq(slash, "/activate"))
                r = vim_scaler_activate(m, vm, who);
        else if (streq(slash, "/standby"))
                r = vim_scaler_standby(m, vm, who);
        else
                return vim_api_connection_reply_error(c, 404, "No such resource.");
        if (r < 0)
                return vim_api_connection_reply_error(c, 409, "VM %s: %s", vm->name, strerror(-r));
        ok(c);
}

static void handle_drain(VimApiConnection *c, const char *rest, const char *who) {
        char id[ACS_PROTO_CONTAINER_ID_LEN + 1];
        const char *slash = strchr(rest, '/');
        int r;

        if (!slash || !streq(slash, "/drain") || (size_t) (slash - rest) != ACS_PROTO_CONTAINER_ID_LEN)
                return vim_api_connection_reply_error(c, 404, "No such resource.");
        memcpy(id, rest, ACS_PROTO_CONTAINER_ID_LEN);
        id[ACS_PROTO_CONTAINER_ID_LEN] = 0;
        r = vim_scaler_drain(c->api->manager, id, who);
        if (r == -ENOENT)
                return vim_api_connection_reply_error(c, 404, "No container %s.",
                                                      acs_proto_container_id_is_valid(id) ? id : "?");
        if (r < 0)
                return vim_api_connection_reply_error(c, 409, "Container %.12s: %s", id, strerror(-r));
        ok(c);
}

static void handle_post_load(VimApiConnection *c, const AcsHttpRequest *req) {
        VimManager *m = c->api->manager;
        _cleanup_(vim_json_putp) json_object *o = request_json(c, req);
        unsigned users, duration;
        char error[256];

        if (!o)
                return;
        if (!json_get_uint(o, "users", m->settings.max_load_users, &users) || users < 1 ||
            !json_get_uint(o, "duration_s", m->settings.max_load_seconds, &duration) || duration < 1)
                return vim_api_connection_reply_error(c, 400,
                                                      "Expected {\"users\":N,\"duration_s\":M} with N in 1..%u, M in 1..%u.",
                                                      m->settings.max_load_users, m->settings.max_load_seconds);
        if (vim_api_load_start(c->api, users, duration, error, sizeof(error)) < 0)
                return vim_api_connection_reply_error(c, 409, "%s", error);
        ok(c);
}

static void handle_request(VimApiConnection *c, const AcsHttpRequest *req) {
        VimManager *m = c->api->manager;
        const char *method = req->method, *rest;
        _cleanup_free_ char *path = NULL;
        char who[160];

        c->keep_alive = req->keep_alive;
        /* The path from the target ourselves: the reader's req->path can point at memory it
         * reallocated while reading the headers (seen with long targets). */
        path = strndup(req->target, strcspn(req->target, "?"));
        if (!path)
                return vim_api_connection_reply_error(c, 500, "Out of memory.");

        if (streq(path, "/api/v1/state")) {
                _cleanup_(vim_json_putp) json_object *o = NULL;

                if (!streq(method, "GET"))
                        return vim_api_connection_reply_error(c, 405, "Use GET.");
                o = vim_api_state_json(m);
                if (!o)
                        return vim_api_connection_reply_error(c, 500, "Out of memory.");
                return vim_api_connection_reply_json(c, 200, o);
        }
        if (streq(path, "/api/v1/events")) {
                if (!streq(method, "GET"))
                        return vim_api_connection_reply_error(c, 405, "Use GET.");
                return serve_events(c);
        }
        if (streq(path, "/metrics")) {
                _cleanup_(acs_buf_done) AcsBuf text = {};

                if (!streq(method, "GET"))
                        return vim_api_connection_reply_error(c, 405, "Use GET.");
                if (vim_api_metrics_text(m, &text) < 0)
                        return vim_api_connection_reply_error(c, 500, "Out of memory.");
                return connection_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", acs_buf_peek(&text),
                                        acs_buf_len(&text), NULL);
        }
        if (streq(path, "/api/v1/probe")) {
                if (!streq(method, "POST"))
                        return vim_api_connection_reply_error(c, 405, "Use POST.");
                c->busy = true;
                if (vim_api_probe_start(c->api, c) < 0)
                        vim_api_connection_reply_error(c, 502, "Failed to start a probe of %s.", m->settings.proxy_url);
                return;
        }
        if (streq(path, "/api/v1/load")) {
                if (streq(method, "POST"))
                        return handle_post_load(c, req);
                if (streq(method, "DELETE")) {
                        (void) vim_api_load_stop(c->api);
                        return ok(c);
                }
                return vim_api_connection_reply_error(c, 405, "Use POST or DELETE.");
        }

        if (streq(path, "/api/v1/policy") || streq(path, "/api/v1/scale") || startswith(path, "/api/v1/vms/") ||
            startswith(path, "/api/v1/containers/")) {
                bool is_policy = streq(path, "/api/v1/policy");

                if (!streq(method, is_policy ? "PUT" : "POST"))
                        return vim_api_connection_reply_error(c, 405, "Use %s.", is_policy ? "PUT" : "POST");
                if (!request_authorized(c, req)) {
                        log_event(LOG_NOTICE, "access-denied", NULL, NULL, "Refused %s %s from %s: %s.", method, path,
                                  c->peer, m->settings.token[0] ? "no valid bearer token" : "no [Api] Token= set");
                        return vim_api_connection_reply_error(c, 401, "A valid \"Authorization: Bearer <token>\" is required.");
                }
                request_who(c, req, who, sizeof(who));
                if (is_policy)
                        return handle_put_policy(c, req, who);
                if (streq(path, "/api/v1/scale"))
                        return handle_post_scale(c, req, who);
                if ((rest = startswith(path, "/api/v1/vms/")))
                        return handle_vm(c, rest, who);
                return handle_drain(c, startswith(path, "/api/v1/containers/"), who);
        }
        if (startswith(path, "/api/"))
                return vim_api_connection_reply_error(c, 404, "No such resource.");
        if (!streq(method, "GET") && !streq(method, "HEAD"))
                return vim_api_connection_reply_error(c, 405, "Use GET.");
        serve_static(c, req, path);
}

/* --- connection I/O */

static void connection_process(VimApiConnection *c) {
        while (!c->busy && !c->closing && !c->sse && acs_buf_len(&c->in) > 0) {
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
                handle_request(c, req);
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
                        c->last_activity = now_usec(CLOCK_MONOTONIC);
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
        (void) sd_event_source_set_io_events(c->io,
                        acs_tls_stream_events(&c->stream, !c->closing, acs_buf_len(&c->out) > 0));
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
                if (errno != EAGAIN && errno != EINTR)
                        log_debug_errno(negative_errno(), "Failed to accept an API connection, ignoring: %m");
                return 0;
        }
        if (api->n_connections >= API_CONNECTIONS_MAX) {
                log_warning("Too many API connections (%u), refusing one.", api->n_connections);
                return 0;
        }

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
        c->parser = acs_http_request_parser_new(NULL);
        c->next = api->connections;
        if (c->next)
                c->next->prev = c;
        api->connections = c;
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
        (void) vim_api_load_stop(api);
        sd_event_source_disable_unref(api->load_child);
        while (api->connections)
                connection_free(api->connections);
        sd_event_source_disable_unref(api->listen_source);
        sd_event_source_disable_unref(api->tick);
        safe_close(api->listen_fd);
        acs_tls_server_free(api->tls);
        for (size_t i = 0; i < api->log_n; i++)
                free(api->log_ring[(api->log_head + i) % VIM_API_LOG_REPLAY]);
        return mfree(api);
}
