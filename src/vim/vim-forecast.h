/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What boot-time-aware headroom needs, as pure functions (no clock of their own, unit-tested):
 * each VM's time from power-on to its VMM registering, as a moving median that starts from a
 * configured guess, and the demand projected that far ahead from the recent growth of the
 * desired replica count.
 */

#include <stddef.h>

#include "acs-time.h"

#define VIM_BOOT_SAMPLES 7

typedef struct VimBootTimes {
        usec_t guess;                           /* until the first sample */
        usec_t samples[VIM_BOOT_SAMPLES];       /* the last ones, oldest overwritten */
        unsigned n, next;
} VimBootTimes;

void vim_boot_times_add(VimBootTimes *b, usec_t t);
/* The median of the samples, or the guess when there are none. */
usec_t vim_boot_times_median(const VimBootTimes *b);

/* The desired replica count over the last VIM_DEMAND_WINDOW, sampled by the scaler. */
#define VIM_DEMAND_SAMPLES 32
#define VIM_DEMAND_WINDOW (30 * USEC_PER_SEC)

typedef struct VimDemand {
        struct {
                usec_t at;
                unsigned desired;
        } samples[VIM_DEMAND_SAMPLES];
        unsigned n, next;
} VimDemand;

void vim_demand_record(VimDemand *d, usec_t now, unsigned desired);
/*
 * The desired count projected `ahead` from now: the latest count plus its growth per second
 * over the window (from the lowest sample in the window to the latest; a falling or flat demand
 * projects as itself). Never below the latest count.
 */
double vim_demand_project(const VimDemand *d, usec_t now, usec_t ahead);
