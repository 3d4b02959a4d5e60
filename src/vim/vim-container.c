/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "acs-macro.h"
#include "vim-container.h"
#include "vim-vm.h"

/* The proxy polls once a second; a count older than this is not trusted. */
#define PROXY_STATS_FRESH (3 * USEC_PER_SEC)

VimContainer *vim_container_new(VimVm *vm, const AcsContainerInfo *info) {
        _cleanup_free_ VimContainer *c = NULL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        (void) snprintf(c->id, sizeof(c->id), "%s", info->id);
        c->address = strdup(info->address);
        if (!c->address)
                return NULL;
        (void) vim_container_update(c, info);

        if (vim_vm_add_container(vm, c) < 0) {
                free(c->address);
                return NULL;
        }
        return TAKE_PTR(c);
}

VimContainer *vim_container_free(VimContainer *c) {
        if (!c)
                return NULL;
        if (c->vm)
                vim_vm_remove_container(c->vm, c);
        free(c->address);
        return mfree(c);
}

bool vim_container_update(VimContainer *c, const AcsContainerInfo *info) {
        bool changed = c->state != info->state || c->port != info->port || c->cpu_limit != info->cpu_limit ||
                       !streq(c->address, info->address);

        if (!streq(c->address, info->address)) {
                char *a = strdup(info->address);

                if (a) {
                        free(c->address);
                        c->address = a;
                }
        }
        c->port = info->port;
        c->state = info->state;
        c->cpu = info->cpu;
        c->cpu_limit = info->cpu_limit;
        c->mem = info->mem;
        c->in_flight = info->in_flight;
        return changed;
}

AcsContainerState vim_container_effective_state(const VimContainer *c) {
        return c->drain_started > 0 ? ACS_CONTAINER_DRAINING : c->state;
}

uint32_t vim_container_in_flight(const VimContainer *c, usec_t now) {
        if (c->proxy_seen > 0 && c->proxy_seen + PROXY_STATS_FRESH >= now)
                return c->proxy_in_flight;
        return c->in_flight;
}
