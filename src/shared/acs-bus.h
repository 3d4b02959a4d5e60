/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

/*
 * Connects to a bus the way every ACS program names one: address NULL = the system bus,
 * "user" = the user bus, anything else a D-Bus address (a private bus for tests, each simulated
 * VM's own bus in the demo). The connection is started and says Hello as a bus client.
 * Returns 0 or a negative errno; logging is the caller's, which knows what the bus was for.
 */
int acs_bus_open(const char *address, sd_bus **ret);

/* --bus=system|user of every program: the address acs_bus_open() takes for it (NULL or "user"),
 * or a logged refusal and -EINVAL. */
int acs_bus_address_from_option(const char *value, const char **ret_address);

/* "system", "user" or the address, for log messages. */
static inline const char *acs_bus_describe(const char *address) {
        return !address ? "system" : address;
}
