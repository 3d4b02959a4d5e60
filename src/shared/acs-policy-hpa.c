/* SPDX-License-Identifier: MIT */
/*
 * Policy=hpa-default: the Kubernetes Horizontal Pod Autoscaler with its defaults, to compare ACS
 * with. Only what an HPA on CPU utilization does unconfigured:
 *   - it decides once per sync period (15 s), from the CPU utilization metrics-server reported,
 *     which is itself an average over its resolution: here, the mean of the per-second readings
 *     since the last sync;
 *   - desired = ceil(ready × utilization / target), nothing while the ratio is within 0.1;
 *     containers not ready yet count as using nothing when that says scale up, and the ratio is
 *     computed again with them (replica_calculator.go: a start that is under way is not
 *     answered twice);
 *   - scale-up: no stabilization, at most max(4 containers, 100 %) per 15 s;
 *   - scale-down: the largest recommendation of the last 300 s, at most 100 % per 15 s.
 * The target and min/max replicas are the configured ones (an HPA has them in its spec); the
 * in-flight signal, Tolerance=, ScaleDownWindow= and the rate limits of vim.conf are not used.
 */
#include "acs-policy-internal.h"

/* The recommendation from CPU alone, as the HPA's replica calculator makes it. */
static unsigned hpa_recommend(const AcsPolicy *p, const AcsScaleInput *in, double cpu, unsigned current) {
        double ratio, adjusted;
        unsigned n;

        if (in->ready == 0)
                return current;
        ratio = cpu / p->target_cpu;
        if (in->starting == 0 || ratio <= 1.0) {
                if (acs_policy_in_band(ratio, ACS_POLICY_HPA_TOLERANCE))
                        return current;
                return acs_policy_ceil_count(in->ready * ratio);
        }

        /* Scale-up while some are starting: they count, as using nothing. */
        adjusted = cpu * in->ready / ((in->ready + in->starting) * p->target_cpu);
        if (adjusted <= 1.0 || acs_policy_in_band(adjusted, ACS_POLICY_HPA_TOLERANCE))
                return current;
        n = acs_policy_ceil_count(adjusted * (in->ready + in->starting));
        return MAX(n, current);
}

AcsScaleAction acs_policy_decide_hpa(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                     const AcsScaleInput *in, AcsScaleDecision *d) {
        AcsPolicy hpa = *p;
        double cpu;
        unsigned n;

        if (in->ready > 0) {
                h->cpu_sum += in->cpu;
                h->cpu_n++;
        }
        if (h->sync_last > 0 && now < h->sync_last + ACS_POLICY_HPA_SYNC_PERIOD) {
                d->desired = d->current;
                d->action = ACS_SCALE_NONE;
                acs_policy_reason_append(d, "hpa-default: %u, next sync in %.0f s", d->current,
                                         (double) (h->sync_last + ACS_POLICY_HPA_SYNC_PERIOD - now) / USEC_PER_SEC);
                return d->action;
        }

        n = h->cpu_n;
        cpu = n > 0 ? h->cpu_sum / n : 0;
        h->sync_last = now;
        h->cpu_sum = 0;
        h->cpu_n = 0;

        hpa.tolerance = ACS_POLICY_HPA_TOLERANCE;
        hpa.target_inflight = 0;
        hpa.scale_down_window = ACS_POLICY_HPA_DOWN_WINDOW;
        hpa.scale_up_limit = (AcsScaleLimit) {
                .pods = ACS_POLICY_HPA_UP_PODS,
                .percent = ACS_POLICY_HPA_UP_PERCENT,
                .period = ACS_POLICY_HPA_RATE_PERIOD,
        };
        hpa.scale_down_limit = (AcsScaleLimit) {
                .percent = ACS_POLICY_HPA_DOWN_PERCENT,
                .period = ACS_POLICY_HPA_RATE_PERIOD,
        };

        d->by_cpu = hpa_recommend(&hpa, in, cpu, d->current);
        d->by_inflight = 0;
        if (in->ready > 0)
                acs_policy_reason_append(d, "hpa-default sync: cpu %.2f (mean of %u readings) %s target %.2f", cpu, n,
                                         acs_policy_compare(cpu, hpa.target_cpu, hpa.tolerance), hpa.target_cpu);
        else
                acs_policy_reason_append(d, "hpa-default sync: cpu n/a (no ready container)");
        acs_policy_reason_append(d, " over %u ready", in->ready);
        if (in->starting > 0)
                acs_policy_reason_append(d, " + %u starting", in->starting);
        acs_policy_reason_append(d, " (recommend %u)", d->by_cpu);

        return acs_policy_decide_bounded(&hpa, h, now, in, d);
}
