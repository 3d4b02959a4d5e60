/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-backend-conn.h"
#include "proxy-client.h"
#include "proxy-forward.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define BACKEND_MAX_HEAD (64 * 1024)

static void backend_conn_on_io(WorkerPoll *p, uint32_t revents);

static int backend_conn_open(Worker *w, Backend *b, BackendConn **ret) {
        Manager *m = w->manager;
        _cleanup_close_ int fd = -1;
        BackendConn *bc;
        int one = 1, r;

        fd = socket(b->sockaddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *) &b->sockaddr, b->sockaddr_len) < 0 && errno != EINPROGRESS)
                return -errno;

        bc = calloc(1, sizeof(BackendConn));
        if (!bc)
                return -ENOMEM;
        bc->poll.dispatch = backend_conn_on_io;
        r = worker_poll_add(w, &bc->poll, fd, EPOLLOUT);
        if (r < 0) {
                free(bc);
                return r;
        }
        bc->worker = w;
        bc->backend = backend_ref(b);
        bc->fd = TAKE_FD(fd);
        bc->deadline = worker_now(w) + m->settings.connect_timeout;
        bc->deadline_is_connect = true;
        http_parser_init(&bc->parser, HTTP_RESPONSE, &forward_response_ops, bc, BACKEND_MAX_HEAD, BACKEND_MAX_HEAD);
        LIST_PREPEND(conns, w->conns, bc);
        w->n_conns++;
        atomic_fetch_add_explicit(&b->conns, 1, memory_order_relaxed);
        *ret = bc;
        return 0;
}

int backend_conn_get(Worker *w, Backend *b, BackendConn **ret) {
        BackendPool *pool = &b->pools[w->index];
        BackendConn *bc = pool->idle;

        if (bc) {
                LIST_REMOVE(idle, pool->idle, bc);
                pool->n_idle--;
                w->n_idle--;
                bc->in_pool = false;
                bc->got_bytes = bc->final_response = bc->response_complete = bc->interim = false;
                bc->retry_elsewhere = false;
                *ret = bc;
                return 0;
        }
        return backend_conn_open(w, b, ret);
}

void backend_conn_close(BackendConn *bc) {
        Worker *w = bc->worker;

        if (bc->dead)
                return;
        if (bc->in_pool) {
                BackendPool *pool = &bc->backend->pools[w->index];
                LIST_REMOVE(idle, pool->idle, bc);
                pool->n_idle--;
                w->n_idle--;
                bc->in_pool = false;
        }
        bc->dead = true;
        bc->client = NULL;
                bc->fd = safe_close(bc->fd);
        atomic_fetch_sub_explicit(&bc->backend->conns, 1, memory_order_relaxed);
        w->n_conns--;
        w->queue_run_pending = w->queue != NULL;
        worker_schedule_cleanup(w);
}

BackendConn *backend_conn_free(BackendConn *bc) {
        if (!bc)
                return NULL;
        backend_conn_close(bc);
        LIST_REMOVE(conns, bc->worker->conns, bc);
        acs_buf_done(&bc->in);
        acs_buf_done(&bc->out);
        http_parser_done(&bc->parser);
        backend_unref(bc->backend);
        free(bc);
        return NULL;
}

void backend_conn_release(BackendConn *bc, bool reusable) {
        Worker *w = bc->worker;
        BackendPool *pool = &bc->backend->pools[w->index];

        bc->client = NULL;
        /* One idle connection per exchange that can run at once (a client connection, or an
         * HTTP/2 stream) to each backend is all the concurrency can use; over all backends,
         * twice that (plus a few) bounds the total. */
        if (!reusable || bc->unusable || acs_buf_len(&bc->out) > 0 || pool->n_idle >= w->n_clients + w->n_streams ||
            w->n_idle >= 2 * (w->n_clients + w->n_streams) + 16 ||
            atomic_load(&bc->backend->removed) || atomic_load(&w->stopping)) {
                backend_conn_close(bc);
                return;
        }
        http_parser_reset(&bc->parser);
        http_parser_shrink(&bc->parser);
        acs_buf_done(&bc->out);
        bc->n_requests++;
        bc->in_pool = true;
        LIST_PREPEND(idle, pool->idle, bc);
        pool->n_idle++;
        w->n_idle++;
        bc->deadline = worker_now(w) + w->manager->settings.idle_timeout;
        bc->deadline_is_connect = false;
        backend_conn_update_events(bc);
        if (w->queue) {
                w->queue_run_pending = true;
                worker_schedule_cleanup(w);
        }
}

void backend_conn_update_events(BackendConn *bc) {
        uint32_t want;

        if (bc->dead)
                return;
        if (!bc->connected)
                want = EPOLLOUT;
        else {
                want = 0;
                if (!bc->client || acs_buf_len(&bc->client->out) <= WORKER_OUT_HIGH)
                        want |= EPOLLIN;
                if (acs_buf_len(&bc->out) > 0)
                        want |= EPOLLOUT;
        }
        if (want != bc->poll.events) {
                if (worker_poll_modify(bc->worker, &bc->poll, bc->fd, want) < 0) {
                        forward_backend_failed(bc, -EIO, false, "epoll");
                        return;
                }
        }
}

int backend_conn_flush(BackendConn *bc) {
        Manager *m = bc->worker->manager;
        bool wrote = false;

        if (bc->dead)
                return -ECONNRESET;
        if (!bc->connected)
                return 0;
        while (acs_buf_len(&bc->out) > 0) {
                ssize_t n = write(bc->fd, acs_buf_peek(&bc->out), acs_buf_len(&bc->out));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        forward_backend_failed(bc, -errno, false, "write");
                        return -ECONNRESET;
                }
                acs_buf_consume(&bc->out, (size_t) n);
                wrote = true;
        }
        if (wrote && bc->client) {
                bc->deadline = worker_now(bc->worker) + m->settings.response_timeout;
                /* Room again: the client may read again. */
                client_update_events(bc->client);
        }
        backend_conn_update_events(bc);
        return bc->dead ? -ECONNRESET : 0;
}

static void backend_conn_connected(BackendConn *bc) {
        int error = 0;
        socklen_t len = sizeof(error);

        if (getsockopt(bc->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                error = errno;
        if (error != 0) {
                forward_backend_failed(bc, -error, false, "connect");
                return;
        }
        bc->connected = true;
        bc->deadline_is_connect = false;
        bc->deadline = worker_now(bc->worker) + bc->worker->manager->settings.response_timeout;
}

static void backend_conn_read(BackendConn *bc) {
        Worker *w = bc->worker;
        Client *c = bc->client;
        llhttp_errno_t e;
        size_t consumed;
        ssize_t n;

        n = read(bc->fd, w->scratch, WORKER_SCRATCH_SIZE);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                forward_backend_failed(bc, -errno, false, "read");
                return;
        }
        if (!c) {
                /* An idle connection that speaks or closes is done. */
                backend_conn_close(bc);
                return;
        }
        if (n == 0) {
                bc->unusable = true;
                forward_backend_eof(bc);
                return;
        }
        bc->got_bytes = true;
        bc->deadline = worker_now(w) + w->manager->settings.response_timeout;

        /* Each message pauses the parser when it completes, so that the head scan of the
         * next one (after a 1xx) starts at its first byte. */
        for (size_t done = 0; done < (size_t) n;) {
                e = http_parser_feed(&bc->parser, (const char *) w->scratch + done, (size_t) n - done, &consumed);
                done += consumed;
                if (e != HPE_OK && e != HPE_PAUSED && bc->retry_elsewhere) {
                        /* Nothing of this answer went to the client: treat it as a failure
                         * before the response, which forward_backend_failed() retries. */
                        bc->got_bytes = false;
                        bc->unusable = true;
                        forward_backend_failed(bc, -EAGAIN, false, "503 from the backend");
                        return;
                }
                if (e != HPE_OK && e != HPE_PAUSED) {
                        log_warning("Backend %s sent a malformed response: %s", bc->backend->name,
                                    strna(bc->parser.reason));
                        forward_backend_failed(bc, -EBADMSG, false, "malformed response");
                        return;
                }
                if (bc->response_complete) {
                        /* Bytes after the response would be read as the next one's: never reuse. */
                        if (done < (size_t) n)
                                bc->unusable = true;
                        forward_finish(c);
                        return;
                }
                if (e == HPE_PAUSED)
                        http_parser_resume(&bc->parser);
        }
        (void) client_flush(c);
        if (!bc->dead)
                backend_conn_update_events(bc);
}

static void backend_conn_on_io(WorkerPoll *p, uint32_t revents) {
        BackendConn *bc = (BackendConn *) ((uint8_t *) p - offsetof(BackendConn, poll));
        Client *c = bc->client;

        if (bc->dead)
                return;
        if (!bc->connected) {
                backend_conn_connected(bc);
                if (bc->dead)
                        return;
        }
        if ((revents & EPOLLOUT) && acs_buf_len(&bc->out) > 0) {
                if (backend_conn_flush(bc) < 0)
                        return;
                /* Room again: a client held back by a full backend buffer can go on. */
                if (c && c->bconn == bc && acs_buf_len(&c->in) > 0 && acs_buf_len(&bc->out) <= WORKER_OUT_HIGH)
                        client_process(c);
                if (bc->dead)
                        return;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                backend_conn_read(bc);
        else
                backend_conn_update_events(bc);
}

void backend_conn_check_deadline(BackendConn *bc, usec_t now) {
        if (bc->dead || now < bc->deadline)
                return;
        if (!bc->client) {
                backend_conn_close(bc);
                return;
        }
        forward_backend_failed(bc, -ETIMEDOUT, true, bc->deadline_is_connect ? "connect timeout" : "response timeout");
}

void backend_conn_pool_prune(Worker *w, bool all) {
        for (BackendConn *bc = w->conns; bc; bc = bc->conns_next)
                if (!bc->dead && bc->in_pool && (all || atomic_load(&bc->backend->removed)))
                        backend_conn_close(bc);
}
