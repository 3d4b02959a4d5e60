/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A container of the service, as its VMM last reported it, plus what the VIM itself knows of it:
 * whether the VIM is draining it, and the proxy's live counts for it.
 */

#include <stdbool.h>
#include <stdint.h>

#include "acs-proto.h"
#include "acs-time.h"

typedef struct VimVm VimVm;

typedef struct VimContainer {
        VimVm *vm;
        char id[ACS_PROTO_CONTAINER_ID_LEN + 1];
        char *address;
        uint16_t port;
        AcsContainerState state;        /* as the VMM reports it */
        double cpu;                     /* utilization against its limit */
        double cpu_limit;
        uint64_t mem;
        uint32_t in_flight;             /* the VMM's count */

        /* the proxy's view (vim-proxy-stats.c) */
        uint32_t proxy_in_flight;
        usec_t proxy_seen;              /* 0: the proxy never reported it */
        char proxy_health[16];          /* "up", "down", "draining", "slowstart"; "" before the first */

        /* draining ordered by the VIM */
        usec_t drain_started;           /* 0: not draining on our order */
        bool remove_sent;

        bool seen;                      /* mark for the sweep after a full report */
} VimContainer;

VimContainer *vim_container_new(VimVm *vm, const AcsContainerInfo *info);
/* Unhooks the container from its VM. */
VimContainer *vim_container_free(VimContainer *c);

/* Takes the reported fields; returns true when something the backend set shows changed. */
bool vim_container_update(VimContainer *c, const AcsContainerInfo *info);

/* The state the VIM acts on: draining once the VIM started draining it, whatever the VMM says. */
AcsContainerState vim_container_effective_state(const VimContainer *c);
/* In-flight requests: the proxy's count when it is fresh, else the VMM's. */
uint32_t vim_container_in_flight(const VimContainer *c, usec_t now);
