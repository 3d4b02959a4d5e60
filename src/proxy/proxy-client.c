/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-ratelimit.h"
#include "acs-macro.h"
#include "proxy-backend-conn.h"
#include "proxy-client.h"
#include "proxy-forward.h"
#include "proxy-h2.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define CLIENT_IN_MAX (64 * 1024)
#define CLIENT_LINGER_USEC (1 * USEC_PER_SEC)

static void client_on_io(WorkerPoll *p, uint32_t revents);

static void client_queue_remove(Client *c) {
        Worker *w = c->worker;

        if (w->queue_tail == c)
                w->queue_tail = c->queue_prev;
        LIST_REMOVE(queue, w->queue, c);
        w->n_queued--;
        c->queued = false;
}

void client_queue_push(Client *c) {
        Worker *w = c->worker;

        c->queued = true;
        c->deadline = worker_now(w) + w->manager->settings.queue_timeout;
        c->queue_next = NULL;
        c->queue_prev = w->queue_tail;
        if (w->queue_tail)
                w->queue_tail->queue_next = c;
        else
                w->queue = c;
        w->queue_tail = c;
        w->n_queued++;
}

void client_queue_run(Worker *w) {
        while (w->queue) {
                Client *c = w->queue;
                int r;

                worker_refresh_set(w);
                r = forward_dispatch(c, NULL);
                if (r == -EBUSY)
                        return;         /* still no room: it stays first in line */
                client_queue_remove(c);
                client_body_deadline(c);
                if (r < 0) {
                        client_reply_error(c, 503, true);
                        (void) client_flush(c);
                        continue;
                }
                /* The parser paused at the end of the head: the body (if any) follows now. */
                http_parser_resume(&c->parser);
                client_process(c);
        }
}

static unsigned address_slot(const struct sockaddr_storage *peer) {
        const unsigned char *p;
        size_t n;
        uint32_t h = 2166136261u;

        if (peer->ss_family == AF_INET6) {
                p = (const unsigned char *) &((const struct sockaddr_in6 *) peer)->sin6_addr;
                n = 16;
        } else {
                p = (const unsigned char *) &((const struct sockaddr_in *) peer)->sin_addr;
                n = 4;
        }
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 16777619u;
        return h % CLIENT_ADDR_SLOTS;
}

static void client_init_parser(Client *c) {
        const ProxySettings *s = &c->worker->manager->settings;

        http_parser_init(&c->parser, HTTP_REQUEST, &forward_request_ops, c, s->max_url_size, s->max_head_size);
        http_parser_set_max_body(&c->parser, (uint64_t) s->max_body_size);
}

Client *client_new_stream(Client *conn, int32_t stream_id) {
        Worker *w = conn->worker;
        Client *c = calloc(1, sizeof(Client));

        if (!c)
                return NULL;
        c->worker = w;
        c->fd = -1;
        c->stream = (AcsTlsStream) { .fd = -1 };
        c->h2_parent = conn->h2;
        c->stream_id = stream_id;
        memcpy(c->peer, conn->peer, sizeof(c->peer));
        c->peer_v6 = conn->peer_v6;
        c->tls = conn->tls;
        /* The request head is one HEADERS block, bounded by MaxHeaderListSize=, and the body
         * by the stream's window: the input buffer needs no limit of its own. */
        c->state = CLIENT_HEAD;
        c->deadline = worker_now(w) + w->manager->settings.client_head_timeout;
        client_init_parser(c);
        LIST_PREPEND(clients, w->clients, c);
        w->n_streams++;
        return c;
}

int client_new(Worker *w, int fd, const struct sockaddr_storage *peer, Client **ret) {
        Manager *m = w->manager;
        unsigned slot = address_slot(peer);
        Client *c;
        int r;

        /* Addresses sharing a slot share a limit: a collision can only make it stricter. */
        if (m->settings.max_conns_per_client > 0 &&
            atomic_fetch_add(&m->client_addr_conns[slot], 1) >= m->settings.max_conns_per_client) {
                atomic_fetch_sub(&m->client_addr_conns[slot], 1);
                return -EUSERS;
        }
        if (m->settings.max_conns_per_client == 0)
                atomic_fetch_add(&m->client_addr_conns[slot], 1);

        c = calloc(1, sizeof(Client));
        if (!c) {
                atomic_fetch_sub(&m->client_addr_conns[slot], 1);
                return -ENOMEM;
        }
        c->worker = w;
        c->fd = fd;
        c->stream = (AcsTlsStream) { .fd = fd };
        /* The handshake runs in the first reads, on this worker's loop. */
        if (m->tls && !(c->stream.ssl = acs_tls_server_new_ssl(m->tls, fd))) {
                atomic_fetch_sub(&m->client_addr_conns[slot], 1);
                free(c);
                return -ENOMEM;
        }
        c->addr_slot = slot;
        c->tls = c->stream.ssl != NULL;
        c->in.max = CLIENT_IN_MAX;
        c->state = CLIENT_IDLE;
        c->deadline = worker_now(w) + m->settings.idle_timeout;
        if (peer->ss_family == AF_INET6) {
                c->peer_v6 = true;
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) peer)->sin6_addr, c->peer, sizeof(c->peer));
        } else
                inet_ntop(AF_INET, &((const struct sockaddr_in *) peer)->sin_addr, c->peer, sizeof(c->peer));
        client_init_parser(c);

        c->poll.dispatch = client_on_io;
        r = worker_poll_add(w, &c->poll, fd, EPOLLIN);
        if (r < 0) {
                c->fd = -1;     /* the caller closes it */
                acs_tls_stream_done(&c->stream);
                atomic_fetch_sub(&m->client_addr_conns[slot], 1);
                http_parser_done(&c->parser);
                free(c);
                return r;
        }
        LIST_PREPEND(clients, w->clients, c);
        w->n_clients++;
        atomic_fetch_add_explicit(&m->connections_total, 1, memory_order_relaxed);
        *ret = c;
        return 0;
}

void client_close(Client *c) {
        Worker *w = c->worker;

        if (c->state == CLIENT_DEAD)
                return;
        if (c->bconn || c->backend)
                forward_abort(c);
        if (c->queued)
                client_queue_remove(c);
        c->state = CLIENT_DEAD;
        if (c->h2_parent) {
                /* A stream: the connection stays. */
                h2_stream_closed(c);
                w->n_streams--;
                worker_schedule_cleanup(w);
                return;
        }
        c->h2 = h2_session_free(c->h2);
        if (c->h2_flush_queued) {
                LIST_REMOVE(h2_flush, w->h2_flush, c);
                c->h2_flush_queued = false;
        }
        acs_tls_stream_done(&c->stream);
                c->fd = safe_close(c->fd);
        atomic_fetch_sub(&w->manager->client_addr_conns[c->addr_slot], 1);
        w->n_clients--;
        acs_accept_guard_resume(&w->accept_guard);     /* an fd is free again */
        worker_schedule_cleanup(w);
}

Client *client_free(Client *c) {
        if (!c)
                return NULL;
        client_close(c);
        LIST_REMOVE(clients, c->worker->clients, c);
        acs_buf_done(&c->in);
        acs_buf_done(&c->out);
        acs_buf_done(&c->replay);
        acs_buf_done(&c->h2_trailers);
        http_parser_done(&c->parser);
        free(c);
        return NULL;
}

void client_update_events(Client *c) {
        uint32_t want = 0;

        if (c->state == CLIENT_DEAD || c->h2_parent)
                return;
        if (c->h2 && !h2_session_want_read(c))
                ;       /* the session is over: only what is left goes out */
        else if (!c->peer_eof && acs_buf_len(&c->in) < CLIENT_IN_MAX &&
            !(c->bconn && acs_buf_len(&c->bconn->out) > WORKER_OUT_HIGH))
                want |= EPOLLIN;
        if (acs_buf_len(&c->out) > 0)
                want |= EPOLLOUT;
        want = acs_tls_stream_events(&c->stream, want & EPOLLIN, want & EPOLLOUT);
        if (want != c->poll.events) {
                if (worker_poll_modify(c->worker, &c->poll, c->fd, want) < 0) {
                        client_close(c);
                        return;
                }
        }
}

/* Shut our side and drain the peer's for a moment: closing with unread input would send a
 * reset that can destroy the response the peer has not read yet. */
static void client_linger(Client *c) {
        acs_tls_stream_done(&c->stream);        /* close_notify first; the rest is drained raw */
        if (shutdown(c->fd, SHUT_WR) < 0 || c->peer_eof) {
                client_close(c);
                return;
        }
        c->state = CLIENT_LINGER;
        c->deadline = worker_now(c->worker) + CLIENT_LINGER_USEC;
        acs_buf_done(&c->in);
        client_update_events(c);
}

/* An HTTP/2 connection: frames nghttp2 has ready go into out first. When the session is over,
 * the connection closes once out is empty. */
static void client_fill_h2(Client *c) {
        if (!c->h2 || c->state != CLIENT_H2 || h2_session_fill(c))
                return;
        c->state = CLIENT_CLOSING;
        c->deadline = worker_now(c->worker) + c->worker->manager->settings.idle_timeout;
}

int client_flush(Client *c) {
        size_t before = acs_buf_len(&c->out);

        if (c->h2_parent)
                return h2_stream_flush(c);
        for (unsigned round = 0; round < 16; round++) {
                client_fill_h2(c);
                while (acs_buf_len(&c->out) > 0) {
                        ssize_t n = acs_tls_stream_send(&c->stream, acs_buf_peek(&c->out), acs_buf_len(&c->out));
                        if (n < 0) {
                                if (n == -EAGAIN)
                                        break;
                                log_debug_errno(n, "Client %s: write failed: %m", c->peer);
                                client_close(c);
                                return -ECONNRESET;
                        }
                        acs_buf_consume(&c->out, (size_t) n);
                }
                if (!c->h2 || c->state != CLIENT_H2 || acs_buf_len(&c->out) > 0 || !h2_session_want_write(c))
                        break;
        }
        /* A slow reader is not a stuck backend: progress here keeps the backend side alive. */
        if (c->bconn && acs_buf_len(&c->out) < before)
                c->bconn->deadline = worker_now(c->worker) + c->worker->manager->settings.response_timeout;
        if (acs_buf_len(&c->out) == 0) {
                if (c->state == CLIENT_CLOSING) {
                        client_linger(c);
                        return c->state == CLIENT_DEAD ? -ECONNRESET : 0;
                }
                /* The backend side may have stopped reading while we were full. */
                if (c->bconn)
                        backend_conn_update_events(c->bconn);
        }
        client_update_events(c);
        return c->state == CLIENT_DEAD ? -ECONNRESET : 0;
}

void client_reply_error(Client *c, unsigned status, bool close_after) {
        const char *reason = http_status_reason(status);
        int r;

        c->status = status;
        if (c->h2_parent) {
                h2_stream_reply(c, status);
                if (c->state == CLIENT_DEAD)
                        return;
                c->response_complete = true;
                c->keep_alive = false;
                c->state = CLIENT_CLOSING;
                c->deadline = worker_now(c->worker) + c->worker->manager->settings.idle_timeout;
                return;
        }
        r = acs_buf_printf(&c->out,
                           "HTTP/1.1 %u %s\r\n"
                           "Content-Type: text/plain\r\n"
                           "Content-Length: %zu\r\n"
                           "%s%s"
                           "\r\n"
                           "%s\n",
                           status, reason, strlen(reason) + 1,
                           status == 503 ? "Retry-After: 1\r\n" : "",
                           close_after ? "Connection: close\r\n" : "",
                           reason);
        if (r < 0 || close_after) {
                c->keep_alive = false;
                c->state = CLIENT_CLOSING;
                c->deadline = worker_now(c->worker) + c->worker->manager->settings.idle_timeout;
                return;
        }
        c->response_complete = true;
        if (c->request_complete)
                client_exchange_done(c);
}

void client_exchange_done(Client *c) {
        Manager *m = c->worker->manager;

        if (c->state == CLIENT_DEAD || c->state == CLIENT_CLOSING || c->state == CLIENT_LINGER)
                return;
        /* A stream carries one exchange: it ends when the response went out. */
        if (!c->keep_alive || c->h2_parent) {
                c->state = CLIENT_CLOSING;
                c->deadline = worker_now(c->worker) + m->settings.idle_timeout;
                return;
        }
        c->state = CLIENT_IDLE;
        c->deadline = worker_now(c->worker) + m->settings.idle_timeout;
        c->request_complete = c->response_complete = c->response_started = false;
        c->n_requests++;
}

/* Parses buffered bytes from p (either the input buffer or, when that is empty, the worker's
 * scratch buffer); returns how many were consumed. */
static size_t client_parse(Client *c, const uint8_t *p, size_t n) {
        Manager *m = c->worker->manager;
        size_t done = 0;

        while (done < n) {
                llhttp_errno_t e;
                size_t consumed;

                if (c->state == CLIENT_FORWARD && c->request_complete)
                        break;  /* pipelined: the next request waits for this response */
                if (c->queued)
                        break;  /* the body waits until the request has a backend */
                if (c->state != CLIENT_IDLE && c->state != CLIENT_HEAD && c->state != CLIENT_FORWARD)
                        break;
                if (c->bconn && acs_buf_len(&c->bconn->out) > WORKER_OUT_HIGH)
                        break;
                if (c->state == CLIENT_IDLE) {
                        c->state = CLIENT_HEAD;
                        c->deadline = worker_now(c->worker) + m->settings.client_head_timeout;
                }

                e = http_parser_feed(&c->parser, (const char *) p + done, n - done, &consumed);
                done += consumed;
                if (consumed > 0 && c->state == CLIENT_FORWARD && !c->queued) {
                        c->body_bytes += consumed;
                        client_body_deadline(c);
                }
                if (e == HPE_OK || e == HPE_PAUSED) {
                        if (e == HPE_PAUSED && !c->queued)
                                http_parser_resume(&c->parser);
                        continue;
                }

                /* A refused request: never forwarded further, the connection is not reused. */
                if (log_ratelimit_here(LOG_NOTICE, NULL))
                        log_notice("Client %s: refusing request: %u %s", c->peer, c->parser.status,
                                   strna(c->parser.reason));
                if (c->response_started || c->state == CLIENT_DEAD) {
                        client_close(c);
                        break;
                }
                if (c->bconn || c->backend)
                        forward_abort(c);
                client_reply_error(c, c->parser.status ? c->parser.status : 400, true);
                break;
        }
        return done;
}

void client_process(Client *c) {
        /* Parse, send to the backend, parse again what was held back by a full backend buffer;
         * bounded, so that one client cannot hold the worker. */
        for (unsigned round = 0; round < 16; round++) {
                size_t n;

                if (c->state == CLIENT_DEAD)
                        return;
                n = client_parse(c, acs_buf_peek(&c->in), acs_buf_len(&c->in));
                if (c->state == CLIENT_DEAD)
                        return;
                acs_buf_consume(&c->in, n);
                if (c->h2_parent)
                        h2_stream_consumed(c);
                if (c->bconn && backend_conn_flush(c->bconn) < 0)
                        continue;       /* failed over or answered: the state changed */
                if (n == 0 || acs_buf_len(&c->in) == 0)
                        break;
        }
        (void) client_flush(c);
}

/* HTTP/2 on this new connection: chosen by ALPN, or the client preface on the plain listener. */
static bool client_wants_h2(const Client *c, const uint8_t *p, size_t n) {
        if (c->h2 || c->state != CLIENT_IDLE || c->n_requests > 0)
                return false;
        if (c->stream.ssl) {
                const unsigned char *proto;
                unsigned len;

                SSL_get0_alpn_selected(c->stream.ssl, &proto, &len);
                return len == 2 && memcmp(proto, "h2", 2) == 0;
        }
        return c->worker->manager->settings.h2_prior_knowledge && h2_is_preface(p, n);
}

static void client_read_h2(Client *c, const uint8_t *p, size_t n) {
        int r;

        if (!c->h2) {
                r = h2_session_start(c);
                if (r < 0) {
                        log_warning_errno(r, "Client %s: failed to start HTTP/2: %m", c->peer);
                        client_close(c);
                        return;
                }
        }
        if (h2_session_recv(c, p, n) < 0) {
                (void) client_flush(c);         /* the GOAWAY, if it goes out at once */
                client_close(c);
                return;
        }
        (void) client_flush(c);
}

/* The client closed its side. Half-closed while a complete request waits for its response:
 * answer it, then close. Anything else is the end of this client. */
static void client_read_eof(Client *c) {
        c->peer_eof = true;
        if (c->state == CLIENT_FORWARD && c->request_complete) {
                c->keep_alive = false;
                client_update_events(c);
                return;
        }
        if (c->state == CLIENT_CLOSING) {
                client_update_events(c);
                return;
        }
        client_close(c);
}

static void client_read(Client *c) {
        Worker *w = c->worker;
        bool direct = acs_buf_len(&c->in) == 0;
        uint8_t *p;
        size_t space;
        ssize_t n;
        int r = 0;

        if (c->state == CLIENT_LINGER) {
                n = read(c->fd, w->scratch, WORKER_SCRATCH_SIZE);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        client_close(c);
                return;
        }

        if (direct) {
                p = w->scratch;
                space = WORKER_SCRATCH_SIZE;
        } else {
                space = CLIENT_IN_MAX - acs_buf_len(&c->in);
                if (space == 0) {
                        client_process(c);
                        return;
                }
                p = acs_buf_reserve(&c->in, space, &r);
                if (!p) {
                        client_close(c);
                        return;
                }
        }

        n = acs_tls_stream_recv(&c->stream, p, space);
        if (n < 0) {
                if (n == -EAGAIN)
                        return;
                log_debug_errno(n, "Client %s: read failed: %m", c->peer);
                client_close(c);
                return;
        }
        if (n == 0) {
                client_read_eof(c);
                return;
        }

        if (direct && (c->h2 || client_wants_h2(c, p, (size_t) n))) {
                client_read_h2(c, p, (size_t) n);
                return;
        }
        if (direct) {
                size_t consumed = client_parse(c, p, (size_t) n);

                if (c->state == CLIENT_DEAD)
                        return;
                /* What the parser did not take (a pipelined request) waits in the buffer. */
                if (consumed < (size_t) n && c->state != CLIENT_CLOSING &&
                    acs_buf_append(&c->in, p + consumed, (size_t) n - consumed) < 0) {
                        client_close(c);
                        return;
                }
                if (acs_buf_len(&c->in) > 0)
                        client_process(c);
                else {
                        if (c->bconn)
                                (void) backend_conn_flush(c->bconn);
                        (void) client_flush(c);
                }
                return;
        }
        acs_buf_commit(&c->in, (size_t) n);
        client_process(c);
}

static void client_on_io(WorkerPoll *p, uint32_t revents) {
        Client *c = (Client *) ((uint8_t *) p - offsetof(Client, poll));

        if (c->state == CLIENT_DEAD)
                return;
        if (acs_tls_stream_can_write(&c->stream, revents))
                if (client_flush(c) < 0)
                        return;
        if (acs_tls_stream_can_read(&c->stream, revents) || (revents & (EPOLLHUP | EPOLLERR)))
                client_read(c);
        /* Bytes OpenSSL decrypted that had no room yet show no readiness on the socket. */
        for (unsigned i = 0; i < 8 && c->state != CLIENT_DEAD && c->stream.ssl &&
                             SSL_pending(c->stream.ssl) > 0 && (c->poll.events & EPOLLIN); i++)
                client_read(c);
}

/* A pause of ClientBodyTimeout= ends the body; so does a body slower on average than
 * ClientBodyMinRate= once its first ClientBodyTimeout= is over. Without the second, a byte sent
 * just before each pause ran out would hold the backend connection, and the in-flight count
 * the VIM scales on, for ever. */
void client_body_deadline(Client *c) {
        const ProxySettings *s = &c->worker->manager->settings;
        usec_t deadline;

        if (c->request_complete) {
                c->deadline = USEC_INFINITY;
                return;
        }
        deadline = worker_now(c->worker) + s->client_body_timeout;
        if (s->client_body_min_rate > 0)
                deadline = MIN(deadline, c->started + s->client_body_timeout +
                                                 c->body_bytes / s->client_body_min_rate * USEC_PER_SEC +
                                                 c->body_bytes % s->client_body_min_rate * USEC_PER_SEC /
                                                         s->client_body_min_rate);
        c->deadline = deadline;
}

/* No byte of the request body for ClientBodyTimeout=: the exchange is over, and the backend
 * connection, holding a partial request, goes with it. */
static void client_body_timed_out(Client *c) {
        if (c->bconn && acs_buf_len(&c->bconn->out) > WORKER_OUT_HIGH) {
                /* we stopped reading: the backend is slow, not the client */
                c->deadline = worker_now(c->worker) + c->worker->manager->settings.client_body_timeout;
                return;
        }
        if (log_ratelimit_here(LOG_NOTICE, NULL))
                log_notice("Client %s: request body too slow, answering 408.", c->peer);
        if (c->bconn || c->backend)
                forward_abort(c);
        if (c->response_started) {
                client_close(c);
                return;
        }
        client_reply_error(c, 408, true);
        (void) client_flush(c);
}

void client_check_deadline(Client *c, usec_t now) {
        if (c->state == CLIENT_H2) {
                h2_session_check_deadline(c, now, atomic_load(&c->worker->stopping));
                return;
        }
        if (c->state == CLIENT_DEAD || c->deadline == USEC_INFINITY || now < c->deadline)
                return;

        if (c->queued) {
                /* No room at any backend in time. */
                client_queue_remove(c);
                client_reply_error(c, 503, true);
                (void) client_flush(c);
                return;
        }

        switch (c->state) {
        case CLIENT_IDLE:
                client_close(c);
                break;
        case CLIENT_HEAD:
                /* The whole head had its time, however slowly it trickled in. */
                if (log_ratelimit_here(LOG_NOTICE, NULL))
                        log_notice("Client %s: request head not complete in time, answering 408.", c->peer);
                client_reply_error(c, 408, true);
                (void) client_flush(c);
                break;
        case CLIENT_FORWARD:
                if (!c->request_complete)
                        client_body_timed_out(c);
                break;
        case CLIENT_CLOSING:
        case CLIENT_LINGER:
                client_close(c);
                break;
        default:
                break;
        }
}
