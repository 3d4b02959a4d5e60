/* SPDX-License-Identifier: MIT */
/* Policy=hpa-default: the decisions of Kubernetes' HPA with its defaults, on CPU alone. */
#include <string.h>

#include "acs-macro.h"
#include "acs-policy.h"
#include "acs-test.h"

static AcsPolicy hpa(void) {
        AcsPolicy p;

        acs_policy_init(&p);
        p.kind = ACS_POLICY_HPA_DEFAULT;
        p.max_replicas = 100;
        return p;
}

/* One evaluation at t seconds with a kept history. */
static AcsScaleDecision at(const AcsPolicy *p, AcsScaleHistory *h, unsigned t, unsigned replicas, unsigned ready,
                           unsigned starting, double cpu, double inflight) {
        AcsScaleDecision d;
        AcsScaleInput in = { .replicas = replicas, .ready = ready, .starting = starting, .cpu = cpu,
                             .inflight = inflight, .capacity = 100 };

        (void) acs_policy_decide(p, h, (1000 + t) * USEC_PER_SEC, &in, &d);
        fprintf(stderr, "  t=%u: %s: %s\n", t, acs_scale_action_to_string(d.action), d.reason);
        return d;
}

TEST(decides_once_per_15s_sync) {
        static AcsScaleHistory h;
        AcsPolicy p = hpa();
        AcsScaleDecision d;

        acs_scale_history_reset(&h);
        d = at(&p, &h, 0, 2, 2, 0, 0.9, 0);
        ASSERT_EQ(d.action, ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 3); /* ceil(2 × 0.9 / 0.6) */
        ASSERT_TRUE(strstr(d.reason, "hpa-default sync") != NULL);
        /* Saturated for the next 14 s: nothing until the next sync. */
        for (unsigned t = 1; t < 15; t++) {
                d = at(&p, &h, t, 3, 3, 0, 1.0, 0);
                ASSERT_EQ(d.action, ACS_SCALE_NONE);
                ASSERT_EQ(d.desired, 3);
        }
        ASSERT_TRUE(strstr(d.reason, "next sync in 1 s") != NULL);
        d = at(&p, &h, 15, 3, 3, 0, 1.0, 0);
        ASSERT_EQ(d.action, ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 5); /* ceil(3 × 1.0 / 0.6) */
}

TEST(cpu_is_the_mean_since_the_last_sync) {
        static AcsScaleHistory h;
        AcsPolicy p = hpa();
        AcsScaleDecision d;

        acs_scale_history_reset(&h);
        (void) at(&p, &h, 0, 4, 4, 0, 0.6, 0);
        /* 14 readings at 0.6, one at 1.2: mean 0.64, inside the 0.1 band around 0.6. */
        for (unsigned t = 1; t < 15; t++)
                (void) at(&p, &h, t, 4, 4, 0, 0.6, 0);
        d = at(&p, &h, 15, 4, 4, 0, 1.2, 0);
        ASSERT_EQ(d.action, ACS_SCALE_NONE);
        ASSERT_TRUE(strstr(d.reason, "cpu 0.64 (mean of 15 readings) ~ target 0.60") != NULL);
}

TEST(tolerance_is_hpas_not_the_configured_one) {
        static AcsScaleHistory h;
        AcsPolicy p = hpa();
        AcsScaleDecision d;

        p.tolerance = 0.5;
        acs_scale_history_reset(&h);
        d = at(&p, &h, 0, 3, 3, 0, 0.7, 0); /* 17 % over: outside HPA's 10 % */
        ASSERT_EQ(d.action, ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 4);
}

TEST(in_flight_is_not_a_signal) {
        static AcsScaleHistory h;
        AcsPolicy p = hpa();
        AcsScaleDecision d;

        acs_scale_history_reset(&h);
        d = at(&p, &h, 0, 2, 2, 0, 0.6, 40);
        ASSERT_EQ(d.action, ACS_SCALE_NONE);
        ASSERT_EQ(d.by_inflight, 0);
        ASSERT_EQ(d.desired, 2);
}

TEST(scale_up_at_most_max_of_4_pods_and_double_per_15s) {
        static AcsScaleHistory h;
        AcsPolicy p = hpa();
        AcsScaleDecision d;

        p.target_cpu = 0.1;
        acs_scale_history_reset(&h);
        d = at(&p, &h, 0, 1, 1, 0, 1.0, 0); /* wants 10: 1 + 4 */
        ASSERT_EQ(d.desired, 5);
        ASSERT_TRUE(strstr(d.reason, "scale-up limit max(4, 100%) per 15 s") != NULL);
        d = at(&p, &h, 15, 5, 5, 0, 1.0, 0); /* wants 50: 5 + 5 */
        ASSERT_EQ(d.desired, 10);
        d = at(&p, &h, 30, 10, 10, 0, 1.0, 0); /* wants 100: 10 + 10 */
        ASSERT_EQ(d.desired, 20);
}

TEST(starting_pods_count_as_idle_on_scale_up) {
        static AcsScaleHistory h;
        AcsPolicy p = hpa();
        AcsScaleDecision d;

        acs_scale_history_reset(&h);
        /* 2 ready at 0.9 against 0.6 is 1.5×; with the 2 starting at 0 it is 0.75×: no change. */
        d = at(&p, &h, 0, 4, 2, 2, 0.9, 0);
        ASSERT_EQ(d.action, ACS_SCALE_NONE);
        ASSERT_EQ(d.desired, 4);
        /* 2 ready at 1.0 and 1 starting: 2 / (3 × 0.6) = 1.11×, ceil(1.11 × 3) = 4. */
        acs_scale_history_reset(&h);
        d = at(&p, &h, 0, 3, 2, 1, 1.0, 0);
        ASSERT_EQ(d.action, ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 4);
}

TEST(scale_down_waits_300s_then_goes_all_the_way) {
        static AcsScaleHistory h;
        AcsPolicy p = hpa();
        AcsScaleDecision d;

        p.scale_down_window = 10 * USEC_PER_SEC; /* vim.conf's window is not HPA's */
        acs_scale_history_reset(&h);
        d = at(&p, &h, 0, 6, 6, 0, 0.6, 0);
        ASSERT_EQ(d.action, ACS_SCALE_NONE);
        for (unsigned t = 15; t <= 300; t += 15) {
                d = at(&p, &h, t, 6, 6, 0, 0.05, 0);
                ASSERT_EQ(d.action, ACS_SCALE_HOLD);
                ASSERT_STREQ(d.held_by, "window");
                ASSERT_EQ(d.desired, 6);
        }
        ASSERT_TRUE(strstr(d.reason, "held by the 300s window") != NULL);
        d = at(&p, &h, 315, 6, 6, 0, 0.05, 0);
        ASSERT_EQ(d.action, ACS_SCALE_IN);
        ASSERT_EQ(d.desired, 1); /* 100 % per 15 s: straight to the recommendation */
}

ACS_TEST_MAIN();
