/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Latency samples and what a load run reports about them: exact percentiles (nearest rank
 * over every sample, no histogram buckets), and request counts per answering VM and
 * container.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acs-time.h"

typedef struct LoadSamples {
        uint32_t *usec;         /* latencies, clamped to UINT32_MAX (71 minutes) */
        size_t n;
        size_t alloc;
        bool sorted;
} LoadSamples;

int load_samples_add(LoadSamples *s, usec_t latency);
void load_samples_clear(LoadSamples *s);
void load_samples_done(LoadSamples *s);
/* Nearest-rank percentile, p in [0, 100]: the smallest sample that at least p% of the samples
 * are less than or equal to (p = 0 gives the minimum). Sorts the samples in place. 0 when
 * there are none. */
usec_t load_samples_percentile(LoadSamples *s, double p);

static inline double usec_to_ms(usec_t u) {
        return (double) u / 1000.0;
}

/* A count per name (a VM, or "vm/container"), kept in first-seen order. */
typedef struct LoadCount {
        char *name;
        uint64_t count;
        usec_t first_sent;      /* the first request this name answered: when it was sent ... */
        usec_t first_answered;  /* ... and answered (both since the run started; 0 = not set) */
} LoadCount;

typedef struct LoadCounts {
        LoadCount *items;
        size_t n;
} LoadCounts;

int load_counts_add(LoadCounts *c, const char *name, uint64_t n);
/* Adds one answer from name, sent and answered at the given times; the first one is kept. */
int load_counts_add_answer(LoadCounts *c, const char *name, usec_t sent, usec_t answered);
uint64_t load_counts_get(const LoadCounts *c, const char *name);
void load_counts_clear(LoadCounts *c);
