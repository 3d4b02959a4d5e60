/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "acs-bus-util.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-manager.h"
#include "vmm-proxy-stats.h"
#include "vmm-uplink.h"

#define PROXY_STATS_INTERVAL (250 * USEC_PER_MSEC)
#define PROXY_STATS_ABSENT_INTERVAL USEC_PER_SEC       /* no VM-side proxy: look again now and then */
#define PROXY_STATS_TIMEOUT (500 * USEC_PER_MSEC)

struct VmmProxyStats {
        VmmManager *manager;
        sd_event_source *timer;
        sd_bus_slot *call;
        bool present;                   /* the last call was answered */
        unsigned last_reported;         /* total in flight in the last report we pushed */
};

static VmmContainer *container_by_port(VmmManager *m, unsigned port) {
        for (VmmContainer *c = m->containers; c; c = c->containers_next)
                if (c->port == port && c->id && !c->removing)
                        return c;
        return NULL;
}

typedef struct StatsSum {
        VmmManager *manager;
        unsigned total;
} StatsSum;

static void proxy_stats_add(const AcsBackendStats *s, void *userdata) {
        StatsSum *sum = userdata;
        VmmContainer *c;

        /* The VM-side proxy reaches our containers on our ports; anything else is not ours. */
        c = container_by_port(sum->manager, s->port);
        if (!c)
                return;
        c->in_flight = s->in_flight;
        c->proxy_draining = streq(s->health, "draining");
        sum->total += s->in_flight;
}

static int proxy_stats_read(VmmProxyStats *p, sd_bus_message *reply, unsigned *ret_total, unsigned *ret_ready) {
        VmmManager *m = p->manager;
        StatsSum sum = { .manager = m };
        unsigned ready = 0;
        int r;

        for (VmmContainer *c = m->containers; c; c = c->containers_next) {
                c->in_flight = 0;
                c->proxy_draining = false;
        }
        r = acs_bus_read_backend_stats(reply, proxy_stats_add, &sum);
        if (r < 0)
                return r;
        for (VmmContainer *c = m->containers; c; c = c->containers_next)
                ready += c->state == VMM_CONTAINER_READY && !c->removing;
        *ret_total = sum.total;
        *ret_ready = ready;
        return 0;
}

static int proxy_stats_on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        VmmProxyStats *p = userdata;
        VmmManager *m = p->manager;
        unsigned total, ready;
        int r;

        p->call = sd_bus_slot_unref(p->call);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                if (p->present)
                        log_info("The VM-side proxy stopped answering GetBackendStats: %s",
                                 sd_bus_message_get_error(reply)->message);
                p->present = false;
                for (VmmContainer *c = m->containers; c; c = c->containers_next)
                        c->in_flight = 0;
                return 0;
        }
        r = proxy_stats_read(p, reply, &total, &ready);
        if (r < 0) {
                log_warning_errno(r, "Failed to read the VM-side proxy's statistics, ignoring: %m");
                return 0;
        }
        if (!p->present)
                log_info("Reading in-flight requests from the VM-side proxy.");
        p->present = true;

        /* More requests waiting than containers to serve them: the VIM should hear it now. */
        if (m->uplink && total > ready && total > p->last_reported) {
                vmm_uplink_send_metrics(m->uplink);
                p->last_reported = total;
        } else if (total < p->last_reported)
                p->last_reported = total;
        return 0;
}

static int proxy_stats_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        VmmProxyStats *p = userdata;
        VmmManager *m = p->manager;
        int r;

        (void) sd_event_source_set_time_relative(s, p->present ? PROXY_STATS_INTERVAL : PROXY_STATS_ABSENT_INTERVAL);
        if (p->call || !m->bus)
                return 0;

        /* Ask only a proxy that runs: polling must never start one through bus activation. */
        r = acs_bus_call_backend_stats(m->bus, &p->call, false, PROXY_STATS_TIMEOUT, proxy_stats_on_reply, p);
        if (r < 0)
                log_debug_errno(r, "Failed to ask the VM-side proxy for its statistics, ignoring: %m");
        return 0;
}

int vmm_proxy_stats_new(VmmManager *m, VmmProxyStats **ret) {
        _cleanup_free_ VmmProxyStats *p = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->manager = m;
        r = sd_event_add_time_relative(m->event, &p->timer, CLOCK_MONOTONIC, PROXY_STATS_INTERVAL,
                                       50 * USEC_PER_MSEC, proxy_stats_on_timer, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(p->timer, "proxy-stats");
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ON);
        *ret = TAKE_PTR(p);
        return 0;
}

bool vmm_proxy_stats_present(const VmmProxyStats *p) {
        return p && p->present;
}

uint32_t vmm_container_reported_in_flight(const VmmContainer *c) {
        /* The VIM removes a draining container once we report nothing in flight: while the
         * VM-side proxy has not yet applied the drain, it may still send requests there. */
        if (c->state == VMM_CONTAINER_DRAINING && !c->proxy_draining && vmm_proxy_stats_present(c->manager->proxy_stats))
                return MAX(c->in_flight, 1U);
        return c->in_flight;
}

VmmProxyStats *vmm_proxy_stats_free(VmmProxyStats *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->timer);
        sd_bus_slot_unref(p->call);
        return mfree(p);
}
