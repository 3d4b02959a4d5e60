/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * D-Bus helpers more than one daemon needs: who called (for the log lines that say who asked
 * for a change), and a typed client of the proxy's GetBackendStats(), which the VIM (the front
 * proxy's counts) and the VMM (the VM-side proxy's) both poll.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "acs-time.h"

/* "bus uid 1000 (:1.42)": the caller of msg, for the journal. */
void acs_bus_describe_caller(sd_bus_message *msg, char *buf, size_t size);

/* One backend of GetBackendStats(); the strings live as long as the reply message. */
typedef struct AcsBackendStats {
        const char *address;
        uint16_t port;
        const char *health;             /* "up", "down", "draining", "slowstart" */
        uint32_t in_flight;
        uint64_t requests;
        uint64_t errors;
        uint64_t p99_usec;
} AcsBackendStats;

typedef void (*AcsBackendStatsEach)(const AcsBackendStats *stats, void *userdata);

/* Calls org.acs.Proxy1.GetBackendStats() asynchronously; with auto_start false, a proxy that
 * does not run is not started by bus activation. Returns 0 or a negative errno. */
int acs_bus_call_backend_stats(sd_bus *bus, sd_bus_slot **ret_slot, bool auto_start, usec_t timeout,
                               sd_bus_message_handler_t callback, void *userdata);
/* Reads the reply, calling each() once per backend. Returns 0 or a negative errno (a reply that
 * is not the expected array). */
int acs_bus_read_backend_stats(sd_bus_message *reply, AcsBackendStatsEach each, void *userdata);
