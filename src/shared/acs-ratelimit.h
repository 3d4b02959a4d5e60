/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A burst of events per interval, then nothing until the interval is over: the limit on the
 * lines an attacker can make a daemon write (refused API calls, failed handshakes, refused
 * clients), as systemd's RateLimit and log_ratelimit_*() do. What was held back is said once,
 * in a "Suppressed N similar messages" line before the next one that passes, so the journal
 * keeps the count without the flood.
 *
 *     static AcsRateLimit rl = ACS_RATELIMIT_INIT(10 * USEC_PER_SEC, 10);
 *     if (log_ratelimit_pass(&rl, LOG_NOTICE, "access-denied"))
 *             log_event(LOG_NOTICE, "access-denied", NULL, NULL, "Refused ...");
 *
 * Safe to share between threads (the proxy's workers log through one limiter).
 */

#include <pthread.h>
#include <stdbool.h>

#include "acs-time.h"

typedef struct AcsRateLimit {
        usec_t interval;
        unsigned burst;
        usec_t begin;           /* start of the current interval, 0 before the first event */
        unsigned n;             /* events let through in this interval */
        unsigned suppressed;    /* events held back since the last one let through */
        pthread_mutex_t lock;
} AcsRateLimit;

#define ACS_RATELIMIT_INIT(i, b) { .interval = (i), .burst = (b), .lock = PTHREAD_MUTEX_INITIALIZER }

/* What every refusal line of the daemons is held to: 10 lines per 10 s per call site. */
#define ACS_LOG_RATELIMIT_INTERVAL (10 * USEC_PER_SEC)
#define ACS_LOG_RATELIMIT_BURST 10

/* Counts one event at now (CLOCK_MONOTONIC). True when it may go on; then *ret_suppressed is
 * how many were held back before it (and the count starts over), else it is left alone. */
bool acs_ratelimit_below(AcsRateLimit *rl, usec_t now, unsigned *ret_suppressed);

/* acs_ratelimit_below() for a log line about to be written at level: true when it may be
 * written, after logging "Suppressed N similar messages." (with ACS_EVENT=event, which may be
 * NULL) when some were held back. */
bool log_ratelimit_pass(AcsRateLimit *rl, int level, const char *event);

/* The same with a limiter of its own at each place it is written: the usual way. */
#define log_ratelimit_here(level, event)                                                             \
        ({                                                                                          \
                static AcsRateLimit _rl = ACS_RATELIMIT_INIT(ACS_LOG_RATELIMIT_INTERVAL,            \
                                                             ACS_LOG_RATELIMIT_BURST);              \
                log_ratelimit_pass(&_rl, (level), (event));                                         \
        })
