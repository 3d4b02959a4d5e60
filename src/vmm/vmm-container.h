/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One web-server container of this VM, from the moment the VMM decides to create it until
 * Docker confirms it is gone.
 *
 *   creating -> starting -> ready -> draining -> (stopped and removed)
 *
 * "creating" is internal (no id yet); "starting" lasts until GET /readyz on its port answers
 * 200; "draining" means listed as draining (no new requests) for DrainTime, then stopped with
 * SIGTERM and a grace period, then removed. Only ready and draining containers are backends.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "acs-list.h"
#include "acs-time.h"
#include "vmm-monitor.h"

typedef struct VmmManager VmmManager;
typedef struct AcsHttp AcsHttp;

typedef enum VmmContainerState {
        VMM_CONTAINER_CREATING,
        VMM_CONTAINER_STARTING,
        VMM_CONTAINER_READY,
        VMM_CONTAINER_DRAINING,
        _VMM_CONTAINER_STATE_MAX,
} VmmContainerState;

typedef struct VmmContainer VmmContainer;
struct VmmContainer {
        VmmManager *manager;
        LIST_FIELDS(VmmContainer, containers);  /* in the manager's list */

        char *id;                       /* NULL while creating */
        unsigned port;
        VmmContainerState state;
        bool removing;                  /* stop/remove sent: it no longer counts */
        bool adopting;                  /* found running at start, not probed yet */
        usec_t state_since;             /* CLOCK_MONOTONIC */

        pid_t pid;
        VmmCgroup cgroup;
        double cpus;                    /* CPUs used over the last interval */
        double utilization;             /* cpus / the container's limit */
        uint64_t memory;
        uint32_t in_flight;             /* at the VM-side proxy, in two-tier routing */
        bool proxy_draining;            /* the VM-side proxy lists it as draining */

        sd_event_source *timer;         /* readiness probes while starting; the drain deadline */
        AcsHttp *probe;
};

const char *vmm_container_state_to_string(VmmContainerState s);

/* Creates the object and links it into m's list (id may be NULL while creating). */
int vmm_container_new(VmmManager *m, const char *id, unsigned port, VmmContainerState state, VmmContainer **ret);
/* vmm-container-docker.c: creates a container on a free port of ours through Docker and starts
 * it; the object is linked at once, in state creating. A call that cannot be made is logged and
 * returned. */
int vmm_container_create(VmmManager *m);
/* Asks Docker for its PID (to sample its cgroup); one that is not running is replaced. */
void vmm_container_inspect(VmmContainer *c);
/* Unlinks and frees; accepts NULL, returns NULL. */
VmmContainer *vmm_container_free(VmmContainer *c);

/* Whether it counts toward the desired number (creating, starting or ready, not being removed). */
bool vmm_container_counts(const VmmContainer *c);
/* Whether a proxy may route to it (ready or draining, not being removed). */
bool vmm_container_is_backend(const VmmContainer *c);
/* Counted as STATUS= shows them (none being removed): ready, starting (or creating), draining. */
bool vmm_container_is_ready(const VmmContainer *c);
bool vmm_container_is_starting(const VmmContainer *c);
bool vmm_container_is_draining(const VmmContainer *c);
/* Docker gave us the id: starting. */
int vmm_container_set_id(VmmContainer *c, const char *id);
/* It runs: ask GET /readyz until it answers 200 (or ReadyTimeout= passes). */
void vmm_container_probe_readiness(VmmContainer *c);
/* The container runs with this PID: open its cgroup for sampling. */
void vmm_container_attach(VmmContainer *c, pid_t pid);
/* Listed as draining now; stopped and removed once timeout has passed, unless removed earlier on
 * the VIM's order. The VIM's drains pass its DrainTimeout=, local ones our DrainTime=. */
void vmm_container_drain(VmmContainer *c, usec_t timeout);
/* Stops (gracefully when graceful, else SIGKILL) and removes it; the object goes when Docker answers. */
void vmm_container_remove(VmmContainer *c, bool graceful);
/* Sends the removal again, for one whose removal an Engine outage interrupted. */
void vmm_container_finish_removal(VmmContainer *c);
/* Reads its cgroup counters. */
void vmm_container_sample(VmmContainer *c, usec_t now, double cpu_limit);
