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

/* Appends a(squsss). */
int vim_backends_append(VimManager *m, sd_bus_message *reply);
