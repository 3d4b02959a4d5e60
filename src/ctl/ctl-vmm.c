/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-bus-names.h"
#include "acs-log.h"
#include "ctl-bus.h"
#include "ctl-vmm.h"

#define VMM_IFACE VMM_SERVICE

int ctl_vmm_status(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *name = NULL, *state = NULL;
        uint32_t capacity = 0, min = 0, desired = 0;
        int vim = 0, docker = 0;
        double cpu = 0;
        const char *id, *address, *cstate;
        uint16_t port;
        uint64_t mem;
        double util;
        int r;

        r = sd_bus_get_property_string(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "Name", &error, &name);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the VMM's state");
        if ((r = sd_bus_get_property_string(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "State", &error, &state)) < 0 ||
            (r = sd_bus_get_property_trivial(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "Capacity", &error, 'u', &capacity)) < 0 ||
            (r = sd_bus_get_property_trivial(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "MinContainers", &error, 'u', &min)) < 0 ||
            (r = sd_bus_get_property_trivial(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "DesiredContainers", &error, 'u', &desired)) < 0 ||
            (r = sd_bus_get_property_trivial(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "CpuUtilization", &error, 'd', &cpu)) < 0 ||
            (r = sd_bus_get_property_trivial(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "VimConnected", &error, 'b', &vim)) < 0 ||
            (r = sd_bus_get_property_trivial(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "DockerConnected", &error, 'b', &docker)) < 0)
                return ctl_log_call_error(r, &error, "Failed to read the VMM's state");

        printf("VM %s: %s, %u desired (min %u, capacity %u), CPU %.0f%%, VIM %s, Docker %s\n\n", name, state,
               desired, min, capacity, cpu * 100, vim ? "connected" : "not connected",
               docker ? "connected" : "not reachable");

        r = sd_bus_get_property(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "Containers", &error, &reply, "a" ACS_BUS_CONTAINER_SIGNATURE);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the VMM's containers");
        r = sd_bus_message_enter_container(reply, 'a', ACS_BUS_CONTAINER_SIGNATURE);
        if (r < 0)
                return log_error_errno(r, "Unexpected Containers property: %m");
        printf("%-12s %-22s %-9s %6s %10s\n", "CONTAINER", "ADDRESS", "STATE", "CPU", "MEMORY");
        while ((r = sd_bus_message_read(reply, ACS_BUS_CONTAINER_SIGNATURE, &id, &address, &port, &cstate, &util, &mem)) > 0) {
                char where[64], size[32];

                (void) snprintf(where, sizeof(where), "%s:%u", address, port);
                printf("%-12.12s %-22s %-9s %5.0f%% %10s\n", id, where, cstate, util * 100,
                       ctl_format_bytes(size, sizeof(size), mem));
        }
        if (r < 0)
                return log_error_errno(r, "Unexpected Containers property: %m");
        return 0;
}

int ctl_vmm_scale_to(sd_bus *bus, const char *count) {
        uint32_t n;
        int r;

        r = ctl_parse_count(count, &n);
        if (r < 0)
                return r;
        r = ctl_bus_call(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, "ScaleTo", "Failed to scale the VM", "u", n);
        if (r >= 0)
                printf("Scaling this VM to %u containers.\n", n);
        return r;
}

int ctl_vmm_call_id(sd_bus *bus, const char *method, const char *arg) {
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "%s failed", method) < 0)
                return log_oom();
        if (!arg)
                return ctl_bus_call(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, method, what, NULL);
        return ctl_bus_call(bus, VMM_SERVICE, VMM_PATH, VMM_IFACE, method, what, "s", arg);
}
