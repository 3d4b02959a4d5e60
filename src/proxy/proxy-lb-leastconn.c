/* SPDX-License-Identifier: MIT */
/*
 * Least connections: the available backend with the fewest requests in flight relative to its
 * weight. The scan starts after the last one chosen, so ties rotate instead of piling onto the
 * first backend of the set.
 */
#include <stdlib.h>

#include "proxy-lb.h"

typedef struct LeastConn {
        unsigned next;
} LeastConn;

static void *lc_state_new(void) {
        return calloc(1, sizeof(LeastConn));
}

static void lc_state_free(void *state) {
        free(state);
}

static int lc_set_changed(void *state, BackendSet *set) {
        return 0;
}

static Backend *lc_pick(void *state, BackendSet *set, const LbContext *ctx) {
        LeastConn *lc = state;
        Backend *best = NULL;
        uint64_t best_load = 0, best_weight = 1;
        unsigned n = set->n_backends, best_index = 0;

        if (n == 0)
                return NULL;
        for (unsigned k = 0; k < n; k++) {
                unsigned i = (lc->next + k) % n;
                Backend *b = set->backends[i];
                uint64_t load, weight;

                if (!lb_candidate(b, ctx))
                        continue;
                load = atomic_load_explicit(&b->in_flight, memory_order_relaxed);
                weight = backend_effective_weight(b, ctx->now, ctx->slow_start);
                if (!best || load * best_weight < best_load * weight) {
                        best = b;
                        best_index = i;
                        best_load = load;
                        best_weight = weight;
                }
        }
        if (!best)
                return lb_fallback(set, ctx);
        lc->next = (best_index + 1) % n;
        return best;
}

const LbOps lb_leastconn_ops = {
        .name = "leastconn",
        .state_new = lc_state_new,
        .state_free = lc_state_free,
        .set_changed = lc_set_changed,
        .pick = lc_pick,
};
