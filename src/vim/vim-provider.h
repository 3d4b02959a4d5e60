/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * VM providers: how acs-vim powers a VM on and off. One small file per provider behind this
 * table, chosen per VM by [VM] Provider= in its file in VmDirectory= (vim-vm-config.c):
 *
 *   agent    the VM is always up; standby means no containers (no power_on/power_off)
 *   systemd  a unit on a systemd bus: StartUnit/StopUnit on org.freedesktop.systemd1
 *   libvirt  a libvirt domain: Create, Shutdown then Destroy, on org.libvirt (libvirt-dbus)
 *
 * Every call is asynchronous: power_on()/power_off() start the operation and return; the
 * provider reports the outcome with vim_power_done(). The deadline (PowerOnTimeout=,
 * PowerOffTimeout=) is kept by vim-power.c, not by the provider.
 */

#include "vim-vm.h"

struct VimProviderOps {
        const char *name;
        /* Reads the VM's provider keys; NULL when nothing to check. Returns 0 or -EINVAL, logged. */
        int (*init)(VimVm *vm);
        /* Frees vm->provider_data and anything in flight. */
        void (*done)(VimVm *vm);
        /* Starts powering on or off; NULL for a provider that cannot (agent). Returns 0 or a
         * negative errno when the operation could not even start. */
        int (*power_on)(VimVm *vm);
        int (*power_off)(VimVm *vm);
        /* The deadline of a power-off passed: force it (libvirt: Destroy). NULL: fail the VM. */
        int (*force_off)(VimVm *vm);
};

extern const VimProviderOps vim_provider_agent;
extern const VimProviderOps vim_provider_systemd;
extern const VimProviderOps vim_provider_libvirt;

const VimProviderOps *vim_provider_from_string(const char *name);

static inline bool vim_vm_can_power(const VimVm *vm) {
        return vm->provider && vm->provider->power_on && vm->provider->power_off;
}

/* --- vim-power.c: the power state machine over the providers */

/* Powers an off or failed VM on (booting); its VMM's registration completes it. */
int vim_power_on(VimVm *vm, const char *event, const char *reason);
/* Powers a drained VM off (powering-off -> off). */
int vim_power_off(VimVm *vm, const char *event, const char *reason);
/*
 * A provider's outcome: r == 0 the operation is done as far as the provider sees (a booted VM
 * still waits for its VMM), r < 0 it failed with reason; the VM is then failed.
 */
void vim_power_done(VimVm *vm, bool on, int r, const char *reason);
/* The provider saw the VM go off by itself (the domain crashed, was stopped by hand): a VM that
 * was up is off, what it ran is gone, and it may be powered on again. Other states are left to
 * vim_power_done() and the deadlines. */
void vim_power_lost(VimVm *vm, const char *reason);
/* The VMM of a VM registered: the boot time is learnt when we booted it. */
void vim_power_registered(VimVm *vm);
/* After a restart: powers on again each VM that was on before it and is still off (one that
 * was on and registered meanwhile was adopted). Before the first decision. */
void vim_power_restore(VimManager *m);
/* Powers the next off VM on when the demand projected one boot time ahead (plus VmHeadroom=)
 * exceeds the slots up or coming, or when fewer than MinActiveVms= are up. Once a second. */
void vim_power_check_demand(VimManager *m, usec_t now);
