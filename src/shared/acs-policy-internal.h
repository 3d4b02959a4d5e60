/* SPDX-License-Identifier: MIT */
#pragma once

/* What the policies of acs-policy.c, acs-policy-hpa.c and acs-policy-seed.c share. */

#include "acs-macro.h"
#include "acs-policy.h"

void acs_policy_reason_append(AcsScaleDecision *d, const char *format, ...) _printf_(2, 3);
/* "~" inside the tolerance band around target, else ">" or "<". */
const char *acs_policy_compare(double v, double target, double tolerance);
bool acs_policy_in_band(double ratio, double tolerance);
/* ceil() that does not round 3 × 1.5 up to 5, and never overflows. */
unsigned acs_policy_ceil_count(double x);

/*
 * From d->current and the recommendations in d->by_cpu and d->by_inflight (and the reason so far):
 * min/max replicas, the scale-down window and both rate limits of p. Records the recommendation
 * in h.
 */
AcsScaleAction acs_policy_decide_bounded(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                         const AcsScaleInput *in, AcsScaleDecision *d);

AcsScaleAction acs_policy_decide_hpa(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                     const AcsScaleInput *in, AcsScaleDecision *ret);
AcsScaleAction acs_policy_decide_seed(const AcsPolicy *p, AcsScaleHistory *h, usec_t now,
                                      const AcsScaleInput *in, AcsScaleDecision *ret);
