/* SPDX-License-Identifier: MIT */
/* Policy=seed: the original design's thresholds, one container at a time and never fewer. */
#include <string.h>

#include "acs-macro.h"
#include "acs-policy.h"
#include "acs-test.h"

static AcsPolicy seed(void) {
        AcsPolicy p;

        acs_policy_init(&p);
        p.kind = ACS_POLICY_SEED;
        return p;
}

static AcsScaleDecision at(const AcsPolicy *p, AcsScaleHistory *h, unsigned t, unsigned replicas, unsigned ready,
                           unsigned starting, double cpu) {
        AcsScaleDecision d;
        AcsScaleInput in = { .replicas = replicas, .ready = ready, .starting = starting, .cpu = cpu,
                             .inflight = 50, .capacity = 8 };

        (void) acs_policy_decide(p, h, (1000 + t) * USEC_PER_SEC, &in, &d);
        fprintf(stderr, "  t=%u: %s: %s\n", t, acs_scale_action_to_string(d.action), d.reason);
        return d;
}

TEST(adds_one_when_the_5_reading_average_passes_60_percent) {
        static AcsScaleHistory h;
        AcsPolicy p = seed();
        AcsScaleDecision d;

        acs_scale_history_reset(&h);
        /* Four readings at 0.4, then 1.0: the mean is 0.52, no change despite the peak. */
        for (unsigned t = 0; t < 4; t++)
                ASSERT_EQ(at(&p, &h, t, 2, 2, 0, 0.4).action, ACS_SCALE_NONE);
        d = at(&p, &h, 4, 2, 2, 0, 1.0);
        ASSERT_EQ(d.action, ACS_SCALE_NONE);
        ASSERT_TRUE(strstr(d.reason, "cpu 0.52 (mean of 5 readings)") != NULL);
        /* One more at 1.0 pushes out a 0.4: 0.64 > 0.60, one more container, whatever the
         * in-flight count says. */
        d = at(&p, &h, 5, 2, 2, 0, 1.0);
        ASSERT_EQ(d.action, ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 3);
        /* While it starts, nothing more. */
        d = at(&p, &h, 6, 3, 2, 1, 1.0);
        ASSERT_EQ(d.action, ACS_SCALE_HOLD);
        ASSERT_STREQ(d.held_by, "starting");
        ASSERT_EQ(d.desired, 3);
        d = at(&p, &h, 7, 3, 3, 0, 1.0);
        ASSERT_EQ(d.action, ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 4);
}

TEST(never_scales_in) {
        static AcsScaleHistory h;
        AcsPolicy p = seed();
        AcsScaleDecision d;

        acs_scale_history_reset(&h);
        for (unsigned t = 0; t < 400; t++) {
                d = at(&p, &h, t, 6, 6, 0, 0.01);
                ASSERT_EQ(d.desired, 6);
        }
        ASSERT_EQ(d.action, ACS_SCALE_HOLD);
        ASSERT_STREQ(d.held_by, "no scale-in");
        /* between the thresholds: nothing to say */
        acs_scale_history_reset(&h);
        ASSERT_EQ(at(&p, &h, 0, 6, 6, 0, 0.45).action, ACS_SCALE_NONE);
}

TEST(bounded_by_min_max_and_capacity) {
        static AcsScaleHistory h;
        AcsPolicy p = seed();
        AcsScaleDecision d;

        acs_scale_history_reset(&h);
        p.max_replicas = 4;
        d = at(&p, &h, 0, 4, 4, 0, 0.9);
        ASSERT_EQ(d.action, ACS_SCALE_HOLD);
        ASSERT_STREQ(d.held_by, "max replicas");
        p.max_replicas = 100;
        d = at(&p, &h, 1, 8, 8, 0, 0.9); /* capacity 8 */
        ASSERT_STREQ(d.held_by, "capacity");
        /* min and max set by hand move it either way */
        p.min_replicas = 3;
        d = at(&p, &h, 2, 1, 1, 0, 0.4);
        ASSERT_EQ(d.action, ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 3);
        p.max_replicas = 2;
        p.min_replicas = 1;
        d = at(&p, &h, 3, 5, 5, 0, 0.4);
        ASSERT_EQ(d.action, ACS_SCALE_IN);
        ASSERT_EQ(d.desired, 2);
}

TEST(vm_above_80_percent_counts_as_full) {
        AcsPolicy p = seed(), acs;

        acs_policy_init(&acs);
        /* 4 slots; three containers at 0.9 and 0.8 use 2.6 of 4 (65 %), at 1.0 3.0 (75 %) */
        ASSERT_FALSE(acs_policy_vm_full(&p, 2.6, 4));
        ASSERT_FALSE(acs_policy_vm_full(&p, 3.2, 4)); /* exactly 80 %: not above */
        ASSERT_TRUE(acs_policy_vm_full(&p, 3.3, 4));
        ASSERT_FALSE(acs_policy_vm_full(&acs, 3.9, 4)); /* only the seed policy */
        ASSERT_FALSE(acs_policy_vm_full(&p, 0, 0));
}

TEST(policy_names) {
        ASSERT_STREQ(acs_policy_kind_to_string(ACS_POLICY_HPA_DEFAULT), "hpa-default");
        ASSERT_EQ(acs_policy_kind_from_string("seed"), ACS_POLICY_SEED);
        ASSERT_EQ(acs_policy_kind_from_string("acs"), ACS_POLICY_ACS);
        ASSERT_EQ(acs_policy_kind_from_string("hpa"), -EINVAL);
}

ACS_TEST_MAIN();
