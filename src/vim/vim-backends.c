/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-backends.h"
#include "vim-manager.h"

VimBackends *vim_backends_new(void) {
        VimBackends *b = calloc(1, sizeof(*b));

        if (!b)
                return NULL;
        /* Counted from the wall clock, so the generation keeps increasing across restarts and a
         * proxy never mistakes a restarted VIM's set for an old one. */
        b->generation = now_usec(CLOCK_REALTIME);
        return b;
}

VimBackends *vim_backends_free(VimBackends *b) {
        if (!b)
                return NULL;
        free(b->items);
        return mfree(b);
}

static bool backend_equal(const VimBackend *x, const VimBackend *y) {
        return x->port == y->port && x->weight == y->weight && x->draining == y->draining &&
               streq(x->address, y->address) && streq(x->vm, y->vm) && streq(x->container, y->container);
}

/* Relative weight from the container's CPU limit: a container with twice the CPU gets twice the
 * requests. 100 for one CPU, also when the limit is unknown. */
static uint32_t backend_weight(const VimContainer *c) {
        if (!(c->cpu_limit > 0))
                return 100;
        return (uint32_t) CLAMP(lround(c->cpu_limit * 100), 1, 256);
}

/* Fills items (borrowing the containers' strings) with the current set. */
static size_t backends_compute(VimManager *m, VimBackend *items) {
        size_t n = 0;

        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                for (size_t k = 0; k < vm->n_containers; k++) {
                        VimContainer *c = vm->containers[k];
                        AcsContainerState s = vim_container_effective_state(c);

                        if (s == ACS_CONTAINER_STARTING)
                                continue;
                        items[n++] = (VimBackend) {
                                .address = c->address,
                                .port = c->port,
                                .weight = backend_weight(c),
                                .draining = s == ACS_CONTAINER_DRAINING,
                                .vm = vm->name,
                                .container = c->id,
                        };
                }
        }
        /* In the model's order (VMs by registration, containers as reported): stable while
         * nothing changes, so comparing with the last set needs no sort. */
        return n;
}

/* Owned copies of borrowed items, with every string in one allocation after the array. */
static VimBackend *backends_copy(const VimBackend *items, size_t n) {
        size_t bytes = n * sizeof(VimBackend);
        VimBackend *copy;
        char *p;

        for (size_t i = 0; i < n; i++)
                bytes += strlen(items[i].address) + strlen(items[i].vm) + strlen(items[i].container) + 3;
        copy = malloc(MAX(bytes, (size_t) 1));
        if (!copy)
                return NULL;
        p = (char *) (copy + n);
        for (size_t i = 0; i < n; i++) {
                copy[i] = items[i];
                copy[i].address = p;
                p = stpcpy(p, items[i].address) + 1;
                copy[i].vm = p;
                p = stpcpy(p, items[i].vm) + 1;
                copy[i].container = p;
                p = stpcpy(p, items[i].container) + 1;
        }
        return copy;
}

int vim_backends_update(VimManager *m) {
        VimBackends *b = m->backends;
        _cleanup_free_ VimBackend *items = NULL;
        VimBackend *copy;
        size_t n, total = 0;
        bool same;

        /* Computed into borrowed entries (no copy, no allocation per entry): most updates find
         * nothing changed, and a thousand VMs make ten thousand entries. */
        for (size_t i = 0; i < m->n_vms; i++)
                total += m->vms[i]->n_containers;
        items = calloc(MAX(total, (size_t) 1), sizeof(*items));
        if (!items)
                return -ENOMEM;
        n = backends_compute(m, items);

        same = n == b->n_items;
        for (size_t i = 0; same && i < n; i++)
                same = backend_equal(items + i, b->items + i);
        if (same)
                return 0;

        copy = backends_copy(items, n);
        if (!copy)
                return -ENOMEM;
        free(b->items);
        b->items = copy;
        b->n_items = n;
        b->generation++;
        b->last_change = now_usec(CLOCK_MONOTONIC);

        if (b->hold_signals) {
                b->dirty = true;
                return 1;
        }
        log_debug("Backend set generation %llu: %zu backends.", (unsigned long long) b->generation, n);
        vim_manager_bus_emit_backends_changed(m, b->generation);
        return 1;
}

void vim_backends_release(VimManager *m) {
        VimBackends *b = m->backends;

        if (!b->hold_signals)
                return;
        b->hold_signals = false;
        if (b->dirty) {
                b->dirty = false;
                log_info("Backend set after registration: generation %llu, %zu backends.",
                         (unsigned long long) b->generation, b->n_items);
                vim_manager_bus_emit_backends_changed(m, b->generation);
        }
}

int vim_backends_append(VimBackends *b, sd_bus_message *reply) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(squsss)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_items; i++) {
                VimBackend *x = b->items + i;

                r = sd_bus_message_append(reply, "(squsss)", x->address, x->port, x->weight,
                                          x->draining ? "draining" : "ready", x->vm, x->container);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}
