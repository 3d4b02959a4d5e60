/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Balancing algorithms, one file each behind a table of operations (as HAProxy's lb_*.c).
 * Each worker has its own state per algorithm, so pick() needs no lock; the shared inputs are
 * the backends' atomic in-flight counts and health.
 */

#include <stddef.h>
#include <stdint.h>

#include "proxy-backend.h"

typedef struct LbContext {
        usec_t now;
        usec_t slow_start;
        Backend *avoid;         /* not this one (a retry), unless it is the only one left */
        const char *key;        /* hash key from the request, NULL when absent */
        size_t key_len;
        uint64_t *rng;          /* the worker's random state */
        unsigned max_conns;     /* per backend, 0: no limit */
        unsigned worker;        /* whose idle pool counts as room */
} LbContext;

typedef struct LbOps {
        const char *name;
        /* Allocates the per-worker state, NULL on OOM. */
        void *(*state_new)(void);
        void (*state_free)(void *state);
        /* A new backend set is in force for this worker; called before the first pick() on it.
         * Returns 0 or -ENOMEM (the previous state then stays usable for pick()). */
        int (*set_changed)(void *state, BackendSet *set);
        /* Chooses an available backend of set for one request, NULL when none is available. */
        Backend *(*pick)(void *state, BackendSet *set, const LbContext *ctx);
} LbOps;

extern const LbOps lb_p2c_ops;
extern const LbOps lb_roundrobin_ops;
extern const LbOps lb_leastconn_ops;
extern const LbOps lb_hash_ops;

const LbOps *lb_ops_for(int balance);

/* xorshift64*: fast and good enough to spread requests. */
static inline uint64_t lb_random(uint64_t *state) {
        uint64_t x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * 0x2545F4914F6CDD1DULL;
}

/* Below its connection limit, or an idle connection of ours to reuse. */
static inline bool lb_has_room(Backend *b, const LbContext *ctx) {
        return ctx->max_conns == 0 ||
               atomic_load_explicit(&b->conns, memory_order_relaxed) < ctx->max_conns ||
               b->pools[ctx->worker].n_idle > 0;
}

static inline bool lb_candidate(Backend *b, const LbContext *ctx) {
        return b != ctx->avoid && backend_available(b, ctx->now) && lb_has_room(b, ctx);
}

/* The first available backend, ignoring ctx->avoid when nothing else is left. */
Backend *lb_fallback(BackendSet *set, const LbContext *ctx);
