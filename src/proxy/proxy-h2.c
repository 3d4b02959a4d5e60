/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-ratelimit.h"
#include "proxy-backend-conn.h"
#include "proxy-client.h"
#include "proxy-h2.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
/* Frames wait in nghttp2 rather than in our buffer past this: a client that does not read
 * makes nghttp2's own queue grow, which its flood limits bound. */
#define H2_OUT_HIGH (64 * 1024)
/* The connection window: room for this many streams' windows at once. */
#define H2_CONNECTION_WINDOWS 16
#define H2_RESET_WINDOW_USEC USEC_PER_SEC

struct H2Session {
        Client *conn;
        nghttp2_session *ng;
        Client *streams;        /* their Clients, linked by h2_streams */
        unsigned n_streams;
        unsigned busy;          /* inside nghttp2: sending now would re-enter it */
        bool send_pending;
        bool closing;
        bool refusal_counted;   /* the connection's end was counted already */
        bool goaway_sent;

        /* The request header block being read: HTTP/2 never interleaves two of them. */
        AcsBuf fields;          /* "name: value\r\n" lines */
        AcsBuf cookies;         /* cookie crumbs joined with "; " (RFC 9113 8.2.3) */
        char *method, *path, *authority, *host;
        size_t list_size;
        bool has_content_length;
        bool too_large;

        /* Streams the client reset, in the current window (CVE-2023-44487). */
        usec_t resets_since;
        unsigned n_resets;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(nghttp2_session_callbacks *, nghttp2_session_callbacks_del);
DEFINE_TRIVIAL_CLEANUP_FUNC(nghttp2_option *, nghttp2_option_del);

bool h2_is_preface(const uint8_t *p, size_t n) {
        return n > 0 && memcmp(p, H2_PREFACE, MIN(n, strlen(H2_PREFACE))) == 0;
}

static Manager *session_manager(H2Session *h2) {
        return h2->conn->worker->manager;
}

/* Counted once per connection; logged within the daemons' limit: a flood must not become a
 * log flood. */
static void h2_refused(H2Session *h2, H2Refusal reason, const char *what) {
        if (h2->refusal_counted)
                return;
        h2->refusal_counted = true;
        atomic_fetch_add_explicit(&session_manager(h2)->h2_refused_total[reason], 1, memory_order_relaxed);
        if (log_ratelimit_here(LOG_NOTICE, NULL))
                log_notice("Client %s: HTTP/2 connection refused: %s.", h2->conn->peer, what);
}

static void header_block_reset(H2Session *h2) {
        acs_buf_clear(&h2->fields);
        acs_buf_clear(&h2->cookies);
        h2->method = mfree(h2->method);
        h2->path = mfree(h2->path);
        h2->authority = mfree(h2->authority);
        h2->host = mfree(h2->host);
        h2->list_size = 0;
        h2->has_content_length = h2->too_large = false;
}

/* Frames to send: written after the current dispatch, together with those of the other
 * streams answered in it. */
static void h2_session_send(H2Session *h2) {
        Client *conn = h2->conn;

        if (h2->busy || h2->closing) {
                h2->send_pending = true;
                return;
        }
        if (conn->h2_flush_queued || conn->state == CLIENT_DEAD)
                return;
        conn->h2_flush_queued = true;
        LIST_PREPEND(h2_flush, conn->worker->h2_flush, conn);
        worker_schedule_cleanup(conn->worker);
}

static Client *stream_client(H2Session *h2, int32_t stream_id) {
        Client *s = nghttp2_session_get_stream_user_data(h2->ng, stream_id);

        return s && s->state != CLIENT_DEAD ? s : NULL;
}

/* ---- request side ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        H2Session *h2 = userdata;
        Client *s;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        header_block_reset(h2);
        s = client_new_stream(h2->conn, frame->hd.stream_id);
        if (!s)
                return nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                                 NGHTTP2_REFUSED_STREAM) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
        LIST_PREPEND(h2_streams, h2->streams, s);
        h2->n_streams++;
        h2->conn->deadline = USEC_INFINITY;
        atomic_fetch_add_explicit(&session_manager(h2)->h2_streams_total, 1, memory_order_relaxed);
        (void) nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, s);
        return 0;
}

static bool name_is(const uint8_t *name, size_t len, const char *s) {
        return len == strlen(s) && memcmp(name, s, len) == 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *userdata) {
        H2Session *h2 = userdata;
        char **pseudo = NULL;
        int r;

        /* Trailers are dropped (the backends get none); fields of a stream already over too. */
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
            !stream_client(h2, frame->hd.stream_id))
                return 0;

        /* RFC 9113 6.5.2: the size of a field is its name, its value and 32. */
        h2->list_size += namelen + valuelen + 32;
        if (h2->list_size > session_manager(h2)->settings.h2_max_header_list_size)
                h2->too_large = true;
        if (h2->too_large)
                return 0;

        /* nghttp2 checked the pseudo-fields (known, once each, before the others), the names
         * (lowercase tokens), the values, and refused the connection-specific fields. */
        if (name_is(name, namelen, ":method"))
                pseudo = &h2->method;
        else if (name_is(name, namelen, ":path"))
                pseudo = &h2->path;
        else if (name_is(name, namelen, ":authority"))
                pseudo = &h2->authority;
        else if (name_is(name, namelen, "host"))
                pseudo = &h2->host;
        if (pseudo) {
                free(*pseudo);
                *pseudo = strndup((const char *) value, valuelen);
                return *pseudo ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        if (namelen > 0 && name[0] == ':')
                return 0;       /* :scheme: the proxy says itself how the client came */
        if (name_is(name, namelen, "cookie")) {
                if (acs_buf_len(&h2->cookies) > 0 && acs_buf_append(&h2->cookies, "; ", 2) < 0)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                return acs_buf_append(&h2->cookies, value, valuelen) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
        }
        if (name_is(name, namelen, "content-length"))
                h2->has_content_length = true;
        r = acs_buf_append(&h2->fields, name, namelen);
        if (r >= 0)
                r = acs_buf_append(&h2->fields, ": ", 2);
        if (r >= 0)
                r = acs_buf_append(&h2->fields, value, valuelen);
        if (r >= 0)
                r = acs_buf_append(&h2->fields, "\r\n", 2);
        return r < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* A field nghttp2 would skip (a value with a control character, a name that is not a token):
 * refused as HTTP/1.1 would refuse it, with a stream error. */
static int on_invalid_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                             const uint8_t *value, size_t valuelen, uint8_t flags, void *userdata) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

/* The stream's request as HTTP/1.1, for the stream's parser. A body without content-length
 * goes chunked, each DATA frame one chunk. */
static int request_head_write(H2Session *h2, Client *s, bool end_stream) {
        const char *target = h2->path ?: h2->authority;        /* CONNECT has no :path */
        const char *host = h2->authority ?: h2->host;
        AcsBuf *in = &s->in;
        int r;

        if (!h2->method || !target)
                return -EBADMSG;
        /* Appends, not printf: this runs for every request. */
        r = acs_buf_append_str(in, h2->method);
        if (r >= 0)
                r = acs_buf_append(in, " ", 1);
        if (r >= 0)
                r = acs_buf_append_str(in, target);
        if (r >= 0)
                r = acs_buf_append(in, " HTTP/1.1\r\n", 11);
        if (r >= 0 && host) {
                r = acs_buf_append(in, "Host: ", 6);
                if (r >= 0)
                        r = acs_buf_append_str(in, host);
                if (r >= 0)
                        r = acs_buf_append(in, "\r\n", 2);
        }
        if (r >= 0)
                r = acs_buf_append(in, acs_buf_peek(&h2->fields), acs_buf_len(&h2->fields));
        if (r >= 0 && acs_buf_len(&h2->cookies) > 0) {
                r = acs_buf_append(in, "Cookie: ", 8);
                if (r >= 0)
                        r = acs_buf_append(in, acs_buf_peek(&h2->cookies), acs_buf_len(&h2->cookies));
                if (r >= 0)
                        r = acs_buf_append(in, "\r\n", 2);
        }
        s->h2_chunked = !end_stream && !h2->has_content_length;
        if (r >= 0 && s->h2_chunked)
                r = acs_buf_append_str(in, "Transfer-Encoding: chunked\r\n");
        if (r >= 0)
                r = acs_buf_append(in, "\r\n", 2);
        return r;
}

static void request_body_end(Client *s) {
        if (s->h2_chunked && acs_buf_append(&s->in, "0\r\n\r\n", 5) < 0) {
                client_close(s);
                return;
        }
        s->h2_chunked = false;
        client_process(s);
}

/* More streams reset by the client in a second than MaxResetsPerSecond=: the rapid reset
 * attack costs us a backend request per stream, and the client nothing. */
static int note_client_reset(H2Session *h2) {
        Manager *m = session_manager(h2);
        usec_t now = worker_now(h2->conn->worker);

        if (now - h2->resets_since >= H2_RESET_WINDOW_USEC) {
                h2->resets_since = now;
                h2->n_resets = 0;
        }
        if (++h2->n_resets <= m->settings.h2_max_resets_per_second)
                return 0;
        h2_refused(h2, H2_REFUSED_RAPID_RESET, "too many streams reset (rapid reset)");
        return nghttp2_session_terminate_session(h2->ng, NGHTTP2_ENHANCE_YOUR_CALM) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        H2Session *h2 = userdata;
        Client *s;
        int r;

        switch (frame->hd.type) {
        case NGHTTP2_RST_STREAM:
                return note_client_reset(h2);
        case NGHTTP2_HEADERS:
                s = stream_client(h2, frame->hd.stream_id);
                if (!s)
                        return 0;
                if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                        bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

                        if (h2->too_large) {
                                header_block_reset(h2);
                                client_reply_error(s, 431, true);
                                (void) client_flush(s);
                                return 0;
                        }
                        r = request_head_write(h2, s, end_stream);
                        header_block_reset(h2);
                        if (r < 0) {
                                client_reply_error(s, 400, true);
                                (void) client_flush(s);
                                return 0;
                        }
                        client_process(s);
                        return 0;
                }
                if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                        request_body_end(s);
                return 0;
        case NGHTTP2_DATA:
                s = stream_client(h2, frame->hd.stream_id);
                if (s && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
                        request_body_end(s);
                return 0;
        default:
                return 0;
        }
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id, const uint8_t *data,
                              size_t len, void *userdata) {
        H2Session *h2 = userdata;
        Client *s = stream_client(h2, stream_id);
        int r = 0;

        if (!s || s->state == CLIENT_CLOSING) {
                /* Nobody reads it: the windows open again at once. */
                (void) nghttp2_session_consume(ng, stream_id, len);
                return 0;
        }
        if (s->h2_chunked)
                r = acs_buf_printf(&s->in, "%zx\r\n", len);
        if (r >= 0)
                r = acs_buf_append(&s->in, data, len);
        if (r >= 0 && s->h2_chunked)
                r = acs_buf_append(&s->in, "\r\n", 2);
        if (r < 0) {
                client_close(s);
                return 0;
        }
        s->h2_unconsumed += len;
        client_process(s);
        return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *userdata) {
        Client *s = nghttp2_session_get_stream_user_data(ng, stream_id);

        if (!s)
                return 0;
        (void) nghttp2_session_set_stream_user_data(ng, stream_id, NULL);
        if (s->h2_unconsumed > 0)
                (void) nghttp2_session_consume_connection(ng, s->h2_unconsumed);
        s->h2_unconsumed = 0;
        s->stream_id = 0;       /* nothing more to send on it */
        client_close(s);
        return 0;
}

/* ---- response side ---- */

/* The backend's trailer fields, as the HEADERS frame that ends the stream. */
static int submit_trailers(nghttp2_session *ng, Client *s) {
        nghttp2_nv nv[HTTP_MAX_FIELDS];
        char *p = (char *) acs_buf_peek(&s->h2_trailers), *end = p + acs_buf_len(&s->h2_trailers);
        size_t n = 0;

        /* Lines we wrote ourselves from a parsed head: "Name: value\r\n", then "\r\n". */
        while (p < end && n < ELEMENTSOF(nv)) {
                char *eol = memmem(p, (size_t) (end - p), "\r\n", 2), *colon;

                if (!eol || eol == p)
                        break;
                colon = memchr(p, ':', (size_t) (eol - p));
                if (!colon)
                        break;
                for (char *k = p; k < colon; k++)
                        if (*k >= 'A' && *k <= 'Z')
                                *k = (char) (*k - 'A' + 'a');
                nv[n++] = (nghttp2_nv) { (uint8_t *) p, (uint8_t *) colon + 2, (size_t) (colon - p),
                                         (size_t) (eol - colon - 2), NGHTTP2_NV_FLAG_NONE };
                p = eol + 2;
        }
        return n > 0 && nghttp2_submit_trailer(ng, s->stream_id, nv, n) == 0 ? 0 : -EINVAL;
}

static ssize_t on_read_body(nghttp2_session *ng, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *data_flags, nghttp2_data_source *source, void *userdata) {
        Client *s = nghttp2_session_get_stream_user_data(ng, stream_id);
        size_t n;

        if (!s || s->state == CLIENT_DEAD)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        n = MIN(length, acs_buf_len(&s->out));
        memcpy(buf, acs_buf_peek(&s->out), n);
        acs_buf_consume(&s->out, n);
        if (n > 0 && s->bconn) {
                /* A slow reader is not a stuck backend; and the backend may read again. */
                s->bconn->deadline = worker_now(s->worker) + s->worker->manager->settings.response_timeout;
                backend_conn_update_events(s->bconn);
        }
        if (acs_buf_len(&s->out) == 0 && s->response_complete) {
                *data_flags |= NGHTTP2_DATA_FLAG_EOF;
                if (acs_buf_len(&s->h2_trailers) > 0 && submit_trailers(ng, s) == 0)
                        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                return (ssize_t) n;
        }
        return n > 0 ? (ssize_t) n : NGHTTP2_ERR_DEFERRED;
}

static int submit_response(Client *s, nghttp2_nv *nv, size_t n_nv) {
        H2Session *h2 = s->h2_parent;
        nghttp2_data_provider body = { .read_callback = on_read_body };

        if (!s->stream_id || s->h2_headers_sent)
                return -EINVAL;
        if (nghttp2_submit_response(h2->ng, s->stream_id, nv, n_nv, &body) < 0)
                return -ENOMEM;
        s->h2_headers_sent = true;
        return 0;
}

/* Decimal digits of v into buf (at least 21 bytes), NUL-terminated; returns the length. */
static size_t format_u64(char *buf, uint64_t v) {
        char tmp[21];
        size_t n = 0, len;

        do {
                tmp[n++] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        for (len = 0; len < n; len++)
                buf[len] = tmp[n - 1 - len];
        buf[len] = '\0';
        return len;
}

#define NV(n, v, vlen) ((nghttp2_nv) { (uint8_t *) (n), (uint8_t *) (v), strlen(n), (vlen), NGHTTP2_NV_FLAG_NONE })

int h2_stream_response_head(Client *s, const HttpParser *hp) {
        const HttpHead *h = &hp->head;
        nghttp2_nv nv[HTTP_MAX_FIELDS + 3];
        char status[24], length[24];
        size_t n = 0;

        nv[n++] = NV(":status", status, format_u64(status, hp->llhttp.status_code));    /* 100..999 */
        for (unsigned i = 0; i < h->n_header_fields && n < ELEMENTSOF(nv) - 2; i++) {
                const HttpField *f = &h->fields[i];
                char *name = h->buf + f->name;

                if (http_field_is_hop_by_hop(h, i))
                        continue;
                /* HTTP/2 field names are lowercase; the backend's head is ours to change. */
                for (uint32_t k = 0; k < f->name_len; k++)
                        if (name[k] >= 'A' && name[k] <= 'Z')
                                name[k] = (char) (name[k] - 'A' + 'a');
                nv[n++] = (nghttp2_nv) { (uint8_t *) name, (uint8_t *) h->buf + f->value, f->name_len,
                                         f->value_len, NGHTTP2_NV_FLAG_NONE };
        }
        if (hp->has_content_length && !hp->chunked)
                nv[n++] = NV("content-length", length, format_u64(length, hp->content_length));
        return submit_response(s, nv, n);
}

void h2_stream_reply(Client *s, unsigned status) {
        const char *reason = http_status_reason(status);
        char code[8], length[24];
        nghttp2_nv nv[4];

        snprintf(code, sizeof(code), "%03u", status);
        snprintf(length, sizeof(length), "%zu", strlen(reason) + 1);
        nv[0] = NV(":status", code, strlen(code));
        nv[1] = NV("content-type", "text/plain", strlen("text/plain"));
        nv[2] = NV("content-length", length, strlen(length));
        nv[3] = NV("retry-after", "1", 1);
        acs_buf_clear(&s->out);
        if (acs_buf_printf(&s->out, "%s\n", reason) < 0 || submit_response(s, nv, status == 503 ? 4 : 3) < 0) {
                client_close(s);
                return;
        }
}

void h2_stream_consumed(Client *s) {
        H2Session *h2 = s->h2_parent;
        size_t buffered = acs_buf_len(&s->in);
        uint64_t done;

        /* What is still buffered is at most that many body bytes: the rest were taken. */
        if (!s->stream_id || s->h2_unconsumed <= buffered)
                return;
        done = s->h2_unconsumed - buffered;
        s->h2_unconsumed -= done;
        if (nghttp2_session_consume(h2->ng, s->stream_id, done) == 0)
                h2->send_pending = true;
}

int h2_stream_flush(Client *s) {
        H2Session *h2 = s->h2_parent;

        if (s->state == CLIENT_DEAD)
                return -ECONNRESET;
        if (s->stream_id && s->h2_headers_sent && (acs_buf_len(&s->out) > 0 || s->response_complete))
                (void) nghttp2_session_resume_data(h2->ng, s->stream_id);
        h2_session_send(h2);
        return s->state == CLIENT_DEAD ? -ECONNRESET : 0;
}

void h2_stream_closed(Client *s) {
        H2Session *h2 = s->h2_parent;
        Client *conn = h2->conn;

        if (s->stream_id) {
                (void) nghttp2_session_set_stream_user_data(h2->ng, s->stream_id, NULL);
                /* Closed before its end: a timeout, a backend cut short, a refused request. */
                (void) nghttp2_submit_rst_stream(h2->ng, NGHTTP2_FLAG_NONE, s->stream_id,
                                                 s->response_started ? NGHTTP2_INTERNAL_ERROR : NGHTTP2_CANCEL);
                if (s->h2_unconsumed > 0)
                        (void) nghttp2_session_consume(h2->ng, s->stream_id, s->h2_unconsumed);
                s->stream_id = 0;
        }
        LIST_REMOVE(h2_streams, h2->streams, s);
        s->h2_parent = NULL;
        if (--h2->n_streams == 0)
                conn->deadline = worker_now(conn->worker) + conn->worker->manager->settings.idle_timeout;
        h2_session_send(h2);
}

/* ---- the connection ---- */

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        H2Session *h2 = userdata;
        Manager *m = session_manager(h2);
        Client *s;

        switch (frame->hd.type) {
        case NGHTTP2_RST_STREAM:
                if (frame->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR ||
                    frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM)
                        atomic_fetch_add_explicit(&m->h2_stream_errors_total, 1, memory_order_relaxed);
                break;
        case NGHTTP2_GOAWAY:
                h2->goaway_sent = true;
                if (frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM)
                        h2_refused(h2, H2_REFUSED_FLOOD, "flood");
                else if (frame->goaway.error_code != NGHTTP2_NO_ERROR)
                        h2_refused(h2, H2_REFUSED_PROTOCOL, "protocol error");
                break;
        case NGHTTP2_DATA:
        case NGHTTP2_HEADERS:
                /* The answer is complete while the client still sends: RFC 9113 8.1 lets us
                 * tell it to stop with NO_ERROR. */
                s = stream_client(h2, frame->hd.stream_id);
                if (s && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->request_complete)
                        (void) nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
                break;
        default:
                break;
        }
        return 0;
}

int h2_session_start(Client *c) {
        const ProxySettings *ps = &c->worker->manager->settings;
        _cleanup_(nghttp2_session_callbacks_delp) nghttp2_session_callbacks *cbs = NULL;
        _cleanup_(nghttp2_option_delp) nghttp2_option *opt = NULL;
        nghttp2_settings_entry iv[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ps->h2_max_concurrent_streams },
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, ps->h2_initial_window_size },
                { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, ps->h2_max_header_list_size },
                { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        };
        uint64_t window = MIN((uint64_t) ps->h2_initial_window_size * H2_CONNECTION_WINDOWS, (uint64_t) INT32_MAX);
        H2Session *h2;

        if (nghttp2_session_callbacks_new(&cbs) < 0 || nghttp2_option_new(&opt) < 0)
                return -ENOMEM;
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_invalid_header_callback(cbs, on_invalid_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);

        /* Request bodies open the windows only as they leave our buffers. */
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_no_closed_streams(opt, 1);
        nghttp2_option_set_max_outbound_ack(opt, 1000);         /* PING and SETTINGS floods */
        nghttp2_option_set_max_settings(opt, 32);
        nghttp2_option_set_max_continuations(opt, 8);           /* CONTINUATION flood */
        /* Beside our own count of resets, nghttp2's, looser. */
        nghttp2_option_set_stream_reset_rate_limit(opt, (uint64_t) ps->h2_max_resets_per_second * 10,
                                                   ps->h2_max_resets_per_second);

        h2 = calloc(1, sizeof(H2Session));
        if (!h2)
                return -ENOMEM;
        h2->conn = c;
        h2->resets_since = worker_now(c->worker);
        if (nghttp2_session_server_new2(&h2->ng, cbs, h2, opt) < 0) {
                free(h2);
                return -ENOMEM;
        }
        if (nghttp2_submit_settings(h2->ng, NGHTTP2_FLAG_NONE, iv, ELEMENTSOF(iv)) < 0 ||
            nghttp2_session_set_local_window_size(h2->ng, NGHTTP2_FLAG_NONE, 0, (int32_t) window) < 0) {
                nghttp2_session_del(h2->ng);
                free(h2);
                return -ENOMEM;
        }
        c->h2 = h2;
        c->state = CLIENT_H2;
        c->deadline = worker_now(c->worker) + ps->idle_timeout;
        return 0;
}

H2Session *h2_session_free(H2Session *h2) {
        if (!h2)
                return NULL;
        h2->closing = true;
        while (h2->streams) {
                Client *s = h2->streams;

                s->stream_id = 0;       /* the session goes: nothing to reset */
                client_close(s);        /* unlinks it (h2_stream_closed()) */
        }
        nghttp2_session_del(h2->ng);
        header_block_reset(h2);
        acs_buf_done(&h2->fields);
        acs_buf_done(&h2->cookies);
        free(h2);
        return NULL;
}

int h2_session_recv(Client *c, const uint8_t *p, size_t n) {
        H2Session *h2 = c->h2;
        ssize_t r;

        h2->busy++;
        r = nghttp2_session_mem_recv(h2->ng, p, n);
        h2->busy--;
        if (r >= 0)
                return 0;
        switch (r) {
        case NGHTTP2_ERR_FLOODED:
                h2_refused(h2, H2_REFUSED_FLOOD, "PING/SETTINGS acknowledgements piling up (flood)");
                break;
        case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
                h2_refused(h2, H2_REFUSED_FLOOD, "too many CONTINUATION frames (flood)");
                break;
        default:
                h2_refused(h2, H2_REFUSED_PROTOCOL, nghttp2_strerror((int) r));
                break;
        }
        /* A last GOAWAY, if the connection still takes it; the caller closes. */
        (void) nghttp2_session_terminate_session(h2->ng, r == NGHTTP2_ERR_FLOODED ||
                                                 r == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                                                         ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
        return -EPROTO;
}

bool h2_session_fill(Client *c) {
        H2Session *h2 = c->h2;
        bool ok = true;

        h2->busy++;
        h2->send_pending = false;
        while (acs_buf_len(&c->out) < H2_OUT_HIGH) {
                const uint8_t *data;
                ssize_t n = nghttp2_session_mem_send(h2->ng, &data);

                if (n < 0) {
                        log_debug("Client %s: HTTP/2 output failed: %s", c->peer, nghttp2_strerror((int) n));
                        ok = false;
                        break;
                }
                if (n == 0) {
                        /* Callbacks of this round may have opened windows or reset streams. */
                        if (!h2->send_pending)
                                break;
                        h2->send_pending = false;
                        continue;
                }
                if (acs_buf_append(&c->out, data, (size_t) n) < 0) {
                        ok = false;
                        break;
                }
        }
        h2->busy--;
        return ok && (nghttp2_session_want_read(h2->ng) || nghttp2_session_want_write(h2->ng));
}

bool h2_session_want_read(const Client *c) {
        return nghttp2_session_want_read(c->h2->ng);
}

bool h2_session_want_write(const Client *c) {
        return nghttp2_session_want_write(c->h2->ng);
}

void h2_session_check_deadline(Client *c, usec_t now, bool stopping) {
        H2Session *h2 = c->h2;

        if (stopping) {
                /* Streams begun go on; no new one; the connection ends with the last. */
                if (!h2->goaway_sent) {
                        (void) nghttp2_submit_goaway(h2->ng, NGHTTP2_FLAG_NONE,
                                                     nghttp2_session_get_last_proc_stream_id(h2->ng),
                                                     NGHTTP2_NO_ERROR, NULL, 0);
                        h2_session_send(h2);
                } else if (h2->n_streams == 0 && acs_buf_len(&c->out) == 0)
                        client_close(c);
                return;
        }
        if (h2->n_streams > 0 || c->deadline == USEC_INFINITY || now < c->deadline)
                return;
        if (!h2->goaway_sent) {
                (void) nghttp2_session_terminate_session(h2->ng, NGHTTP2_NO_ERROR);
                c->deadline = now + USEC_PER_SEC;
                h2_session_send(h2);
                return;
        }
        client_close(c);
}
