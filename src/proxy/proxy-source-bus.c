/* SPDX-License-Identifier: MIT */
/*
 * The backend set from the controller over D-Bus: GetBackends() at start, again on every
 * BackendsChanged signal and whenever the controller's name gets a new owner. Only one call is
 * in flight; a change announced meanwhile triggers one more call when it returns. If the
 * controller vanishes, the last set stays in force.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-bus-names.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-manager.h"

static const char *source_service(Manager *m) {
        return m->settings.source == PROXY_SOURCE_VMM ? ACS_VMM_BUS_NAME : ACS_VIM_BUS_NAME;
}

static const char *source_path(Manager *m) {
        return m->settings.source == PROXY_SOURCE_VMM ? ACS_VMM_BUS_PATH : ACS_VIM_BUS_PATH;
}

static int source_fetch(Manager *m);

/* Adds one backend a controller announced to set, unless it is invalid or already there. */
int manager_backend_set_add(Manager *m, BackendSet *set, const char *address, uint16_t port, uint32_t weight,
                            const char *state) {
        Backend *b;

        if (port == 0 || weight < 1 || weight > 256 ||
            (!streq(state, "ready") && !streq(state, "draining"))) {
                log_warning("Ignoring backend %s:%u with weight %u and state \"%s\" from the controller.",
                            address, port, weight, state);
                return 0;
        }
        b = manager_backend_for(m, address, port, weight);
        if (!b) {
                log_warning("Ignoring backend with invalid address %s:%u.", address, port);
                return 0;
        }
        if (backend_set_find(set, b->name)) {
                backend_unref(b);
                return 0;
        }
        atomic_store(&b->draining, streq(state, "draining"));
        if (backend_set_add(set, b) < 0) {
                backend_unref(b);
                return -ENOMEM;
        }
        return 0;
}

/* Reads (t generation, a(squsss) backends) into a new set. */
static int source_parse_backends(Manager *m, sd_bus_message *reply, BackendSet **ret) {
        _cleanup_(backend_set_unrefp) BackendSet *set = NULL;
        uint64_t generation;
        int r;

        r = sd_bus_message_read(reply, "t", &generation);
        if (r < 0)
                return r;
        set = backend_set_new(generation, 64);
        if (!set)
                return -ENOMEM;
        r = sd_bus_message_enter_container(reply, 'a', ACS_BUS_BACKEND_SIGNATURE);
        if (r < 0)
                return r;
        for (;;) {
                const char *address, *state, *vm, *container;
                uint16_t port;
                uint32_t weight;

                r = sd_bus_message_read(reply, ACS_BUS_BACKEND_SIGNATURE, &address, &port, &weight, &state, &vm, &container);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = manager_backend_set_add(m, set, address, port, weight, state);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(set);
        return 0;
}

static int source_on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        usec_t arrived = now_usec(CLOCK_MONOTONIC), done;
        BackendSet *set = NULL;
        const sd_bus_error *e;
        uint64_t generation;
        unsigned n;
        int r;

        m->source_call_slot = sd_bus_slot_unref(m->source_call_slot);
        e = sd_bus_message_get_error(reply);
        if (e) {
                /* Not there yet, or gone: keep what we have, wait for the name to appear. */
                log_warning("GetBackends() on %s failed, keeping the current backends: %s",
                            source_service(m), e->message ?: e->name);
                goto again;
        }
        r = source_parse_backends(m, reply, &set);
        if (r < 0) {
                log_error_errno(r, "Failed to read the backends from %s, keeping the current ones: %m",
                                source_service(m));
                goto again;
        }
        n = set->n_backends;
        generation = set->generation;
        manager_set_backends(m, set);
        done = now_usec(CLOCK_MONOTONIC);
        log_info("Backend set generation %llu from %s: %u backend(s), in force %.1f ms after GetBackends() "
                 "(%.1f ms of it here).", (unsigned long long) generation, source_service(m), n,
                 (double) (done - m->source_fetch_started) / USEC_PER_MSEC,
                 (double) (done - arrived) / USEC_PER_MSEC);
        manager_backends_arrived(m);
again:
        if (m->source_refetch)
                (void) source_fetch(m);
        return 0;
}

static int source_fetch(Manager *m) {
        int r;

        if (m->source_call_slot) {
                m->source_refetch = true;
                return 0;
        }
        m->source_refetch = false;
        m->source_fetch_started = now_usec(CLOCK_MONOTONIC);
        r = sd_bus_call_method_async(m->bus, &m->source_call_slot, source_service(m), source_path(m),
                                     source_service(m), "GetBackends", source_on_reply, m, "");
        if (r < 0)
                return log_error_errno(r, "Failed to call GetBackends(): %m");
        return 0;
}

static int source_on_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        uint64_t generation = 0;

        (void) sd_bus_message_read(message, "t", &generation);
        log_debug("BackendsChanged(%llu) from %s.", (unsigned long long) generation, source_service(m));
        (void) source_fetch(m);
        return 0;
}

static int source_on_owner_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(message, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (!new_owner || !*new_owner) {
                log_warning("%s left the bus; keeping the last backend set.", name);
                return 0;
        }
        log_info("%s is on the bus, fetching its backends.", name);
        (void) source_fetch(m);
        return 0;
}

int manager_source_bus_start(Manager *m) {
        _cleanup_free_ char *rule = NULL;
        int r;

        /* The bus daemon matches a well-known sender against its current owner. */
        r = sd_bus_match_signal_async(m->bus, &m->source_signal_slot, source_service(m), source_path(m),
                                      source_service(m), "BackendsChanged", source_on_changed, NULL, m);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to BackendsChanged: %m");
        if (asprintf(&rule, "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                     source_service(m)) < 0)
                return log_oom();
        r = sd_bus_add_match_async(m->bus, &m->source_owner_slot, rule, source_on_owner_changed, NULL, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the controller's name: %m");
        return source_fetch(m);
}
