/* SPDX-License-Identifier: MIT */
/* The balancing algorithms on a synthetic set: distributions over 10,000 picks, weights, the
 * in-flight counts the load-aware ones read, draining and removed backends, hash stickiness. */
#include <stdio.h>
#include <string.h>

#include "acs-macro.h"
#include "acs-test.h"
#include "proxy-lb.h"

#define N_PICKS 10000

static BackendSet *make_set(unsigned n, const unsigned *weights) {
        BackendSet *s = backend_set_new(1, n);

        for (unsigned i = 0; i < n; i++) {
                s->backends[i] = backend_new("127.0.0.1", (uint16_t) (9001 + i), weights ? weights[i] : 1, 1);
                ASSERT_TRUE(s->backends[i]);
        }
        s->n_backends = n;
        return s;
}

static void pick_many(const LbOps *ops, BackendSet *s, unsigned *counts, const char *key) {
        uint64_t rng = 42;
        void *state = ops->state_new();

        ASSERT_TRUE(state);
        ASSERT_OK(ops->set_changed(state, s));
        memset(counts, 0, sizeof(unsigned) * s->n_backends);
        for (unsigned k = 0; k < N_PICKS; k++) {
                LbContext ctx = { .now = 1, .rng = &rng, .key = key, .key_len = key ? strlen(key) : 0 };
                Backend *b = ops->pick(state, s, &ctx);
                ASSERT_TRUE(b);
                for (unsigned i = 0; i < s->n_backends; i++)
                        if (s->backends[i] == b)
                                counts[i]++;
        }
        ops->state_free(state);
}

TEST(roundrobin_weights_exact) {
        unsigned w[] = { 1, 2, 3, 4 }, c[4];
        BackendSet *s = make_set(4, w);

        pick_many(&lb_roundrobin_ops, s, c, NULL);
        ASSERT_EQ(c[0], 1000);
        ASSERT_EQ(c[1], 2000);
        ASSERT_EQ(c[2], 3000);
        ASSERT_EQ(c[3], 4000);
        backend_set_unref(s);
}

TEST(roundrobin_is_smooth) {
        unsigned w[] = { 5, 1, 1 };
        BackendSet *s = make_set(3, w);
        void *state = lb_roundrobin_ops.state_new();
        uint64_t rng = 1;
        int run = 0, longest = 0;
        Backend *prev = NULL;

        ASSERT_OK(lb_roundrobin_ops.set_changed(state, s));
        for (unsigned k = 0; k < 70; k++) {
                LbContext ctx = { .now = 1, .rng = &rng };
                Backend *b = lb_roundrobin_ops.pick(state, s, &ctx);
                run = b == prev ? run + 1 : 1;
                longest = MAX(longest, run);
                prev = b;
        }
        /* nginx's cycle for 5,1,1 is a a b a c a a, so at most 4 in a row across two cycles
         * (plain weighted round robin gives runs of 5). */
        ASSERT_TRUE(longest <= 4);
        lb_roundrobin_ops.state_free(state);
        backend_set_unref(s);
}

TEST(p2c_uniform_when_idle) {
        unsigned c[4];
        BackendSet *s = make_set(4, NULL);

        pick_many(&lb_p2c_ops, s, c, NULL);
        for (unsigned i = 0; i < 4; i++)
                ASSERT_NEAR(c[i], 2500, 250);
        backend_set_unref(s);
}

TEST(p2c_idle_follows_weights) {
        unsigned w[] = { 3, 1 }, c[2];
        BackendSet *s = make_set(2, w);

        pick_many(&lb_p2c_ops, s, c, NULL);
        ASSERT_NEAR(c[0], 7500, 300);
        backend_set_unref(s);
}

TEST(p2c_avoids_loaded_backend) {
        unsigned c[4];
        BackendSet *s = make_set(4, NULL);

        /* Backend 0 has many requests in flight: it only wins when drawn twice... never, as the
         * two draws are distinct. */
        atomic_store(&s->backends[0]->in_flight, 50);
        atomic_store(&s->backends[1]->in_flight, 1);
        pick_many(&lb_p2c_ops, s, c, NULL);
        ASSERT_EQ(c[0], 0);
        ASSERT_TRUE(c[1] < c[2] && c[1] < c[3]);
        backend_set_unref(s);
}

TEST(leastconn_prefers_least_loaded_and_rotates_ties) {
        unsigned c[3];
        BackendSet *s = make_set(3, NULL);

        pick_many(&lb_leastconn_ops, s, c, NULL);
        for (unsigned i = 0; i < 3; i++)
                ASSERT_NEAR(c[i], N_PICKS / 3.0, 2);
        atomic_store(&s->backends[2]->in_flight, 3);
        pick_many(&lb_leastconn_ops, s, c, NULL);
        ASSERT_EQ(c[2], 0);
        ASSERT_NEAR(c[0], N_PICKS / 2.0, 2);
        backend_set_unref(s);
}

TEST(draining_and_removed_get_nothing) {
        const LbOps *all[] = { &lb_p2c_ops, &lb_roundrobin_ops, &lb_leastconn_ops, &lb_hash_ops };
        unsigned c[3];
        BackendSet *s = make_set(3, NULL);

        atomic_store(&s->backends[0]->draining, true);
        atomic_store(&s->backends[1]->removed, true);
        for (size_t k = 0; k < ELEMENTSOF(all); k++) {
                pick_many(all[k], s, c, "user-1");
                ASSERT_EQ(c[0], 0);
                ASSERT_EQ(c[1], 0);
                ASSERT_EQ(c[2], N_PICKS);
        }
        backend_set_unref(s);
}

TEST(hash_sticky_and_spread) {
        BackendSet *s = make_set(4, NULL);
        void *state = lb_hash_ops.state_new();
        unsigned per_backend[4] = {};
        uint64_t rng = 7;

        ASSERT_OK(lb_hash_ops.set_changed(state, s));
        for (unsigned u = 0; u < 1000; u++) {
                char key[32];
                Backend *first;

                snprintf(key, sizeof(key), "user-%u", u);
                LbContext ctx = { .now = 1, .rng = &rng, .key = key, .key_len = strlen(key) };
                first = lb_hash_ops.pick(state, s, &ctx);
                for (unsigned k = 0; k < 10; k++)
                        ASSERT_TRUE(lb_hash_ops.pick(state, s, &ctx) == first);
                for (unsigned i = 0; i < 4; i++)
                        per_backend[i] += s->backends[i] == first;
        }
        for (unsigned i = 0; i < 4; i++)
                ASSERT_NEAR(per_backend[i], 250, 80);
        lb_hash_ops.state_free(state);
        backend_set_unref(s);
}

TEST(hash_moves_only_the_keys_of_a_removed_backend) {
        BackendSet *s = make_set(4, NULL), *t = backend_set_new(2, 3);
        void *a = lb_hash_ops.state_new(), *b = lb_hash_ops.state_new();
        uint64_t rng = 7;
        unsigned moved = 0;

        for (unsigned i = 0; i < 3; i++)
                t->backends[i] = backend_ref(s->backends[i]);
        t->n_backends = 3;
        ASSERT_OK(lb_hash_ops.set_changed(a, s));
        ASSERT_OK(lb_hash_ops.set_changed(b, t));
        for (unsigned u = 0; u < 2000; u++) {
                char key[32];
                snprintf(key, sizeof(key), "session-%u", u);
                LbContext ctx = { .now = 1, .rng = &rng, .key = key, .key_len = strlen(key) };
                Backend *before = lb_hash_ops.pick(a, s, &ctx), *after = lb_hash_ops.pick(b, t, &ctx);
                if (before != s->backends[3])
                        ASSERT_TRUE(before == after);
                else
                        moved++;
        }
        ASSERT_NEAR(moved, 500, 150);
        lb_hash_ops.state_free(a);
        lb_hash_ops.state_free(b);
        backend_set_unref(s);
        backend_set_unref(t);
}

TEST(slow_start_ramps_weight) {
        Backend *b = backend_new("127.0.0.1", 9001, 100, 1);

        atomic_store(&b->up_since, 1000 * USEC_PER_SEC);
        ASSERT_EQ(backend_effective_weight(b, 1000 * USEC_PER_SEC + 1, 10 * USEC_PER_SEC), 1);
        ASSERT_EQ(backend_effective_weight(b, 1005 * USEC_PER_SEC, 10 * USEC_PER_SEC), 50 * BACKEND_WEIGHT_SCALE);
        ASSERT_EQ(backend_effective_weight(b, 1011 * USEC_PER_SEC, 10 * USEC_PER_SEC), 100 * BACKEND_WEIGHT_SCALE);
        ASSERT_STREQ(backend_health_to_string(backend_health(b, 1005 * USEC_PER_SEC, 10 * USEC_PER_SEC)), "slowstart");
        backend_unref(b);
}

TEST(passive_ejection_grows) {
        Backend *b = backend_new("127.0.0.1", 9001, 1, 1);
        usec_t t = 100 * USEC_PER_SEC;

        for (unsigned i = 0; i < 3; i++)
                backend_note_failure(b, t, 3, USEC_PER_SEC);
        ASSERT_FALSE(backend_available(b, t + USEC_PER_SEC / 2));
        ASSERT_TRUE(backend_available(b, t + USEC_PER_SEC));
        t += 2 * USEC_PER_SEC;
        for (unsigned i = 0; i < 3; i++)
                backend_note_failure(b, t, 3, USEC_PER_SEC);
        ASSERT_FALSE(backend_available(b, t + USEC_PER_SEC + 1));    /* doubled */
        ASSERT_TRUE(backend_available(b, t + 2 * USEC_PER_SEC));
        backend_note_success(b);
        ASSERT_EQ(atomic_load(&b->ejections), 0);
        backend_unref(b);
}

TEST(latency_p99) {
        Backend *b = backend_new("127.0.0.1", 9001, 1, 1);
        usec_t now = 50 * USEC_PER_SEC;

        for (unsigned i = 0; i < 990; i++)
                backend_record_latency(b, now, 100);
        for (unsigned i = 0; i < 10; i++)
                backend_record_latency(b, now, 50000);
        ASSERT_TRUE(backend_latency_p99(b, now) >= 100 && backend_latency_p99(b, now) < 130);
        ASSERT_EQ(backend_latency_p99(b, now + 11 * USEC_PER_SEC), 0);
        backend_unref(b);
}

TEST(latency_p99_of_slow_backends) {
        /* acs-web answers in hundreds of milliseconds under its cost model: no saturation. */
        Backend *b = backend_new("127.0.0.1", 9001, 1, 1);
        usec_t now = 50 * USEC_PER_SEC;

        for (unsigned i = 0; i < 100; i++)
                backend_record_latency(b, now, 350 * USEC_PER_MSEC);
        ASSERT_TRUE(backend_latency_p99(b, now) >= 350 * USEC_PER_MSEC);
        ASSERT_TRUE(backend_latency_p99(b, now) < 420 * USEC_PER_MSEC);
        for (unsigned i = 0; i < 100; i++)
                backend_record_latency(b, now, 30 * USEC_PER_SEC);
        ASSERT_TRUE(backend_latency_p99(b, now) >= 30 * USEC_PER_SEC);
        ASSERT_TRUE(backend_latency_p99(b, now) < 36 * USEC_PER_SEC);
        backend_unref(b);
}

ACS_TEST_MAIN();
