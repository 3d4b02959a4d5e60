/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A connection to a backend, and the per-worker pool of idle ones. The pool is sized to the
 * client concurrency: a released connection is kept while the worker has fewer idle connections
 * to that backend than client connections, since each client uses at most one at a time;
 * beyond that it is closed. (A fixed small pool behind many clients churns through connections.)
 */

#include <stdbool.h>


#include "acs-buf.h"
#include "acs-time.h"
#include "proxy-http.h"
#include "acs-list.h"
#include "proxy-worker.h"

typedef struct Worker Worker;
typedef struct Backend Backend;
typedef struct Client Client;

typedef struct BackendConn {
        Worker *worker;
        Backend *backend;
        LIST_FIELDS(struct BackendConn, conns);
        LIST_FIELDS(struct BackendConn, idle);

        int fd;
        WorkerPoll poll;
        bool connected;
        bool in_pool;
        unsigned n_requests;

        AcsBuf in, out;
        HttpParser parser;
        Client *client;
        usec_t deadline;
        bool deadline_is_connect;
        bool got_bytes;         /* any byte of a response arrived */
        bool final_response;    /* the head of the final (non-1xx) response arrived */
        bool response_complete;
        bool interim;           /* the message being parsed is a 1xx */
        bool retry_elsewhere;   /* answered 503 to a request we may send to another backend */
        bool unusable;          /* extra bytes or EOF: never back to the pool */
        bool dead;
} BackendConn;

/* An idle pooled connection to b, or a new one (connecting). */
int backend_conn_get(Worker *w, Backend *b, BackendConn **ret);
/* Back to the pool when reusable, else closed. */
void backend_conn_release(BackendConn *bc, bool reusable);
BackendConn *backend_conn_free(BackendConn *bc);
/* Closes now; the memory goes at the worker's cleanup. */
void backend_conn_close(BackendConn *bc);
int backend_conn_flush(BackendConn *bc);
void backend_conn_update_events(BackendConn *bc);
void backend_conn_check_deadline(BackendConn *bc, usec_t now);
/* Closes the idle connections to backends that left the set (or all of them). */
void backend_conn_pool_prune(Worker *w, bool all);
