/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "acs-bus-names.h"
#include "acs-macro.h"

#define VIM_SERVICE ACS_VIM_BUS_NAME
#define VIM_PATH ACS_VIM_BUS_PATH
#define VMM_SERVICE ACS_VMM_BUS_NAME
#define VMM_PATH ACS_VMM_BUS_PATH
#define PROXY_SERVICE ACS_PROXY_BUS_NAME
#define PROXY_PATH ACS_PROXY_BUS_PATH

/* NULL = system bus, "user" = the user bus, anything else a D-Bus address. */
int ctl_bus_open(const char *address, sd_bus **ret);

/* Logs a failed call the way a person reads it ("Access denied: ..."), returns r. */
int ctl_log_call_error(int r, const sd_bus_error *error, const char *what);

#define _cleanup_bus_error_ _cleanup_(sd_bus_error_free)

/* Calls method with the arguments types describes (sd_bus_message_append(); NULL: none), letting
 * polkit ask for a password on a terminal; a failure is logged as "what: reason" and returned. */
int ctl_bus_call(sd_bus *bus, const char *service, const char *path, const char *interface, const char *method,
                 const char *what, const char *types, ...);

/* A container count as a person types it (0..100000), or a logged -EINVAL. */
int ctl_parse_count(const char *s, uint32_t *ret);

/* "1.2 GiB"-style size into buf. */
const char *ctl_format_bytes(char *buf, size_t size, uint64_t bytes);
