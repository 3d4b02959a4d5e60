/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

/*
 * Connects to a bus the way every ACS program names one: address NULL = the system bus,
 * "user" = the user bus, anything else a D-Bus address (a private bus for tests, each simulated
 * VM's own bus in the demo). The connection is started and says Hello as a bus client.
 * Returns 0 or a negative errno; logging is the caller's, which knows what the bus was for.
 */
int acs_bus_open(const char *address, sd_bus **ret);

/* A daemon's side of the bus: connects as acs_bus_open() does, publishes vtable on path and
 * interface (the slot in *ret_slot when not NULL, else floating) and attaches the connection to
 * event. Errors are logged. Owning the name is the caller's: when is its choice. */
int acs_bus_serve(const char *address, sd_event *event, const char *path, const char *interface,
                  const sd_bus_vtable *vtable, void *userdata, sd_bus_slot **ret_slot, sd_bus **ret);

/* --bus=system|user of every program: the address acs_bus_open() takes for it (NULL or "user"),
 * or a logged refusal and -EINVAL. */
int acs_bus_address_from_option(const char *value, const char **ret_address);

/* "system", "user" or the address, for log messages. */
static inline const char *acs_bus_describe(const char *address) {
        return !address ? "system" : address;
}
