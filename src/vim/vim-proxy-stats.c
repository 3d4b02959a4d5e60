/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "acs-bus-util.h"
#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vim-manager.h"
#include "vim-proxy-stats.h"

/* Four times a second: the in-flight counts are the leading signal of a load step. */
#define PROXY_POLL_INTERVAL (250 * USEC_PER_MSEC)
#define PROXY_CALL_TIMEOUT (800 * USEC_PER_MSEC)
#define PROXY_RATE_INTERVAL USEC_PER_SEC

/* The containers by (port, address), for one lookup per backend the proxy reports: with ten
 * thousand backends a linear search each would be a hundred million comparisons a second. */
typedef struct BackendIndex {
        VimContainer **items;
        size_t n;
} BackendIndex;

static int container_compare(const void *a, const void *b) {
        const VimContainer *x = *(VimContainer *const *) a, *y = *(VimContainer *const *) b;

        if (x->port != y->port)
                return x->port < y->port ? -1 : 1;
        return strcmp(x->address, y->address);
}

static int backend_index_build(VimManager *m, BackendIndex *ret) {
        size_t total = 0;

        for (size_t i = 0; i < m->n_vms; i++)
                total += m->vms[i]->n_containers;
        ret->n = 0;
        ret->items = calloc(MAX(total, (size_t) 1), sizeof(*ret->items));
        if (!ret->items)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_vms; i++)
                for (size_t k = 0; k < m->vms[i]->n_containers; k++)
                        ret->items[ret->n++] = m->vms[i]->containers[k];
        qsort(ret->items, ret->n, sizeof(*ret->items), container_compare);
        return 0;
}

static VimContainer *backend_index_find(const BackendIndex *index, const char *address, uint16_t port) {
        VimContainer key = { .address = (char *) address, .port = port }, *k = &key, **found;

        found = bsearch(&k, index->items, index->n, sizeof(*index->items), container_compare);
        return found ? *found : NULL;
}

/* The proxy's verdict on a backend changed: an event for the journal and the dashboard. */
static void backend_health_changed(VimContainer *c, const char *health) {
        int level = streq(health, "down") ? LOG_WARNING : LOG_INFO;

        log_event(level, "health", c->vm ? c->vm->name : NULL, c->id, "Backend %s:%u (%.12s on %s) at the proxy: %s -> %s.",
                  c->address, c->port, c->id, c->vm ? c->vm->name : "?", c->proxy_health[0] ? c->proxy_health : "new",
                  health);
        (void) snprintf(c->proxy_health, sizeof(c->proxy_health), "%s", health);
}

typedef struct StatsSum {
        const BackendIndex *index;
        usec_t now;
        uint64_t requests, errors;
        uint32_t in_flight;
        double p99;
} StatsSum;

static void proxy_stats_add(const AcsBackendStats *s, void *userdata) {
        StatsSum *sum = userdata;
        VimContainer *c;

        sum->requests += s->requests;
        sum->errors += s->errors;
        sum->in_flight += s->in_flight;
        sum->p99 = MAX(sum->p99, (double) s->p99_usec / 1000.0);
        c = backend_index_find(sum->index, s->address, s->port);
        if (c) {
                c->proxy_in_flight = s->in_flight;
                c->proxy_seen = sum->now;
                if (!streq(c->proxy_health, s->health))
                        backend_health_changed(c, s->health);
        }
}

static int proxy_stats_read(VimProxyStats *p, sd_bus_message *reply) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        _cleanup_free_ VimContainer **items = NULL;
        BackendIndex index;
        StatsSum sum = { .index = &index, .now = now };
        uint64_t requests;
        int r;

        r = backend_index_build(p->manager, &index);
        if (r < 0)
                return r;
        items = index.items;
        r = acs_bus_read_backend_stats(reply, proxy_stats_add, &sum);
        if (r < 0)
                return r;
        requests = sum.requests;

        /* The rate over a second or more: a quarter-second count of a few requests is noise. */
        if (p->prev_time == 0 || requests < p->prev_requests) {
                p->prev_requests = requests;
                p->prev_time = now;
        } else if (now >= p->prev_time + PROXY_RATE_INTERVAL) {
                p->requests_per_s = (double) (requests - p->prev_requests) * USEC_PER_SEC / (now - p->prev_time);
                p->prev_requests = requests;
                p->prev_time = now;
        }
        p->requests_total = requests;
        p->errors_total = sum.errors;
        p->in_flight = sum.in_flight;
        p->p99_ms = sum.p99;
        return 0;
}

static int proxy_stats_on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        VimProxyStats *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        p->call = sd_bus_slot_unref(p->call);
        if (e) {
                if (p->available)
                        log_info("The proxy stopped answering GetBackendStats: %s", e->message ?: e->name);
                p->available = false;
                p->requests_per_s = 0;
                return 0;
        }
        r = proxy_stats_read(p, reply);
        if (r < 0) {
                log_warning_errno(r, "Failed to read the proxy's backend statistics, ignoring: %m");
                return 0;
        }
        if (!p->available)
                log_info("Reading backend statistics from the proxy.");
        p->available = true;
        vim_scaler_leading_signal(p->manager);
        return 0;
}

static int proxy_stats_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        VimProxyStats *p = userdata;
        int r;

        (void) sd_event_source_set_time_relative(s, PROXY_POLL_INTERVAL);
        if (p->call)
                return 0; /* the previous call is still out */
        r = acs_bus_call_backend_stats(p->bus, &p->call, true, PROXY_CALL_TIMEOUT, proxy_stats_on_reply, p);
        if (r < 0)
                log_debug_errno(r, "Failed to call GetBackendStats, ignoring: %m");
        return 0;
}

int vim_proxy_stats_start(VimManager *m) {
        _cleanup_free_ VimProxyStats *p = NULL;
        const char *address = m->settings.proxy_bus_address;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return log_oom();
        p->manager = m;

        if (address[0]) {
                r = acs_bus_open(address, &p->bus);
                if (r >= 0)
                        r = sd_bus_attach_event(p->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0) {
                        p->bus = sd_bus_flush_close_unref(p->bus);
                        return log_error_errno(r, "Failed to connect to the proxy's bus %s: %m", address);
                }
                p->own_bus = true;
        } else
                p->bus = sd_bus_ref(m->bus);

        r = sd_event_add_time_relative(m->event, &p->timer, CLOCK_MONOTONIC, PROXY_POLL_INTERVAL,
                                       50 * USEC_PER_MSEC, proxy_stats_on_timer, p);
        if (r < 0) {
                vim_proxy_stats_free(TAKE_PTR(p));
                return log_error_errno(r, "Failed to arm the proxy statistics timer: %m");
        }
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ON);
        m->proxy_stats = TAKE_PTR(p);
        return 0;
}

VimProxyStats *vim_proxy_stats_free(VimProxyStats *p) {
        if (!p)
                return NULL;
        sd_event_source_unref(p->timer);
        sd_bus_slot_unref(p->call);
        if (p->own_bus)
                sd_bus_flush_close_unref(p->bus);
        else
                sd_bus_unref(p->bus);
        return mfree(p);
}
