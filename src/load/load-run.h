/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A load run: simulated users, each sending one GET a second to one URL (the unit of load
 * acs-web's cost model is built on), as many of them as the profile says at each moment.
 *
 * A user whose previous request is still running when its next one is due waits for it, as a
 * person at a browser would, and that wait counts as latency of the delayed request: latency is
 * measured from when a request was due, not from when it could be sent. So a slow service
 * shows up as latency rather than as a quietly lower request rate.
 *
 * One thread, one libcurl multi handle; each user keeps its own easy handle, and with it its
 * keep-alive connection.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "acs-time.h"
#include "load-profile.h"
#include "load-stats.h"

typedef struct LoadOptions {
        const char *url;
        LoadProfile profile;
        usec_t timeout;                         /* per request, from when it was sent */
        bool count_backends;                    /* read acs-web's JSON: which VM/container answered */
        FILE *out;                              /* per-second lines and the summary */
        const volatile sig_atomic_t *stop;      /* set by a signal: stop early, still report */
} LoadOptions;

/* What a second, or the whole run, counted. */
typedef struct LoadTally {
        uint64_t ok;            /* 2xx */
        uint64_t non2xx;        /* answered with another status */
        uint64_t errors;        /* no answer: connection refused or reset, timeout */
        LoadSamples latency;    /* of every answered request, 2xx or not */
        LoadCounts vms;         /* answers per VM */
        LoadCounts containers;  /* answers per "vm/container" */
} LoadTally;

static inline uint64_t load_tally_failed(const LoadTally *t) {
        return t->non2xx + t->errors;
}

void load_tally_done(LoadTally *t);

typedef struct LoadReport LoadReport;

/* Runs the profile to its end (or until *stop) and reports each second and the summary into
 * report. Returns 0 when the run took place (whatever the requests' outcome), negative errno
 * when it could not. */
int load_run(const LoadOptions *o, LoadReport *report);
