/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Scaling and placement decisions as pure functions: no I/O, no clock of their own, so that the
 * VIM (across VMs) and the VMM (within one VM) take the same decisions and unit tests can replay
 * any sequence of inputs.
 *
 * Scaling: two recommendations, the larger wins.
 *   - target tracking on CPU: desired = ceil(ready × utilization / target_cpu), no change while
 *     utilization / target_cpu is within 1 ± tolerance;
 *   - concurrency (the leading signal, since CPU saturates at the limit):
 *     desired = ceil(total in-flight / target_inflight), same tolerance band.
 * Starting containers count neither as capacity nor by their CPU. Scale-up is bounded to double
 * (at least +1) per step; scale-down takes the largest recommendation seen over the
 * stabilization window, so a load that swings around the target does not make the count flap.
 *
 * Placement: spread (least loaded active VM) or binpack (fill one VM first), never beyond a VM's
 * capacity; scale-in takes from the VM that placement would empty first. Standby VMs are
 * activated while the free slots on active VMs fall short of a headroom margin.
 *
 * Two more policies exist to compare against (AcsPolicyKind): the Kubernetes HPA's defaults
 * (acs-policy-hpa.c) and the thresholds of the design ACS grew from (acs-policy-seed.c).
 *
 * Every function that decides fills a human-readable reason naming its inputs.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "acs-time.h"

#define ACS_POLICY_REASON_MAX 512
#define ACS_POLICY_HISTORY_MAX 1024

/* hpa-default: Kubernetes' defaults (kube-controller-manager --horizontal-pod-autoscaler-*,
 * and pkg/apis/autoscaling/v2/defaults.go for the behavior). */
#define ACS_POLICY_HPA_SYNC_PERIOD (15 * USEC_PER_SEC)
#define ACS_POLICY_HPA_TOLERANCE 0.1
#define ACS_POLICY_HPA_DOWN_WINDOW (300 * USEC_PER_SEC)
#define ACS_POLICY_HPA_UP_PODS 4
#define ACS_POLICY_HPA_UP_PERCENT 100
#define ACS_POLICY_HPA_DOWN_PERCENT 100
#define ACS_POLICY_HPA_RATE_PERIOD (15 * USEC_PER_SEC)

/* seed: the original design's thresholds. */
#define ACS_POLICY_SEED_ADD_ABOVE 0.60
#define ACS_POLICY_SEED_REMOVE_BELOW 0.30
#define ACS_POLICY_SEED_VM_FULL 0.80
#define ACS_POLICY_SEED_SAMPLES 5

typedef enum AcsPlacement {
        ACS_PLACEMENT_SPREAD,
        ACS_PLACEMENT_BINPACK,
        _ACS_PLACEMENT_MAX,
} AcsPlacement;

/* Which algorithm decides the replica count. */
typedef enum AcsPolicyKind {
        ACS_POLICY_ACS,             /* the policy described above */
        ACS_POLICY_HPA_DEFAULT,     /* Kubernetes HPA with its defaults, CPU only, every 15 s */
        ACS_POLICY_SEED,            /* the original design: 60 %/30 % per container, no scale-in */
        _ACS_POLICY_KIND_MAX,
        _ACS_POLICY_KIND_INVALID = -EINVAL,
} AcsPolicyKind;

/* A rate limit, as HPA's behavior policies: at most this many containers added (or removed)
 * per period, or this percent of the count at the period's start, the larger when both are
 * set; at least one either way. */
typedef struct AcsScaleLimit {
        unsigned pods;              /* 0: percent applies */
        unsigned percent;           /* 0: pods applies */
        usec_t period;              /* 0: per decision */
} AcsScaleLimit;

/* "4" (containers) or "50%"; -EINVAL otherwise. The period is left as it was. */
int acs_scale_limit_parse(const char *s, AcsScaleLimit *l);

typedef struct AcsPolicy {
        AcsPolicyKind kind;
        double target_cpu;          /* utilization of a container against its CPU limit, 0.05..1 */
        double target_inflight;     /* in-flight requests per ready container; 0 disables the rule */
        double tolerance;           /* band around the target where nothing changes, e.g. 0.1 */
        unsigned min_replicas;
        unsigned max_replicas;
        usec_t scale_down_window;   /* stabilization window for scale-in */
        AcsPlacement placement;
        unsigned vm_headroom;       /* free slots on active VMs below which a standby VM is activated */
        usec_t vm_standby_delay;    /* how long an emptied VM stays active before standby */
        bool dry_run;
        AcsScaleLimit scale_up_limit;   /* default 100% per decision: at most double */
        AcsScaleLimit scale_down_limit; /* default 100% per 15 s: no bound, as HPA's default */
} AcsPolicy;

void acs_policy_init(AcsPolicy *p);
/* 0 if every field is within its range, else -EINVAL with *ret_what naming the field. */
int acs_policy_validate(const AcsPolicy *p, const char **ret_what);

const char *acs_placement_to_string(AcsPlacement p);
int acs_placement_from_string(const char *s); /* AcsPlacement or -EINVAL */
const char *acs_policy_kind_to_string(AcsPolicyKind k);
AcsPolicyKind acs_policy_kind_from_string(const char *s);

/* What the service looks like right now. */
typedef struct AcsScaleInput {
        unsigned replicas;        /* the count the service converges to now (the last desired): what
                                   * holds inside the band, also while some are lost or starting */
        unsigned ready;           /* ready containers: the capacity that serves */
        unsigned starting;        /* created, not yet ready: neither capacity nor judged by CPU */
        double cpu;               /* mean utilization of the ready containers against their limit */
        double inflight;          /* total in-flight requests over the ready containers */
        unsigned capacity;        /* slots on every reachable VM, active or standby */
} AcsScaleInput;

typedef enum AcsScaleAction {
        ACS_SCALE_NONE,   /* in the band, or at the recommendation */
        ACS_SCALE_OUT,
        ACS_SCALE_IN,
        ACS_SCALE_HOLD,   /* the signal says change, but a window, max or capacity holds it */
} AcsScaleAction;

typedef struct AcsScaleDecision {
        AcsScaleAction action;
        unsigned current;         /* the replicas of the input */
        unsigned desired;         /* what to converge to now */
        unsigned recommended;     /* the raw recommendation before rate, window and bounds */
        unsigned by_cpu, by_inflight;
        const char *held_by;      /* for ACS_SCALE_HOLD: "window", "max replicas", "min replicas", "capacity",
                                   * "scale-down limit" */
        char reason[ACS_POLICY_REASON_MAX];
} AcsScaleDecision;

/* The recommendations of the last window, for scale-down stabilization. */
typedef struct AcsScaleHistory {
        struct {
                usec_t time;
                unsigned recommendation;
        } entries[ACS_POLICY_HISTORY_MAX];
        size_t head, n;
        /* the periods of the rate limits: since when, from which count */
        usec_t up_since, down_since;
        unsigned up_base, down_base;
        /* hpa-default: the last sync, and the CPU readings since (its metric's resolution) */
        usec_t sync_last;
        double cpu_sum;
        unsigned cpu_n;
        /* seed: the last readings, for its moving average */
        double samples[ACS_POLICY_SEED_SAMPLES];
        unsigned n_samples, next_sample;
} AcsScaleHistory;

void acs_scale_history_reset(AcsScaleHistory *h);
/* Records a count set by hand, so the scale-down window holds it like a recommendation. */
void acs_scale_history_record(AcsScaleHistory *h, usec_t now, unsigned replicas);

/*
 * Decides the replica count for now. Records the recommendation in h (call it once per
 * evaluation, with a clock that never goes backwards). Returns the action, also in ret->action.
 */
AcsScaleAction acs_policy_decide(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                 const AcsScaleInput *in, AcsScaleDecision *ret);

const char *acs_scale_action_to_string(AcsScaleAction a);

/* One VM as placement sees it. */
typedef struct AcsPlacementVm {
        const char *name;
        bool active;          /* false: standby (reachable, not used) */
        unsigned capacity;
        unsigned used;        /* containers occupying a slot: starting, ready and draining */
        unsigned removable;   /* of those, ready or starting ones that scale-in may take */
        double cpu;           /* CPUs in use, the tie-breaker for spread */
        unsigned rank;        /* activation order; later-activated VMs are emptied first */
} AcsPlacementVm;

/*
 * Whether a VM whose containers' utilization adds up to utilization_sum (each against its own
 * limit) counts as full although it has free slots: the seed policy's "a VM above 80 % is full".
 * Never for the other policies.
 */
bool acs_policy_vm_full(const AcsPolicy *p, double utilization_sum, unsigned capacity);

/* Index of the active VM that gets the next container, or -ENOSPC when every active VM is full. */
int acs_placement_pick_add(AcsPlacement mode, const AcsPlacementVm *vms, size_t n);
/* Index of the VM that gives up a container on scale-in, or -ENOENT when none has a removable one. */
int acs_placement_pick_remove(AcsPlacement mode, const AcsPlacementVm *vms, size_t n);

/*
 * Spreads count additions (count > 0) or removals (count < 0) over vms, updating used and
 * removable as it goes and adding to ret_delta[i] (n entries, zeroed by the caller). Returns the
 * number placed, which is less than |count| when capacity or removable containers run out.
 */
unsigned acs_placement_plan(AcsPlacement mode, AcsPlacementVm *vms, size_t n, int count, int *ret_delta);

/* Sum of free slots on active VMs. */
unsigned acs_placement_free_active(const AcsPlacementVm *vms, size_t n);

/*
 * Whether a standby VM should be activated so the next scale-out never waits: when the free
 * slots on active VMs (after placing `wanted` more containers) fall below headroom. Returns the
 * index of the standby VM to activate (lowest rank first), or -ENOENT when none is needed or
 * none is left; the reason is filled in either case when an activation was wanted.
 */
int acs_placement_pick_activate(const AcsPolicy *p, const AcsPlacementVm *vms, size_t n, unsigned wanted,
                                char *reason, size_t reason_size);

/*
 * Whether active VM i, empty since empty_since (0 = not empty), may return to standby at now:
 * it has been empty for vm_standby_delay, it is not the last active VM, and the other active
 * VMs keep at least headroom free slots.
 */
bool acs_placement_may_standby(const AcsPolicy *p, const AcsPlacementVm *vms, size_t n, size_t i,
                               usec_t empty_since, usec_t now);
