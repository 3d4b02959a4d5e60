/* SPDX-License-Identifier: MIT */
/*
 * Consistent hashing on a request header or cookie (sticky sessions): each backend owns
 * 64 points per unit of weight on a 64-bit ring; a key goes to the owner of the first point at
 * or after its hash, skipping unavailable backends. Adding or removing one backend moves only
 * the keys of its own points. Requests without the key are spread at random.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy-lb.h"

#define POINTS_PER_WEIGHT 64

typedef struct RingPoint {
        uint64_t hash;
        unsigned backend;       /* index in the set */
} RingPoint;

typedef struct HashRing {
        RingPoint *points;
        size_t n_points;
        unsigned n_backends;
} HashRing;

/* FNV-1a followed by a murmur3 finalizer, so that close keys land far apart on the ring. */
static uint64_t hash_bytes(const void *p, size_t n) {
        const unsigned char *s = p;
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < n; i++) {
                h ^= s[i];
                h *= 0x100000001b3ULL;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

static int point_compare(const void *a, const void *b) {
        const RingPoint *x = a, *y = b;
        return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static void *hash_state_new(void) {
        return calloc(1, sizeof(HashRing));
}

static void hash_state_free(void *state) {
        HashRing *ring = state;

        if (ring)
                free(ring->points);
        free(ring);
}

static int hash_set_changed(void *state, BackendSet *set) {
        HashRing *ring = state;
        size_t n = 0, k = 0;
        RingPoint *points;

        for (unsigned i = 0; i < set->n_backends; i++)
                n += (size_t) atomic_load(&set->backends[i]->weight) * POINTS_PER_WEIGHT;
        points = calloc(n ? n : 1, sizeof(RingPoint));
        if (!points)
                return -ENOMEM;

        for (unsigned i = 0; i < set->n_backends; i++) {
                Backend *b = set->backends[i];
                unsigned m = atomic_load(&b->weight) * POINTS_PER_WEIGHT;

                /* Points depend on the backend's name only, not on its position in the set. */
                for (unsigned j = 0; j < m; j++) {
                        char label[300];
                        int len = snprintf(label, sizeof(label), "%s#%u", b->name, j);
                        points[k++] = (RingPoint) { hash_bytes(label, (size_t) len), i };
                }
        }
        qsort(points, n, sizeof(RingPoint), point_compare);
        free(ring->points);
        ring->points = points;
        ring->n_points = n;
        ring->n_backends = set->n_backends;
        return 0;
}

static Backend *hash_pick(void *state, BackendSet *set, const LbContext *ctx) {
        HashRing *ring = state;
        size_t lo = 0, hi;
        uint64_t h;

        if (set->n_backends == 0)
                return NULL;
        if (!ctx->key || ring->n_backends != set->n_backends || ring->n_points == 0) {
                Backend *b = set->backends[lb_random(ctx->rng) % set->n_backends];
                return lb_candidate(b, ctx) ? b : lb_fallback(set, ctx);
        }

        h = hash_bytes(ctx->key, ctx->key_len);
        hi = ring->n_points;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (ring->points[mid].hash < h)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (size_t k = 0; k < ring->n_points; k++) {
                Backend *b = set->backends[ring->points[(lo + k) % ring->n_points].backend];
                if (lb_candidate(b, ctx))
                        return b;
        }
        return lb_fallback(set, ctx);
}

const LbOps lb_hash_ops = {
        .name = "hash",
        .state_new = hash_state_new,
        .state_free = hash_state_free,
        .set_changed = hash_set_changed,
        .pick = hash_pick,
};
