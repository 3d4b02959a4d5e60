/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
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

int ctl_bus_call(sd_bus *bus, const char *service, const char *path, const char *interface, const char *method,
                 const char *what, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, service, path, interface, method);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m");
        /* Let polkit ask for a password when a person runs this on a terminal. */
        (void) sd_bus_message_set_allow_interactive_authorization(m, true);
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return log_error_errno(r, "Failed to build the call: %m");
        }
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return ctl_log_call_error(r, &error, what);
        return 0;
}

int ctl_parse_count(const char *s, uint32_t *ret) {
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || !end || end == s || *end || s[0] == '-' || v > 100000)
                return log_error_errno(EINVAL, "\"%s\" is not a container count.", s);
        *ret = (uint32_t) v;
        return 0;
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
