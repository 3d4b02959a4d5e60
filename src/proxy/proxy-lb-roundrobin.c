/* SPDX-License-Identifier: MIT */
/*
 * Smooth weighted round robin (nginx's): every pick adds each available backend's weight to
 * its running score, takes the highest score and subtracts the total from it. Weights 5,1,1
 * give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c.
 */
#include <errno.h>
#include <stdlib.h>

#include "proxy-lb.h"

typedef struct RoundRobin {
        int64_t *score;         /* by index in the set */
        unsigned n;
} RoundRobin;

static void *rr_state_new(void) {
        return calloc(1, sizeof(RoundRobin));
}

static void rr_state_free(void *state) {
        RoundRobin *rr = state;

        if (rr)
                free(rr->score);
        free(rr);
}

static int rr_set_changed(void *state, BackendSet *set) {
        RoundRobin *rr = state;
        int64_t *score = calloc(set->n_backends ? set->n_backends : 1, sizeof(int64_t));

        if (!score)
                return -ENOMEM;
        free(rr->score);
        rr->score = score;
        rr->n = set->n_backends;
        return 0;
}

static Backend *rr_pick(void *state, BackendSet *set, const LbContext *ctx) {
        RoundRobin *rr = state;
        int64_t total = 0;
        int best = -1;

        if (rr->n != set->n_backends)
                return lb_fallback(set, ctx);

        for (unsigned i = 0; i < set->n_backends; i++) {
                Backend *b = set->backends[i];
                int64_t w;

                if (!lb_candidate(b, ctx))
                        continue;
                w = backend_effective_weight(b, ctx->now, ctx->slow_start);
                rr->score[i] += w;
                total += w;
                if (best < 0 || rr->score[i] > rr->score[best])
                        best = i;
        }
        if (best < 0)
                return lb_fallback(set, ctx);
        rr->score[best] -= total;
        return set->backends[best];
}

const LbOps lb_roundrobin_ops = {
        .name = "roundrobin",
        .state_new = rr_state_new,
        .state_free = rr_state_free,
        .set_changed = rr_set_changed,
        .pick = rr_pick,
};
