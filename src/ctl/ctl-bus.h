/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "acs-macro.h"

#define VIM_SERVICE "org.acs.VIM1"
#define VIM_PATH "/org/acs/VIM1"
#define VMM_SERVICE "org.acs.VMM1"
#define VMM_PATH "/org/acs/VMM1"
#define PROXY_SERVICE "org.acs.Proxy1"
#define PROXY_PATH "/org/acs/Proxy1"

/* NULL = system bus, "user" = the user bus, anything else a D-Bus address. */
int ctl_bus_open(const char *address, sd_bus **ret);

/* Logs a failed call the way a person reads it ("Access denied: ..."), returns r. */
int ctl_log_call_error(int r, const sd_bus_error *error, const char *what);

#define _cleanup_bus_error_ _cleanup_(sd_bus_error_free)

/* "1.2 GiB"-style size into buf. */
const char *ctl_format_bytes(char *buf, size_t size, uint64_t bytes);
