/* SPDX-License-Identifier: MIT */
/*
 * The systemd provider: the VM is a unit on a systemd bus (the local system bus, a remote one
 * over SSH with Host= as busctl -H does, or BusAddress=). Power on is StartUnit, power off
 * StopUnit, both "replace"; the outcome is the job's result in JobRemoved, then the unit's
 * ActiveState (read, then followed while the VM boots). This covers
 * systemd-nspawn@NAME.service machines and any unit wrapped around a cloud CLI.
 */
#include <stdlib.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vim-manager.h"
#include "vim-provider.h"
#include "vim-vm-config.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT "org.freedesktop.systemd1.Unit"

typedef struct SystemdVm {
        sd_bus *bus;
        sd_bus_slot *match_job;
        sd_bus_slot *call;      /* StartUnit or StopUnit in flight */
        sd_bus_slot *check;     /* GetUnit, then ActiveState, after a start job */
        sd_bus_slot *match_unit; /* the unit's PropertiesChanged while it boots */
        char *job;              /* the job whose JobRemoved we wait for */
        bool on;                /* what the call or the job is for */
        bool started;           /* its ActiveState said active once for this power-on */
} SystemdVm;

static void systemd_close(SystemdVm *s) {
        s->call = sd_bus_slot_unref(s->call);
        s->check = sd_bus_slot_unref(s->check);
        s->match_unit = sd_bus_slot_unref(s->match_unit);
        s->match_job = sd_bus_slot_unref(s->match_job);
        s->bus = sd_bus_flush_close_unref(s->bus);
        s->job = mfree(s->job);
}

static int systemd_init(VimVm *vm) {
        const VimVmConfig *c = vm->config;

        if (!c->systemd_unit || !c->systemd_unit[0])
                return log_error_errno(-EINVAL, "VM %s: [Systemd] Unit= is required with Provider=systemd.", vm->name);
        if (c->systemd_host && c->systemd_host[0] && c->systemd_bus && c->systemd_bus[0])
                return log_error_errno(-EINVAL, "VM %s: [Systemd] Host= and BusAddress= exclude each other.",
                                       vm->name);
        vm->provider_data = calloc(1, sizeof(SystemdVm));
        return vm->provider_data ? 0 : log_oom();
}

static void systemd_done(VimVm *vm) {
        SystemdVm *s = vm->provider_data;

        if (!s)
                return;
        systemd_close(s);
        vm->provider_data = mfree(s);
}

/* The unit's ActiveState, read after its start job or announced while it boots: a unit that is
 * not active (it failed, or its main process ended) fails the power-on now, not at the deadline. */
static void systemd_active_state(VimVm *vm, const char *state) {
        char reason[256];

        if (vm->state != VIM_VM_BOOTING)
                return;
        if (streq(state, "active") || streq(state, "activating") || streq(state, "reloading")) {
                SystemdVm *s = vm->provider_data;

                if (s->started)
                        return;
                s->started = true;
                (void) snprintf(reason, sizeof(reason), "unit %s is %s", vm->config->systemd_unit, state);
                vim_power_done(vm, true, 0, reason);
                return;
        }
        (void) snprintf(reason, sizeof(reason), "unit %s is %s while the VM boots", vm->config->systemd_unit, state);
        vim_power_done(vm, true, -EIO, reason);
}

static int on_active_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        VimVm *vm = userdata;
        SystemdVm *s = vm->provider_data;
        const char *state;

        s->check = sd_bus_slot_unref(s->check);
        if (sd_bus_message_is_method_error(reply, NULL) ||
            sd_bus_message_read(reply, "v", "s", &state) < 0)
                return 0; /* the deadline still holds */
        systemd_active_state(vm, state);
        return 0;
}

static int on_unit_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        VimVm *vm = userdata;
        const char *iface, *name, *state;

        if (sd_bus_message_read(msg, "s", &iface) < 0 || !streq(iface, SYSTEMD_UNIT) ||
            sd_bus_message_enter_container(msg, 'a', "{sv}") <= 0)
                return 0;
        while (sd_bus_message_enter_container(msg, 'e', "sv") > 0) {
                if (sd_bus_message_read(msg, "s", &name) < 0)
                        return 0;
                if (streq(name, "ActiveState") && sd_bus_message_read(msg, "v", "s", &state) >= 0)
                        systemd_active_state(vm, state);
                else if (sd_bus_message_skip(msg, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(msg) < 0)
                        return 0;
        }
        return 0;
}

static int on_get_unit(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        VimVm *vm = userdata;
        SystemdVm *s = vm->provider_data;
        const char *path;

        s->check = sd_bus_slot_unref(s->check);
        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "o", &path) < 0)
                return 0;
        s->match_unit = sd_bus_slot_unref(s->match_unit);
        (void) sd_bus_match_signal_async(s->bus, &s->match_unit, SYSTEMD_SERVICE, path,
                                         "org.freedesktop.DBus.Properties", "PropertiesChanged", on_unit_changed,
                                         NULL, vm);
        (void) sd_bus_call_method_async(s->bus, &s->check, SYSTEMD_SERVICE, path, "org.freedesktop.DBus.Properties",
                                        "Get", on_active_state, vm, "ss", SYSTEMD_UNIT, "ActiveState");
        return 0;
}

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimVm *vm = userdata;
        SystemdVm *s = vm->provider_data;
        const char *job, *unit, *result;
        char reason[256];
        uint32_t id;

        if (sd_bus_message_read(msg, "uoss", &id, &job, &unit, &result) < 0 || !s->job || !streq(job, s->job))
                return 0;
        s->job = mfree(s->job);
        (void) snprintf(reason, sizeof(reason), "%s job of %s: %s", s->on ? "start" : "stop", unit, result);
        if (!streq(result, "done") || !s->on) {
                vim_power_done(vm, s->on, streq(result, "done") ? 0 : -EIO, reason);
                return 0;
        }
        log_info("VM %s: %s.", vm->name, reason);
        /* Started: what the unit does next is its ActiveState's to say. */
        s->check = sd_bus_slot_unref(s->check);
        if (sd_bus_call_method_async(s->bus, &s->check, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnit",
                                     on_get_unit, vm, "s", unit) < 0)
                vim_power_done(vm, true, 0, reason);
        return 0;
}

static int on_unit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        VimVm *vm = userdata;
        SystemdVm *s = vm->provider_data;
        const char *job;
        char reason[512];

        s->call = sd_bus_slot_unref(s->call);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                (void) snprintf(reason, sizeof(reason), "%s %s: %s", s->on ? "StartUnit" : "StopUnit",
                                vm->config->systemd_unit, e && e->message ? e->message : "failed");
                vim_power_done(vm, s->on, -(sd_bus_message_get_errno(reply) ?: EIO), reason);
                return 0;
        }
        if (sd_bus_message_read(reply, "o", &job) < 0 || !(s->job = strdup(job))) {
                vim_power_done(vm, s->on, -EBADMSG, "systemd answered with no job");
                return 0;
        }
        log_debug("VM %s: unit %s, job %s.", vm->name, vm->config->systemd_unit, s->job);
        return 0;
}

static int on_subscribe_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        /* Already subscribed, or another client is: JobRemoved comes anyway. */
        if (sd_bus_message_is_method_error(reply, NULL))
                log_debug("Subscribe to systemd failed, ignoring: %s", sd_bus_message_get_error(reply)->message);
        return 0;
}

/* A connection that outlives a systemd restart or a dropped SSH session: reopened when closed. */
static int systemd_connect(VimVm *vm, SystemdVm *s) {
        const VimVmConfig *c = vm->config;
        int r;

        if (s->bus && sd_bus_is_open(s->bus) > 0)
                return 0;
        systemd_close(s);
        if (c->systemd_host && c->systemd_host[0])
                r = sd_bus_open_system_remote(&s->bus, c->systemd_host);
        else
                r = acs_bus_open(c->systemd_bus && c->systemd_bus[0] ? c->systemd_bus : NULL, &s->bus);
        if (r < 0)
                return log_warning_errno(r, "VM %s: failed to connect to the systemd bus: %m", vm->name);
        r = sd_bus_attach_event(s->bus, vm->manager->event, 0);
        if (r >= 0)
                r = sd_bus_match_signal_async(s->bus, &s->match_job, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                              "JobRemoved", on_job_removed, NULL, vm);
        if (r >= 0)
                r = sd_bus_call_method_async(s->bus, NULL, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                             "Subscribe", on_subscribe_reply, NULL, "");
        if (r < 0) {
                systemd_close(s);
                return log_warning_errno(r, "VM %s: failed to watch systemd's jobs: %m", vm->name);
        }
        return 0;
}

static int systemd_power(VimVm *vm, bool on) {
        SystemdVm *s = vm->provider_data;
        int r;

        r = systemd_connect(vm, s);
        if (r < 0)
                return r;
        s->call = sd_bus_slot_unref(s->call);
        s->check = sd_bus_slot_unref(s->check);
        s->match_unit = sd_bus_slot_unref(s->match_unit);
        s->job = mfree(s->job);
        s->on = on;
        s->started = false;
        r = sd_bus_call_method_async(s->bus, &s->call, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                     on ? "StartUnit" : "StopUnit", on_unit_reply, vm, "ss",
                                     vm->config->systemd_unit, "replace");
        if (r < 0)
                return log_warning_errno(r, "VM %s: failed to call %s: %m", vm->name, on ? "StartUnit" : "StopUnit");
        log_info("VM %s: %s %s.", vm->name, on ? "starting" : "stopping", vm->config->systemd_unit);
        return 0;
}

static int systemd_power_on(VimVm *vm) {
        return systemd_power(vm, true);
}

static int systemd_power_off(VimVm *vm) {
        return systemd_power(vm, false);
}

const VimProviderOps vim_provider_systemd = {
        .name = "systemd",
        .init = systemd_init,
        .done = systemd_done,
        .power_on = systemd_power_on,
        .power_off = systemd_power_off,
};
