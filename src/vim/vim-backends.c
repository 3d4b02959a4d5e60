/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "acs-bus-names.h"
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
        free(b->followed);
        return mfree(b);
}

static bool backend_equal(const VimBackend *x, const VimBackend *y) {
        return x->port == y->port && x->weight == y->weight && x->draining == y->draining &&
               streq(x->address, y->address) && streq(x->vm, y->vm) && streq(x->container, y->container);
}

/* Relative weight from the container's CPU limit: a container with twice the CPU gets twice the
 * requests. 100 for one CPU, also when the limit is unknown. */
static uint32_t backend_weight(const VimContainer *c) {
        uint32_t w = c->cpu_limit > 0 ? (uint32_t) CLAMP(lround(c->cpu_limit * 100), 1, 256) : 100;

        /* A VM does not get a bigger share of the traffic by claiming bigger containers. */
        return MIN(w, MAX(c->vm->trust.max_weight, 1u));
}

/* Fills items (borrowing the containers' strings) with vm's part of the set. */
static size_t backends_compute_vm(VimVm *vm, VimBackend *items) {
        size_t n = 0;

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

/* Recomputes vm's part of the set: 1 when it changed, 0 when not, or -ENOMEM. The set is kept
 * per VM so that one VM's report costs its own ten containers, not the whole fleet's. */
static int backends_refresh_vm(VimManager *m, VimVm *vm) {
        _cleanup_free_ VimBackend *items = NULL;
        VimBackend *copy;
        size_t n;
        bool same;

        items = calloc(MAX(vm->n_containers, (size_t) 1), sizeof(*items));
        if (!items)
                return -ENOMEM;
        n = backends_compute_vm(vm, items);

        same = n == vm->n_backends;
        for (size_t i = 0; same && i < n; i++)
                same = backend_equal(items + i, vm->backends + i);
        if (same)
                return 0;

        copy = backends_copy(items, n);
        if (!copy)
                return -ENOMEM;
        m->backends->n_items = m->backends->n_items - vm->n_backends + n;
        free(vm->backends);
        vm->backends = copy;
        vm->n_backends = n;
        return 1;
}

/* A new generation of the set: the signal, unless held. */
static void backends_changed(VimManager *m) {
        VimBackends *b = m->backends;

        b->generation++;
        b->last_change = now_usec(CLOCK_MONOTONIC);
        if (b->hold_signals) {
                b->dirty = true;
                return;
        }
        log_debug("Backend set generation %llu: %zu backends.", (unsigned long long) b->generation, b->n_items);
        vim_manager_bus_emit_backends_changed(m, b->generation);
}

int vim_backends_update_vm(VimManager *m, VimVm *vm) {
        int r = backends_refresh_vm(m, vm);

        if (r > 0)
                backends_changed(m);
        return r;
}

int vim_backends_update(VimManager *m) {
        bool changed = false;

        for (size_t i = 0; i < m->n_vms; i++) {
                int r = backends_refresh_vm(m, m->vms[i]);

                if (r < 0)
                        return r;
                changed = changed || r > 0;
        }
        if (!changed)
                return 0;
        backends_changed(m);
        return 1;
}

int vim_backends_follow(VimManager *m, uint64_t generation, const VimBackend *items, size_t n) {
        VimBackends *b = m->backends;
        VimBackend *copy;

        if (b->followed && generation <= b->followed_generation)
                return 0;
        copy = backends_copy(items, n);
        if (!copy)
                return -ENOMEM;
        free(b->followed);
        b->followed = copy;
        b->n_followed = n;
        b->followed_generation = generation;
        b->generation = MAX(generation, b->generation + 1);
        b->last_change = now_usec(CLOCK_MONOTONIC);
        log_debug("Following the leader's backend set, generation %llu: %zu backends.",
                  (unsigned long long) generation, n);
        if (m->bus)
                vim_manager_bus_emit_backends_changed(m, b->generation);
        return 1;
}

void vim_backends_release(VimManager *m) {
        VimBackends *b = m->backends;

        if (!b->hold_signals)
                return;
        b->hold_signals = false;
        /* The model is rebuilt: it replaces the leader's set it served meanwhile, with a
         * generation above it. */
        if (b->followed) {
                b->followed = mfree(b->followed);
                b->n_followed = 0;
                b->generation++;
                b->dirty = true;
        }
        if (b->dirty) {
                b->dirty = false;
                log_info("Backend set after registration: generation %llu, %zu backends.",
                         (unsigned long long) b->generation, b->n_items);
                vim_manager_bus_emit_backends_changed(m, b->generation);
        }
}

static int backends_append_items(sd_bus_message *reply, const VimBackend *items, size_t n) {
        for (size_t k = 0; k < n; k++) {
                const VimBackend *x = items + k;
                int r = sd_bus_message_append(reply, ACS_BUS_BACKEND_SIGNATURE, x->address, x->port, x->weight,
                                              x->draining ? "draining" : "ready", x->vm, x->container);

                if (r < 0)
                        return r;
        }
        return 0;
}

int vim_backends_append(VimManager *m, sd_bus_message *reply) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', ACS_BUS_BACKEND_SIGNATURE);
        if (r < 0)
                return r;
        if (m->backends->followed)
                r = backends_append_items(reply, m->backends->followed, m->backends->n_followed);
        else
                for (size_t i = 0; r >= 0 && i < m->n_vms; i++)
                        r = backends_append_items(reply, m->vms[i]->backends, m->vms[i]->n_backends);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}
