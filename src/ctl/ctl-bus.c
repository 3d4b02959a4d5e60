/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "ctl-bus.h"

int ctl_bus_open(const char *address, sd_bus **ret) {
        int r = acs_bus_open(address, ret);

        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus: %m", acs_bus_describe(address));
        return 0;
}

int ctl_log_call_error(int r, const sd_bus_error *error, const char *what) {
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return log_error_errno(r, "%s: the daemon is not running on this bus (%s).", what, error->message);
        if (error && error->message)
                return log_error_errno(r, "%s: %s", what, error->message);
        return log_error_errno(r, "%s: %m", what);
}

const char *ctl_format_bytes(char *buf, size_t size, uint64_t bytes) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) bytes;
        size_t i = 0;

        while (v >= 1024 && i + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                i++;
        }
        if (i == 0)
                (void) snprintf(buf, size, "%" PRIu64 " B", bytes);
        else
                (void) snprintf(buf, size, "%.1f %s", v, units[i]);
        return buf;
}
