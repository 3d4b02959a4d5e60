/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The front proxy's live counts: org.acs.Proxy1.GetBackendStats() once a second. In-flight per
 * backend is the scaler's leading signal; the totals feed the API and /metrics.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "acs-time.h"

typedef struct VimManager VimManager;

typedef struct VimProxyStats {
        VimManager *manager;
        sd_bus *bus;                    /* our own bus, or the one [Proxy] BusAddress= names */
        bool own_bus;
        sd_event_source *timer;
        sd_bus_slot *call;              /* the call in flight */

        bool available;                 /* the last call was answered */
        uint64_t requests_total, errors_total;
        uint32_t in_flight;
        double requests_per_s;
        double p99_ms;                  /* the largest backend p99 over the proxy's last 10 s */
        uint64_t prev_requests;
        usec_t prev_time;
} VimProxyStats;

int vim_proxy_stats_start(VimManager *m);
VimProxyStats *vim_proxy_stats_free(VimProxyStats *p);
