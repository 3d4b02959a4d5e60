/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-backend-conn.h"
#include "proxy-client.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define WORKER_TICK_USEC (100 * USEC_PER_MSEC)
#define WORKER_STOP_GRACE_USEC (5 * USEC_PER_SEC)

usec_t worker_now(Worker *w) {
        return w->now;
}

/* Each sd-event callback of the worker reads the loop's time once: one clock read per wake-up,
 * not one per request. */
void worker_update_now(Worker *w) {
        uint64_t t;

        w->now = sd_event_now(w->event, CLOCK_MONOTONIC, &t) >= 0 ? t : now_usec(CLOCK_MONOTONIC);
}

void worker_schedule_cleanup(Worker *w) {
        if (!w->has_dead) {
                w->has_dead = true;
                (void) sd_event_source_set_enabled(w->cleanup_source, SD_EVENT_ONESHOT);
        }
}

#define POLL_BATCH 256

int worker_poll_add(Worker *w, WorkerPoll *p, int fd, uint32_t events) {
        struct epoll_event ev = { .events = events, .data.ptr = p };

        if (epoll_ctl(w->poll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        p->events = events;
        return 0;
}

int worker_poll_modify(Worker *w, WorkerPoll *p, int fd, uint32_t events) {
        struct epoll_event ev = { .events = events, .data.ptr = p };

        if (events == p->events)
                return 0;
        if (epoll_ctl(w->poll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
                return -errno;
        p->events = events;
        return 0;
}

static int worker_on_poll(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        struct epoll_event ev[POLL_BATCH];
        int n;

        /* Objects closed while this batch runs are freed only by the cleanup source, after it:
         * a later event of the batch never points at freed memory. */
        worker_update_now(w);
        n = epoll_wait(w->poll_fd, ev, POLL_BATCH, 0);
        for (int i = 0; i < n; i++) {
                WorkerPoll *p = ev[i].data.ptr;
                p->dispatch(p, ev[i].events);
        }
        return 0;
}

static int worker_on_cleanup(sd_event_source *s, void *userdata) {
        Worker *w = userdata;
        Client *c, *cn;
        BackendConn *bc, *bn;

        w->has_dead = false;
        if (w->queue_run_pending) {
                w->queue_run_pending = false;
                client_queue_run(w);
        }
        while (w->h2_flush) {
                c = w->h2_flush;
                LIST_REMOVE(h2_flush, w->h2_flush, c);
                c->h2_flush_queued = false;
                (void) client_flush(c);
        }
        for (c = w->clients; c; c = cn) {
                cn = c->clients_next;
                if (c->state == CLIENT_DEAD)
                        client_free(c);
        }
        for (bc = w->conns; bc; bc = bn) {
                bn = bc->conns_next;
                if (bc->dead)
                        backend_conn_free(bc);
        }
        return 0;
}

void worker_refresh_set(Worker *w) {
        Manager *m = w->manager;
        uint64_t epoch = atomic_load_explicit(&m->set_epoch, memory_order_acquire);
        BackendSet *set;

        if (epoch == w->set_epoch && w->set)
                return;
        set = manager_get_backends(m);
        if (!set)
                return;
        if (m->lb->set_changed(w->lb_state, set) < 0) {
                backend_set_unref(set);
                return;  /* try again on the next request */
        }
        backend_set_unref(w->set);
        w->set = set;
        w->set_epoch = epoch;
        backend_conn_pool_prune(w, false);
}

static void worker_begin_stop(Worker *w) {
        acs_accept_guard_done(&w->accept_guard);
        w->listen_source = sd_event_source_disable_unref(w->listen_source);
        if (w->owns_listen_fd)
                w->listen_fd = safe_close(w->listen_fd);
        backend_conn_pool_prune(w, true);
}

static int worker_on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        uint64_t v;

        (void) read(w->wake_fd, &v, sizeof(v));
        worker_update_now(w);
        if (atomic_load(&w->stopping) && w->listen_source)
                worker_begin_stop(w);
        worker_refresh_set(w);
        return 0;
}

static int worker_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;
        usec_t now;
        bool stopping = atomic_load(&w->stopping);
        Client *c;
        BackendConn *bc;

        worker_update_now(w);
        now = worker_now(w);
        atomic_store_explicit(&w->heartbeat, now, memory_order_relaxed);
        worker_refresh_set(w);
        for (c = w->clients; c; c = c->clients_next) {
                /* Stopping: idle keep-alive connections go now, busy ones when done. A fresh
                 * connection still gets its first request served: its client has no reason
                 * to expect a close before any answer. */
                if (stopping && c->state == CLIENT_IDLE && acs_buf_len(&c->in) == 0 && c->n_requests > 0)
                        client_close(c);
                else
                        client_check_deadline(c, now);
                /* Idle connections give their buffers back: 10,000 of them must stay small. */
                if (c->state == CLIENT_IDLE && acs_buf_len(&c->in) == 0 && acs_buf_len(&c->out) == 0) {
                        acs_buf_done(&c->in);
                        acs_buf_done(&c->out);
                        acs_buf_done(&c->replay);
                        http_parser_shrink(&c->parser);
                }
        }
        for (bc = w->conns; bc; bc = bc->conns_next)
                backend_conn_check_deadline(bc, now);
        if (w->queue)
                client_queue_run(w);

        if (stopping && (w->n_clients == 0 || now >= w->stop_deadline))
                return sd_event_exit(w->event, 0);
        return sd_event_source_set_time(s, now + WORKER_TICK_USEC);
}

Worker *worker_new(Manager *m, unsigned index) {
        Worker *w = calloc(1, sizeof(Worker));

        if (!w)
                return NULL;
        w->manager = m;
        w->index = index;
        w->listen_fd = -1;
        w->wake_fd = -1;
        w->poll_fd = -1;
        w->rng = (now_usec(CLOCK_REALTIME) ^ ((uint64_t) (index + 1) * 0x9E3779B97F4A7C15ULL)) | 1;
        return w;
}

Worker *worker_free(Worker *w) {
        Client *c, *cn;
        BackendConn *bc, *bn;

        if (!w)
                return NULL;
        for (c = w->clients; c; c = cn) {
                cn = c->clients_next;
                client_free(c);
        }
        for (bc = w->conns; bc; bc = bn) {
                bn = bc->conns_next;
                backend_conn_free(bc);
        }
        acs_accept_guard_done(&w->accept_guard);
        w->listen_source = sd_event_source_disable_unref(w->listen_source);
        w->wake_source = sd_event_source_disable_unref(w->wake_source);
        w->tick_source = sd_event_source_disable_unref(w->tick_source);
        w->cleanup_source = sd_event_source_disable_unref(w->cleanup_source);
        w->poll_source = sd_event_source_disable_unref(w->poll_source);
        safe_close(w->poll_fd);
        if (w->owns_listen_fd)
                safe_close(w->listen_fd);
        safe_close(w->wake_fd);
        if (w->lb_state)
                w->manager->lb->state_free(w->lb_state);
        backend_set_unref(w->set);
        sd_event_unref(w->event);
        free(w->scratch);
        free(w);
        return NULL;
}

static void *worker_thread(void *userdata) {
        Worker *w = userdata;
        int r;

        r = sd_event_loop(w->event);
        if (r < 0)
                log_error_errno(r, "Worker %u: event loop failed: %m", w->index);
        return NULL;
}

int worker_start(Worker *w) {
        Manager *m = w->manager;
        int r;

        w->scratch = malloc(WORKER_SCRATCH_SIZE);
        w->lb_state = m->lb->state_new();
        if (!w->scratch || !w->lb_state)
                return log_oom();

        r = sd_event_new(&w->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create an event loop: %m");

        w->poll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (w->poll_fd < 0)
                return log_error_errno(errno, "Failed to create an epoll set: %m");
        r = sd_event_add_io(w->event, &w->poll_source, w->poll_fd, EPOLLIN, worker_on_poll, w);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the epoll set: %m");

        r = worker_listen(w);
        if (r < 0)
                return r;

        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->wake_fd < 0)
                return log_error_errno(errno, "Failed to create an eventfd: %m");
        r = sd_event_add_io(w->event, &w->wake_source, w->wake_fd, EPOLLIN, worker_on_wake, w);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the eventfd: %m");

        r = sd_event_add_time_relative(w->event, &w->tick_source, CLOCK_MONOTONIC, WORKER_TICK_USEC,
                                       10 * USEC_PER_MSEC, worker_on_tick, w);
        if (r < 0)
                return log_error_errno(r, "Failed to add the worker timer: %m");
        (void) sd_event_source_set_enabled(w->tick_source, SD_EVENT_ON);

        r = sd_event_add_defer(w->event, &w->cleanup_source, worker_on_cleanup, w);
        if (r < 0)
                return log_error_errno(r, "Failed to add the cleanup source: %m");
        (void) sd_event_source_set_enabled(w->cleanup_source, SD_EVENT_OFF);

        worker_update_now(w);
        atomic_store(&w->heartbeat, worker_now(w));
        worker_refresh_set(w);

        r = pthread_create(&w->thread, NULL, worker_thread, w);
        if (r != 0)
                return log_error_errno(r, "Failed to start worker thread %u: %m", w->index);
        w->thread_started = true;
        return 0;
}

void worker_wake(Worker *w) {
        uint64_t one = 1;

        if (w->wake_fd >= 0)
                (void) write(w->wake_fd, &one, sizeof(one));
}

void worker_stop(Worker *w) {
        w->stop_deadline = now_usec(CLOCK_MONOTONIC) + WORKER_STOP_GRACE_USEC;
        atomic_store(&w->stopping, true);
        worker_wake(w);
}

void worker_join(Worker *w) {
        if (w->thread_started) {
                (void) pthread_join(w->thread, NULL);
                w->thread_started = false;
        }
}
