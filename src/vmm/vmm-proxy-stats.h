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

int vmm_proxy_stats_new(VmmManager *m, VmmProxyStats **ret);
VmmProxyStats *vmm_proxy_stats_free(VmmProxyStats *p);
