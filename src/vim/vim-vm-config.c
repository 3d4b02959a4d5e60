/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "acs-config.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-proto.h"
#include "vim-manager.h"
#include "vim-provider.h"
#include "vim-vm-config.h"

const char *const vim_vm_provider_names[] = { "agent", "systemd", "libvirt", NULL };
/* In the order of virDomainShutdownFlagValues' bits, after "default" (no flag). */
const char *const vim_libvirt_shutdown_modes[] = { "default", "acpi", "agent", "initctl", "signal", "paravirt", NULL };

uint32_t vim_libvirt_shutdown_flags(int mode) {
        return mode <= 0 ? 0 : UINT32_C(1) << (mode - 1);
}

#define S(f) offsetof(VimVmConfig, f)
static const AcsConfigItem vm_config_table[] = {
        { "VM", "Provider", ACS_CONFIG_ENUM, S(provider), .choices = vim_vm_provider_names },
        { "VM", "Capacity", ACS_CONFIG_UINT, S(capacity), .min = 0, .max = 10000 },
        { "VM", "BootTime", ACS_CONFIG_DURATION, S(boot_time), .min = 0, .max = 3600 * USEC_PER_SEC },
        { "VM", "PowerOnTimeout", ACS_CONFIG_DURATION, S(power_on_timeout), .min = USEC_PER_SEC,
          .max = 3600 * USEC_PER_SEC },
        { "VM", "PowerOffTimeout", ACS_CONFIG_DURATION, S(power_off_timeout), .min = USEC_PER_SEC,
          .max = 3600 * USEC_PER_SEC },
        { "Systemd", "Unit", ACS_CONFIG_STRING, S(systemd_unit) },
        { "Systemd", "Host", ACS_CONFIG_STRING, S(systemd_host) },
        { "Systemd", "BusAddress", ACS_CONFIG_STRING, S(systemd_bus) },
        { "Libvirt", "Domain", ACS_CONFIG_STRING, S(libvirt_domain) },
        { "Libvirt", "Connection", ACS_CONFIG_STRING, S(libvirt_connection) },
        { "Libvirt", "BusAddress", ACS_CONFIG_STRING, S(libvirt_bus) },
        { "Libvirt", "ShutdownMode", ACS_CONFIG_ENUM, S(libvirt_shutdown_mode), .choices = vim_libvirt_shutdown_modes },
        {},
};
#undef S

VimVmConfig *vim_vm_config_free(VimVmConfig *c) {
        if (!c)
                return NULL;
        acs_config_free(vm_config_table, c);
        free(c->name);
        return mfree(c);
}

static VimVmConfig *vm_config_new(const char *name) {
        _cleanup_(vim_vm_config_freep) VimVmConfig *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->capacity = 4;
        c->boot_time = 30 * USEC_PER_SEC;
        c->power_on_timeout = 180 * USEC_PER_SEC;
        c->power_off_timeout = 60 * USEC_PER_SEC;
        c->name = strdup(name);
        return c->name ? TAKE_PTR(c) : NULL;
}

static int vm_config_finish(VimVmConfig *c, int r, AcsConfigError *e, VimVmConfig **ret) {
        if (r < 0) {
                log_error("%s", e->message ? e->message : "Failed to load a VM's configuration.");
                acs_config_error_done(e);
                return r;
        }
        *ret = c;
        return 0;
}

int vim_vm_config_load(const char *path, const char *name, VimVmConfig **ret) {
        _cleanup_(vim_vm_config_freep) VimVmConfig *c = NULL;
        AcsConfigError e = {};
        int r;

        if (!acs_proto_vm_name_is_valid(name)) {
                char shown[LOG_UNTRUSTED_MAX + 4];

                /* The name is a file name: whatever bytes it holds, print it safely. */
                return log_error_errno(-EINVAL, "VM file %s.conf: \"%s\" is not a valid VM name (1..%d of "
                                       "[A-Za-z0-9._-], not starting with '.' or '-').",
                                       log_untrusted(name, SIZE_MAX, shown), shown, ACS_PROTO_VM_NAME_MAX);
        }
        c = vm_config_new(name);
        if (!c)
                return log_oom();
        r = acs_config_load(path, false, vm_config_table, c, &e);
        r = vm_config_finish(c, r, &e, ret);
        if (r >= 0)
                TAKE_PTR(c);
        return r;
}

int vim_vm_config_load_string(const char *name, const char *text, VimVmConfig **ret) {
        _cleanup_(vim_vm_config_freep) VimVmConfig *c = NULL;
        AcsConfigError e = {};
        int r;

        if (!acs_proto_vm_name_is_valid(name))
                return -EINVAL;
        c = vm_config_new(name);
        if (!c)
                return -ENOMEM;
        r = acs_config_load_string(name, text, vm_config_table, c, &e);
        r = vm_config_finish(c, r, &e, ret);
        if (r >= 0)
                TAKE_PTR(c);
        return r;
}

/* The VM enters the model off, with its provider set up. Takes config, even on failure. */
static int vm_declare(VimManager *m, VimVmConfig *config) {
        VimVm *vm;
        int r;

        if (vim_manager_find_vm(m, config->name)) {
                r = log_error_errno(-EEXIST, "VM %s is declared twice.", config->name);
                vim_vm_config_free(config);
                return r;
        }
        vm = vim_vm_new(m, config->name);
        if (!vm) {
                vim_vm_config_free(config);
                return log_oom();
        }
        vm->config = config;
        vm->boot_times.guess = config->boot_time;
        vm->provider = vim_provider_from_string(vim_vm_provider_names[config->provider]);
        /* An agent VM is up by definition: it waits for its VMM like an undeclared one. */
        vm->state = vim_vm_can_power(vm) ? VIM_VM_OFF : VIM_VM_UNREACHABLE;
        r = vm->provider->init ? vm->provider->init(vm) : 0;
        if (r < 0) {
                vim_vm_free(vm);
                return r;
        }
        log_info("VM %s declared: provider %s, capacity %u, boot time %.0f s.", vm->name, vm->provider->name,
                 config->capacity, (double) config->boot_time / USEC_PER_SEC);
        return 0;
}

static int conf_filter(const struct dirent *de) {
        size_t l = strlen(de->d_name);

        return de->d_name[0] != '.' && l > 5 && streq(de->d_name + l - 5, ".conf");
}

int vim_vm_config_load_directory(VimManager *m, const char *dir) {
        struct dirent **entries = NULL;
        int n, r = 0;

        n = scandir(dir, &entries, conf_filter, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Failed to read %s: %m", dir);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *name = NULL;
                VimVmConfig *c = NULL;

                if (r >= 0) {
                        name = strndup(entries[i]->d_name, strlen(entries[i]->d_name) - 5);
                        if (!name || asprintf(&path, "%s/%s", dir, entries[i]->d_name) < 0)
                                r = log_oom();
                        else
                                r = vim_vm_config_load(path, name, &c);
                        if (r >= 0)
                                r = vm_declare(m, c);
                }
                free(entries[i]);
        }
        free(entries);
        return r;
}
