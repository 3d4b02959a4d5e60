/* SPDX-License-Identifier: MIT */
/*
 * The libvirt provider: the VM is a libvirt domain, reached through libvirt-dbus (org.libvirt on
 * the system bus, or BusAddress=) at /org/libvirt/<Connection>. Power on is Create, power off
 * Shutdown (a clean guest shutdown, asked the way ShutdownMode= says), and Destroy once
 * PowerOffTimeout= passed. The domain's DomainEvent signals say when it stopped, and why.
 *
 * Shutdown only asks: libvirt answers before the guest did anything, and may do nothing at all
 * while answering success (the LXC driver with no initctl in the container and no flag). The
 * stop event, or Destroy after the deadline, is what brings the VM to off.
 */
#include <stdlib.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vim-manager.h"
#include "vim-provider.h"
#include "vim-vm-config.h"

#define LIBVIRT_SERVICE "org.libvirt"
#define LIBVIRT_CONNECT "org.libvirt.Connect"
#define LIBVIRT_DOMAIN "org.libvirt.Domain"

/* virDomainEventType */
#define DOMAIN_EVENT_STARTED 2
#define DOMAIN_EVENT_STOPPED 5
/* virDomainEventStoppedDetailType, for the log and the reason shown */
static const char *const stopped_details[] = { "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
                                               "from snapshot" };

typedef enum LibvirtCall { CALL_CREATE, CALL_SHUTDOWN, CALL_DESTROY } LibvirtCall;
static const char *const call_names[] = { "Create", "Shutdown", "Destroy" };

typedef struct LibvirtVm {
        sd_bus *bus;
        char *connect_path;     /* /org/libvirt/QEMU */
        char *domain_path;      /* from DomainLookupByName, once */
        sd_bus_slot *match_event;
        sd_bus_slot *call;
        LibvirtCall pending;    /* what to call once the domain is looked up */
} LibvirtVm;

static void libvirt_close(LibvirtVm *l) {
        l->call = sd_bus_slot_unref(l->call);
        l->match_event = sd_bus_slot_unref(l->match_event);
        l->bus = sd_bus_flush_close_unref(l->bus);
        l->domain_path = mfree(l->domain_path);
}

static int libvirt_init(VimVm *vm) {
        const VimVmConfig *c = vm->config;
        LibvirtVm *l;

        if (!c->libvirt_domain || !c->libvirt_domain[0])
                return log_error_errno(-EINVAL, "VM %s: [Libvirt] Domain= is required with Provider=libvirt.", vm->name);
        l = calloc(1, sizeof(*l));
        if (!l || asprintf(&l->connect_path, "/org/libvirt/%s",
                           c->libvirt_connection && c->libvirt_connection[0] ? c->libvirt_connection : "QEMU") < 0) {
                free(l);
                return log_oom();
        }
        vm->provider_data = l;
        return 0;
}

static void libvirt_done(VimVm *vm) {
        LibvirtVm *l = vm->provider_data;

        if (!l)
                return;
        libvirt_close(l);
        free(l->connect_path);
        vm->provider_data = mfree(l);
}

static int on_domain_event(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimVm *vm = userdata;
        LibvirtVm *l = vm->provider_data;
        const char *domain;
        int32_t event, detail;

        if (sd_bus_message_read(msg, "oii", &domain, &event, &detail) < 0 || !l->domain_path ||
            !streq(domain, l->domain_path))
                return 0;
        log_debug("VM %s: domain event %d detail %d.", vm->name, event, detail);
        if (event == DOMAIN_EVENT_STOPPED) {
                char reason[128];

                /* detail comes from libvirt-dbus: only a known one is named */
                (void) snprintf(reason, sizeof(reason), "the domain stopped%s (%s)",
                                vm->state == VIM_VM_BOOTING ? " while booting" : "",
                                detail >= 0 && (size_t) detail < ELEMENTSOF(stopped_details) ?
                                stopped_details[detail] : "unknown reason");
                if (vm->state == VIM_VM_BOOTING)
                        vim_power_done(vm, true, -EIO, reason);
                else if (vm->state == VIM_VM_POWERING_OFF)
                        vim_power_done(vm, false, 0, reason);
                else
                        vim_power_lost(vm, reason);
        } else if (event == DOMAIN_EVENT_STARTED)
                log_info("VM %s: domain %s started.", vm->name, vm->config->libvirt_domain);
        return 0;
}

static int libvirt_call(VimVm *vm, LibvirtCall what);

static int on_call_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        VimVm *vm = userdata;
        LibvirtVm *l = vm->provider_data;
        LibvirtCall what = l->pending;
        bool on = what == CALL_CREATE;
        char reason[512];

        l->call = sd_bus_slot_unref(l->call);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                (void) snprintf(reason, sizeof(reason), "%s of domain %s: %s",
                                l->domain_path ? call_names[what] : "DomainLookupByName", vm->config->libvirt_domain,
                                e && e->message ? e->message : "failed");
                vim_power_done(vm, on, -(sd_bus_message_get_errno(reply) ?: EIO), reason);
                return 0;
        }
        if (!l->domain_path) {
                const char *path;

                if (sd_bus_message_read(reply, "o", &path) < 0 || !(l->domain_path = strdup(path))) {
                        vim_power_done(vm, on, -EBADMSG, "libvirt-dbus answered DomainLookupByName with no path");
                        return 0;
                }
                if (libvirt_call(vm, what) < 0)
                        vim_power_done(vm, on, -EIO, "failed to call libvirt-dbus");
                return 0;
        }
        /* Create and Destroy are done when they return; Shutdown only asked the guest. */
        if (what != CALL_SHUTDOWN) {
                (void) snprintf(reason, sizeof(reason), "%s of domain %s done", call_names[what],
                                vm->config->libvirt_domain);
                vim_power_done(vm, on, 0, reason);
        }
        return 0;
}

/* Looks the domain up first, once; then calls what. The reply goes to on_call_reply(). */
static int libvirt_call(VimVm *vm, LibvirtCall what) {
        LibvirtVm *l = vm->provider_data;
        int r;

        l->pending = what;
        l->call = sd_bus_slot_unref(l->call);
        if (!l->domain_path)
                r = sd_bus_call_method_async(l->bus, &l->call, LIBVIRT_SERVICE, l->connect_path, LIBVIRT_CONNECT,
                                             "DomainLookupByName", on_call_reply, vm, "s",
                                             vm->config->libvirt_domain);
        else
                r = sd_bus_call_method_async(l->bus, &l->call, LIBVIRT_SERVICE, l->domain_path, LIBVIRT_DOMAIN,
                                             call_names[what], on_call_reply, vm, "u",
                                             what == CALL_SHUTDOWN ?
                                             vim_libvirt_shutdown_flags(vm->config->libvirt_shutdown_mode) : 0);
        if (r < 0)
                return log_warning_errno(r, "VM %s: failed to call libvirt-dbus: %m", vm->name);
        return 0;
}

static int libvirt_connect(VimVm *vm, LibvirtVm *l) {
        const VimVmConfig *c = vm->config;
        int r;

        if (l->bus && sd_bus_is_open(l->bus) > 0)
                return 0;
        libvirt_close(l);
        r = acs_bus_open(c->libvirt_bus && c->libvirt_bus[0] ? c->libvirt_bus : NULL, &l->bus);
        if (r >= 0)
                r = sd_bus_attach_event(l->bus, vm->manager->event, 0);
        if (r >= 0)
                r = sd_bus_match_signal_async(l->bus, &l->match_event, LIBVIRT_SERVICE, l->connect_path,
                                              LIBVIRT_CONNECT, "DomainEvent", on_domain_event, NULL, vm);
        if (r < 0) {
                libvirt_close(l);
                return log_warning_errno(r, "VM %s: failed to connect to libvirt-dbus: %m", vm->name);
        }
        return 0;
}

static int libvirt_start(VimVm *vm, LibvirtCall what) {
        LibvirtVm *l = vm->provider_data;
        int r = libvirt_connect(vm, l);

        if (r < 0)
                return r;
        if (what == CALL_SHUTDOWN)
                log_info("VM %s: Shutdown domain %s (ShutdownMode=%s).", vm->name, vm->config->libvirt_domain,
                         vim_libvirt_shutdown_modes[vm->config->libvirt_shutdown_mode]);
        else
                log_info("VM %s: %s domain %s.", vm->name, call_names[what], vm->config->libvirt_domain);
        return libvirt_call(vm, what);
}

static int libvirt_power_on(VimVm *vm) {
        return libvirt_start(vm, CALL_CREATE);
}

static int libvirt_power_off(VimVm *vm) {
        return libvirt_start(vm, CALL_SHUTDOWN);
}

static int libvirt_force_off(VimVm *vm) {
        return libvirt_start(vm, CALL_DESTROY);
}

const VimProviderOps vim_provider_libvirt = {
        .name = "libvirt",
        .init = libvirt_init,
        .done = libvirt_done,
        .power_on = libvirt_power_on,
        .power_off = libvirt_power_off,
        .force_off = libvirt_force_off,
};
