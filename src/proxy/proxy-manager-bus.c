/* SPDX-License-Identifier: MIT */
/*
 * org.acs.Proxy1 at /org/acs/Proxy1: what the controller reads once a second. In-flight counts
 * per backend are its leading signal (CPU lags behind them).
 *
 *   GetBackendStats() -> a(sqsuttt): address, port, health ("up", "down", "draining",
 *       "slowstart"), in flight, requests total, errors total, p99 µs over the last 10 s
 *   RequestsTotal t, InFlight u, Generation t (read-only, no change signals: they move
 *       with every request)
 */
#include <errno.h>
#include <time.h>

#include "acs-bus-names.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-manager.h"

static int method_get_backend_stats(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(backend_set_unrefp) BackendSet *set = NULL;
        sd_bus_message *reply = NULL;
        Manager *m = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        set = manager_get_backends(m);
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', ACS_BUS_BACKEND_STATS_SIGNATURE);
        for (unsigned i = 0; r >= 0 && set && i < set->n_backends; i++) {
                Backend *b = set->backends[i];
                r = sd_bus_message_append(reply, ACS_BUS_BACKEND_STATS_SIGNATURE, b->host, b->port,
                                          backend_health_to_string(backend_health(b, now, m->settings.slow_start)),
                                          atomic_load(&b->in_flight), (uint64_t) atomic_load(&b->requests_total),
                                          (uint64_t) atomic_load(&b->errors_total),
                                          (uint64_t) backend_latency_p99(b, now));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static int property_get_requests_total(sd_bus *bus, const char *path, const char *interface,
                                       const char *property, sd_bus_message *reply, void *userdata,
                                       sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "t", (uint64_t) atomic_load(&m->requests_total));
}

static int property_get_in_flight(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply, void *userdata,
                                  sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) atomic_load(&m->in_flight));
}

static int property_get_generation(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "t", (uint64_t) atomic_load(&m->set_generation));
}

static const sd_bus_vtable proxy_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("RequestsTotal", "t", property_get_requests_total, 0, 0),
        SD_BUS_PROPERTY("InFlight", "u", property_get_in_flight, 0, 0),
        SD_BUS_PROPERTY("Generation", "t", property_get_generation, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("GetBackendStats",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a" ACS_BUS_BACKEND_STATS_SIGNATURE, stats),
                                method_get_backend_stats,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int manager_bus_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, &m->object_slot, ACS_PROXY_BUS_PATH, ACS_PROXY_BUS_INTERFACE,
                                     proxy_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register /org/acs/Proxy1: %m");
        r = sd_bus_request_name_async(m->bus, NULL, ACS_PROXY_BUS_NAME, 0, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to request the name org.acs.Proxy1: %m");
        return 0;
}
