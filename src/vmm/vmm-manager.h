/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The VM agent: keeps this VM's containers at the desired count (the VIM's orders, a D-Bus
 * caller's, or the local policy's while the VIM is away), measures them every interval, and
 * publishes them on D-Bus (vmm-manager-bus.c) and to the VIM (vmm-uplink.c). Whether Docker
 * answers is vmm-engine.c's to follow; each container's own calls are in vmm-container-docker.c,
 * the sync with Docker's listing in vmm-sync.c and the policy without a VIM in vmm-local-policy.c.
 */

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "acs-macro.h"
#include "acs-policy.h"
#include "vmm-config.h"
#include "vmm-container.h"

typedef struct AcsCurl AcsCurl;
typedef struct VmmEngine VmmEngine;
typedef struct VmmUplink VmmUplink;
typedef struct VmmProxyStats VmmProxyStats;

struct VmmManager {
        sd_event *event;
        sd_bus *bus;
        VmmSettings settings;
        const char *cgroup_root;        /* "/sys/fs/cgroup" */

        VmmEngine *engine;              /* the Docker Engine, up or down */
        AcsCurl *http;                  /* readiness probes */
        VmmUplink *uplink;
        VmmProxyStats *proxy_stats;     /* the VM-side proxy's in-flight counts (two-tier) */

        VmmContainer *containers;
        unsigned desired;
        bool desired_known;             /* set at the first sync with Docker, or by an order */
        VmmState state;
        uint64_t generation;            /* of the backend set */
        bool backends_known;            /* every container found at start was probed once */
        unsigned n_adopting;
        double cpus;                    /* sum over containers, in CPUs */
        double utilization;             /* mean over ready containers, against their limit */

        /* Creating containers: backs off while creates keep failing. */
        unsigned create_failures;
        usec_t create_not_before;

        /* Local policy, while the VIM is away */
        AcsScaleHistory history;
        char *config_path;              /* for a reload (SIGHUP); NULL when built from settings */
        bool config_missing_ok;
        usec_t vim_away_since;          /* CLOCK_MONOTONIC: start, or the loss of the link */
        unsigned local_added, local_drained;    /* by the local policy since the VIM went away */

        sd_event_source *tick;
        sd_event_source *reconcile;
        char *last_status;
};

int vmm_manager_new(sd_event *event, VmmSettings *settings, VmmManager **ret);
/* Loads path (NULL: the default file, which may be missing) and creates the manager. A
 * configuration error is logged with its file and line and returned as -EBADMSG. */
int vmm_manager_new_from_config(sd_event *event, const char *path, VmmManager **ret);
/* Rereads vmm.conf (SIGHUP): see vmm-reload.c. */
int vmm_manager_reload(void *userdata);
VmmManager *vmm_manager_free(VmmManager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(VmmManager *, vmm_manager_free);

/* Connects to the bus (address NULL: the system bus, "user": the user bus) and claims the name. */
int vmm_manager_connect_bus(VmmManager *m, const char *address);
/* Starts talking to Docker and the VIM, and sampling. */
int vmm_manager_start(VmmManager *m);

VmmContainer *vmm_manager_find_container(VmmManager *m, const char *id);
unsigned vmm_manager_count(VmmManager *m, bool (*pred)(const VmmContainer *c));
bool vmm_manager_vim_connected(VmmManager *m);

/* Requests as the bus, the VIM and the local policy make them. Each returns 0 or a negative
 * errno with a sentence for a person in *ret_message (static or formatted into buf). */
int vmm_manager_scale_to(VmmManager *m, unsigned count, const char *who, char *buf, size_t size);
int vmm_manager_add_container(VmmManager *m, const char *who, char *buf, size_t size);
int vmm_manager_remove_container(VmmManager *m, const char *id, bool drain, usec_t drain_timeout, const char *who,
                                 char *buf, size_t size);
int vmm_manager_set_state(VmmManager *m, VmmState state, const char *who, char *buf, size_t size);

/* Something about the containers changed; backends says whether the backend set did. */
void vmm_manager_containers_changed(VmmManager *m, bool backends);
void vmm_manager_reconcile_soon(VmmManager *m);
/* A container found running at start got its first readiness answer (or went away). */
void vmm_manager_adoption_probed(VmmManager *m);
/* Tells the VIM, when connected. */
void vmm_manager_send_event(VmmManager *m, const char *event, const char *container, const char *message);

/* vmm-sync.c: settles the containers against Docker's listing (a JSON array) when the Engine
 * comes up; returns how many of ours run. */
unsigned vmm_sync_containers(VmmManager *m, json_object *containers);
/* vmm-local-policy.c: while the VIM is away, scales with the VIM's own rule. */
void vmm_local_policy_run(VmmManager *m, usec_t now);

/* vmm-manager-bus.c */
void vmm_manager_bus_emit_backends_changed(VmmManager *m);
void vmm_manager_bus_emit_changed(VmmManager *m, const char *property, ...);
