/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * In two-tier routing a VM-side acs-proxy, on this VM's bus, is the only one that sees each
 * container's requests. When it is there, its per-backend in-flight counts are read four times
 * a second and reported to the VIM with the containers, as the leading signal for scaling;
 * a rise is reported at once rather than with the next once-a-second metrics.
 */

typedef struct VmmManager VmmManager;
typedef struct VmmProxyStats VmmProxyStats;

#include <stdbool.h>
#include <stdint.h>

typedef struct VmmContainer VmmContainer;

int vmm_proxy_stats_new(VmmManager *m, VmmProxyStats **ret);
/* Whether a VM-side proxy answered the last reading. */
bool vmm_proxy_stats_present(const VmmProxyStats *p);
/* What the VIM hears as the container's in-flight requests: at least 1 while it drains and the
 * VM-side proxy does not list it as draining yet. */
uint32_t vmm_container_reported_in_flight(const VmmContainer *c);
VmmProxyStats *vmm_proxy_stats_free(VmmProxyStats *p);
