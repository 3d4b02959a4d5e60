/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "acs-bus-names.h"
#include "acs-bus-util.h"
#include "acs-macro.h"

void acs_bus_describe_caller(sd_bus_message *msg, char *buf, size_t size) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid = (uid_t) -1;

        if (sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds) >= 0)
                (void) sd_bus_creds_get_euid(creds, &uid);
        (void) snprintf(buf, size, "bus uid %d (%s)", (int) uid, strna(sd_bus_message_get_sender(msg)));
}

int acs_bus_call_backend_stats(sd_bus *bus, sd_bus_slot **ret_slot, bool auto_start, usec_t timeout,
                               sd_bus_message_handler_t callback, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &call, ACS_PROXY_BUS_NAME, ACS_PROXY_BUS_PATH,
                                           ACS_PROXY_BUS_INTERFACE, "GetBackendStats");
        if (r < 0)
                return r;
        if (!auto_start) {
                r = sd_bus_message_set_auto_start(call, false);
                if (r < 0)
                        return r;
        }
        return sd_bus_call_async(bus, ret_slot, call, callback, userdata, timeout);
}

int acs_bus_read_backend_stats(sd_bus_message *reply, AcsBackendStatsEach each, void *userdata) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', ACS_BUS_BACKEND_STATS_SIGNATURE);
        if (r < 0)
                return r;
        for (;;) {
                AcsBackendStats s;

                r = sd_bus_message_read(reply, ACS_BUS_BACKEND_STATS_SIGNATURE, &s.address, &s.port, &s.health,
                                        &s.in_flight, &s.requests, &s.errors, &s.p99_usec);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                each(&s, userdata);
        }
        return sd_bus_message_exit_container(reply);
}
