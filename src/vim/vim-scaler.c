/* SPDX-License-Identifier: MIT */
/*
 * The scaler runs the policy once a second: it marks silent VMs unreachable, moves drains
 * along, decides the replica count (acs-policy.h) and turns the decision into orders through
 * placement. Every decision, and every decision held back while the signal is outside the
 * band, is logged once with its inputs.
 */
#include <math.h>
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-backends.h"
#include "vim-manager.h"
#include "vim-provider.h"
#include "vim-state.h"

#define SCALER_INTERVAL USEC_PER_SEC
/* The proxy's in-flight counts may bring the next decision forward, but not closer than this
 * to the last one: scale-up is fast, not frantic. */
#define SCALER_POKE_MIN (250 * USEC_PER_MSEC)
#define HOLD_LOG_INTERVAL (60 * USEC_PER_SEC)

/* Containers on VMs that count: reachable, and not being drained away. */
static bool vm_counts(const VimVm *vm) {
        return vim_vm_is_reachable(vm) && vm->state != VIM_VM_DRAINING;
}

static void scaler_input(VimManager *m, usec_t now, AcsScaleInput *ret) {
        AcsScaleInput in = {};
        double cpu = 0;

        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];
                unsigned draining = 0;

                if (!vm_counts(vm))
                        continue;
                for (size_t k = 0; k < vm->n_containers; k++) {
                        VimContainer *c = vm->containers[k];

                        switch (vim_container_effective_state(c)) {
                        case ACS_CONTAINER_READY:
                                in.ready++;
                                cpu += c->cpu;
                                in.inflight += vim_container_in_flight(c, now);
                                break;
                        case ACS_CONTAINER_STARTING:
                                in.starting++;
                                break;
                        default:
                                draining++;
                                break;
                        }
                }
                in.starting += vm->pending_adds;
                in.capacity += vm->capacity > draining ? vm->capacity - draining : 0;
        }
        in.cpu = in.ready > 0 ? cpu / in.ready : 0;
        *ret = in;
}

void vim_scaler_leading_signal(VimManager *m) {
        usec_t now = now_usec(CLOCK_MONOTONIC), next;
        AcsScaleInput in;

        /* Only ACS's own policy reads the in-flight counts; the others keep their own clocks. */
        if (!m->scaler_timer || !m->decided_once || m->policy.kind != ACS_POLICY_ACS ||
            m->policy.target_inflight <= 0)
                return;
        scaler_input(m, now, &in);
        /* Only a load that asks for more containers than decided: CPU lags by a second or more,
         * and a waiting request is the earliest sign of a step. */
        if (in.ready == 0 || in.inflight <= in.ready * m->policy.target_inflight * (1 + m->policy.tolerance) ||
            ceil(in.inflight / m->policy.target_inflight) <= m->desired)
                return;
        if (sd_event_source_get_time(m->scaler_timer, &next) < 0)
                return;
        if (next > now && next - SCALER_INTERVAL + SCALER_POKE_MIN <= now)
                (void) sd_event_source_set_time(m->scaler_timer, now);
}

void vim_scaler_count(VimManager *m, unsigned *ret_running, unsigned *ret_ready) {
        AcsScaleInput in;

        scaler_input(m, now_usec(CLOCK_MONOTONIC), &in);
        if (ret_running)
                *ret_running = in.ready + in.starting;
        if (ret_ready)
                *ret_ready = in.ready;
}

static void scaler_check_reachability(VimManager *m, usec_t now) {
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];
                char reason[128];

                vim_vm_expire_pending_adds(vm, now);
                /* Only a VM that is up has a VMM to hear from. */
                if (!vim_vm_is_reachable(vm) || vm->last_seen + m->settings.grace_period >= now)
                        continue;
                (void) snprintf(reason, sizeof(reason), "no metrics for %.1f s (grace %.1f s)%s",
                                (double) (now - vm->last_seen) / USEC_PER_SEC,
                                (double) m->settings.grace_period / USEC_PER_SEC,
                                vm->link ? "" : ", disconnected");
                vim_vm_set_state(vm, VIM_VM_UNREACHABLE, "vm-unreachable", reason);
                /* Its pending adds will not arrive through us. */
                vim_vm_forget_orders(vm);
        }
}

/*
 * Whether whoever routes to the container confirmed its drain, rather than the VIM assuming so
 * after a while. The front proxy, when it lists the container (direct routing): a reading taken
 * after the drain began shows it "draining" (the proxy applied a set without it as a target) and
 * nothing in flight to it. Otherwise (two-tier routing: the VM-side proxy routes to it; or no
 * proxy at all): its VMM reports it draining with nothing in flight; the VMM counts a draining
 * container its VM-side proxy still routes to as busy.
 */
static bool container_drain_confirmed(const VimContainer *c) {
        if (c->proxy_seen > 0)
                return c->proxy_seen > c->drain_started && streq(c->proxy_health, "draining") &&
                       c->proxy_in_flight == 0;
        return c->state == ACS_CONTAINER_DRAINING && c->in_flight == 0;
}

/* Orders the removal of drained containers: once their drain is confirmed, or when DrainTimeout=
 * (the only drain clock; the VMM got it with the drain order) has passed. */
static void scaler_advance_drains(VimManager *m, usec_t now) {
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                if (!vim_vm_can_order(vm))
                        continue;
                for (size_t k = 0; k < vm->n_containers; k++) {
                        VimContainer *c = vm->containers[k];
                        uint32_t in_flight = vim_container_in_flight(c, now);
                        usec_t elapsed;
                        bool drained;
                        int r;

                        if (c->drain_started == 0 || c->remove_sent)
                                continue;
                        elapsed = now - c->drain_started;
                        drained = container_drain_confirmed(c);
                        if (!drained && elapsed < m->settings.drain_timeout)
                                continue;

                        c->remove_sent = true;
                        if (drained)
                                log_event(LOG_INFO, "container-remove", vm->name, c->id,
                                          "Removing %.12s on %s: drained, no request in flight after %.1f s.",
                                          c->id, vm->name, (double) elapsed / USEC_PER_SEC);
                        else
                                log_event(LOG_WARNING, "container-remove", vm->name, c->id,
                                          "Removing %.12s on %s: drain timeout %.0f s passed before the proxy confirmed the drain (%u requests in flight).",
                                          c->id, vm->name, (double) m->settings.drain_timeout / USEC_PER_SEC,
                                          in_flight);
                        r = vim_vm_send_order(vm, ACS_ORDER_REMOVE, 0, c->id);
                        if (r < 0)
                                log_warning_errno(r, "Failed to order removal of %.12s on %s, ignoring: %m", c->id,
                                                  vm->name);
                }
        }
}

/* A VM going to standby: its containers leave once the rest of the service carries the load. */
static void scaler_advance_draining_vms(VimManager *m, usec_t now) {
        unsigned running, ready;

        vim_scaler_count(m, &running, &ready);
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];
                bool changed = false;

                if (vm->state != VIM_VM_DRAINING || !vim_vm_can_order(vm))
                        continue;
                if (vm->n_containers == 0 && vim_vm_can_power(vm)) {
                        (void) vim_power_off(vm, "vm-power-off", "drained");
                        continue;
                }
                if (vm->n_containers == 0) {
                        if (!m->policy.dry_run)
                                (void) vim_vm_send_order(vm, ACS_ORDER_STANDBY, 0, NULL);
                        vim_vm_set_state(vm, VIM_VM_STANDBY, "vm-standby", "drained");
                        vim_placement_run_hook(m, m->settings.standby_command, vm);
                        continue;
                }
                if (ready < m->desired || m->policy.dry_run)
                        continue;
                for (size_t k = 0; k < vm->n_containers; k++) {
                        VimContainer *c = vm->containers[k];

                        if (c->drain_started > 0)
                                continue;
                        c->drain_started = now;
                        (void) vim_vm_send_order(vm, ACS_ORDER_DRAIN, 0, c->id);
                        changed = true;
                }
                if (changed)
                        vim_manager_containers_changed(m, vm);
        }
}

/* Converges the service to `desired` from `current`; fills summary with the per-VM changes. */
static unsigned scaler_apply(VimManager *m, unsigned current, unsigned desired, char *summary, size_t size) {
        summary[0] = 0;
        if (m->policy.dry_run) {
                (void) snprintf(summary, size, "dry run, no orders");
                return 0;
        }
        if (desired > current)
                return vim_placement_add(m, desired - current, summary, size);
        if (desired < current)
                return vim_placement_remove(m, current - desired, summary, size);
        return 0;
}

static void scaler_decide(VimManager *m, usec_t now) {
        AcsScaleInput in;
        AcsScaleDecision d;
        char summary[ACS_POLICY_REASON_MAX], key[64];
        unsigned running, n, done = 0;

        scaler_input(m, now, &in);
        running = in.ready + in.starting;
        in.replicas = m->desired;
        (void) acs_policy_decide(&m->policy, &m->history, now, &in, &d);
        m->desired = d.desired;
        m->n_decisions[d.action]++;

        /* Converge what runs to the decision: this also replaces containers lost with their VM
         * when the count itself does not change. A standby VM comes up first when the active
         * ones lack room. */
        n = d.desired > running ? d.desired - running : running - d.desired;
        if (d.desired > running && !m->policy.dry_run)
                vim_placement_check_headroom(m, n);
        if (n > 0)
                done = scaler_apply(m, running, d.desired, summary, sizeof(summary));

        switch (d.action) {
        case ACS_SCALE_OUT:
        case ACS_SCALE_IN:
                log_event(LOG_NOTICE, acs_scale_action_to_string(d.action), NULL, NULL, "%s (%s)%s", d.reason,
                          n > 0 && summary[0] ? summary : "nothing placed",
                          !m->policy.dry_run && done < n ? ", the rest held by capacity" : "");
                m->last_hold[0] = 0;
                return;
        case ACS_SCALE_HOLD:
                /* Once per episode: the inputs change every second, the cause and count do not.
                 * A signal that wavers around the band edge would otherwise log every other
                 * second; the same hold is repeated at most once a minute. */
                (void) snprintf(key, sizeof(key), "%s/%u", d.held_by, d.current);
                if (!streq(key, m->last_hold) || now >= m->last_hold_logged + HOLD_LOG_INTERVAL) {
                        log_event(LOG_INFO, "scale-hold", NULL, NULL, "%s", d.reason);
                        (void) snprintf(m->last_hold, sizeof(m->last_hold), "%s", key);
                        m->last_hold_logged = now;
                }
                break;
        default:
                log_debug("%s", d.reason);
                break;
        }
        if (n > 0 && done > 0)
                log_event(LOG_NOTICE, "replace", NULL, NULL, "%u desired, %u running: %s", d.desired, running, summary);
}

/* An operator's count is kept until the policy moves away from it; from then on a restart
 * adopts what runs, as without one. */
static void scaler_check_operator_count(VimManager *m) {
        if (!m->operator_desired_held || m->desired == m->operator_desired)
                return;
        log_info("The policy moved from the count of %u an operator set to %u; it is no longer kept.",
                 m->operator_desired, m->desired);
        m->operator_desired_held = false;
        vim_state_save(m);
}

static int scaler_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        VimManager *m = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        (void) sd_event_source_set_time_relative(s, SCALER_INTERVAL);

        /* A standby, or a leader no longer sure of its lease, decides nothing. */
        if (!vim_manager_is_leader(m)) {
                vim_manager_flush_changes(m);
                if (vim_manager_role(m) == VIM_ROLE_STANDBY && vim_manager_bus_own_name(m) < 0)
                        return sd_event_exit(m->event, -EEXIST);
                return 0;
        }
        scaler_check_reachability(m, now);

        /* After a restart, decide nothing until the VMMs had their grace period to register:
         * the model is rebuilt from them, nothing is recreated. A new leader that knows from
         * the store which VMs were up waits only for those. */
        if (now < m->started + m->settings.grace_period && !vim_cluster_model_complete(m)) {
                vim_manager_flush_changes(m);
                return 0;
        }
        if (!m->decided_once) {
                unsigned running, stored;

                /* Adopt what runs as the count to hold: a restart recreates nothing, unless an
                 * operator had set the count (saved in the state file). */
                vim_scaler_count(m, &running, NULL);
                m->desired = m->operator_desired_held ?
                        CLAMP(m->operator_desired, m->policy.min_replicas, m->policy.max_replicas) : running;
                /* In a cluster, the count the previous leader was heading for, if it left one
                 * (never below what runs: scale-in stays the window's decision). */
                if (vim_cluster_take_stored_desired(m, &stored))
                        m->desired = CLAMP(MAX(stored, running), m->policy.min_replicas, m->policy.max_replicas);
                /* ... and as the start of the scale-down window, so a restart never scales in
                 * before the window has seen the load. */
                acs_scale_history_record(&m->history, now, m->operator_desired_held ? m->desired : running);
                m->decided_once = true;
                vim_power_restore(m);
                vim_backends_release(m);
                log_info("Cluster model rebuilt from %zu VMs; deciding from now on%s.", m->n_vms,
                         now < m->started + m->settings.grace_period ?
                         " (every VM up at the previous leader registered again, before GracePeriod= ended)" : "");
                if (vim_manager_bus_own_name(m) < 0)
                        return sd_event_exit(m->event, -EEXIST);
        }

        scaler_advance_drains(m, now);
        scaler_decide(m, now);
        scaler_advance_draining_vms(m, now);
        /* VM decisions run in a dry run too: they log what they would do. */
        vim_placement_check_headroom(m, 0);
        vim_power_check_demand(m, now);
        vim_placement_check_standby(m, now);
        /* The backend set follows every change as it happens (vim_manager_containers_changed()). */
        vim_manager_flush_changes(m);
        scaler_check_operator_count(m);
        vim_cluster_state_changed(m);
        return 0;
}

int vim_scaler_start(VimManager *m) {
        int r;

        r = sd_event_add_time_relative(m->event, &m->scaler_timer, CLOCK_MONOTONIC, SCALER_INTERVAL,
                                       10 * USEC_PER_MSEC, scaler_on_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the scaler timer: %m");
        (void) sd_event_source_set_enabled(m->scaler_timer, SD_EVENT_ON);
        return 0;
}

int vim_scaler_scale_to(VimManager *m, unsigned replicas, const char *who) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        unsigned running, desired = CLAMP(replicas, m->policy.min_replicas, m->policy.max_replicas);
        char summary[ACS_POLICY_REASON_MAX];

        vim_scaler_count(m, &running, NULL);
        acs_scale_history_record(&m->history, now, desired);
        m->desired = m->operator_desired = desired;
        m->operator_desired_held = true;
        vim_state_save(m);
        if (desired > running && !m->policy.dry_run)
                vim_placement_check_headroom(m, desired - running);
        (void) scaler_apply(m, running, desired, summary, sizeof(summary));
        log_event(LOG_NOTICE, "scale", NULL, NULL, "Scale to %u requested by %s%s: %u -> %u (%s)", replicas, who,
                  desired != replicas ? " (bounded by min/max replicas)" : "", running, desired,
                  summary[0] ? summary : "no change");
        (void) vim_backends_update(m);
        return 0;
}

void vim_scaler_adopt(VimManager *m, VimVm *vm, unsigned n, const char *how) {
        /* Before the first decision the count is taken from what runs anyway. */
        if (n == 0 || !m->decided_once)
                return;
        m->desired += n;
        log_event(LOG_INFO, "adopt", vm->name, NULL, "%u containers of VM %s %s: holding %u.", n, vm->name, how,
                  m->desired);
}

int vim_scaler_drain(VimManager *m, const char *container_id, const char *who) {
        VimContainer *c = vim_manager_find_container(m, container_id);

        if (!c)
                return -ENOENT;
        if (c->drain_started > 0)
                return 0;
        if (!vim_vm_can_order(c->vm))
                return -EHOSTUNREACH;
        log_event(LOG_NOTICE, "drain", c->vm->name, c->id, "Drain of %.12s on %s requested by %s%s.", c->id,
                  c->vm->name, who, m->policy.dry_run ? " (dry run, no orders)" : "");
        if (m->policy.dry_run)
                return 0;
        c->drain_started = now_usec(CLOCK_MONOTONIC);
        (void) vim_vm_send_order(c->vm, ACS_ORDER_DRAIN, 0, c->id);
        vim_manager_containers_changed(m, c->vm);
        return 0;
}

int vim_scaler_activate(VimManager *m, VimVm *vm, const char *who) {
        char reason[256];

        if (vim_vm_can_power(vm) && (vm->state == VIM_VM_OFF || vm->state == VIM_VM_FAILED)) {
                (void) snprintf(reason, sizeof(reason), "requested by %s", who);
                return vim_power_on(vm, "vm-power-on", reason);
        }
        if (vm->state == VIM_VM_BOOTING)
                return 0;
        if (!vim_vm_can_order(vm))
                return -EHOSTUNREACH;
        if (vm->state == VIM_VM_ACTIVE)
                return 0;
        (void) snprintf(reason, sizeof(reason), "requested by %s%s", who, m->policy.dry_run ? " (dry run)" : "");
        if (m->policy.dry_run) {
                log_event(LOG_NOTICE, "activate", vm->name, NULL, "Would activate VM %s: %s.", vm->name, reason);
                return 0;
        }
        (void) vim_vm_send_order(vm, ACS_ORDER_ACTIVATE, 0, NULL);
        vim_vm_set_state(vm, VIM_VM_ACTIVE, "activate", reason);
        vim_placement_run_hook(m, m->settings.activate_command, vm);
        return 0;
}

int vim_scaler_standby(VimManager *m, VimVm *vm, const char *who) {
        char reason[256];

        /* Nothing to drain on a VM without a VMM: straight to off. */
        if (vim_vm_can_power(vm) && !vim_vm_is_reachable(vm)) {
                (void) snprintf(reason, sizeof(reason), "requested by %s", who);
                return vim_power_off(vm, "vm-power-off", reason);
        }
        if (!vim_vm_can_order(vm))
                return -EHOSTUNREACH;
        if (vm->state == VIM_VM_STANDBY || vm->state == VIM_VM_DRAINING)
                return 0;
        (void) snprintf(reason, sizeof(reason), "requested by %s", who);
        if (m->policy.dry_run) {
                log_event(LOG_NOTICE, "standby", vm->name, NULL, "Would send VM %s to standby: %s.", vm->name,
                          reason);
                return 0;
        }
        /* Its containers are drained once the others carry the load; then it goes to standby. */
        vim_vm_set_state(vm, VIM_VM_DRAINING, "standby", reason);
        return 0;
}
