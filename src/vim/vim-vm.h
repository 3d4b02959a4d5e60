/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One VM as the VIM sees it: the VMM that registered under this name (the PSK identity), its
 * state in the VM tier, its capacity and its containers, and the orders sent to it that are not
 * acknowledged yet.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "acs-link.h"
#include "acs-macro.h"
#include "acs-proto.h"
#include "acs-time.h"
#include "vim-container.h"
#include "vim-vm-trust.h"
#include "vim-forecast.h"

typedef struct VimManager VimManager;

/*
 * The life of a VM: off -> booting -> registered -> active -> draining -> standby (agent VMs stay
 * up) or powering-off -> off; failed when its provider could not power it on or off. A VM whose
 * VMM falls silent while up is unreachable until it reports again.
 */
typedef enum VimVmState {
        VIM_VM_OFF,             /* powered off by its provider; its capacity is not there */
        VIM_VM_BOOTING,         /* powered on, its VMM has not registered yet: capacity coming */
        VIM_VM_REGISTERED,      /* its VMM registered; not in use yet */
        VIM_VM_ACTIVE,
        VIM_VM_DRAINING,        /* going to standby or off: its containers are drained away first */
        VIM_VM_STANDBY,         /* up, runs no containers */
        VIM_VM_POWERING_OFF,    /* drained, its provider is powering it off */
        VIM_VM_FAILED,          /* its provider failed or timed out; vm->failure says why */
        VIM_VM_UNREACHABLE,     /* up, but no metrics for the grace period */
        _VIM_VM_STATE_MAX,
} VimVmState;

/* What was last decided at run time about a VM's power (by an operator or by the VM tier): kept
 * in the state file, so a restart powers on again what was on and leaves off what was off. */
typedef enum VimPowerWish {
        VIM_POWER_UNDECIDED,
        VIM_POWER_WISH_ON,
        VIM_POWER_WISH_OFF,
} VimPowerWish;

typedef struct VimProviderOps VimProviderOps;
typedef struct VimVmConfig VimVmConfig;

typedef struct VimOrder {
        uint64_t seq;
        AcsOrderKind kind;
        char container[ACS_PROTO_CONTAINER_ID_LEN + 1];
        usec_t sent;
} VimOrder;

typedef struct VimVm {
        VimManager *manager;
        char *name;
        char *address;
        VimVmState state;
        VimVmState reported_state;      /* active or standby, as the VMM last registered */
        unsigned capacity;              /* as reported, capped by trust.max_containers */
        unsigned min;
        VimVmTrust trust;               /* what its reports may say (vim-vm-trust.h) */
        char last_refusal[VIM_REFUSAL_MAX + 64]; /* the last refusal logged, not to repeat it every second */
        unsigned rank;                  /* activation order: later ones are emptied first */
        double cpu;                     /* CPUs in use, sum over containers */

        AcsLink *link;                  /* NULL while disconnected */
        usec_t last_seen;               /* last register or metrics */
        usec_t registered;              /* last register */
        usec_t empty_since;             /* active and without containers since; 0 otherwise */
        bool may_return_to_standby;     /* it ran containers, or the VIM activated it: an active VM
                                         * that never ran anything stays as its operator made it */

        VimContainer **containers;
        size_t n_containers;

        /* its part of the backend set (vim-backends.c): one allocation, array then strings */
        struct VimBackend *backends;
        size_t n_backends;

        /* how it is powered (vim-provider.h); agent VMs are always up */
        const VimProviderOps *provider;
        VimVmConfig *config;            /* its [VM] file; NULL for a VM known only by registration */
        void *provider_data;
        sd_event_source *power_timer;   /* the power-on or power-off deadline */
        usec_t power_on_started;        /* monotonic; 0 when the VIM did not boot it */
        bool power_forced;              /* the power-off deadline passed once: forced off */
        VimPowerWish power_wish;        /* the last power decision, saved (vim-state.c) */
        bool registered_since_start;    /* its VMM has registered at least once since acs-vim started */
        VimBootTimes boot_times;        /* power-on to registered, learnt */
        char dry_run_said[32];          /* the last VM decision a dry run logged, to log each once */
        char *failure;                  /* why it is failed, or the last provider error */

        VimOrder *orders;               /* sent, not acknowledged */
        size_t n_orders;
        unsigned pending_adds;          /* add orders not yet visible as containers: a VMM acks an
                                         * add when it accepts it, the container shows later */
        usec_t pending_since;           /* the last add order */
} VimVm;

VimVm *vim_vm_new(VimManager *m, const char *name);
/* Frees its containers and unhooks it from the manager. */
VimVm *vim_vm_free(VimVm *vm);

int vim_vm_add_container(VimVm *vm, VimContainer *c);
void vim_vm_remove_container(VimVm *vm, VimContainer *c);
VimContainer *vim_vm_find_container(VimVm *vm, const char *id);

/*
 * Adopts a full list of containers (register or metrics): new ones are added, known ones
 * updated, the ones missing from the list removed unless keep_missing (a VMM that just started
 * may report before it listed its Docker engine). Returns true when the backend set may have
 * changed; *ret_adopted counts the new containers that were not ours on their way (orders).
 */
bool vim_vm_apply_containers(VimVm *vm, const AcsContainerInfo *list, size_t n, bool keep_missing,
                             unsigned *ret_adopted);

/* Sends an order; in dry-run mode the manager never calls this. Returns 0 or a negative errno. */
int vim_vm_send_order(VimVm *vm, AcsOrderKind kind, uint32_t count, const char *container);
/* Matches an ack to its order; returns false for an ack of nothing we sent. */
bool vim_vm_ack_order(VimVm *vm, const AcsAck *ack);

/* Changes the state; logs it as ACS_EVENT=event with the reason unless event is NULL. */
void vim_vm_set_state(VimVm *vm, VimVmState state, const char *event, const char *reason);

/* Whether its VMM is expected to report: it is up and registered. */
static inline bool vim_vm_is_up(const VimVm *vm) {
        return vm->state == VIM_VM_REGISTERED || vm->state == VIM_VM_ACTIVE || vm->state == VIM_VM_DRAINING ||
               vm->state == VIM_VM_STANDBY || vm->state == VIM_VM_UNREACHABLE;
}

/* Whether its containers count as capacity: up, and it reported within the grace period. */
static inline bool vim_vm_is_reachable(const VimVm *vm) {
        return vim_vm_is_up(vm) && vm->state != VIM_VM_UNREACHABLE;
}

/* Whether orders may go to it now. */
static inline bool vim_vm_can_order(const VimVm *vm) {
        return vm->link && vm->state != VIM_VM_UNREACHABLE;
}

/* Containers that occupy a slot: every container, plus adds on their way. */
unsigned vim_vm_used_slots(const VimVm *vm);
/* Containers that are not draining. */
unsigned vim_vm_count_serving(const VimVm *vm);
/* Forgets adds that never showed up (the VMM failed them without saying so). */
void vim_vm_expire_pending_adds(VimVm *vm, usec_t now);
/* Forgets everything in flight on the link (it closed). */
void vim_vm_forget_orders(VimVm *vm);

const char *vim_vm_state_to_string(VimVmState s);

/* A VM decision in dry-run mode: logged as ACS_EVENT=event, once until a different one. */
void vim_vm_dry_run_decision(VimVm *vm, const char *event, const char *format, ...) _printf_(3, 4);
