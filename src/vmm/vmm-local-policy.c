/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-engine.h"
#include "vmm-manager.h"
#include "vmm-proxy-stats.h"

/* Whether the local policy may act now: no VIM is configured, or it has been away for longer
 * than AutonomyGrace=. */
static bool local_policy_may_act(VmmManager *m, usec_t now) {
        if (!m->settings.local_scaling || m->state != VMM_STATE_ACTIVE || !vmm_engine_is_synced(m->engine) || vmm_manager_vim_connected(m))
                return false;
        return !m->uplink || now >= m->vim_away_since + m->settings.autonomy_grace;
}

/*
 * While the VIM is away for longer than the grace, this VM scales itself with the VIM's own rule
 * (acs-policy.h). Without a VM-side proxy (direct routing) the front proxy, fed only by the VIM,
 * may still route to any of our containers, so none is removed then; an added one serves once the
 * VIM is back and adopts it. What we did is reported when the link returns.
 */
void vmm_local_policy_run(VmmManager *m, usec_t now) {
        AcsPolicy policy;
        AcsScaleDecision d;
        AcsScaleInput in = {
                .replicas = m->desired,
                .ready = vmm_manager_count(m, vmm_container_is_ready),
                .starting = vmm_manager_count(m, vmm_container_is_starting),
                .cpu = m->utilization,
                .capacity = m->settings.capacity,
        };
        bool direct = m->uplink && !vmm_proxy_stats_present(m->proxy_stats);
        char buf[256];

        if (!local_policy_may_act(m, now))
                return;

        acs_policy_init(&policy);
        policy.target_cpu = m->settings.target_cpu;
        policy.target_inflight = 0;     /* the VMM does not see requests, only CPU */
        policy.tolerance = m->settings.tolerance;
        policy.min_replicas = m->settings.min_containers;
        policy.max_replicas = m->settings.capacity;
        policy.scale_down_window = m->settings.scale_down_window;

        (void) acs_policy_decide(&policy, &m->history, now, &in, &d);
        /* The rule speaks of what serves; act only where it moves the count we keep the same
         * way (a recommendation made while containers are still starting is not a scale-in). */
        if (!((d.action == ACS_SCALE_OUT && d.desired > m->desired) ||
              (d.action == ACS_SCALE_IN && d.desired < m->desired && in.starting == 0)))
                return;
        if (d.action == ACS_SCALE_IN && direct) {
                log_debug("Local policy (VIM away): not removing containers the front proxy may still route to: %s",
                          d.reason);
                return;
        }
        if (m->uplink)
                log_event(LOG_INFO, d.action == ACS_SCALE_OUT ? "scale-out" : "scale-in", m->settings.name, NULL,
                          "Local policy (VIM away for %.0f s): %u -> %u containers: %s",
                          (double) (now - m->vim_away_since) / USEC_PER_SEC, m->desired, d.desired, d.reason);
        else
                log_event(LOG_INFO, d.action == ACS_SCALE_OUT ? "scale-out" : "scale-in", m->settings.name, NULL,
                          "Local policy (no VIM): %u -> %u containers: %s", m->desired, d.desired, d.reason);
        if (d.desired > m->desired)
                m->local_added += d.desired - m->desired;
        else
                m->local_drained += m->desired - d.desired;
        (void) vmm_manager_scale_to(m, d.desired, "local policy", buf, sizeof(buf));
}
