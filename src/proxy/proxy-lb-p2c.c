/* SPDX-License-Identifier: MIT */
/*
 * Power of two choices: draw two distinct available backends at random and send the request
 * to the one with fewer requests in flight relative to its weight. Nearly as good as least
 * connections at spreading load, without its herd effect when many pickers see the same
 * minimum, and O(1) per pick.
 */
#include <stdlib.h>

#include "proxy-lb.h"

static void *p2c_state_new(void) {
        return calloc(1, 1);
}

static void p2c_state_free(void *state) {
        free(state);
}

static int p2c_set_changed(void *state, BackendSet *set) {
        return 0;
}

/* A random available backend other than `other`, NULL after a few misses. */
static Backend *p2c_draw(BackendSet *set, const LbContext *ctx, Backend *other) {
        for (unsigned attempt = 0; attempt < 8; attempt++) {
                Backend *b = set->backends[lb_random(ctx->rng) % set->n_backends];
                if (b != other && lb_candidate(b, ctx))
                        return b;
        }
        return NULL;
}

/* Should b be preferred to a? Compares in_flight/weight without division; a tie (typically
 * both idle) is broken at random in proportion to the weights, so that weights and slow start
 * hold under light load too. */
static bool p2c_prefer(Backend *b, Backend *a, const LbContext *ctx) {
        uint64_t la = atomic_load_explicit(&a->in_flight, memory_order_relaxed);
        uint64_t lb = atomic_load_explicit(&b->in_flight, memory_order_relaxed);
        uint64_t wa = backend_effective_weight(a, ctx->now, ctx->slow_start);
        uint64_t wb = backend_effective_weight(b, ctx->now, ctx->slow_start);

        if (lb * wa != la * wb)
                return lb * wa < la * wb;
        return lb_random(ctx->rng) % (wa + wb) < wb;
}

static Backend *p2c_pick(void *state, BackendSet *set, const LbContext *ctx) {
        Backend *a, *b;

        if (set->n_backends == 0)
                return NULL;
        a = p2c_draw(set, ctx, NULL);
        if (!a)
                return lb_fallback(set, ctx);
        b = p2c_draw(set, ctx, a);
        if (!b)
                return a;
        return p2c_prefer(b, a, ctx) ? b : a;
}

const LbOps lb_p2c_ops = {
        .name = "p2c",
        .state_new = p2c_state_new,
        .state_free = p2c_state_free,
        .set_changed = p2c_set_changed,
        .pick = p2c_pick,
};
