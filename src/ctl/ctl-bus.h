/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
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

/* "1.2 GiB"-style size into buf. */
const char *ctl_format_bytes(char *buf, size_t size, uint64_t bytes);
