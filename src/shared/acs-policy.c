/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-macro.h"
#include "acs-policy-internal.h"
#include "acs-string-table.h"

/* Ratios are computed in floating point; a product such as 3 × 1.5 must not round up to 5. */
#define CEIL_EPSILON 1e-9

static const char *const placement_names[_ACS_PLACEMENT_MAX] = {
        [ACS_PLACEMENT_SPREAD] = "spread",
        [ACS_PLACEMENT_BINPACK] = "binpack",
};

static const char *const policy_kind_names[_ACS_POLICY_KIND_MAX] = {
        [ACS_POLICY_ACS] = "acs",
        [ACS_POLICY_HPA_DEFAULT] = "hpa-default",
        [ACS_POLICY_SEED] = "seed",
};

static const char *const action_names[] = {
        [ACS_SCALE_NONE] = "none",
        [ACS_SCALE_OUT] = "scale-out",
        [ACS_SCALE_IN] = "scale-in",
        [ACS_SCALE_HOLD] = "scale-hold",
};

void acs_policy_init(AcsPolicy *p) {
        *p = (AcsPolicy) {
                .kind = ACS_POLICY_ACS,
                .target_cpu = 0.6,
                .target_inflight = 1.0,
                .tolerance = 0.1,
                .min_replicas = 1,
                .max_replicas = 12,
                .scale_down_window = 60 * USEC_PER_SEC,
                .placement = ACS_PLACEMENT_SPREAD,
                .vm_headroom = 1,
                .vm_standby_delay = 30 * USEC_PER_SEC,
                .dry_run = false,
                .scale_up_limit = { .percent = 100 },
                .scale_down_limit = { .percent = 100, .period = 15 * USEC_PER_SEC },
        };
}

int acs_scale_limit_parse(const char *s, AcsScaleLimit *l) {
        char *end = NULL;
        unsigned long v;

        if (!s || !(*s >= '0' && *s <= '9'))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || v == 0 || v > 10000)
                return -EINVAL;
        if (streq(end, "%") && v <= 1000) {
                l->pods = 0;
                l->percent = (unsigned) v;
                return 0;
        }
        if (*end != 0)
                return -EINVAL;
        l->pods = (unsigned) v;
        l->percent = 0;
        return 0;
}

static unsigned limit_amount(const AcsScaleLimit *l, unsigned base, bool up) {
        double share = (double) base * l->percent / 100.0;
        unsigned by_percent = up ? acs_policy_ceil_count(share) : (unsigned) floor(share);

        /* Both set: the larger, as HPA's selectPolicy: Max. */
        return MAX(1U, MAX(l->pods, l->percent > 0 ? by_percent : 0U));
}

/* The count at the start of the limit's period (one opens at the first use after the last one
 * ended); a period of 0 opens one at each decision. */
static unsigned limit_base(const AcsScaleLimit *l, usec_t *since, unsigned *base, usec_t now, unsigned current) {
        if (l->period == 0 || *since == 0 || now >= *since + l->period) {
                *since = now;
                *base = current;
        }
        return *base;
}

static void limit_describe(const AcsScaleLimit *l, char *buf, size_t size) {
        if (l->pods > 0 && l->percent > 0)
                (void) snprintf(buf, size, "max(%u, %u%%) per %s", l->pods, l->percent, l->period > 0 ? "" : "decision");
        else if (l->pods > 0)
                (void) snprintf(buf, size, "%u per %s", l->pods, l->period > 0 ? "" : "decision");
        else
                (void) snprintf(buf, size, "%u%% per %s", l->percent, l->period > 0 ? "" : "decision");
        if (l->period > 0)
                (void) snprintf(buf + strlen(buf), size - strlen(buf), "%.0f s", (double) l->period / USEC_PER_SEC);
}

int acs_policy_validate(const AcsPolicy *p, const char **ret_what) {
        const char *what = NULL;

        if ((unsigned) p->kind >= _ACS_POLICY_KIND_MAX)
                what = "policy must be acs, hpa-default or seed";
        else if (!(p->target_cpu >= 0.05 && p->target_cpu <= 1))
                what = "target_cpu must be in 0.05..1";
        else if (!(p->target_inflight >= 0 && p->target_inflight <= 1000))
                what = "target_inflight must be in 0..1000";
        else if (!(p->tolerance >= 0 && p->tolerance < 1))
                what = "tolerance must be in 0..0.99";
        else if (p->max_replicas < 1 || p->max_replicas > 10000)
                what = "max_replicas must be in 1..10000";
        else if (p->min_replicas > p->max_replicas)
                what = "min_replicas must not exceed max_replicas";
        else if (p->scale_down_window > 3600 * USEC_PER_SEC)
                what = "scale_down_window must be at most 3600 s";
        else if ((unsigned) p->placement >= _ACS_PLACEMENT_MAX)
                what = "placement must be spread or binpack";
        else if (p->vm_headroom > 10000)
                what = "vm_headroom must be at most 10000";
        else if (p->vm_standby_delay > 24 * 3600 * USEC_PER_SEC)
                what = "vm_standby_delay must be at most 1 day";

        if (ret_what)
                *ret_what = what;
        return what ? -EINVAL : 0;
}

DEFINE_STRING_TABLE_TO_STRING(acs_placement, AcsPlacement, placement_names);
DEFINE_STRING_TABLE_FROM_STRING(acs_placement, int, placement_names);
DEFINE_STRING_TABLE_TO_STRING(acs_policy_kind, AcsPolicyKind, policy_kind_names);
DEFINE_STRING_TABLE_FROM_STRING(acs_policy_kind, AcsPolicyKind, policy_kind_names);
DEFINE_STRING_TABLE_TO_STRING(acs_scale_action, AcsScaleAction, action_names);

void acs_scale_history_reset(AcsScaleHistory *h) {
        h->head = h->n = 0;
        h->up_since = h->down_since = 0;
        h->up_base = h->down_base = 0;
        h->sync_last = 0;
        h->cpu_sum = 0;
        h->cpu_n = 0;
        h->n_samples = h->next_sample = 0;
}

void acs_scale_history_record(AcsScaleHistory *h, usec_t now, unsigned recommendation) {
        size_t i = (h->head + h->n) % ACS_POLICY_HISTORY_MAX;

        if (h->n == ACS_POLICY_HISTORY_MAX)
                h->head = (h->head + 1) % ACS_POLICY_HISTORY_MAX; /* drop the oldest */
        else
                h->n++;
        h->entries[i].time = now;
        h->entries[i].recommendation = recommendation;
}

/* Drops what fell out of the window, returns the largest recommendation left in it. */
static unsigned history_window_max(AcsScaleHistory *h, usec_t now, usec_t window) {
        unsigned m = 0;

        while (h->n > 0 && h->entries[h->head].time + window < now) {
                h->head = (h->head + 1) % ACS_POLICY_HISTORY_MAX;
                h->n--;
        }
        for (size_t k = 0; k < h->n; k++)
                m = MAX(m, h->entries[(h->head + k) % ACS_POLICY_HISTORY_MAX].recommendation);
        return m;
}

bool acs_policy_in_band(double ratio, double tolerance) {
        return fabs(ratio - 1.0) <= tolerance;
}

unsigned acs_policy_ceil_count(double x) {
        if (!(x > 0))
                return 0;
        if (x > 1e6)
                return 1000000;
        return (unsigned) ceil(x - CEIL_EPSILON);
}

/* Target tracking on CPU over the ready containers; starting ones are not judged. */
static unsigned recommend_by_cpu(const AcsPolicy *p, const AcsScaleInput *in, unsigned current) {
        double ratio;

        if (in->ready == 0)
                return current;
        ratio = in->cpu / p->target_cpu;
        if (acs_policy_in_band(ratio, p->tolerance))
                return current;
        return acs_policy_ceil_count(in->ready * ratio);
}

/* Knative's concurrency rule: as many containers as the in-flight requests need. */
static unsigned recommend_by_inflight(const AcsPolicy *p, const AcsScaleInput *in, unsigned current) {
        double ratio;

        if (p->target_inflight <= 0 || in->ready == 0)
                return 0;
        ratio = in->inflight / (in->ready * p->target_inflight);
        if (acs_policy_in_band(ratio, p->tolerance))
                return current;
        return acs_policy_ceil_count(in->inflight / p->target_inflight);
}

void acs_policy_reason_append(AcsScaleDecision *d, const char *format, ...) {
        size_t l = strlen(d->reason);
        va_list ap;

        if (l >= sizeof(d->reason) - 1)
                return;
        va_start(ap, format);
        (void) vsnprintf(d->reason + l, sizeof(d->reason) - l, format, ap);
        va_end(ap);
}

const char *acs_policy_compare(double v, double target, double tolerance) {
        double ratio = target > 0 ? v / target : 1.0;

        if (acs_policy_in_band(ratio, tolerance))
                return "~";
        return ratio > 1 ? ">" : "<";
}

/* Fast, but bounded: ScaleUpLimit= (by default at most double, at least one more), then the
 * capacity. */
static void decide_out(const AcsPolicy *p, AcsScaleHistory *h, usec_t now, const AcsScaleInput *in,
                       unsigned bounded, AcsScaleDecision *d) {
        unsigned base = limit_base(&p->scale_up_limit, &h->up_since, &h->up_base, now, d->current);
        unsigned rate_limit = base + limit_amount(&p->scale_up_limit, base, true);
        char limit[64];

        d->desired = MIN(bounded, MAX(rate_limit, d->current));
        if (d->desired > in->capacity && d->desired > d->current)
                d->desired = MAX(in->capacity, d->current);

        limit_describe(&p->scale_up_limit, limit, sizeof(limit));
        if (d->desired > d->current) {
                d->action = ACS_SCALE_OUT;
                acs_policy_reason_append(d, ": %u -> %u", d->current, d->desired);
                if (d->desired < bounded && d->desired == rate_limit)
                        acs_policy_reason_append(d, " (of %u: scale-up limit %s)", bounded, limit);
                else if (d->desired < bounded)
                        acs_policy_reason_append(d, " (of %u: capacity)", bounded);
        } else if (d->current >= rate_limit && d->desired <= in->capacity) {
                d->action = ACS_SCALE_HOLD;
                d->held_by = "scale-up limit";
                acs_policy_reason_append(d, ": %u -> %u held by the scale-up limit %s (from %u)", d->current, bounded, limit, base);
        } else {
                d->action = ACS_SCALE_HOLD;
                d->held_by = "capacity";
                acs_policy_reason_append(d, ": %u -> %u held by capacity (%u slots)", d->current, bounded, in->capacity);
        }
}

/* Scale-in to target (past the window), bounded by ScaleDownLimit=. */
static void decide_in(const AcsPolicy *p, AcsScaleHistory *h, usec_t now, unsigned target, AcsScaleDecision *d) {
        unsigned base = limit_base(&p->scale_down_limit, &h->down_since, &h->down_base, now, d->current);
        unsigned amount = limit_amount(&p->scale_down_limit, base, false);
        unsigned floor_count = base > amount ? base - amount : 0;
        char limit[64];

        limit_describe(&p->scale_down_limit, limit, sizeof(limit));
        d->desired = MAX(target, floor_count);
        if (d->desired >= d->current) {
                d->desired = d->current;
                d->action = ACS_SCALE_HOLD;
                d->held_by = "scale-down limit";
                acs_policy_reason_append(d, ": %u -> %u held by the scale-down limit %s (from %u)", d->current, target, limit,
                              base);
                return;
        }
        d->action = ACS_SCALE_IN;
        acs_policy_reason_append(d, ": %u -> %u", d->current, d->desired);
        if (d->desired > target)
                acs_policy_reason_append(d, " (of %u: scale-down limit %s)", target, limit);
}

AcsScaleAction acs_policy_decide_bounded(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                         const AcsScaleInput *in, AcsScaleDecision *d) {
        unsigned bounded, window_max;

        d->recommended = MAX(d->by_cpu, d->by_inflight);
        bounded = CLAMP(d->recommended, p->min_replicas, p->max_replicas);

        acs_scale_history_record(h, now, bounded);
        window_max = history_window_max(h, now, p->scale_down_window);

        if (bounded > d->current)
                decide_out(p, h, now, in, bounded, d);
        else if (bounded < d->current) {
                if (window_max >= d->current) {
                        d->desired = d->current;
                        d->action = ACS_SCALE_HOLD;
                        d->held_by = "window";
                        acs_policy_reason_append(d, ": %u -> %u held by the %llus window (max %u)", d->current,
                                                 bounded, (unsigned long long) (p->scale_down_window / USEC_PER_SEC),
                                                 window_max);
                } else
                        decide_in(p, h, now, MAX(window_max, bounded), d);
        } else {
                d->desired = d->current;
                if (d->recommended > p->max_replicas) {
                        d->action = ACS_SCALE_HOLD;
                        d->held_by = "max replicas";
                        acs_policy_reason_append(d, ": %u -> %u held by max replicas %u", d->current, d->recommended,
                                                 p->max_replicas);
                } else if (d->recommended < p->min_replicas && d->recommended < d->current) {
                        d->action = ACS_SCALE_HOLD;
                        d->held_by = "min replicas";
                        acs_policy_reason_append(d, ": %u -> %u held by min replicas %u", d->current, d->recommended,
                                                 p->min_replicas);
                } else {
                        d->action = ACS_SCALE_NONE;
                        acs_policy_reason_append(d, ": %u", d->current);
                }
        }
        return d->action;
}

static AcsScaleAction decide_acs(const AcsPolicy *p, AcsScaleHistory *h, usec_t now, const AcsScaleInput *in,
                                 AcsScaleDecision *d) {
        d->by_cpu = recommend_by_cpu(p, in, d->current);
        d->by_inflight = recommend_by_inflight(p, in, d->current);

        if (in->ready > 0)
                acs_policy_reason_append(d, "cpu %.2f %s target %.2f", in->cpu,
                                         acs_policy_compare(in->cpu, p->target_cpu, p->tolerance), p->target_cpu);
        else
                acs_policy_reason_append(d, "cpu n/a (no ready container)");
        if (p->target_inflight > 0)
                acs_policy_reason_append(d, ", in-flight %.1f %s target %.1f per container", in->inflight,
                                         acs_policy_compare(in->inflight, in->ready * p->target_inflight, p->tolerance),
                                         p->target_inflight);
        acs_policy_reason_append(d, " over %u ready", in->ready);
        if (in->starting > 0)
                acs_policy_reason_append(d, " + %u starting", in->starting);
        acs_policy_reason_append(d, " (recommend cpu %u, in-flight %u)", d->by_cpu, d->by_inflight);

        return acs_policy_decide_bounded(p, h, now, in, d);
}

AcsScaleAction acs_policy_decide(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                 const AcsScaleInput *in, AcsScaleDecision *ret) {
        AcsScaleDecision d = { .current = in->replicas };

        switch (p->kind) {
        case ACS_POLICY_HPA_DEFAULT:
                (void) acs_policy_decide_hpa(p, h, now, in, &d);
                break;
        case ACS_POLICY_SEED:
                (void) acs_policy_decide_seed(p, h, now, in, &d);
                break;
        default:
                (void) decide_acs(p, h, now, in, &d);
                break;
        }
        *ret = d;
        return d.action;
}

bool acs_policy_vm_full(const AcsPolicy *p, double utilization_sum, unsigned capacity) {
        return p->kind == ACS_POLICY_SEED && capacity > 0 && utilization_sum / capacity > ACS_POLICY_SEED_VM_FULL;
}

static double fill(const AcsPlacementVm *vm) {
        return vm->capacity > 0 ? (double) vm->used / vm->capacity : 1.0;
}

static bool name_before(const AcsPlacementVm *a, const AcsPlacementVm *b) {
        return a->name && b->name && strcmp(a->name, b->name) < 0;
}

/* Placement order: activated earlier, then by name, so that equal VMs are always taken in the
 * same order whatever order they registered in. */
static bool earlier(const AcsPlacementVm *a, const AcsPlacementVm *b) {
        return a->rank < b->rank || (a->rank == b->rank && name_before(a, b));
}

int acs_placement_pick_add(AcsPlacement mode, const AcsPlacementVm *vms, size_t n) {
        int best = -ENOSPC;

        for (size_t i = 0; i < n; i++) {
                const AcsPlacementVm *v = vms + i, *b;

                if (!v->active || v->used >= v->capacity)
                        continue;
                if (best < 0) {
                        best = (int) i;
                        continue;
                }
                b = vms + best;
                if (mode == ACS_PLACEMENT_BINPACK) {
                        /* Fill the VM activated first before touching the next. */
                        if (v->rank < b->rank || (v->rank == b->rank && name_before(v, b)))
                                best = (int) i;
                } else if (fill(v) < fill(b) ||
                           (fill(v) == fill(b) && (v->cpu < b->cpu || (v->cpu == b->cpu && earlier(v, b)))))
                        best = (int) i;
        }
        return best;
}

int acs_placement_pick_remove(AcsPlacement mode, const AcsPlacementVm *vms, size_t n) {
        int best = -ENOENT;

        for (size_t i = 0; i < n; i++) {
                const AcsPlacementVm *v = vms + i, *b;

                if (v->removable == 0)
                        continue;
                if (best < 0) {
                        best = (int) i;
                        continue;
                }
                b = vms + best;
                /* Containers on standby VMs go first: they should not be there at all. */
                if (v->active != b->active) {
                        if (!v->active)
                                best = (int) i;
                        continue;
                }
                if (mode == ACS_PLACEMENT_BINPACK) {
                        if (earlier(b, v))
                                best = (int) i;
                } else if (fill(v) > fill(b) || (fill(v) == fill(b) && earlier(b, v)))
                        best = (int) i;
        }
        return best;
}

unsigned acs_placement_plan(AcsPlacement mode, AcsPlacementVm *vms, size_t n, int count, int *ret_delta) {
        unsigned placed = 0, todo = count < 0 ? (unsigned) -count : (unsigned) count;

        for (; placed < todo; placed++) {
                int i = count > 0 ? acs_placement_pick_add(mode, vms, n) : acs_placement_pick_remove(mode, vms, n);

                if (i < 0)
                        break;
                if (count > 0) {
                        vms[i].used++;
                        vms[i].removable++;
                        ret_delta[i]++;
                } else {
                        vms[i].used--;
                        vms[i].removable--;
                        ret_delta[i]--;
                }
        }
        return placed;
}

unsigned acs_placement_free_active(const AcsPlacementVm *vms, size_t n) {
        unsigned free_slots = 0;

        for (size_t i = 0; i < n; i++)
                if (vms[i].active && vms[i].used < vms[i].capacity)
                        free_slots += vms[i].capacity - vms[i].used;
        return free_slots;
}

int acs_placement_pick_activate(const AcsPolicy *p, const AcsPlacementVm *vms, size_t n, unsigned wanted,
                                char *reason, size_t reason_size) {
        unsigned free_slots = acs_placement_free_active(vms, n);
        unsigned left = free_slots > wanted ? free_slots - wanted : 0;
        int best = -ENOENT;

        if (reason_size > 0)
                reason[0] = 0;
        if (left >= p->vm_headroom && wanted <= free_slots)
                return -ENOENT;

        for (size_t i = 0; i < n; i++) {
                if (vms[i].active || vms[i].capacity == 0)
                        continue;
                if (best < 0 || earlier(vms + i, vms + best))
                        best = (int) i;
        }

        if (reason_size > 0) {
                if (wanted > free_slots)
                        (void) snprintf(reason, reason_size,
                                        "%u more containers wanted, %u free slots on active VMs", wanted,
                                        free_slots);
                else
                        (void) snprintf(reason, reason_size,
                                        "free slots on active VMs %u (after %u more) < headroom %u", left,
                                        wanted, p->vm_headroom);
        }
        return best;
}

bool acs_placement_may_standby(const AcsPolicy *p, const AcsPlacementVm *vms, size_t n, size_t i,
                               usec_t empty_since, usec_t now) {
        unsigned others_active = 0, others_free = 0;

        if (i >= n || !vms[i].active || vms[i].used > 0 || empty_since == 0 ||
            now < empty_since + p->vm_standby_delay)
                return false;

        for (size_t k = 0; k < n; k++) {
                if (k == i || !vms[k].active)
                        continue;
                others_active++;
                if (vms[k].used < vms[k].capacity)
                        others_free += vms[k].capacity - vms[k].used;
        }
        return others_active > 0 && others_free >= p->vm_headroom;
}
