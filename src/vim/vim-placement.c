/* SPDX-License-Identifier: MIT */
/*
 * Placement turns "n more" or "n fewer" into orders to particular VMs, with the pure choices of
 * acs-policy.h (spread or binpack, activation by headroom, standby after the delay), and runs
 * the operator's hooks when a VM is activated or sent to standby.
 */
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-spawn.h"
#include "vim-manager.h"
#include "vim-provider.h"

extern char **environ;

/* VMs placement may use: reachable, ordered over the link, active or standby. */
static bool vm_placeable(const VimVm *vm) {
        return vim_vm_can_order(vm) && (vm->state == VIM_VM_ACTIVE || vm->state == VIM_VM_STANDBY);
}

/* What scale-in may take from a VM: never below the minimum its VMM keeps by itself (the
 * registration's min), or the two would undo each other's work. */
static unsigned vm_removable(const VimVm *vm) {
        unsigned n = vim_vm_count_serving(vm);

        return n > vm->min ? n - vm->min : 0;
}

/* Slots placement counts as used: those taken, or all of them when the policy counts the VM as
 * full by its CPU (the seed policy). */
static unsigned vm_used_slots(const VimManager *m, const VimVm *vm) {
        double utilization = 0;

        for (size_t k = 0; k < vm->n_containers; k++)
                utilization += vm->containers[k]->cpu;
        if (acs_policy_vm_full(&m->policy, utilization, vm->capacity))
                return MAX(vm->capacity, vim_vm_used_slots(vm));
        return vim_vm_used_slots(vm);
}

/* What placement sees: the VMs it may use, the VimVm behind each entry, and a plan. */
typedef struct PlacementView {
        AcsPlacementVm *vms;
        VimVm **index;
        int *delta;
        size_t n;
} PlacementView;

static void placement_view_done(PlacementView *v) {
        free(v->vms);
        free(v->index);
        free(v->delta);
}

/* Takes the snapshot: reachable VMs ordered over the link, active or standby. */
static int placement_view_init(VimManager *m, PlacementView *v) {
        *v = (PlacementView) {
                .vms = calloc(m->n_vms + 1, sizeof(*v->vms)),
                .index = calloc(m->n_vms + 1, sizeof(*v->index)),
                .delta = calloc(m->n_vms + 1, sizeof(*v->delta)),
        };
        if (!v->vms || !v->index || !v->delta)
                return log_oom();

        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                if (!vm_placeable(vm))
                        continue;
                v->vms[v->n] = (AcsPlacementVm) {
                        .name = vm->name,
                        .active = vm->state == VIM_VM_ACTIVE,
                        .capacity = vm->capacity,
                        .used = vm_used_slots(m, vm),
                        .removable = vm_removable(vm),
                        .cpu = vm->cpu,
                        .rank = vm->rank,
                };
                v->index[v->n++] = vm;
        }
        return 0;
}

/* A snapshot with a plan for count more (or, negative, fewer) containers in delta[]. */
static int placement_view_plan(VimManager *m, int count, PlacementView *v) {
        int r = placement_view_init(m, v);

        if (r < 0)
                return r;
        (void) acs_placement_plan(m->policy.placement, v->vms, v->n, count, v->delta);
        return 0;
}

static void summary_append(char *summary, size_t size, const char *vm, int delta) {
        size_t l = strlen(summary);

        if (l < size)
                (void) snprintf(summary + l, size - l, "%s%s %+d", l > 0 ? ", " : "", vm, delta);
}

unsigned vim_placement_add(VimManager *m, unsigned n, char *summary, size_t size) {
        _cleanup_(placement_view_done) PlacementView v = {};
        unsigned ordered = 0;

        summary[0] = 0;
        if (placement_view_plan(m, (int) n, &v) < 0)
                return 0;

        for (size_t i = 0; i < v.n; i++) {
                unsigned sent = 0;

                for (int d = 0; d < v.delta[i]; d++) {
                        int r = vim_vm_send_order(v.index[i], ACS_ORDER_ADD, 0, NULL);

                        if (r < 0) {
                                log_warning_errno(r, "Failed to order a container on %s, ignoring: %m",
                                                  v.index[i]->name);
                                break;
                        }
                        sent++;
                }
                if (sent > 0)
                        summary_append(summary, size, v.index[i]->name, (int) sent);
                ordered += sent;
        }
        return ordered;
}

/* Which container of vm goes first: one that serves nothing yet, else the least busy. */
static VimContainer *pick_container_to_remove(VimVm *vm, usec_t now) {
        VimContainer *best = NULL;

        for (size_t k = 0; k < vm->n_containers; k++) {
                VimContainer *c = vm->containers[k];
                AcsContainerState s = vim_container_effective_state(c);

                if (s == ACS_CONTAINER_DRAINING)
                        continue;
                if (!best)
                        best = c;
                else if ((s == ACS_CONTAINER_STARTING) != (best->state == ACS_CONTAINER_STARTING)) {
                        if (s == ACS_CONTAINER_STARTING)
                                best = c;
                } else if (vim_container_in_flight(c, now) < vim_container_in_flight(best, now))
                        best = c;
        }
        return best;
}

unsigned vim_placement_remove(VimManager *m, unsigned n, char *summary, size_t size) {
        _cleanup_(placement_view_done) PlacementView v = {};
        usec_t now = now_usec(CLOCK_MONOTONIC);
        unsigned drained = 0;

        summary[0] = 0;
        if (placement_view_plan(m, -(int) n, &v) < 0)
                return 0;

        for (size_t i = 0; i < v.n; i++) {
                unsigned done = 0;

                for (int d = 0; d < -v.delta[i]; d++) {
                        VimContainer *c = pick_container_to_remove(v.index[i], now);

                        if (!c)
                                break;
                        /* Draining first: the proxy stops sending new requests, the in-flight ones
                         * finish, then scaler_advance_drains() orders the removal. */
                        c->drain_started = now;
                        (void) vim_vm_send_order(v.index[i], ACS_ORDER_DRAIN, 0, c->id);
                        done++;
                }
                if (done > 0)
                        summary_append(summary, size, v.index[i]->name, -(int) done);
                drained += done;
        }
        if (drained > 0)
                vim_manager_containers_changed(m, NULL);
        return drained;
}

void vim_placement_check_headroom(VimManager *m, unsigned wanted) {
        char reason[ACS_POLICY_REASON_MAX];

        /* One VM at a time, until the headroom holds or none is left in standby. */
        for (;;) {
                _cleanup_(placement_view_done) PlacementView v = {};
                int i;

                if (placement_view_init(m, &v) < 0)
                        return;
                i = acs_placement_pick_activate(&m->policy, v.vms, v.n, wanted, reason, sizeof(reason));
                if (i < 0)
                        return;
                if (m->policy.dry_run) {
                        vim_vm_dry_run_decision(v.index[i], "vm-activate", "Would activate VM %s: %s",
                                                v.index[i]->name, reason);
                        return;
                }
                (void) vim_vm_send_order(v.index[i], ACS_ORDER_ACTIVATE, 0, NULL);
                vim_vm_set_state(v.index[i], VIM_VM_ACTIVE, "vm-activate", reason);
                vim_placement_run_hook(m, m->settings.activate_command, v.index[i]);
        }
}

static unsigned placement_count_active(const PlacementView *v) {
        unsigned n = 0;

        for (size_t i = 0; i < v->n; i++)
                n += v->vms[i].active;
        return n;
}

void vim_placement_check_standby(VimManager *m, usec_t now) {
        _cleanup_(placement_view_done) PlacementView v = {};

        if (placement_view_init(m, &v) < 0)
                return;
        for (size_t i = 0; i < v.n; i++) {
                VimVm *vm = v.index[i];
                char reason[128];

                if (vm->state != VIM_VM_ACTIVE)
                        continue;
                if (v.vms[i].used > 0) {
                        vm->empty_since = 0;
                        vm->may_return_to_standby = true;
                        continue;
                }
                if (!vm->may_return_to_standby)
                        continue;
                if (vm->empty_since == 0)
                        vm->empty_since = now;
                if (!acs_placement_may_standby(&m->policy, v.vms, v.n, i, vm->empty_since, now))
                        continue;

                (void) snprintf(reason, sizeof(reason), "empty for %.0f s", (double) (now - vm->empty_since) / USEC_PER_SEC);
                if (vim_vm_can_power(vm)) {
                        if (placement_count_active(&v) <= m->settings.min_active_vms)
                                continue;
                        if (vim_power_off(vm, "vm-power-off", reason) >= 0 && !m->policy.dry_run)
                                v.vms[i].active = false;
                        continue;
                }
                if (m->policy.dry_run) {
                        vim_vm_dry_run_decision(vm, "vm-standby", "Would send VM %s to standby: %s", vm->name, reason);
                        continue;
                }
                (void) vim_vm_send_order(vm, ACS_ORDER_STANDBY, 0, NULL);
                vim_vm_set_state(vm, VIM_VM_STANDBY, "vm-standby", reason);
                vim_placement_run_hook(m, m->settings.standby_command, vm);
                v.vms[i].active = false;
        }
}

static int hook_on_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        _cleanup_free_ char *vm = userdata;

        if (si->si_code == CLD_EXITED && si->si_status == 0)
                log_info("Hook for VM %s finished.", vm);
        else
                log_event(LOG_WARNING, "hook-failed", vm, NULL, "Hook for VM %s failed: %s %d.", vm,
                          si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
        /* The child is reaped; the floating source stays off until the loop ends. */
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

void vim_placement_run_hook(VimManager *m, const char *command, VimVm *vm) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *name = NULL;
        size_t n = 0;
        posix_spawnattr_t attr;
        pid_t pid;
        int r;

        if (!command || !command[0])
                return;

        /* The VM's name reaches the command through the environment only, never through the
         * shell's parser. */
        while (environ[n])
                n++;
        env = calloc(n + 3, sizeof(char *));
        name = strdup(vm->name);
        if (!env || !name) {
                log_oom();
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (!(env[i] = strdup(environ[i]))) {
                        log_oom();
                        return;
                }
        if (asprintf(&env[n], "ACS_VM=%s", vm->name) < 0 || asprintf(&env[n + 1], "ACS_VM_ADDRESS=%s", vm->address) < 0) {
                env[n] = NULL;
                log_oom();
                return;
        }

        r = acs_spawnattr_init_clean(&attr);
        if (r == 0) {
                r = posix_spawn(&pid, "/bin/sh", NULL, &attr,
                                (char *[]) { (char *) "sh", (char *) "-c", (char *) command, NULL }, env);
                posix_spawnattr_destroy(&attr);
        }
        if (r != 0) {
                log_event(LOG_WARNING, "hook-failed", vm->name, NULL, "Failed to run hook for VM %s: %s", vm->name,
                          strerror(r));
                return;
        }
        log_info("Running hook for VM %s (pid %d): %s", vm->name, (int) pid, command);
        r = sd_event_add_child(m->event, NULL, pid, WEXITED, hook_on_exit, name);
        if (r < 0) {
                log_warning_errno(r, "Failed to watch hook pid %d, ignoring: %m", (int) pid);
                return;
        }
        TAKE_PTR(name);
}
