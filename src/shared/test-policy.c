/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "acs-macro.h"
#include "acs-policy.h"
#include "acs-test.h"

static AcsPolicy policy(void) {
        AcsPolicy p;

        acs_policy_init(&p);
        p.target_inflight = 0; /* the CPU rule alone, unless a case says otherwise */
        return p;
}

/* One evaluation with a fresh history. */
static AcsScaleDecision decide_once(const AcsPolicy *p, unsigned ready, unsigned starting, double cpu,
                                    double inflight) {
        static AcsScaleHistory h;
        AcsScaleDecision d;
        AcsScaleInput in = { .replicas = ready + starting, .ready = ready, .starting = starting, .cpu = cpu, .inflight = inflight,
                             .capacity = 100 };

        acs_scale_history_reset(&h);
        (void) acs_policy_decide(p, &h, 1000 * USEC_PER_SEC, &in, &d);
        return d;
}

TEST(cpu_target_tracking_table) {
        static const struct {
                unsigned ready, starting;
                double cpu, target;
                unsigned expect;
                AcsScaleAction action;
        } cases[] = {
                { 3, 0, 0.90, 0.60, 5, ACS_SCALE_OUT },   /* the classic: ceil(3 × 1.5) */
                { 3, 0, 0.95, 1.00, 3, ACS_SCALE_NONE },  /* inside the 10% band */
                { 3, 0, 0.65, 0.60, 3, ACS_SCALE_NONE },  /* 8% over: band */
                { 2, 0, 1.00, 0.60, 4, ACS_SCALE_OUT },   /* ceil(3.33) = 4 */
                { 1, 0, 1.00, 0.20, 2, ACS_SCALE_OUT },   /* 5× wanted, at most double per step */
                { 4, 0, 1.00, 0.60, 7, ACS_SCALE_OUT },   /* ceil(6.67) */
                { 3, 2, 0.90, 0.60, 5, ACS_SCALE_NONE },  /* the two starting ones are the answer already */
                { 0, 2, 0.00, 0.60, 2, ACS_SCALE_NONE },  /* nothing ready: nothing to judge */
                { 0, 0, 0.00, 0.60, 1, ACS_SCALE_OUT },   /* nothing at all: up to min */
                { 12, 0, 1.00, 0.60, 12, ACS_SCALE_HOLD }, /* max replicas */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                AcsPolicy p = policy();
                AcsScaleDecision d;

                p.target_cpu = cases[i].target;
                d = decide_once(&p, cases[i].ready, cases[i].starting, cases[i].cpu, 0);
                fprintf(stderr, "  case %zu: %s: %s\n", i, acs_scale_action_to_string(d.action), d.reason);
                ASSERT_EQ(d.desired, cases[i].expect);
                ASSERT_EQ(d.action, cases[i].action);
        }
}

TEST(inflight_leads_when_cpu_saturates) {
        AcsPolicy p = policy();
        AcsScaleDecision d;

        /* CPU pinned at 100% only asks for ceil(2 / 0.6) = 4; 12 requests in flight ask for 12,
         * bounded by double per step. */
        p.target_inflight = 1.0;
        d = decide_once(&p, 2, 0, 1.0, 12);
        ASSERT_EQ(d.by_cpu, 4);
        ASSERT_EQ(d.by_inflight, 12);
        ASSERT_EQ(d.recommended, 12);
        ASSERT_EQ(d.desired, 4);

        d = decide_once(&p, 4, 0, 1.0, 12);
        ASSERT_EQ(d.desired, 8);
        d = decide_once(&p, 6, 2, 1.0, 12);
        ASSERT_EQ(d.desired, 12);
        ASSERT_EQ(d.action, ACS_SCALE_OUT);

        /* in-flight within the band of the ready containers: no change from this rule */
        d = decide_once(&p, 4, 0, 0.6, 4.2);
        ASSERT_EQ(d.by_inflight, 4);
        ASSERT_EQ(d.action, ACS_SCALE_NONE);
        ASSERT_TRUE(strstr(d.reason, "in-flight 4.2 ~ target 1.0") != NULL);
}

TEST(step_to_12x_reaches_size_in_few_decisions) {
        AcsPolicy p = policy();
        AcsScaleHistory h = {};
        unsigned replicas = 1, steps = 0;

        p.target_inflight = 1.0;
        /* 12 users against one container: every decision the new ones come up ready. */
        while (replicas < 12 && steps < 10) {
                AcsScaleInput in = { .replicas = replicas, .ready = replicas, .cpu = 1.0, .inflight = 12, .capacity = 100 };
                AcsScaleDecision d;

                (void) acs_policy_decide(&p, &h, (steps + 1) * USEC_PER_SEC, &in, &d);
                replicas = d.desired;
                steps++;
        }
        ASSERT_EQ(replicas, 12);
        /* 1 -> 2 -> 4 -> 8 -> 12: bounded by doubling, never CPU's six-plus steps */
        ASSERT_TRUE(steps <= 4);
}

TEST(scale_in_waits_for_the_window) {
        AcsPolicy p = policy();
        AcsScaleHistory h = {};
        AcsScaleDecision d;
        AcsScaleInput busy = { .replicas = 5, .ready = 5, .cpu = 0.6, .capacity = 100 };
        AcsScaleInput idle = { .replicas = 5, .ready = 5, .cpu = 0.1, .capacity = 100 };

        p.scale_down_window = 60 * USEC_PER_SEC;
        ASSERT_EQ(acs_policy_decide(&p, &h, 100 * USEC_PER_SEC, &busy, &d), ACS_SCALE_NONE);

        /* load gone: the recommendation (ceil(5 × 0.1 / 0.6) = 1) waits for the window */
        for (usec_t t = 101; t <= 160; t++) {
                ASSERT_EQ(acs_policy_decide(&p, &h, t * USEC_PER_SEC, &idle, &d), ACS_SCALE_HOLD);
                ASSERT_EQ(d.desired, 5);
        }
        ASSERT_TRUE(strstr(d.reason, "held by the 60s window") != NULL);

        ASSERT_EQ(acs_policy_decide(&p, &h, 161 * USEC_PER_SEC, &idle, &d), ACS_SCALE_IN);
        ASSERT_EQ(d.desired, 1);
        ASSERT_TRUE(strstr(d.reason, "5 -> 1") != NULL);
}

TEST(scale_in_bounded_by_min) {
        AcsPolicy p = policy();
        AcsScaleHistory h = {};
        AcsScaleDecision d;
        AcsScaleInput idle = { .replicas = 4, .ready = 4, .cpu = 0.0, .capacity = 100 };

        p.min_replicas = 2;
        p.scale_down_window = 0;
        ASSERT_EQ(acs_policy_decide(&p, &h, USEC_PER_SEC, &idle, &d), ACS_SCALE_IN);
        ASSERT_EQ(d.desired, 2);
        idle.replicas = idle.ready = 2;
        ASSERT_EQ(acs_policy_decide(&p, &h, 2 * USEC_PER_SEC, &idle, &d), ACS_SCALE_HOLD);
        ASSERT_TRUE(strstr(d.reason, "held by min replicas 2") != NULL);
}

TEST(lost_containers_are_replaced_not_rescaled) {
        AcsPolicy p = policy();
        AcsScaleDecision d;
        static AcsScaleHistory h;
        /* 5 wanted, 2 lost with their VM: the 3 left are inside the band, so the count to hold
         * stays 5 (the caller replaces the 2), rather than shrinking to what is left */
        AcsScaleInput in = { .replicas = 5, .ready = 3, .cpu = 0.62, .capacity = 10 };

        ASSERT_EQ(acs_policy_decide(&p, &h, USEC_PER_SEC, &in, &d), ACS_SCALE_NONE);
        ASSERT_EQ(d.desired, 5);
}

TEST(capacity_holds_scale_out) {
        AcsPolicy p = policy();
        AcsScaleHistory h = {};
        AcsScaleDecision d;
        AcsScaleInput in = { .replicas = 4, .ready = 4, .cpu = 1.0, .capacity = 5 };

        ASSERT_EQ(acs_policy_decide(&p, &h, USEC_PER_SEC, &in, &d), ACS_SCALE_OUT);
        ASSERT_EQ(d.desired, 5);
        in.replicas = in.ready = 5;
        ASSERT_EQ(acs_policy_decide(&p, &h, 2 * USEC_PER_SEC, &in, &d), ACS_SCALE_HOLD);
        ASSERT_EQ(d.desired, 5);
        ASSERT_TRUE(strstr(d.reason, "held by capacity (5 slots)") != NULL);
}

/* A demand that swings ±12% around what 3 containers serve at target, every 5 s, for 10 minutes:
 * the count may go up once, and must never go down and up again. */
TEST(oscillating_load_does_not_flap) {
        AcsPolicy p = policy();
        AcsScaleHistory h = {};
        unsigned replicas = 3, changes = 0, downs = 0;

        for (unsigned t = 1; t <= 600; t++) {
                double demand = 3 * 0.6 * ((t / 5) % 2 ? 1.12 : 0.88); /* CPUs */
                AcsScaleInput in = { .replicas = replicas, .ready = replicas, .cpu = fmin(1.0, demand / replicas), .capacity = 100 };
                AcsScaleDecision d;

                (void) acs_policy_decide(&p, &h, t * USEC_PER_SEC, &in, &d);
                if (d.desired != replicas) {
                        changes++;
                        if (d.desired < replicas)
                                downs++;
                        replicas = d.desired;
                }
        }
        ASSERT_EQ(downs, 0);
        ASSERT_TRUE(changes <= 1);

        /* and a wider swing (±30%) settles at one size instead of following every swing */
        acs_scale_history_reset(&h);
        replicas = 3;
        changes = 0;
        for (unsigned t = 1; t <= 600; t++) {
                double demand = 3 * 0.6 * ((t / 10) % 2 ? 1.3 : 0.7);
                AcsScaleInput in = { .replicas = replicas, .ready = replicas, .cpu = fmin(1.0, demand / replicas), .capacity = 100 };
                AcsScaleDecision d;

                (void) acs_policy_decide(&p, &h, t * USEC_PER_SEC, &in, &d);
                if (d.desired != replicas) {
                        changes++;
                        replicas = d.desired;
                }
        }
        ASSERT_TRUE(changes <= 2);
}

/* One decision with a kept history, at time t seconds. */
static AcsScaleDecision decide_at(const AcsPolicy *p, AcsScaleHistory *h, unsigned t, unsigned ready, double cpu) {
        AcsScaleDecision d;
        AcsScaleInput in = { .replicas = ready, .ready = ready, .cpu = cpu, .capacity = 100 };

        (void) acs_policy_decide(p, h, (1000 + t) * USEC_PER_SEC, &in, &d);
        fprintf(stderr, "  t=%u: %s: %s\n", t, acs_scale_action_to_string(d.action), d.reason);
        return d;
}

TEST(scale_up_limit_in_pods_per_period) {
        static AcsScaleHistory h;
        AcsPolicy p = policy();
        AcsScaleDecision d;

        p.max_replicas = 100;
        ASSERT_OK(acs_scale_limit_parse("2", &p.scale_up_limit));
        p.scale_up_limit.period = 10 * USEC_PER_SEC;
        acs_scale_history_reset(&h);
        d = decide_at(&p, &h, 0, 2, 1.0);           /* wants 4: +2 allowed */
        ASSERT_EQ(d.desired, 4);
        d = decide_at(&p, &h, 0, 4, 1.0);           /* wants 7, the period's two are used */
        ASSERT_EQ(d.action, ACS_SCALE_HOLD);
        ASSERT_STREQ(d.held_by, "scale-up limit");
        ASSERT_TRUE(strstr(d.reason, "scale-up limit 2 per 10 s") != NULL);
        d = decide_at(&p, &h, 11, 4, 1.0);          /* a new period */
        ASSERT_EQ(d.desired, 6);
        ASSERT_TRUE(strstr(d.reason, "of 7: scale-up limit 2 per 10 s") != NULL);
}

TEST(scale_down_limit_in_percent_per_period) {
        static AcsScaleHistory h;
        AcsPolicy p = policy();
        AcsScaleDecision d;

        p.scale_down_window = 0;
        ASSERT_OK(acs_scale_limit_parse("50%", &p.scale_down_limit));
        p.scale_down_limit.period = 15 * USEC_PER_SEC;
        acs_scale_history_reset(&h);
        d = decide_at(&p, &h, 0, 8, 0.01);          /* wants 1: half of 8 may go */
        ASSERT_EQ(d.action, ACS_SCALE_IN);
        ASSERT_EQ(d.desired, 4);
        ASSERT_TRUE(strstr(d.reason, "of 1: scale-down limit 50% per 15 s") != NULL);
        d = decide_at(&p, &h, 1, 4, 0.01);
        ASSERT_EQ(d.action, ACS_SCALE_HOLD);
        ASSERT_STREQ(d.held_by, "scale-down limit");
        d = decide_at(&p, &h, 16, 4, 0.01);
        ASSERT_EQ(d.desired, 2);
        d = decide_at(&p, &h, 32, 2, 0.01);
        ASSERT_EQ(d.desired, 1);                    /* at least one per period */
}

TEST(default_limits_double_up_and_leave_down_unbounded) {
        static AcsScaleHistory h;
        AcsPolicy p = policy();
        AcsScaleDecision d;

        p.scale_down_window = 0;
        acs_scale_history_reset(&h);
        ASSERT_EQ(decide_at(&p, &h, 0, 3, 1.0).desired, 5);
        ASSERT_EQ(decide_at(&p, &h, 0, 1, 1.0).desired, 2);
        d = decide_at(&p, &h, 1, 10, 0.01);
        ASSERT_EQ(d.desired, 1);
}

TEST(scale_limit_parse) {
        AcsScaleLimit l = { .period = 7 };

        ASSERT_OK(acs_scale_limit_parse("4", &l));
        ASSERT_EQ(l.pods, 4u);
        ASSERT_EQ(l.percent, 0u);
        ASSERT_OK(acs_scale_limit_parse("150%", &l));
        ASSERT_EQ(l.pods, 0u);
        ASSERT_EQ(l.percent, 150u);
        ASSERT_EQ(l.period, (usec_t) 7);
        ASSERT_EQ(acs_scale_limit_parse("0", &l), -EINVAL);
        ASSERT_EQ(acs_scale_limit_parse("", &l), -EINVAL);
        ASSERT_EQ(acs_scale_limit_parse("-1", &l), -EINVAL);
        ASSERT_EQ(acs_scale_limit_parse("5%%", &l), -EINVAL);
        ASSERT_EQ(acs_scale_limit_parse("1001%", &l), -EINVAL);
        ASSERT_EQ(acs_scale_limit_parse("3 pods", &l), -EINVAL);
}

TEST(policy_validation) {
        AcsPolicy p;
        const char *what;

        acs_policy_init(&p);
        ASSERT_OK(acs_policy_validate(&p, &what));
        p.target_cpu = 1.5;
        ASSERT_EQ(acs_policy_validate(&p, &what), -EINVAL);
        ASSERT_STREQ(what, "target_cpu must be in 0.05..1");
        acs_policy_init(&p);
        p.min_replicas = 20;
        ASSERT_EQ(acs_policy_validate(&p, &what), -EINVAL);
        ASSERT_EQ(acs_placement_from_string("binpack"), ACS_PLACEMENT_BINPACK);
        ASSERT_EQ(acs_placement_from_string("nope"), -EINVAL);
}

#define VM(n, act, cap, use, r) { .name = n, .active = act, .capacity = cap, .used = use, .removable = use, .rank = r }

TEST(placement_spread_and_binpack) {
        AcsPlacementVm vms[] = { VM("vm1", true, 4, 2, 0), VM("vm2", true, 4, 1, 1), VM("vm3", false, 4, 0, 2) };
        int delta[3] = {};

        ASSERT_EQ(acs_placement_pick_add(ACS_PLACEMENT_SPREAD, vms, 3), 1);
        ASSERT_EQ(acs_placement_pick_add(ACS_PLACEMENT_BINPACK, vms, 3), 0);
        /* scale-in: spread takes from the fullest, binpack from the VM it fills last */
        ASSERT_EQ(acs_placement_pick_remove(ACS_PLACEMENT_SPREAD, vms, 3), 0);
        ASSERT_EQ(acs_placement_pick_remove(ACS_PLACEMENT_BINPACK, vms, 3), 1);

        /* binpack 4 more: vm1 fills (2 more), then vm2; never the standby vm3 */
        ASSERT_EQ(acs_placement_plan(ACS_PLACEMENT_BINPACK, vms, 3, 4, delta), 4);
        ASSERT_EQ(delta[0], 2);
        ASSERT_EQ(delta[1], 2);
        ASSERT_EQ(delta[2], 0);
        /* full: nothing more goes anywhere */
        ASSERT_EQ(acs_placement_plan(ACS_PLACEMENT_BINPACK, vms, 3, 2, delta), 1);
        ASSERT_EQ(vms[1].used, 4);
        ASSERT_EQ(acs_placement_pick_add(ACS_PLACEMENT_SPREAD, vms, 3), -ENOSPC);
}

TEST(placement_spread_balances_then_empties_last_activated) {
        AcsPlacementVm vms[] = { VM("vm1", true, 4, 0, 0), VM("vm2", true, 4, 0, 1), VM("vm3", true, 4, 0, 2) };
        int delta[3] = {};

        ASSERT_EQ(acs_placement_plan(ACS_PLACEMENT_SPREAD, vms, 3, 6, delta), 6);
        ASSERT_EQ(delta[0], 2);
        ASSERT_EQ(delta[1], 2);
        ASSERT_EQ(delta[2], 2);

        memset(delta, 0, sizeof(delta));
        ASSERT_EQ(acs_placement_plan(ACS_PLACEMENT_SPREAD, vms, 3, -5, delta), 5);
        /* one left, on the VM activated first */
        ASSERT_EQ(vms[0].used, 1);
        ASSERT_EQ(vms[1].used, 0);
        ASSERT_EQ(vms[2].used, 0);
}

TEST(standby_activation_by_headroom) {
        AcsPolicy p;
        AcsPlacementVm vms[] = { VM("vm1", true, 2, 2, 0), VM("vm2", true, 2, 1, 1), VM("vm3", false, 2, 0, 2) };
        char reason[ACS_POLICY_REASON_MAX];

        acs_policy_init(&p);
        p.vm_headroom = 1;
        /* one free slot is the headroom: nothing to do yet */
        ASSERT_EQ(acs_placement_pick_activate(&p, vms, 3, 0, reason, sizeof(reason)), -ENOENT);
        /* the next container takes it: activate before it is needed */
        ASSERT_EQ(acs_placement_pick_activate(&p, vms, 3, 1, reason, sizeof(reason)), 2);
        ASSERT_STREQ(reason, "free slots on active VMs 0 (after 1 more) < headroom 1");
        /* more wanted than fits */
        ASSERT_EQ(acs_placement_pick_activate(&p, vms, 3, 3, reason, sizeof(reason)), 2);
        ASSERT_STREQ(reason, "3 more containers wanted, 1 free slots on active VMs");
        /* a larger headroom activates earlier */
        p.vm_headroom = 2;
        ASSERT_EQ(acs_placement_pick_activate(&p, vms, 3, 0, reason, sizeof(reason)), 2);
}

TEST(emptied_vm_returns_to_standby) {
        AcsPolicy p;
        AcsPlacementVm vms[] = { VM("vm1", true, 4, 1, 0), VM("vm2", true, 4, 0, 1) };

        acs_policy_init(&p);
        p.vm_standby_delay = 30 * USEC_PER_SEC;
        ASSERT_FALSE(acs_placement_may_standby(&p, vms, 2, 1, 100 * USEC_PER_SEC, 129 * USEC_PER_SEC));
        ASSERT_TRUE(acs_placement_may_standby(&p, vms, 2, 1, 100 * USEC_PER_SEC, 130 * USEC_PER_SEC));
        /* never the VM that still runs something, never the last active one */
        ASSERT_FALSE(acs_placement_may_standby(&p, vms, 2, 0, 100 * USEC_PER_SEC, 200 * USEC_PER_SEC));
        vms[0].active = false;
        ASSERT_FALSE(acs_placement_may_standby(&p, vms, 2, 1, 100 * USEC_PER_SEC, 200 * USEC_PER_SEC));
        /* nor when the others would be left without headroom */
        vms[0] = (AcsPlacementVm) VM("vm1", true, 1, 1, 0);
        ASSERT_FALSE(acs_placement_may_standby(&p, vms, 2, 1, 100 * USEC_PER_SEC, 200 * USEC_PER_SEC));
}

ACS_TEST_MAIN();
