/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A small pool of threads that burn the CPU cost of requests, so that the event loop keeps
 * accepting and answering health checks while requests are being worked on. The loop submits
 * jobs; finished jobs come back through an eventfd the loop watches.
 */

#include "acs-time.h"

typedef struct WebJob {
        usec_t cost;            /* CPU time to burn */
        usec_t used;            /* CPU time burned, set by the worker */
        void *userdata;         /* the connection the job belongs to */
        struct WebJob *next;
} WebJob;

typedef struct WebWorkers WebWorkers;

/* Starts n threads; the caller blocks the signals it handles before, so threads inherit that. */
int web_workers_new(unsigned n, WebWorkers **ret);
/* Stops every thread: jobs in progress end early, queued ones are dropped. Accepts NULL. */
WebWorkers *web_workers_free(WebWorkers *w);

/* The eventfd that becomes readable when jobs are done. */
int web_workers_fd(const WebWorkers *w);
/* Queues a job; it must stay valid until web_workers_take_done() returned it. */
void web_workers_submit(WebWorkers *w, WebJob *job);
/* Returns the finished jobs (a list through ->next, oldest first) and resets the eventfd. */
WebJob *web_workers_take_done(WebWorkers *w);
