/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acs-bus-names.h"
#include "acs-config.h"
#include "acs-log.h"
#include "ctl-bus.h"
#include "ctl-vim.h"

#define VIM_IFACE VIM_SERVICE

static int vim_get_property(sd_bus *bus, const char *property, const char *type, sd_bus_message **ret) {
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property(bus, VIM_SERVICE, VIM_PATH, VIM_IFACE, property, &error, ret, type);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the VIM's state");
        return 0;
}

/* Why each failed VM failed, under the table: the reason is too long for a column. */
static int print_vm_failures(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *reason;
        int r;

        r = vim_get_property(bus, "VmFailures", "a{ss}", &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{ss}");
        if (r < 0)
                return log_error_errno(r, "Unexpected VmFailures property: %m");
        while ((r = sd_bus_message_read(reply, "{ss}", &name, &reason)) > 0)
                printf("%s failed: %s\n", name, reason);
        if (r < 0)
                return log_error_errno(r, "Unexpected VmFailures property: %m");
        return 0;
}

static int print_vms(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *address, *state;
        uint32_t capacity, containers, ready;
        double cpu;
        int r;

        r = vim_get_property(bus, "VMs", "a" ACS_BUS_VM_SIGNATURE, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', ACS_BUS_VM_SIGNATURE);
        if (r < 0)
                return log_error_errno(r, "Unexpected VMs property: %m");

        printf("%-12s %-16s %-12s %9s %6s %8s\n", "VM", "ADDRESS", "STATE", "CONTAINERS", "READY", "CPU");
        while ((r = sd_bus_message_read(reply, ACS_BUS_VM_SIGNATURE, &name, &address, &state, &capacity, &containers,
                                        &ready, &cpu)) > 0) {
                char slots[32];

                (void) snprintf(slots, sizeof(slots), "%u/%u", containers, capacity);
                printf("%-12s %-16s %-12s %9s %6u %7.2f\n", name, address, state, slots, ready, cpu);
        }
        if (r < 0)
                return log_error_errno(r, "Unexpected VMs property: %m");
        return print_vm_failures(bus);
}

static int print_backends(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *address, *state, *vm, *container;
        uint16_t port;
        uint32_t weight;
        unsigned n = 0;
        int r;

        r = vim_get_property(bus, "Backends", "a" ACS_BUS_BACKEND_SIGNATURE, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', ACS_BUS_BACKEND_SIGNATURE);
        if (r < 0)
                return log_error_errno(r, "Unexpected Backends property: %m");
        printf("%-22s %-9s %6s %-12s %s\n", "BACKEND", "STATE", "WEIGHT", "VM", "CONTAINER");
        while ((r = sd_bus_message_read(reply, ACS_BUS_BACKEND_SIGNATURE, &address, &port, &weight, &state, &vm, &container)) > 0) {
                char where[64];

                (void) snprintf(where, sizeof(where), "%s:%u", address, port);
                printf("%-22s %-9s %6u %-12s %.12s\n", where, state, weight, vm, container);
                n++;
        }
        if (r < 0)
                return log_error_errno(r, "Unexpected Backends property: %m");
        if (n == 0)
                printf("(no backends)\n");
        return 0;
}

/* One value of the policy dictionary, as "Key  value"; the message stands at its variant. */
static int print_policy_value(sd_bus_message *reply, const char *key, const char *contents) {
        int r;

        r = sd_bus_message_enter_container(reply, 'v', contents);
        if (r < 0)
                return r;
        switch (contents[0]) {
        case 'd': {
                double d;
                r = sd_bus_message_read_basic(reply, 'd', &d);
                if (r >= 0)
                        printf("%-22s %g\n", key, d);
                break;
        }
        case 'u': {
                uint32_t u;
                r = sd_bus_message_read_basic(reply, 'u', &u);
                if (r >= 0)
                        printf("%-22s %u\n", key, u);
                break;
        }
        case 'b': {
                int b;
                r = sd_bus_message_read_basic(reply, 'b', &b);
                if (r >= 0)
                        printf("%-22s %s\n", key, yes_no(b));
                break;
        }
        case 's': {
                const char *s;
                r = sd_bus_message_read_basic(reply, 's', &s);
                if (r >= 0)
                        printf("%-22s %s\n", key, s);
                break;
        }
        default:
                r = sd_bus_message_skip(reply, contents);
                if (r >= 0)
                        printf("%-22s (%s)\n", key, contents);
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

/* Prints the policy dictionary; when want_key is set, returns the D-Bus type of that key in
 * *ret_type instead of printing (the VIM's own dictionary tells how to type a new value). */
static int read_policy(sd_bus *bus, const char *want_key, char *ret_type) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = vim_get_property(bus, "Policy", "a{sv}", &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return log_error_errno(r, "Unexpected Policy property: %m");

        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(reply, NULL, &contents);
                if (r < 0)
                        return r;
                type = contents[0];

                if (want_key) {
                        if (streq(key, want_key)) {
                                *ret_type = type;
                                return 1;
                        }
                        r = sd_bus_message_skip(reply, "v");
                } else
                        r = print_policy_value(reply, key, contents);
                if (r < 0)
                        return log_error_errno(r, "Unexpected Policy property: %m");
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return log_error_errno(r, "Unexpected Policy property: %m");
        if (want_key)
                return log_error_errno(ENOENT, "The VIM has no policy key \"%s\"; `acsctl policy` lists them.", want_key);
        return 0;
}

int ctl_vim_vms(sd_bus *bus) {
        return print_vms(bus);
}

int ctl_vim_backends(sd_bus *bus) {
        return print_backends(bus);
}

int ctl_vim_status(sd_bus *bus) {
        uint32_t desired = 0;
        uint64_t generation = 0;
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_trivial(bus, VIM_SERVICE, VIM_PATH, VIM_IFACE, "Desired", &error, 'u', &desired);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the VIM's state");
        r = sd_bus_get_property_trivial(bus, VIM_SERVICE, VIM_PATH, VIM_IFACE, "Generation", &error, 't', &generation);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the VIM's state");

        printf("Desired containers: %u    Backend generation: %" PRIu64 "\n\n", desired, generation);
        r = print_vms(bus);
        if (r < 0)
                return r;
        printf("\n");
        r = print_backends(bus);
        if (r < 0)
                return r;
        printf("\nPolicy:\n");
        return read_policy(bus, NULL, NULL);
}

#define call_simple(bus, method, what, types, ...) \
        ctl_bus_call(bus, VIM_SERVICE, VIM_PATH, VIM_IFACE, method, what, types, __VA_ARGS__)

int ctl_vim_scale(sd_bus *bus, const char *count) {
        uint32_t n;
        int r;

        r = ctl_parse_count(count, &n);
        if (r < 0)
                return r;
        r = call_simple(bus, "Scale", "Failed to scale", "u", n);
        if (r >= 0)
                printf("Scaling the service to %u containers.\n", n);
        return r;
}

int ctl_vim_vm_state(sd_bus *bus, const char *method, const char *vm) {
        _cleanup_free_ char *what = NULL;
        const char *verb = streq(method, "Activate") ? "activate" :
                           streq(method, "PowerOn")  ? "power on" :
                           streq(method, "PowerOff") ? "power off" : "put on standby";

        if (asprintf(&what, "Failed to %s %s", verb, vm) < 0)
                return log_oom();
        return call_simple(bus, method, what, "s", vm);
}

int ctl_vim_drain(sd_bus *bus, const char *container) {
        return call_simple(bus, "Drain", "Failed to drain", "s", container);
}

int ctl_vim_policy(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (argc <= 1)
                return read_policy(bus, NULL, NULL);

        r = sd_bus_message_new_method_call(bus, &m, VIM_SERVICE, VIM_PATH, VIM_IFACE, "SetPolicy");
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m");
        (void) sd_bus_message_set_allow_interactive_authorization(m, true);
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m");

        for (int i = 1; i < argc; i++) {
                _cleanup_free_ char *key = NULL;
                const char *eq = strchr(argv[i], '='), *value;
                char type = 0, *end = NULL;

                if (!eq || eq == argv[i])
                        return log_error_errno(EINVAL, "\"%s\": expected KEY=VALUE, e.g. target_cpu=0.5.", argv[i]);
                key = strndup(argv[i], eq - argv[i]);
                if (!key)
                        return log_oom();
                value = eq + 1;

                r = read_policy(bus, key, &type);
                if (r < 0)
                        return r;

                errno = 0;
                switch (type) {
                case 'd': {
                        double d = strtod(value, &end);
                        if (errno || end == value || *end)
                                return log_error_errno(EINVAL, "%s=%s: expected a number.", key, value);
                        r = sd_bus_message_append(m, "{sv}", key, "d", d);
                        break;
                }
                case 'u': {
                        uint32_t u;
                        r = ctl_parse_count(value, &u);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_append(m, "{sv}", key, "u", u);
                        break;
                }
                case 'b': {
                        int b = parse_boolean(value);
                        if (b < 0)
                                return log_error_errno(EINVAL, "%s=%s: expected yes or no.", key, value);
                        r = sd_bus_message_append(m, "{sv}", key, "b", b);
                        break;
                }
                case 's':
                        r = sd_bus_message_append(m, "{sv}", key, "s", value);
                        break;
                default:
                        return log_error_errno(EINVAL, "Policy key %s has a type acsctl cannot set.", key);
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to build the call: %m");
        }

        r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m");
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to change the policy");
        return read_policy(bus, NULL, NULL);
}

int ctl_vim_top(sd_bus *bus, unsigned iterations) {
        for (unsigned i = 0; iterations == 0 || i < iterations; i++) {
                char stamp[32];
                time_t t = time(NULL);
                int r;

                if (i > 0)
                        (void) sleep(1);
                (void) strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&t));
                printf("%s--- %s\n", i > 0 ? "\n" : "", stamp);
                r = print_vms(bus);
                if (r < 0)
                        return r;
                fflush(stdout);
        }
        return 0;
}
