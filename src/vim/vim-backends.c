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

static void backend_items_free(VimBackend *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(items[i].address);
                free(items[i].vm);
                free(items[i].container);
        }
        free(items);
}

VimBackends *vim_backends_free(VimBackends *b) {
        if (!b)
                return NULL;
        backend_items_free(b->items, b->n_items);
        return mfree(b);
}

static int backend_compare(const void *a, const void *b) {
        const VimBackend *x = a, *y = b;
        int r = strcmp(x->address, y->address);

        if (r != 0)
                return r;
        if (x->port != y->port)
                return x->port < y->port ? -1 : 1;
        return strcmp(x->container, y->container);
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

static int backends_compute(VimManager *m, VimBackend **ret, size_t *ret_n) {
        VimBackend *items = NULL;
        size_t n = 0, total = 0;

        for (size_t i = 0; i < m->n_vms; i++)
                total += m->vms[i]->n_containers;
        if (total > 0) {
                items = calloc(total, sizeof(*items));
                if (!items)
                        return -ENOMEM;
        }

        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                for (size_t k = 0; k < vm->n_containers; k++) {
                        VimContainer *c = vm->containers[k];
                        AcsContainerState s = vim_container_effective_state(c);
                        VimBackend *b = items + n;

                        if (s == ACS_CONTAINER_STARTING)
                                continue;
                        *b = (VimBackend) {
                                .address = strdup(c->address),
                                .port = c->port,
                                .weight = backend_weight(c),
                                .draining = s == ACS_CONTAINER_DRAINING,
                                .vm = strdup(vm->name),
                                .container = strdup(c->id),
                        };
                        n++;
                        if (!b->address || !b->vm || !b->container) {
                                backend_items_free(items, n);
                                return -ENOMEM;
                        }
                }
        }

        if (n > 1)
                qsort(items, n, sizeof(*items), backend_compare);
        *ret = items;
        *ret_n = n;
        return 0;
}

int vim_backends_update(VimManager *m) {
        VimBackends *b = m->backends;
        VimBackend *items;
        size_t n;
        bool same;
        int r;

        r = backends_compute(m, &items, &n);
        if (r < 0)
                return r;

        same = n == b->n_items;
        for (size_t i = 0; same && i < n; i++)
                same = backend_equal(items + i, b->items + i);
        if (same) {
                backend_items_free(items, n);
                return 0;
        }

        backend_items_free(b->items, b->n_items);
        b->items = items;
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
