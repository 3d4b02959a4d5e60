/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Active health checks (HealthCheckInterval= > 0): every interval, "GET /healthz" to each
 * backend of the set in force, from the main thread. HealthCheckFall= failures in a row mark a
 * backend down (no new requests); HealthCheckRise= successes in a row bring it back, through
 * the slow-start ramp. A check fails on a connect error, a timeout (the interval, at most 2 s)
 * or any status but 2xx.
 */

typedef struct Manager Manager;
typedef struct HealthChecker HealthChecker;

int health_checker_new(Manager *m, HealthChecker **ret);
HealthChecker *health_checker_free(HealthChecker *h);
