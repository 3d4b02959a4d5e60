/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-backend-conn.h"
#include "proxy-client.h"
#include "proxy-forward.h"
#include "proxy-h2.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define VIA_TOKEN "acs-proxy"

/* Safe to send twice (RFC 9110 9.2.2), and we only retry when no body went out. */
static bool method_idempotent(uint8_t method) {
        switch (method) {
        case HTTP_GET:
        case HTTP_HEAD:
        case HTTP_OPTIONS:
        case HTTP_PUT:
        case HTTP_DELETE:
        case HTTP_TRACE:
                return true;
        default:
                return false;
        }
}

/* Heads are written with plain copies into space reserved once: this is the per-request hot
 * path, where printf-style formatting cost more than parsing. */
static inline uint8_t *put(uint8_t *w, const void *p, size_t n) {
        memcpy(w, p, n);
        return w + n;
}
#define PUT_LITERAL(w, s) put((w), (s), sizeof(s) - 1)

static uint8_t *put_u64(uint8_t *w, uint64_t v, unsigned base) {
        char tmp[24];
        size_t n = 0;

        do {
                tmp[n++] = "0123456789abcdef"[v % base];
                v /= base;
        } while (v > 0);
        while (n > 0)
                *w++ = (uint8_t) tmp[--n];
        return w;
}

static uint8_t *put_field(uint8_t *w, const HttpHead *h, unsigned i) {
        const HttpField *f = &h->fields[i];

        w = put(w, h->buf + f->name, f->name_len);
        w = PUT_LITERAL(w, ": ");
        w = put(w, h->buf + f->value, f->value_len);
        return PUT_LITERAL(w, "\r\n");
}

/* "Name: <the values of every field of this kind, joined by ", ">, extra\r\n". */
static uint8_t *put_list_field(uint8_t *w, const HttpHead *h, HttpFieldKind kind, const char *name,
                               const char *extra, size_t extra_len) {
        w = put(w, name, strlen(name));
        w = PUT_LITERAL(w, ": ");
        for (unsigned i = 0; i < h->n_header_fields; i++)
                if (h->fields[i].kind == kind && h->fields[i].value_len > 0) {
                        w = put(w, http_field_value(h, i), h->fields[i].value_len);
                        w = PUT_LITERAL(w, ", ");
                }
        w = put(w, extra, extra_len);
        return PUT_LITERAL(w, "\r\n");
}

/* Room for a head rebuilt from h: its fields plus our own lines. */
static size_t head_bound(const HttpHead *h, size_t extra) {
        return (size_t) h->len + 4 * (size_t) h->n_fields + 512 + extra;
}

/* The target as sent on: an absolute-form one becomes origin-form (RFC 9112 3.2.2), "*" for
 * OPTIONS without a path (3.2.4). */
static uint8_t *put_target(uint8_t *w, const HttpParser *hp) {
        const HttpHead *h = &hp->head;

        if (!hp->absolute_form)
                return put(w, h->buf + h->target, h->target_len);
        if (hp->path_len == 0)
                return hp->llhttp.method == HTTP_OPTIONS ? PUT_LITERAL(w, "*") : PUT_LITERAL(w, "/");
        if (h->buf[hp->path] == '?')
                *w++ = '/';
        return put(w, h->buf + hp->path, hp->path_len);
}

/* Host: the client's, the absolute-form target's authority in its place, or the backend's
 * name for an HTTP/1.0 request without one. */
static uint8_t *put_host(uint8_t *w, const HttpParser *hp, const Backend *b, size_t name_len) {
        w = PUT_LITERAL(w, "Host: ");
        if (hp->absolute_form)
                w = put(w, hp->head.buf + hp->authority, hp->authority_len);
        else
                w = put(w, b->name, name_len);
        return PUT_LITERAL(w, "\r\n");
}

static int build_request_head(Client *c, Backend *b, AcsBuf *out) {
        const HttpParser *hp = &c->parser;
        const HttpHead *h = &hp->head;
        const char *method = llhttp_method_name(hp->llhttp.method);
        char forwarded[INET6_ADDRSTRLEN + 32];
        size_t peer_len = strlen(c->peer), name_len = strlen(b->name), fl;
        uint8_t *start, *w;
        int r = 0;

        /* for=ADDR;proto=http, an IPv6 address quoted in brackets (RFC 7239). */
        w = PUT_LITERAL((uint8_t *) forwarded, "for=");
        w = c->peer_v6 ? PUT_LITERAL(w, "\"[") : w;
        w = put(w, c->peer, peer_len);
        w = c->peer_v6 ? PUT_LITERAL(w, "]\"") : w;
        w = c->tls ? PUT_LITERAL(w, ";proto=https") : PUT_LITERAL(w, ";proto=http");
        fl = (size_t) (w - (uint8_t *) forwarded);
        start = w = acs_buf_reserve(out, head_bound(h, 2 * peer_len + name_len + fl), &r);
        if (!w)
                return r;

        w = put(w, method, strlen(method));
        *w++ = ' ';
        w = put_target(w, hp);
        w = PUT_LITERAL(w, " HTTP/1.1\r\n");
        for (unsigned i = 0; i < h->n_header_fields; i++) {
                switch (h->fields[i].kind) {
                case HTTP_FIELD_X_FORWARDED_FOR:
                case HTTP_FIELD_X_FORWARDED_PROTO:
                case HTTP_FIELD_FORWARDED:
                case HTTP_FIELD_VIA:
                        continue;       /* rewritten below */
                case HTTP_FIELD_HOST:
                        if (hp->absolute_form)
                                continue;
                        __attribute__((fallthrough));
                default:
                        if (!http_field_is_hop_by_hop(h, i))
                                w = put_field(w, h, i);
                }
        }
        if (hp->host_field < 0 || hp->absolute_form)
                w = put_host(w, hp, b, name_len);
        w = put_list_field(w, h, HTTP_FIELD_X_FORWARDED_FOR, "X-Forwarded-For", c->peer, peer_len);
        w = c->tls ? PUT_LITERAL(w, "X-Forwarded-Proto: https\r\n") : PUT_LITERAL(w, "X-Forwarded-Proto: http\r\n");
        w = put_list_field(w, h, HTTP_FIELD_FORWARDED, "Forwarded", forwarded, fl);
        /* Via names the protocol the request came in (RFC 9110 7.6.3). */
        if (c->h2_parent)
                w = put_list_field(w, h, HTTP_FIELD_VIA, "Via", "2 " VIA_TOKEN, strlen("2 " VIA_TOKEN));
        else
                w = c->http10 ? put_list_field(w, h, HTTP_FIELD_VIA, "Via", "1.0 " VIA_TOKEN, strlen("1.0 " VIA_TOKEN))
                              : put_list_field(w, h, HTTP_FIELD_VIA, "Via", "1.1 " VIA_TOKEN, strlen("1.1 " VIA_TOKEN));
        if (hp->has_content_length) {
                w = PUT_LITERAL(w, "Content-Length: ");
                w = put_u64(w, hp->content_length, 10);
                w = PUT_LITERAL(w, "\r\n");
        }
        if (hp->chunked)
                w = PUT_LITERAL(w, "Transfer-Encoding: chunked\r\n");
        w = PUT_LITERAL(w, "\r\n");
        acs_buf_commit(out, (size_t) (w - start));
        return 0;
}

/* "SIZE\r\n" of a chunk, in hex. */
static int append_chunk_size(AcsBuf *out, uint64_t size) {
        int r = 0;
        uint8_t *start = acs_buf_reserve(out, 24, &r), *w;

        if (!start)
                return r;
        w = put_u64(start, size, 16);
        w = PUT_LITERAL(w, "\r\n");
        acs_buf_commit(out, (size_t) (w - start));
        return 0;
}

static void exchange_count(Client *c, bool up) {
        Manager *m = c->worker->manager;

        if (up == c->counted || !c->backend)
                return;
        c->counted = up;
        if (up) {
                atomic_fetch_add_explicit(&c->backend->in_flight, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&m->in_flight, 1, memory_order_relaxed);
        } else {
                atomic_fetch_sub_explicit(&c->backend->in_flight, 1, memory_order_relaxed);
                atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_relaxed);
        }
}

static void exchange_drop_backend(Client *c) {
        exchange_count(c, false);
        c->backend = backend_unref(c->backend);
}

static void note_backend_error(Client *c, Backend *b) {
        Manager *m = c->worker->manager;

        atomic_fetch_add_explicit(&b->errors_total, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->errors_total, 1, memory_order_relaxed);
        backend_note_failure(b, worker_now(c->worker), m->settings.eject_failures, m->settings.eject_time);
}

/* Chooses a backend (not `avoid` if another is available), gets a connection to it and queues
 * the request head. -EHOSTUNREACH when no backend is available, -EBUSY when every available
 * one is at its connection limit. */
int forward_dispatch(Client *c, Backend *avoid) {
        Worker *w = c->worker;
        Manager *m = w->manager;
        BackendConn *bc;
        Backend *b;
        int r;

        for (unsigned attempt = 0; attempt < 2; attempt++) {
                LbContext ctx = {
                        .now = worker_now(w),
                        .slow_start = m->settings.slow_start,
                        .avoid = avoid,
                        .key = c->hash_key,
                        .key_len = c->hash_key_len,
                        .rng = &w->rng,
                        .max_conns = m->settings.max_conns_per_backend,
                        .worker = w->index,
                };

                b = w->set ? m->lb->pick(w->lb_state, w->set, &ctx) : NULL;
                if (!b) {
                        ctx.max_conns = 0;
                        return w->set && ctx.avoid == NULL && lb_fallback(w->set, &ctx) ? -EBUSY : -EHOSTUNREACH;
                }
                r = backend_conn_get(w, b, &bc);
                if (r >= 0)
                        break;
                log_debug_errno(r, "Failed to connect to backend %s: %m", b->name);
                note_backend_error(c, b);
                avoid = b;
                bc = NULL;
        }
        if (!bc)
                return -EHOSTUNREACH;

        c->backend = backend_ref(b);
        c->bconn = bc;
        bc->client = c;
        bc->unusable = false;
        exchange_count(c, true);
        atomic_fetch_add_explicit(&b->requests_total, 1, memory_order_relaxed);

        if (acs_buf_len(&c->replay) > 0)
                r = acs_buf_append(&bc->out, acs_buf_peek(&c->replay), acs_buf_len(&c->replay));
        else {
                r = build_request_head(c, b, &bc->out);
                if (r >= 0 && c->replayable)
                        r = acs_buf_append(&c->replay, acs_buf_peek(&bc->out), acs_buf_len(&bc->out));
        }
        if (r < 0)
                return r;
        if (bc->connected)
                bc->deadline = worker_now(w) + m->settings.response_timeout;
        /* The caller flushes: most heads go out in one write without touching epoll. */
        return 0;
}

static void find_hash_key(Client *c) {
        const ProxySettings *s = &c->worker->manager->settings;
        const HttpHead *h = &c->parser.head;
        const char *name;
        int i;

        c->hash_key = NULL;
        c->hash_key_len = 0;
        if (s->balance != PROXY_BALANCE_HASH || !s->hash_key)
                return;
        name = startswith(s->hash_key, "header:");
        if (name) {
                i = http_head_find(h, name);
                if (i >= 0) {
                        c->hash_key = http_field_value(h, (unsigned) i);
                        c->hash_key_len = h->fields[i].value_len;
                }
                return;
        }
        name = startswith(s->hash_key, "cookie:");
        if (name)
                c->hash_key = http_head_cookie(h, name, &c->hash_key_len);
}

/* ---- request side: the client's parser calls these ---- */

static int request_headers_complete(HttpParser *hp) {
        Client *c = hp->userdata;
        Worker *w = c->worker;
        Manager *m = w->manager;
        uint8_t method = hp->llhttp.method;
        int r;

        if (method == HTTP_CONNECT) {
                hp->status = 501;
                hp->reason = "CONNECT is not supported";
                return HPE_USER;
        }
        /* No tunnels: Upgrade is dropped as hop-by-hop and the request goes on as plain HTTP. */
        hp->llhttp.upgrade = 0;

        c->http10 = hp->llhttp.http_minor == 0;
        c->keep_alive = c->http10 ? hp->conn_keep_alive && !hp->conn_close : !hp->conn_close;
        c->head_method = method == HTTP_HEAD;
        c->request_complete = c->response_started = c->response_complete = false;
        c->retried = false;
        c->status = 0;
        c->replayable = method_idempotent(method) && !hp->chunked && hp->content_length == 0;
        acs_buf_clear(&c->replay);
        c->started = worker_now(w);
        c->body_bytes = 0;
        c->state = CLIENT_FORWARD;
        c->deadline = hp->chunked || hp->content_length > 0 ? c->started + m->settings.client_body_timeout
                                                            : USEC_INFINITY;
        find_hash_key(c);

        worker_refresh_set(w);
        r = forward_dispatch(c, NULL);
        if (r == -EBUSY && w->n_queued < m->settings.queue_size) {
                /* Every backend is at its connection limit: wait, with the body unread. */
                client_queue_push(c);
                return HPE_PAUSED;
        }
        if (r < 0) {
                if (r != -EHOSTUNREACH)
                        log_warning_errno(r, "Failed to forward a request from %s: %m", c->peer);
                /* A body we do not forward cannot be skipped safely in every case: close. */
                client_reply_error(c, 503, hp->chunked || hp->content_length > 0 || !c->keep_alive);
                atomic_fetch_add_explicit(&m->errors_total, 1, memory_order_relaxed);
        }
        return 0;
}

static int request_chunk_header(HttpParser *hp, uint64_t size) {
        Client *c = hp->userdata;

        if (!c->bconn)
                return 0;
        return append_chunk_size(&c->bconn->out, size) < 0 ? HPE_USER : 0;
}

static int request_body(HttpParser *hp, const char *at, size_t n) {
        Client *c = hp->userdata;

        if (!c->bconn)
                return 0;
        return acs_buf_append(&c->bconn->out, at, n) < 0 ? HPE_USER : 0;
}

static int request_chunk_complete(HttpParser *hp) {
        Client *c = hp->userdata;

        if (!c->bconn)
                return 0;
        return acs_buf_append(&c->bconn->out, "\r\n", 2) < 0 ? HPE_USER : 0;
}

static int request_message_complete(HttpParser *hp) {
        Client *c = hp->userdata;

        c->request_complete = true;
        if (c->state == CLIENT_FORWARD)
                c->deadline = USEC_INFINITY;
        if (c->bconn && hp->chunked)
                if (acs_buf_append(&c->bconn->out, "0\r\n", 3) < 0 ||
                    http_append_trailers(&c->bconn->out, &hp->head) < 0)
                        return HPE_USER;
        /* Answered already (locally, or the backend answered before the body ended). */
        if (c->response_complete && !c->bconn)
                client_exchange_done(c);
        return HPE_PAUSED;
}

const HttpParserOps forward_request_ops = {
        .headers_complete = request_headers_complete,
        .chunk_header = request_chunk_header,
        .body = request_body,
        .chunk_complete = request_chunk_complete,
        .message_complete = request_message_complete,
};

/* ---- response side: the backend connection's parser calls these ---- */

static int build_response_head(Client *c, const HttpParser *hp, AcsBuf *out, bool interim) {
        const HttpHead *h = &hp->head;
        uint8_t *start, *w;
        int r = 0;

        start = w = acs_buf_reserve(out, head_bound(h, 0), &r);
        if (!w)
                return r;
        w = PUT_LITERAL(w, "HTTP/1.1 ");
        w = put_u64(w, hp->llhttp.status_code, 10);
        *w++ = ' ';
        w = put(w, h->buf + h->target, h->target_len);
        w = PUT_LITERAL(w, "\r\n");
        for (unsigned i = 0; i < h->n_header_fields; i++)
                if (!http_field_is_hop_by_hop(h, i) && h->fields[i].kind != HTTP_FIELD_VIA)
                        w = put_field(w, h, i);
        w = put_list_field(w, h, HTTP_FIELD_VIA, "Via", "1.1 " VIA_TOKEN, strlen("1.1 " VIA_TOKEN));
        if (!interim) {
                switch (c->framing) {
                case FRAMING_NONE:
                case FRAMING_LENGTH:
                        /* HEAD and 304 carry the Content-Length of the body they stand for. */
                        if (hp->has_content_length) {
                                w = PUT_LITERAL(w, "Content-Length: ");
                                w = put_u64(w, hp->content_length, 10);
                                w = PUT_LITERAL(w, "\r\n");
                        }
                        break;
                case FRAMING_CHUNKED:
                case FRAMING_EOF_CHUNKED:
                        w = PUT_LITERAL(w, "Transfer-Encoding: chunked\r\n");
                        break;
                default:
                        break;
                }
                if (!c->keep_alive)
                        w = PUT_LITERAL(w, "Connection: close\r\n");
                else if (c->http10)
                        w = PUT_LITERAL(w, "Connection: keep-alive\r\n");
        }
        w = PUT_LITERAL(w, "\r\n");
        acs_buf_commit(out, (size_t) (w - start));
        return 0;
}

static int response_refuse(HttpParser *hp, const char *reason) {
        hp->status = 502;
        hp->reason = reason;
        return HPE_USER;
}

static int response_headers_complete(HttpParser *hp) {
        BackendConn *bc = hp->userdata;
        Client *c = bc->client;
        unsigned status = hp->llhttp.status_code;

        if (!c)
                return response_refuse(hp, "response without a request");
        if (status < 100 || status > 999)
                return response_refuse(hp, "invalid status code");
        if (status == 101)
                return response_refuse(hp, "protocol switch was not asked for");
        if (status < 200) {
                bc->interim = true;
                /* HTTP/2 streams get the final response only. */
                if (c->h2_parent)
                        return 0;
                /* HTTP/1.0 clients do not know interim responses (RFC 9110 15.2). */
                if (!c->http10 && build_response_head(c, hp, &c->out, true) < 0)
                        return response_refuse(hp, "out of memory");
                return 0;
        }

        if (status == 503 && c->worker->manager->settings.retry_on_503 && c->replayable && !c->retried &&
            c->request_complete && acs_buf_len(&c->replay) > 0) {
                bc->retry_elsewhere = true;
                return response_refuse(hp, "503, to be retried on another backend");
        }

        bc->interim = false;
        bc->final_response = true;
        c->response_started = true;
        c->status = status;

        if (c->head_method || status == 204 || status == 304)
                c->framing = FRAMING_NONE;
        else if (hp->chunked)
                c->framing = c->http10 ? FRAMING_DECHUNK : FRAMING_CHUNKED;
        else if (hp->has_content_length)
                c->framing = FRAMING_LENGTH;
        else
                c->framing = c->http10 ? FRAMING_EOF : FRAMING_EOF_CHUNKED;
        if (c->framing == FRAMING_DECHUNK || c->framing == FRAMING_EOF)
                c->keep_alive = false;
        /* Shutting down: this is the connection's last answer, and it says so. */
        if (atomic_load_explicit(&c->worker->stopping, memory_order_relaxed))
                c->keep_alive = false;
        /* The backend answered before the request body ended: the rest of it cannot be told
         * apart from a next request safely, so this is the last exchange of the client. */
        if (!c->request_complete)
                c->keep_alive = false;

        if (c->h2_parent) {
                /* DATA frames carry the body as it comes, whatever its framing here. */
                if (c->framing != FRAMING_NONE)
                        c->framing = FRAMING_LENGTH;
                if (h2_stream_response_head(c, hp) < 0)
                        return response_refuse(hp, "out of memory");
                return c->head_method ? 1 : 0;
        }
        if (build_response_head(c, hp, &c->out, false) < 0)
                return response_refuse(hp, "out of memory");
        return c->head_method ? 1 : 0;
}

static int response_chunk_header(HttpParser *hp, uint64_t size) {
        BackendConn *bc = hp->userdata;

        if (bc->client->framing != FRAMING_CHUNKED)
                return 0;
        return append_chunk_size(&bc->client->out, size) < 0 ? HPE_USER : 0;
}

static int response_body(HttpParser *hp, const char *at, size_t n) {
        BackendConn *bc = hp->userdata;
        Client *c = bc->client;
        int r;

        if (c->framing == FRAMING_EOF_CHUNKED) {
                r = append_chunk_size(&c->out, n);
                if (r >= 0)
                        r = acs_buf_append(&c->out, at, n);
                if (r >= 0)
                        r = acs_buf_append(&c->out, "\r\n", 2);
        } else
                r = acs_buf_append(&c->out, at, n);
        return r < 0 ? HPE_USER : 0;
}

static int response_chunk_complete(HttpParser *hp) {
        BackendConn *bc = hp->userdata;

        if (bc->client->framing != FRAMING_CHUNKED)
                return 0;
        return acs_buf_append(&bc->client->out, "\r\n", 2) < 0 ? HPE_USER : 0;
}

static int response_message_complete(HttpParser *hp) {
        BackendConn *bc = hp->userdata;
        Client *c = bc->client;
        int r = 0;

        if (bc->interim) {
                bc->interim = false;
                return HPE_PAUSED;      /* the final response follows */
        }
        if (c->framing == FRAMING_CHUNKED) {
                r = acs_buf_append(&c->out, "0\r\n", 3);
                if (r >= 0)
                        r = http_append_trailers(&c->out, &hp->head);
        } else if (c->framing == FRAMING_EOF_CHUNKED)
                r = acs_buf_append(&c->out, "0\r\n\r\n", 5);
        else if (c->h2_parent && hp->head.n_fields > hp->head.n_header_fields)
                r = http_append_trailers(&c->h2_trailers, &hp->head);  /* a HEADERS frame after the body */
        if (r < 0)
                return HPE_USER;
        bc->response_complete = true;
        return HPE_PAUSED;
}

const HttpParserOps forward_response_ops = {
        .headers_complete = response_headers_complete,
        .chunk_header = response_chunk_header,
        .body = response_body,
        .chunk_complete = response_chunk_complete,
        .message_complete = response_message_complete,
};

/* ---- the end of an exchange ---- */

static void access_log(Client *c, Backend *b) {
        const HttpHead *h = &c->parser.head;

        log_info("%s \"%s %.*s\" %s %u %lluus", c->peer, llhttp_method_name(c->parser.llhttp.method),
                 (int) MIN(h->target_len, 200u), h->buf + h->target, b ? b->name : "-", c->status,
                 (unsigned long long) (worker_now(c->worker) - c->started));
}

void forward_finish(Client *c) {
        Manager *m = c->worker->manager;
        BackendConn *bc = c->bconn;
        Backend *b = c->backend;
        usec_t now = worker_now(c->worker);
        bool reusable;

        reusable = c->request_complete && llhttp_should_keep_alive(&bc->parser.llhttp);
        if (c->status >= 500)
                note_backend_error(c, b);
        else
                backend_note_success(b);
        backend_record_latency(b, now, now - c->started);
        atomic_fetch_add_explicit(&m->requests_total, 1, memory_order_relaxed);
        if (m->settings.access_log)
                access_log(c, b);

        c->bconn = NULL;
        backend_conn_release(bc, reusable);
        exchange_drop_backend(c);
        acs_buf_clear(&c->replay);
        c->response_complete = true;

        if (!c->request_complete) {
                c->keep_alive = false;
                c->state = CLIENT_CLOSING;
        } else
                client_exchange_done(c);
        if (client_flush(c) < 0)
                return;
        if (c->state == CLIENT_IDLE)
                client_process(c);
}

void forward_abort(Client *c) {
        BackendConn *bc = c->bconn;

        c->bconn = NULL;
        if (bc) {
                bc->client = NULL;
                backend_conn_close(bc);
        }
        exchange_drop_backend(c);
}

void forward_backend_failed(BackendConn *bc, int error, bool timeout, const char *why) {
        Client *c = bc->client;
        Backend *failed = bc->backend;
        bool got_bytes = bc->got_bytes;
        bool keep;

        if (!c || c->bconn != bc) {
                backend_conn_close(bc);
                return;
        }
        log_debug_errno(error, "Backend %s failed (%s) for %s: %m", failed->name, why, c->peer);
        note_backend_error(c, failed);
        c->bconn = NULL;
        bc->client = NULL;
        /* A pooled connection the backend closed just before we reused it fails like this;
         * a retry on a fresh connection elsewhere is safe when nothing came back and the
         * request was idempotent and bodiless. */
        if (!got_bytes && !c->response_started && c->replayable && !c->retried && acs_buf_len(&c->replay) > 0) {
                Backend *avoid = backend_ref(failed);

                backend_conn_close(bc);
                exchange_drop_backend(c);
                c->retried = true;
                if (forward_dispatch(c, avoid) >= 0) {
                        backend_unref(avoid);
                        (void) backend_conn_flush(c->bconn);
                        return;
                }
                backend_unref(avoid);
        } else {
                backend_conn_close(bc);
                exchange_drop_backend(c);
        }

        if (c->response_started) {
                /* Part of the response went out already: the client can only see it cut. */
                client_close(c);
                return;
        }
        keep = c->request_complete && c->keep_alive;
        client_reply_error(c, timeout ? 504 : error == -EAGAIN ? 503 : 502, !keep);
        if (client_flush(c) < 0)
                return;
        if (c->state == CLIENT_IDLE)
                client_process(c);
}

void forward_backend_eof(BackendConn *bc) {
        Client *c = bc->client;

        if (c && bc->final_response && !bc->response_complete) {
                /* An until-close body ends here; any other framing was cut short. */
                (void) llhttp_finish(&bc->parser.llhttp);
                if (bc->response_complete) {
                        forward_finish(c);
                        return;
                }
        }
        forward_backend_failed(bc, -ECONNRESET, false, "connection closed");
}
