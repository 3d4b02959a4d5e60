/* SPDX-License-Identifier: MIT */
/*
 * Bare lists for scripts and shell completion: one name a line, no header, nothing else, so
 * that `acsctl list-vms` can feed a loop or a completion function without parsing a table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-bus-names.h"
#include "acs-log.h"
#include "ctl-bus.h"
#include "ctl-list.h"

/* Prints the first string of each struct in the array property (its signature "a(s...)"). */
static int print_first_strings(sd_bus *bus, const char *service, const char *path, const char *property,
                               const char *signature) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *contents = signature + 1;                            /* "(s...)" */
        _cleanup_free_ char *rest = strndup(signature + 3, strlen(signature) - 4); /* "..." */
        int r;

        if (!rest)
                return log_oom();

        r = sd_bus_get_property(bus, service, path, service, property, &error, &reply, signature);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the daemon's state");
        r = sd_bus_message_enter_container(reply, 'a', contents);
        if (r < 0)
                return log_error_errno(r, "Unexpected %s property: %m", property);
        while ((r = sd_bus_message_enter_container(reply, 'r', NULL)) > 0) {
                const char *s;

                r = sd_bus_message_read(reply, "s", &s);
                if (r < 0)
                        return log_error_errno(r, "Unexpected %s property: %m", property);
                printf("%s\n", s);
                r = sd_bus_message_skip(reply, rest);
                if (r < 0)
                        return log_error_errno(r, "Unexpected %s property: %m", property);
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return log_error_errno(r, "Unexpected %s property: %m", property);
        }
        if (r < 0)
                return log_error_errno(r, "Unexpected %s property: %m", property);
        return 0;
}

/* The container id is the last field of a backend: (address, port, weight, state, vm, id). */
static int print_backend_containers(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *address, *state, *vm, *container;
        uint16_t port;
        uint32_t weight;
        int r;

        r = sd_bus_get_property(bus, VIM_SERVICE, VIM_PATH, VIM_SERVICE, "Backends", &error, &reply, "a" ACS_BUS_BACKEND_SIGNATURE);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the VIM's state");
        r = sd_bus_message_enter_container(reply, 'a', ACS_BUS_BACKEND_SIGNATURE);
        if (r < 0)
                return log_error_errno(r, "Unexpected Backends property: %m");
        while ((r = sd_bus_message_read(reply, ACS_BUS_BACKEND_SIGNATURE, &address, &port, &weight, &state, &vm, &container)) > 0)
                if (*container)
                        printf("%s\n", container);
        if (r < 0)
                return log_error_errno(r, "Unexpected Backends property: %m");
        return 0;
}

int ctl_list_vms(sd_bus *bus) {
        return print_first_strings(bus, VIM_SERVICE, VIM_PATH, "VMs", "a" ACS_BUS_VM_SIGNATURE);
}

int ctl_list_containers(sd_bus *bus, bool vmm) {
        if (vmm)
                return print_first_strings(bus, VMM_SERVICE, VMM_PATH, "Containers", "a" ACS_BUS_CONTAINER_SIGNATURE);
        return print_backend_containers(bus);
}
