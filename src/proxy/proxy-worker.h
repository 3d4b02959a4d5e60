/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A worker: one thread, one sd-event loop, its own listening socket (SO_REUSEPORT) or a share of
 * the socket-activated one, and every client and backend connection it accepted or opened. A
 * worker never touches another worker's objects; what it shares with the others (backends and
 * their counters) is atomic.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <systemd/sd-event.h>

#include "acs-accept.h"
#include "proxy-backend.h"
#include "proxy-lb.h"

typedef struct Manager Manager;
typedef struct Client Client;
typedef struct BackendConn BackendConn;

/* A connection's registration on the worker's own epoll set. sd-event dispatches one source per
 * loop iteration, one epoll_wait() each; the connections instead share one sd-event source on
 * an inner epoll set, and a wake-up dispatches every ready connection in one batch. */
typedef struct WorkerPoll WorkerPoll;
struct WorkerPoll {
        void (*dispatch)(WorkerPoll *p, uint32_t revents);
        uint32_t events;
};

typedef struct Worker {
        Manager *manager;
        unsigned index;
        pthread_t thread;
        bool thread_started;

        sd_event *event;
        int listen_fd;
        bool owns_listen_fd;
        sd_event_source *listen_source;
        AcsAcceptGuard accept_guard;    /* out of fds or at MaxConnections=: the listener pauses */
        int wake_fd;                    /* eventfd: the manager pokes it (new set, stop) */
        sd_event_source *wake_source;
        sd_event_source *tick_source;   /* timeouts and housekeeping */
        int poll_fd;                    /* the inner epoll set of the connections */
        sd_event_source *poll_source;

        BackendSet *set;                /* the set this worker balances over */
        uint64_t set_epoch;
        void *lb_state;

        /* Closed connections stay on their list, marked dead, until the cleanup source frees
         * them after the current dispatch: nothing up the stack is left holding a freed one. */
        Client *clients;
        unsigned n_clients;             /* live ones */
        unsigned n_streams;             /* HTTP/2 streams open on them: exchanges, like clients */
        BackendConn *conns;             /* every backend connection, busy or idle */
        unsigned n_conns;
        unsigned n_idle;
        sd_event_source *cleanup_source;
        bool has_dead;                  /* the cleanup source is armed */
        /* HTTP/2 connections with frames to send, written once after the current dispatch:
         * the responses of many streams leave in one write. */
        Client *h2_flush;

        Client *queue;                  /* requests waiting for a backend connection, oldest first */
        Client *queue_tail;
        unsigned n_queued;
        bool queue_run_pending;

        uint8_t *scratch;               /* reads land here first: most are consumed at once */

        uint64_t rng;
        usec_t now;                     /* the loop's time, read once per dispatch */
        _Atomic bool stopping;
        _Atomic usec_t heartbeat;       /* the last tick, for the manager's watchdog */
        usec_t stop_deadline;
        int startup_error;
} Worker;

Worker *worker_new(Manager *m, unsigned index);
Worker *worker_free(Worker *w);
/* Starts the thread; the worker opens its listener before this returns (errors reported). */
int worker_start(Worker *w);
/* Asks the worker to stop: it stops accepting, finishes what is in flight, then exits. */
void worker_stop(Worker *w);
void worker_join(Worker *w);
/* Wakes the worker so that it picks up a new backend set now. */
void worker_wake(Worker *w);

/* Brings the worker's set up to date with the manager's (between requests only). */
void worker_refresh_set(Worker *w);
usec_t worker_now(Worker *w);
void worker_update_now(Worker *w);

int worker_poll_add(Worker *w, WorkerPoll *p, int fd, uint32_t events);
int worker_poll_modify(Worker *w, WorkerPoll *p, int fd, uint32_t events);

/* Schedules freeing of the dead connections. */
void worker_schedule_cleanup(Worker *w);

#define WORKER_SCRATCH_SIZE (64 * 1024)
#define WORKER_OUT_HIGH (256 * 1024)    /* above this, stop reading the other side */

/* The listener side (proxy-listener.c). */
int worker_listen(Worker *w);
int proxy_listen_socket(const char *address, bool reuseport, int *ret_fd);
