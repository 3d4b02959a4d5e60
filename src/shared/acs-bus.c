/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"

int acs_bus_address_from_option(const char *value, const char **ret_address) {
        if (streq(value, "system"))
                *ret_address = NULL;
        else if (streq(value, "user"))
                *ret_address = "user";
        else
                return log_error_errno(EINVAL, "--bus=%s: expected system or user", value);
        return 0;
}

int acs_bus_open(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (!address)
                r = sd_bus_open_system(&bus);
        else if (streq(address, "user"))
                r = sd_bus_open_user(&bus);
        else {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int acs_bus_serve(const char *address, sd_event *event, const char *path, const char *interface,
                  const sd_bus_vtable *vtable, void *userdata, sd_bus_slot **ret_slot, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = acs_bus_open(address, &bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus: %m", acs_bus_describe(address));
        r = sd_bus_add_object_vtable(bus, ret_slot, path, interface, vtable, userdata);
        if (r < 0)
                return log_error_errno(r, "Failed to publish %s on %s: %m", interface, path);
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        *ret = TAKE_PTR(bus);
        return 0;
}
