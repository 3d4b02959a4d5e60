/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The backend set the proxy routes to: every ready or draining container of the VMs the VIM
 * knows (never starting ones). An unreachable VM's containers stay listed: the proxy's own
 * health checks decide whether they still serve. Each change of the set increases the
 * generation and emits BackendsChanged.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "acs-time.h"

typedef struct VimManager VimManager;
typedef struct VimVm VimVm;

typedef struct VimBackend {
        const char *address;
        uint16_t port;
        uint32_t weight;        /* 1..256 */
        bool draining;
        const char *vm;
        const char *container;
} VimBackend;

/* The set itself lives with the VMs (VimVm.backends), one part each; this is what is global. */
typedef struct VimBackends {
        uint64_t generation;
        size_t n_items;         /* over all VMs */
        bool hold_signals;      /* after a restart, until the VMMs had time to register */
        bool dirty;             /* changed while signals were held */
        usec_t last_change;     /* monotonic, for the benchmark's latency and the API */
        /* In a cluster: the leader's set as the store has it, served instead of the VIM's own
         * model while it stands by, and after it took the lead until its model is rebuilt. One
         * allocation, array then strings; NULL when not following. */
        VimBackend *followed;
        size_t n_followed;
        uint64_t followed_generation;   /* the leader's generation of it */
} VimBackends;

VimBackends *vim_backends_new(void);
VimBackends *vim_backends_free(VimBackends *b);

/* Recomputes the set from the model; on change bumps the generation and (unless held) emits
 * BackendsChanged. Returns 1 when it changed, 0 when not, or a negative errno. */
int vim_backends_update(VimManager *m);
/* The same for one VM's part, after its report. */
int vim_backends_update_vm(VimManager *m, VimVm *vm);
/* Stops holding the signals; emits once if the set changed meanwhile. */
void vim_backends_release(VimManager *m);

/* Serves a copy of items, the leader's set at its generation, and emits BackendsChanged. The
 * generation served is the leader's, or one above the last served when that is higher (this
 * VIM's own count from its start): it never goes backwards. Returns 1 when taken, 0 for a set
 * not newer than the one followed, or -ENOMEM. */
int vim_backends_follow(VimManager *m, uint64_t generation, const VimBackend *items, size_t n);
/* Appends a(squsss). */
int vim_backends_append(VimManager *m, sd_bus_message *reply);
