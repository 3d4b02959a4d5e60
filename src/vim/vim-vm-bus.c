/* SPDX-License-Identifier: MIT */
/*
 * The bus side of the VMs: the VMs property of org.acs.VIM1 and the methods that move a VM
 * in the tier, Activate(s) and Standby(s), PowerOn(s) and PowerOff(s) (checked with polkit,
 * org.acs.manage), and VmFailures, the reason of each failed VM.
 */
#include "acs-bus-names.h"
#include "acs-bus-util.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-polkit.h"
#include "acs-proto.h"
#include "vim-manager.h"
#include "vim-provider.h"

static int vm_read(VimManager *m, sd_bus_message *msg, VimVm **ret, sd_bus_error *error) {
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        if (!acs_proto_vm_name_is_valid(name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Not a VM name: expected 1..%d of [A-Za-z0-9._-], not starting with '.' or '-'.",
                                         ACS_PROTO_VM_NAME_MAX);
        *ret = vim_manager_find_vm(m, name);
        if (!*ret)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "No VM named \"%s\".", name);
        return 0;
}

static int vm_state_authorized(sd_bus_message *msg, VimManager *m, sd_bus_error *error, bool activate) {
        char who[128];
        VimVm *vm;
        int r;

        r = sd_bus_message_rewind(msg, true);
        if (r >= 0)
                r = vm_read(m, msg, &vm, error);
        if (r < 0)
                return r;
        acs_bus_describe_caller(msg, who, sizeof(who));
        r = activate ? vim_scaler_activate(m, vm, who) : vim_scaler_standby(m, vm, who);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "VM %s: %m", vm->name);
        return sd_bus_reply_method_return(msg, NULL);
}

static int activate_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return vm_state_authorized(msg, userdata, error, true);
}

static int standby_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return vm_state_authorized(msg, userdata, error, false);
}

/* PowerOn() and PowerOff() are Activate() and Standby() for a VM with a power provider: an
 * agent VM is always on. */
static int vm_read_powered(VimManager *m, sd_bus_message *msg, sd_bus_error *error) {
        VimVm *vm;
        int r = vm_read(m, msg, &vm, error);

        if (r < 0)
                return r;
        if (!vim_vm_can_power(vm))
                return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                         "VM %s has provider %s, which cannot power it on or off.", vm->name,
                                         vm->provider->name);
        return 0;
}

int vim_vm_bus_method_power_on(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int r = vm_read_powered(userdata, msg, error);

        if (r < 0)
                return r;
        return acs_polkit_check_async(msg, "org.acs.manage", "power on a VM", activate_authorized, userdata, error);
}

int vim_vm_bus_method_power_off(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int r = vm_read_powered(userdata, msg, error);

        if (r < 0)
                return r;
        return acs_polkit_check_async(msg, "org.acs.manage", "power off a VM", standby_authorized, userdata, error);
}

int vim_vm_bus_method_activate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimVm *vm;
        int r = vm_read(userdata, msg, &vm, error);

        if (r < 0)
                return r;
        return acs_polkit_check_async(msg, "org.acs.manage", "activate a VM", activate_authorized, userdata, error);
}

int vim_vm_bus_method_standby(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimVm *vm;
        int r = vm_read(userdata, msg, &vm, error);

        if (r < 0)
                return r;
        return acs_polkit_check_async(msg, "org.acs.manage", "send a VM to standby", standby_authorized, userdata,
                                      error);
}

int vim_vm_bus_property_get_vms(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', ACS_BUS_VM_SIGNATURE);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];
                unsigned ready = 0;

                for (size_t k = 0; k < vm->n_containers; k++)
                        ready += vim_container_effective_state(vm->containers[k]) == ACS_CONTAINER_READY;
                r = sd_bus_message_append(reply, ACS_BUS_VM_SIGNATURE, vm->name, vm->address, vim_vm_state_to_string(vm->state),
                                          vm->capacity, (uint32_t) vm->n_containers, ready, vm->cpu);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* Only the VMs in state failed: a reason kept from an earlier failure would mislead once the VM
 * is retried. */
int vim_vm_bus_property_get_vm_failures(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{ss}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                if (vm->state != VIM_VM_FAILED)
                        continue;
                r = sd_bus_message_append(reply, "{ss}", vm->name, vm->failure ?: "unknown");
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}
