/* SPDX-License-Identifier: MIT */
/*
 * The power side of the VM tier: a VM the VIM powers on is booting until its VMM registers, a
 * VM it powers off is powering-off until its provider says it is off. Either one has a
 * deadline; past it the VM is failed, with the reason in the journal and on the dashboard, and
 * the scaler picks another VM. The providers (vim-provider-*.c) only start the calls and report
 * their outcome here.
 */
#include <dirent.h>
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-manager.h"
#include "vim-provider.h"
#include "vim-state.h"
#include "vim-vm-config.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static void power_disarm(VimVm *vm) {
        vm->power_timer = sd_event_source_disable_unref(vm->power_timer);
}

static void power_fail(VimVm *vm, const char *reason) {
        char *copy = strdup(reason);

        if (copy) {
                free(vm->failure);
                vm->failure = copy;
        }
        power_disarm(vm);
        vm->power_on_started = 0;
        vim_vm_set_state(vm, VIM_VM_FAILED, "vm-failed", reason);
}

static int power_on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        VimVm *vm = userdata;
        char reason[256];

        if (vm->state == VIM_VM_BOOTING) {
                (void) snprintf(reason, sizeof(reason), "its VMM did not register within %.0f s of power-on",
                                (double) vm->config->power_on_timeout / USEC_PER_SEC);
                power_fail(vm, reason);
        } else if (vm->state == VIM_VM_POWERING_OFF && vm->provider->force_off && !vm->power_forced) {
                /* Once: the forced stop gets a deadline of its own, then it is failed. */
                vm->power_forced = true;
                log_event(LOG_WARNING, "vm-force-off", vm->name, NULL,
                          "VM %s did not power off within %.0f s, forcing it off.", vm->name,
                          (double) vm->config->power_off_timeout / USEC_PER_SEC);
                if (vm->provider->force_off(vm) >= 0 &&
                    sd_event_source_set_time_relative(s, vm->config->power_off_timeout) >= 0 &&
                    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) >= 0)
                        return 0;
                power_fail(vm, "forcing it off failed");
        } else if (vm->state == VIM_VM_POWERING_OFF) {
                (void) snprintf(reason, sizeof(reason), "it did not power off within %.0f s",
                                (double) vm->config->power_off_timeout / USEC_PER_SEC);
                power_fail(vm, reason);
        }
        return 0;
}

static int power_arm(VimVm *vm, usec_t timeout) {
        power_disarm(vm);
        return sd_event_add_time_relative(vm->manager->event, &vm->power_timer, CLOCK_MONOTONIC, timeout,
                                          100 * USEC_PER_MSEC, power_on_deadline, vm);
}

/* A decision that outlives a restart: saved at once. */
static void power_decided(VimVm *vm, VimPowerWish wish) {
        if (vm->power_wish == wish)
                return;
        vm->power_wish = wish;
        vim_state_save(vm->manager);
}

int vim_power_on(VimVm *vm, const char *event, const char *reason) {
        VimManager *m = vm->manager;
        int r;

        if (!vim_vm_can_power(vm))
                return -EOPNOTSUPP;
        if (vm->state != VIM_VM_OFF && vm->state != VIM_VM_FAILED)
                return -EBUSY;
        if (m->policy.dry_run) {
                vim_vm_dry_run_decision(vm, event, "Would power on VM %s: %s", vm->name, reason);
                return 0;
        }
        r = vm->provider->power_on(vm);
        if (r < 0) {
                char why[256];

                (void) snprintf(why, sizeof(why), "power-on could not start: %s", strerror(-r));
                power_fail(vm, why);
                return r;
        }
        r = power_arm(vm, vm->config->power_on_timeout);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the power-on deadline of %s, ignoring: %m", vm->name);
        vm->failure = mfree(vm->failure);
        vm->power_on_started = now_usec(CLOCK_MONOTONIC);
        vim_vm_set_state(vm, VIM_VM_BOOTING, event, reason);
        power_decided(vm, VIM_POWER_WISH_ON);
        return 0;
}

int vim_power_off(VimVm *vm, const char *event, const char *reason) {
        VimManager *m = vm->manager;
        int r;

        if (!vim_vm_can_power(vm))
                return -EOPNOTSUPP;
        if (vm->state == VIM_VM_OFF || vm->state == VIM_VM_POWERING_OFF)
                return 0;
        if (m->policy.dry_run) {
                vim_vm_dry_run_decision(vm, event, "Would power off VM %s: %s", vm->name, reason);
                return 0;
        }
        /* Its VMM takes no container from here on, whatever happens to the power-off. */
        if (vim_vm_can_order(vm))
                (void) vim_vm_send_order(vm, ACS_ORDER_STANDBY, 0, NULL);
        r = vm->provider->power_off(vm);
        if (r < 0) {
                char why[256];

                (void) snprintf(why, sizeof(why), "power-off could not start: %s", strerror(-r));
                power_fail(vm, why);
                return r;
        }
        r = power_arm(vm, vm->config->power_off_timeout);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the power-off deadline of %s, ignoring: %m", vm->name);
        vm->power_on_started = 0;
        vm->power_forced = false;
        vim_vm_set_state(vm, VIM_VM_POWERING_OFF, event, reason);
        power_decided(vm, VIM_POWER_WISH_OFF);
        return 0;
}

/* Off: what it ran is gone with it. */
static void power_now_off(VimVm *vm, const char *reason) {
        power_disarm(vm);
        vm->power_on_started = 0;
        while (vm->n_containers > 0)
                vim_container_free(vm->containers[vm->n_containers - 1]);
        vim_vm_forget_orders(vm);
        vim_manager_containers_changed(vm->manager, vm);
        vim_vm_set_state(vm, VIM_VM_OFF, "vm-off", reason);
}

void vim_power_done(VimVm *vm, bool on, int r, const char *reason) {
        if (r < 0) {
                /* A late failure of something we no longer wait for changes nothing. */
                if ((on && vm->state == VIM_VM_BOOTING) || (!on && vm->state == VIM_VM_POWERING_OFF))
                        power_fail(vm, reason);
                else
                        log_info("VM %s: %s (no longer waited for).", vm->name, reason);
                return;
        }
        if (on) {
                log_event(LOG_INFO, "vm-powered-on", vm->name, NULL, "VM %s: %s; waiting for its VMM.", vm->name,
                          reason);
                return;
        }
        if (vm->state == VIM_VM_POWERING_OFF)
                power_now_off(vm, reason);
}

void vim_power_lost(VimVm *vm, const char *reason) {
        char why[256];

        if (!vim_vm_is_up(vm))
                return;
        (void) snprintf(why, sizeof(why), "%s, not by the VIM", reason);
        power_now_off(vm, why);
}

void vim_power_registered(VimVm *vm) {
        usec_t took;

        if (vm->state != VIM_VM_BOOTING || vm->power_on_started == 0)
                return;
        took = now_usec(CLOCK_MONOTONIC) - vm->power_on_started;
        vim_boot_times_add(&vm->boot_times, took);
        power_disarm(vm);
        vm->power_on_started = 0;
        log_event(LOG_NOTICE, "vm-booted", vm->name, NULL,
                  "VM %s registered %.1f s after power-on (boot time median now %.1f s).", vm->name,
                  (double) took / USEC_PER_SEC, (double) vim_boot_times_median(&vm->boot_times) / USEC_PER_SEC);
}

void vim_power_restore(VimManager *m) {
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                if (vm->power_wish == VIM_POWER_WISH_ON && vm->state == VIM_VM_OFF && vim_vm_can_power(vm))
                        (void) vim_power_on(vm, "vm-power-on", "it was on before acs-vim restarted");
        }
}

/* The VM to power on next: the first off one, in the order of their files. */
static VimVm *power_next_off(VimManager *m) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->state == VIM_VM_OFF && vim_vm_can_power(m->vms[i]))
                        return m->vms[i];
        return NULL;
}

static unsigned power_agents_pending(VimManager *m) {
        _cleanup_(closedirp) DIR *d = NULL;
        unsigned n = 0;
        struct dirent *de;

        /* An agent VM (up by itself, not powered by acs-vim) that has not registered since
         * acs-vim started: one declared with Provider=agent, or one that only has a key. */
        for (size_t i = 0; i < m->n_vms; i++)
                n += !vim_vm_can_power(m->vms[i]) && !m->vms[i]->registered_since_start;
        d = m->settings.key_directory ? opendir(m->settings.key_directory) : NULL;
        while (d && (de = readdir(d))) {
                size_t l = strlen(de->d_name);
                char name[256];

                if (l <= 4 || l - 4 >= sizeof(name) || !streq(de->d_name + l - 4, ".key"))
                        continue;
                memcpy(name, de->d_name, l - 4);
                name[l - 4] = 0;
                /* known ones were counted above */
                if (acs_proto_vm_name_is_valid(name) && !vim_manager_find_vm(m, name))
                        n++;
        }
        return n;
}

/* At start-up the agent VMs (always on) may register after GracePeriod=; powering on a VM
 * for them would pay for a boot their capacity makes useless. So for one boot time of the VM
 * that would be powered on (an agent VM that registers within it gives its capacity no later
 * than that boot would), VMs with a key or an agent declaration count as coming. */
static bool power_wait_for_agents(VimManager *m, VimVm *next, usec_t now) {
        unsigned pending;

        if (now >= m->started + m->settings.grace_period + vim_boot_times_median(&next->boot_times))
                return false;
        pending = power_agents_pending(m);
        if (pending == 0)
                return false;
        if (!m->waiting_for_agents_logged)
                log_info("Not powering on VM %s yet: %u agent VM%s with a key %s not registered since start-up.",
                         next->name, pending, pending == 1 ? "" : "s", pending == 1 ? "has" : "have");
        m->waiting_for_agents_logged = true;
        return true;
}

void vim_power_check_demand(VimManager *m, usec_t now) {
        unsigned slots = 0, up = 0;
        VimVm *next = power_next_off(m);
        double projected, need;
        usec_t boot;
        char reason[256];

        vim_demand_record(&m->demand, now, m->desired);
        if (!next)
                return;
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                if (vm->state == VIM_VM_BOOTING) {
                        /* Coming, not present: counted so that one step boots one VM, not one a second. */
                        slots += vm->config->capacity;
                        up++;
                } else if (vim_vm_is_reachable(vm) && vm->state != VIM_VM_DRAINING) {
                        slots += vm->capacity;
                        up += vm->state != VIM_VM_STANDBY;
                }
        }
        if (power_wait_for_agents(m, next, now))
                return;
        boot = vim_boot_times_median(&next->boot_times);
        projected = vim_demand_project(&m->demand, now, boot);
        need = MIN(projected + m->policy.vm_headroom, (double) m->policy.max_replicas);
        if (up < m->settings.min_active_vms)
                (void) snprintf(reason, sizeof(reason), "%u VMs up or booting, MinActiveVms=%u", up,
                                m->settings.min_active_vms);
        else if (need > slots)
                (void) snprintf(reason, sizeof(reason),
                                "desired %u, projected %.1f in %.0f s (its boot time) + headroom %u > %u slots up or coming",
                                m->desired, projected, (double) boot / USEC_PER_SEC, m->policy.vm_headroom, slots);
        else
                return;
        (void) vim_power_on(next, "vm-power-on", reason);
}
