/* SPDX-License-Identifier: MIT */
/*
 * Policy=seed: the thresholds of the design ACS grew from, to compare ACS with.
 *   - CPU utilization of the containers, averaged over the last 5 readings (one a second);
 *   - above 60 % one container more, one at a time: none while another is still starting;
 *   - below 30 % it would remove one, but that design never scaled in: it only says so;
 *   - a VM whose containers use more than 80 % of its slots' CPU counts as full
 *     (acs_policy_vm_full(), applied by placement).
 * Min/max replicas and the VMs' capacity bound it as any policy; nothing else of vim.conf's
 * [Scaling] is used.
 */
#include "acs-policy-internal.h"

static double seed_average(AcsScaleHistory *h, const AcsScaleInput *in) {
        double sum = 0;

        /* A reading only when some container is ready to be measured. */
        if (in->ready > 0) {
                h->samples[h->next_sample] = in->cpu;
                h->next_sample = (h->next_sample + 1) % ACS_POLICY_SEED_SAMPLES;
                h->n_samples = MIN(h->n_samples + 1, (unsigned) ACS_POLICY_SEED_SAMPLES);
        }
        for (unsigned i = 0; i < h->n_samples; i++)
                sum += h->samples[i];
        return h->n_samples > 0 ? sum / h->n_samples : 0;
}

static AcsScaleAction seed_hold(AcsScaleDecision *d, const char *held_by, const char *why) {
        d->desired = d->current;
        d->action = ACS_SCALE_HOLD;
        d->held_by = held_by;
        acs_policy_reason_append(d, ": %u held: %s", d->current, why);
        return d->action;
}

AcsScaleAction acs_policy_decide_seed(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                      const AcsScaleInput *in, AcsScaleDecision *d) {
        double avg = seed_average(h, in);
        bool high = in->ready > 0 && avg > ACS_POLICY_SEED_ADD_ABOVE;
        bool low = in->ready > 0 && avg < ACS_POLICY_SEED_REMOVE_BELOW;

        d->by_cpu = high ? d->current + 1 : low && d->current > 0 ? d->current - 1 : d->current;
        d->recommended = d->by_cpu;
        acs_policy_reason_append(d, "seed: cpu %.2f (mean of %u readings), add above %.2f, remove below %.2f, over %u ready",
                                 avg, h->n_samples, ACS_POLICY_SEED_ADD_ABOVE, ACS_POLICY_SEED_REMOVE_BELOW, in->ready);
        if (in->starting > 0)
                acs_policy_reason_append(d, " + %u starting", in->starting);

        /* The operator's bounds move it either way, as for any policy. */
        if (d->current > p->max_replicas) {
                d->desired = p->max_replicas;
                d->action = ACS_SCALE_IN;
                acs_policy_reason_append(d, ": %u -> %u (max replicas)", d->current, d->desired);
                return d->action;
        }
        if (d->current < p->min_replicas) {
                d->desired = MIN(p->min_replicas, MAX(in->capacity, d->current));
                if (d->desired == d->current)
                        return seed_hold(d, "capacity", "min replicas, no free slot");
                d->action = ACS_SCALE_OUT;
                acs_policy_reason_append(d, ": %u -> %u (min replicas)", d->current, d->desired);
                return d->action;
        }
        if (high) {
                if (in->starting > 0)
                        return seed_hold(d, "starting", "one container at a time");
                if (d->current >= p->max_replicas)
                        return seed_hold(d, "max replicas", "at max replicas");
                if (d->current >= in->capacity)
                        return seed_hold(d, "capacity", "no free slot");
                d->desired = d->current + 1;
                d->action = ACS_SCALE_OUT;
                acs_policy_reason_append(d, ": %u -> %u", d->current, d->desired);
                return d->action;
        }
        if (low && d->current > p->min_replicas)
                return seed_hold(d, "no scale-in", "the seed design never removes a container");

        d->desired = d->current;
        d->action = ACS_SCALE_NONE;
        acs_policy_reason_append(d, ": %u", d->current);
        return d->action;
}
