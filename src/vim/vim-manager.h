/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The VIM: the cluster model (VMs and their containers), the policy, and the parts that act on
 * them: the agent server (vim-agents.c), the scaler (vim-scaler.c), the backend set
 * (vim-backends.c), the proxy's statistics (vim-proxy-stats.c), the bus object
 * (vim-manager-bus.c) and the HTTP API (vim-api.c).
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "acs-daemon.h"
#include "acs-link.h"
#include "acs-policy.h"
#include "vim-cluster.h"
#include "vim-config.h"
#include "vim-vm.h"

typedef struct VimApi VimApi;
typedef struct VimBackends VimBackends;
typedef struct VimProxyStats VimProxyStats;

typedef struct VimManager {
        sd_event *event;
        sd_bus *bus;
        char *bus_address;              /* NULL: system bus, "user": user bus, else an address */

        char *config_path;              /* what --config named, or the default file */
        bool config_missing_ok;         /* the default file may be absent */
        VimSettings settings;
        AcsPolicy policy;
        AcsScaleHistory history;
        VimDemand demand;               /* the desired count over the last half minute, for VM boots */

        AcsLinkServer *agents;
        VimVm **vms;
        size_t n_vms;
        unsigned next_rank;

        sd_event_source *scaler_timer;
        usec_t started;                 /* monotonic; decisions wait for the VMMs to register */
        bool waiting_for_agents_logged; /* vim-power.c said once that it waits for agent VMs */
        unsigned desired;               /* the replica count the VIM converges to */
        unsigned operator_desired;      /* the count an operator set (Scale(), the API) ... */
        bool operator_desired_held;     /* ... while desired still is that count: it is saved */
        bool decided_once;
        bool vms_dirty;
        char last_hold[ACS_POLICY_REASON_MAX];
        usec_t last_hold_logged;
        uint64_t n_decisions[4];        /* by AcsScaleAction */

        VimBackends *backends;
        VimProxyStats *proxy_stats;
        VimApi *api;

        sd_bus_slot *bus_slot_vtable;
        bool bus_name_owned;
        VimCluster *cluster;            /* [Cluster] Store=etcd, else NULL */
} VimManager;

int vim_manager_new(sd_event *event, const AcsDaemonOptions *options, VimManager **ret);
VimManager *vim_manager_free(VimManager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(VimManager *, vim_manager_free);

/* Binds (or takes the socket-activated "agent" and "api" fds), connects the bus, arms timers. */
int vim_manager_start(VimManager *m);

int vim_manager_add_vm(VimManager *m, VimVm *vm);
void vim_manager_remove_vm(VimManager *m, VimVm *vm);
VimVm *vim_manager_find_vm(VimManager *m, const char *name);
VimContainer *vim_manager_find_container(VimManager *m, const char *id);

/* Something the backend set shows may have changed on vm (NULL: anywhere): recompute it now
 * (it emits on change). */
void vim_manager_containers_changed(VimManager *m, VimVm *vm);
/* A VM's state changed: PropertiesChanged for VMs, at the next flush. */
void vim_manager_vms_changed(VimManager *m);
/* Emits what changed since the last flush (once a second, from the scaler). */
void vim_manager_flush_changes(VimManager *m);
/* The policy changed (config, SetPolicy or the API). */
void vim_manager_policy_changed(VimManager *m, const char *who);

/* --- agent server, vim-agents.c */
int vim_agents_start(VimManager *m, int fd);

/* --- scaler, vim-scaler.c */
int vim_scaler_start(VimManager *m);
/* Fresh in-flight counts from the proxy: decide now if they call for more containers. */
void vim_scaler_leading_signal(VimManager *m);
/* Sets the replica count by hand (Scale(), the API); the scale-down window then holds it. */
int vim_scaler_scale_to(VimManager *m, unsigned replicas, const char *who);
/* Drains one container by hand. */
int vim_scaler_drain(VimManager *m, const char *container_id, const char *who);
/* Activates a VM, or sends it to standby (draining it first when it runs containers). */
int vim_scaler_activate(VimManager *m, VimVm *vm, const char *who);
int vim_scaler_standby(VimManager *m, VimVm *vm, const char *who);
/* Containers that entered the model without our orders (a VM registered or came back with
 * them): they join the count to hold, and the policy decides from there, with its window. */
void vim_scaler_adopt(VimManager *m, VimVm *vm, unsigned n, const char *how);
/* Counts over the reachable VMs, as the policy sees them. */
void vim_scaler_count(VimManager *m, unsigned *ret_running, unsigned *ret_ready);

/* --- placement, vim-placement.c: decisions turned into orders */
/* Places n more containers; returns the number ordered. */
unsigned vim_placement_add(VimManager *m, unsigned n, char *summary, size_t summary_size);
/* Drains n containers from the VMs placement would empty first; returns the number drained. */
unsigned vim_placement_remove(VimManager *m, unsigned n, char *summary, size_t summary_size);
/* Activates a standby VM when the headroom is short for `wanted` more containers. */
void vim_placement_check_headroom(VimManager *m, unsigned wanted);
/* Returns emptied VMs to standby after the delay. */
void vim_placement_check_standby(VimManager *m, usec_t now);
/* Runs ActivateCommand=/StandbyCommand= for a VM (no wait). */
void vim_placement_run_hook(VimManager *m, const char *command, VimVm *vm);

/* --- bus object, vim-manager-bus.c */
int vim_manager_bus_start(VimManager *m);

/* --- the VMs on the bus, vim-vm-bus.c */
int vim_vm_bus_method_activate(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int vim_vm_bus_method_standby(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int vim_vm_bus_method_power_on(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int vim_vm_bus_method_power_off(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int vim_vm_bus_property_get_vms(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error);
int vim_vm_bus_property_get_vm_failures(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error);

/* Takes org.acs.VIM1 once the model is rebuilt from the VMMs' registrations. */
int vim_manager_bus_own_name(VimManager *m);
void vim_manager_bus_emit_backends_changed(VimManager *m, uint64_t generation);
void vim_manager_bus_emit_properties(VimManager *m, const char *property);
void vim_manager_bus_emit_vms_changed(VimManager *m);
