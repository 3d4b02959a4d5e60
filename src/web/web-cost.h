/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The cost model of acs-web. A "user" sends one request a second, and each request burns half
 * of the container's CPU share over one second: with a limit of 0.5 CPU, 250 ms of CPU time.
 * So one user keeps a container at 50 % of its limit, and two users saturate it.
 */

#include <stdatomic.h>
#include <stdbool.h>

#include "acs-time.h"
#include "web-cgroup.h"

typedef struct WebCost {
        double cpus;            /* the CPU limit the cost is derived from */
        const char *source;     /* where cpus came from: "cgroup v1", "cgroup v2", "ACS_WEB_CPU", "default" */
        double cost_ms;         /* CPU time each request burns unless it asks otherwise */
        bool fixed;             /* cost_ms came from ACS_WEB_COST_MS, not from the limit */
} WebCost;

/* With neither a cgroup limit nor ACS_WEB_CPU, requests cost as in a container of one CPU. */
#define WEB_DEFAULT_CPUS 1.0

/* CPU time per request for a container limited to cpus: half of its share over one second. */
double web_cost_ms_for_cpus(double cpus);

/*
 * Decides the cost: the cgroup limit under root, else env_cpu (ACS_WEB_CPU) when set, else
 * WEB_DEFAULT_CPUS; env_cost_ms (ACS_WEB_COST_MS) overrides the per-request cost.
 * Returns -EINVAL when an environment value is not a number in range (0 < cpu <= 1024,
 * 0 <= cost_ms <= max_cost_ms).
 */
int web_cost_resolve(const char *root, const char *env_cpu, const char *env_cost_ms, double max_cost_ms,
                     WebCost *ret);

/* Parses a cost in milliseconds ("250", "12.5") within [0, max_ms]; -EINVAL otherwise. */
int web_cost_parse_ms(const char *s, size_t len, double max_ms, double *ret_ms);

/* Burns CPU doing real arithmetic until this thread has used cost of CPU time (measured with
 * CLOCK_THREAD_CPUTIME_ID, so time spent waiting for the CPU does not count), or until *cancel
 * (may be NULL) becomes true. Returns the CPU time actually used. */
usec_t web_burn_cpu(usec_t cost, const atomic_bool *cancel);
