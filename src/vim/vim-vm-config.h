/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The VMs an operator declares: one file per VM, VmDirectory=/etc/acs/vms.d/NAME.conf, its name
 * the VM name (the PSK identity its VMM registers with). A VM without a file is an agent VM that
 * enters the model when its VMM registers, as before.
 *
 *   [VM]
 *   Provider=systemd           agent | systemd | libvirt
 *   Capacity=4                 slots it brings, counted as coming while it boots
 *   BootTime=30s               first guess of power-on to registered (then learnt)
 *   PowerOnTimeout=3min        booting longer than this: failed
 *   PowerOffTimeout=1min       powering off longer than this: forced (libvirt) or failed
 *   [Systemd]
 *   Unit=systemd-nspawn@vm3.service
 *   Host=                      user@host: the remote system bus over SSH, as busctl -H
 *   BusAddress=                a D-Bus address instead (a test's private bus)
 *   [Libvirt]
 *   Domain=vm3
 *   Connection=QEMU            the libvirt-dbus connection object: QEMU, LXC, ... (/org/libvirt/...)
 *   BusAddress=                where org.libvirt lives; empty: the system bus
 *   ShutdownMode=default       how Shutdown asks the guest: default | acpi | agent | initctl |
 *                              signal | paravirt (libvirt's virDomainShutdownFlagValues)
 */

#include <stdint.h>

#include "acs-time.h"
#include "vim-vm.h"

struct VimVmConfig {
        char *name;
        int provider;                   /* index into vim_vm_provider_names */
        unsigned capacity;
        usec_t boot_time;
        usec_t power_on_timeout;
        usec_t power_off_timeout;

        char *systemd_unit;
        char *systemd_host;
        char *systemd_bus;

        char *libvirt_domain;
        char *libvirt_connection;
        char *libvirt_bus;
        int libvirt_shutdown_mode;      /* index into vim_libvirt_shutdown_modes */
};

extern const char *const vim_vm_provider_names[];
extern const char *const vim_libvirt_shutdown_modes[];
/* The flags of org.libvirt.Domain.Shutdown for a ShutdownMode= (0: the hypervisor's default). */
uint32_t vim_libvirt_shutdown_flags(int mode);

VimVmConfig *vim_vm_config_free(VimVmConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(VimVmConfig *, vim_vm_config_free);
/* Loads one VM's file (and its drop-ins); name is the VM name. Logs errors. */
int vim_vm_config_load(const char *path, const char *name, VimVmConfig **ret);
/* Loads one VM's configuration from text, for tests. */
int vim_vm_config_load_string(const char *name, const char *text, VimVmConfig **ret);
/* Creates a VM in the model for every *.conf in dir; a missing dir is no error. */
int vim_vm_config_load_directory(VimManager *m, const char *dir);
