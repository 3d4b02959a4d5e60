/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "acs-bus-names.h"
#include "acs-bus-util.h"
#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-polkit.h"
#include "vmm-engine.h"
#include "vmm-manager.h"


#define VMM_ERROR_NO_SUCH_CONTAINER "org.acs.VMM1.Error.NoSuchContainer"
#define VMM_ERROR_OUT_OF_RANGE "org.acs.VMM1.Error.OutOfRange"
#define VMM_ERROR_NOT_ACTIVE "org.acs.VMM1.Error.NotActive"
#define VMM_ERROR_STARTING "org.acs.VMM1.Error.Starting"

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmmManager *m = userdata;
        return sd_bus_message_append(reply, "s", vmm_state_to_string(m->state));
}

static int property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmmManager *m = userdata;
        bool b = streq(property, "VimConnected") ? vmm_manager_vim_connected(m) : vmm_engine_is_up(m->engine);
        return sd_bus_message_append(reply, "b", b);
}

/* A container as a person reads it: one being stopped says so. */
static const char *container_bus_state(const VmmContainer *c) {
        return c->removing ? "stopping" : vmm_container_state_to_string(c->state);
}

static int property_get_containers(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmmManager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', ACS_BUS_CONTAINER_SIGNATURE);
        if (r < 0)
                return r;
        for (VmmContainer *c = m->containers; c; c = c->containers_next) {
                if (!c->id)
                        continue;
                r = sd_bus_message_append(reply, ACS_BUS_CONTAINER_SIGNATURE, c->id, m->settings.address, (uint16_t) c->port,
                                          container_bus_state(c), c->utilization, (uint64_t) c->memory);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* Turns a refusal of vmm_manager_*() into a D-Bus error with its sentence. */
static int bus_refusal(sd_bus_error *error, int r, const char *message) {
        switch (r) {
        case -ENOENT:
                return sd_bus_error_set(error, VMM_ERROR_NO_SUCH_CONTAINER, message);
        case -ERANGE:
                return sd_bus_error_set(error, VMM_ERROR_OUT_OF_RANGE, message);
        case -EBUSY:
                return sd_bus_error_set(error, VMM_ERROR_NOT_ACTIVE, message);
        case -EINVAL:
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, message);
        default:
                return sd_bus_error_set_errnof(error, r, "%s", message);
        }
}

static int reply_or_refuse(sd_bus_message *msg, sd_bus_error *error, int r, const char *message) {
        if (r < 0)
                return bus_refusal(error, r, message);
        return sd_bus_reply_method_return(msg, NULL);
}

static int scale_to_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VmmManager *m = userdata;
        char who[128], buf[256];
        uint32_t count;
        int r;

        r = sd_bus_message_read(msg, "u", &count);
        if (r < 0)
                return r;
        acs_bus_describe_caller(msg, who, sizeof(who));
        r = vmm_manager_scale_to(m, count, who, buf, sizeof(buf));
        return reply_or_refuse(msg, error, r, buf);
}

static int add_container_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VmmManager *m = userdata;
        char who[128], buf[256];
        int r;

        acs_bus_describe_caller(msg, who, sizeof(who));
        r = vmm_manager_add_container(m, who, buf, sizeof(buf));
        return reply_or_refuse(msg, error, r, buf);
}

static int remove_or_drain(sd_bus_message *msg, VmmManager *m, bool drain, sd_bus_error *error) {
        char who[128], buf[256];
        const char *id;
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        acs_bus_describe_caller(msg, who, sizeof(who));
        r = vmm_manager_remove_container(m, id, drain, m->settings.drain_time, who, buf, sizeof(buf));
        return reply_or_refuse(msg, error, r, buf);
}

static int remove_container_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return remove_or_drain(msg, userdata, false, error);
}

static int drain_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return remove_or_drain(msg, userdata, true, error);
}

static int set_state_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VmmManager *m = userdata;
        char who[128], buf[256];
        const char *state;
        int r;

        r = sd_bus_message_read(msg, "s", &state);
        if (r < 0)
                return r;
        acs_bus_describe_caller(msg, who, sizeof(who));
        r = vmm_manager_set_state(m, vmm_state_from_string(state), who, buf, sizeof(buf));
        return reply_or_refuse(msg, error, r, buf);
}

static int method_scale_to(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return acs_polkit_check_async(msg, "org.acs.scale", "scale the containers of this VM", scale_to_authorized,
                                      userdata, error);
}

static int method_add_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return acs_polkit_check_async(msg, "org.acs.scale", "add a container to this VM", add_container_authorized,
                                      userdata, error);
}

static int method_remove_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return acs_polkit_check_async(msg, "org.acs.scale", "remove a container from this VM",
                                      remove_container_authorized, userdata, error);
}

static int method_drain(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return acs_polkit_check_async(msg, "org.acs.drain", "drain a container of this VM", drain_authorized,
                                      userdata, error);
}

static int method_set_state(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return acs_polkit_check_async(msg, "org.acs.manage", "change the state of this VM", set_state_authorized,
                                      userdata, error);
}

static int method_get_backends(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        VmmManager *m = userdata;
        /* As the VIM weighs them: 100 for one CPU, proportional to the limit. */
        uint32_t weight = (uint32_t) CLAMP(lround(m->settings.cpu_limit * 100), 1L, 256L);
        int r;

        if (!m->backends_known)
                return sd_bus_error_set(error, VMM_ERROR_STARTING,
                                        "acs-vmm is still finding out which of its containers serve (is Docker up?); "
                                        "BackendsChanged follows when it knows.");

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "t", m->generation);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', ACS_BUS_BACKEND_SIGNATURE);
        if (r < 0)
                return r;
        for (VmmContainer *c = m->containers; c; c = c->containers_next) {
                if (!vmm_container_is_backend(c))
                        continue;
                r = sd_bus_message_append(reply, ACS_BUS_BACKEND_SIGNATURE, m->settings.address, (uint16_t) c->port, weight,
                                          c->state == VMM_CONTAINER_DRAINING ? "draining" : "ready",
                                          m->settings.name, c->id);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable vmm_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(VmmManager, settings.name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Capacity", "u", NULL, offsetof(VmmManager, settings.capacity), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MinContainers", "u", NULL, offsetof(VmmManager, settings.min_containers),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DesiredContainers", "u", NULL, offsetof(VmmManager, desired),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Containers", "a" ACS_BUS_CONTAINER_SIGNATURE, property_get_containers, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CpuUtilization", "d", NULL, offsetof(VmmManager, utilization),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VimConnected", "b", property_get_bool, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DockerConnected", "b", property_get_bool, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),

        SD_BUS_METHOD_WITH_ARGS("ScaleTo", SD_BUS_ARGS("u", count), SD_BUS_NO_RESULT, method_scale_to,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddContainer", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_add_container,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveContainer", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT, method_remove_container,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Drain", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT, method_drain,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetState", SD_BUS_ARGS("s", state), SD_BUS_NO_RESULT, method_set_state,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetBackends", SD_BUS_NO_ARGS, SD_BUS_RESULT("t", generation, "a" ACS_BUS_BACKEND_SIGNATURE, backends),
                                method_get_backends, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_SIGNAL_WITH_ARGS("BackendsChanged", SD_BUS_ARGS("t", generation), 0),
        SD_BUS_VTABLE_END,
};

void vmm_manager_bus_emit_backends_changed(VmmManager *m) {
        int r;

        if (!m->bus)
                return;
        r = sd_bus_emit_signal(m->bus, ACS_VMM_BUS_PATH, ACS_VMM_BUS_INTERFACE, "BackendsChanged", "t", m->generation);
        if (r < 0)
                log_warning_errno(r, "Failed to emit BackendsChanged, ignoring: %m");
}

void vmm_manager_bus_emit_changed(VmmManager *m, const char *property, ...) {
        const char *names[8] = { property };
        size_t n = 1;
        va_list ap;
        int r;

        if (!m->bus || !property)
                return;
        va_start(ap, property);
        while (n < ELEMENTSOF(names) - 1 && (names[n] = va_arg(ap, const char *)))
                n++;
        va_end(ap);
        names[n] = NULL;

        r = sd_bus_emit_properties_changed_strv(m->bus, ACS_VMM_BUS_PATH, ACS_VMM_BUS_INTERFACE, (char **) names);
        if (r < 0)
                log_warning_errno(r, "Failed to emit PropertiesChanged, ignoring: %m");
}

int vmm_manager_connect_bus(VmmManager *m, const char *address) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = acs_bus_serve(address, m->event, ACS_VMM_BUS_PATH, ACS_VMM_BUS_INTERFACE, vmm_vtable, m, NULL, &bus);
        if (r < 0)
                return r;
        r = sd_bus_request_name(bus, ACS_VMM_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire the bus name %s: %m", ACS_VMM_BUS_NAME);
        /* Losing the bus is losing our API: stop, and let the service manager restart us. */
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit on disconnect: %m");

        m->bus = TAKE_PTR(bus);
        return 0;
}
