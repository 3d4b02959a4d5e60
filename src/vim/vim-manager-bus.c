/* SPDX-License-Identifier: MIT */
/*
 * org.acs.VIM1 at /org/acs/VIM1: the backend set for the proxy, the cluster model and the
 * policy as properties, and the changes an operator may make (each checked before it happens).
 */
#include <stdlib.h>
#include <unistd.h>

#include "acs-bus-names.h"
#include "acs-bus-util.h"
#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-polkit.h"
#include "vim-backends.h"
#include "vim-manager.h"
#include "vim-policy.h"

static int method_get_backends(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        VimManager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "t", m->backends->generation);
        if (r < 0)
                return r;
        r = vim_backends_append(m, reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int scale_read(VimManager *m, sd_bus_message *msg, uint32_t *ret, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(msg, "u", ret);
        if (r < 0)
                return r;
        if (*ret > m->policy.max_replicas || *ret < m->policy.min_replicas)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Replicas %u outside min_replicas..max_replicas (%u..%u).", *ret,
                                         m->policy.min_replicas, m->policy.max_replicas);
        return 0;
}

static int scale_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        uint32_t replicas;
        char who[128];
        int r;

        r = sd_bus_message_rewind(msg, true);
        if (r >= 0)
                r = scale_read(m, msg, &replicas, error);
        if (r < 0)
                return r;
        acs_bus_describe_caller(msg, who, sizeof(who));
        r = vim_scaler_scale_to(m, replicas, who);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to scale: %m");
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_scale(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        uint32_t replicas;
        int r;

        /* Refuse bad arguments before asking anyone; change nothing before polkit said yes. */
        r = scale_read(m, msg, &replicas, error);
        if (r < 0)
                return r;
        return acs_polkit_check_async(msg, "org.acs.scale", "scale the service", scale_authorized, m, error);
}

static int read_policy_variant(sd_bus_message *msg, AcsPolicy *p, const char *key, sd_bus_error *error) {
        const char *contents;
        char type;
        int r, kind = vim_policy_key_kind(key);

        if (kind < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown policy key \"%s\".", key);
        r = sd_bus_message_peek_type(msg, &type, &contents);
        if (r < 0)
                return r;

        if (streq(contents, "d") || streq(contents, "u") || streq(contents, "t") || streq(contents, "i")) {
                union { double d; uint32_t u; uint64_t t; int32_t i; } v;
                double x;

                r = sd_bus_message_read(msg, "v", contents, &v);
                if (r < 0)
                        return r;
                x = contents[0] == 'd' ? v.d : contents[0] == 'u' ? v.u : contents[0] == 't' ? (double) v.t : v.i;
                r = vim_policy_set_number(p, key, x);
        } else if (streq(contents, "s")) {
                const char *s;

                r = sd_bus_message_read(msg, "v", "s", &s);
                if (r < 0)
                        return r;
                r = vim_policy_set_string(p, key, s);
        } else if (streq(contents, "b")) {
                int b;

                r = sd_bus_message_read(msg, "v", "b", &b);
                if (r < 0)
                        return r;
                r = vim_policy_set_bool(p, key, b);
        } else
                r = -EINVAL;

        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Policy key \"%s\": wrong type (%s) or value.", key, contents);
        return 0;
}

static int policy_read(VimManager *m, sd_bus_message *msg, AcsPolicy *ret, sd_bus_error *error) {
        AcsPolicy p = m->policy;
        const char *what;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(msg, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                r = read_policy_variant(msg, &p, key, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        if (acs_policy_validate(&p, &what) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid policy: %s.", what);
        *ret = p;
        return 0;
}

static int set_policy_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        AcsPolicy p;
        char who[128];
        int r;

        r = sd_bus_message_rewind(msg, true);
        if (r >= 0)
                r = policy_read(m, msg, &p, error);
        if (r < 0)
                return r;
        acs_bus_describe_caller(msg, who, sizeof(who));
        m->policy = p;
        vim_manager_policy_changed(m, who);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_set_policy(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        AcsPolicy p;
        int r;

        r = policy_read(m, msg, &p, error);
        if (r < 0)
                return r;
        return acs_polkit_check_async(msg, "org.acs.manage", "change the scaling policy", set_policy_authorized, m,
                                      error);
}

static int drain_read(VimManager *m, sd_bus_message *msg, const char **ret, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(msg, "s", ret);
        if (r < 0)
                return r;
        if (!vim_manager_find_container(m, *ret))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "No container \"%s\".", *ret);
        return 0;
}

static int drain_authorized(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        const char *id;
        char who[128];
        int r;

        r = sd_bus_message_rewind(msg, true);
        if (r >= 0)
                r = drain_read(m, msg, &id, error);
        if (r < 0)
                return r;
        acs_bus_describe_caller(msg, who, sizeof(who));
        r = vim_scaler_drain(m, id, who);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to drain %s: %m", id);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_drain(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *id;
        int r = drain_read(userdata, msg, &id, error);

        if (r < 0)
                return r;
        return acs_polkit_check_async(msg, "org.acs.drain", "drain a container", drain_authorized, userdata, error);
}

static int property_get_backends(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;

        return vim_backends_append(m, reply);
}

static int property_get_policy(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < vim_policy_n_keys(); i++) {
                const char *key = vim_policy_key(i);

                switch (vim_policy_key_kind(key)) {
                case VIM_POLICY_DOUBLE:
                        r = sd_bus_message_append(reply, "{sv}", key, "d", vim_policy_get_number(&m->policy, i));
                        break;
                case VIM_POLICY_CHOICE:
                        r = sd_bus_message_append(reply, "{sv}", key, "s", vim_policy_get_string(&m->policy, i) ?: "");
                        break;
                case VIM_POLICY_BOOL:
                        r = sd_bus_message_append(reply, "{sv}", key, "b", (int) m->policy.dry_run);
                        break;
                default:
                        r = sd_bus_message_append(reply, "{sv}", key, "u",
                                                  (uint32_t) vim_policy_get_number(&m->policy, i));
                        break;
                }
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_generation(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VimManager *m = userdata;

        return sd_bus_message_append(reply, "t", m->backends->generation);
}

static int property_get_role(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", vim_role_to_string(vim_manager_role(userdata)));
}

static int property_get_leader_address(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", vim_manager_leader_address(userdata));
}

static const sd_bus_vtable vim_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* Large arrays (a thousand VMs, ten thousand backends): the change signal names them
         * without their value; who cares reads them, the proxy calls GetBackends() anyway. */
        SD_BUS_PROPERTY("VMs", "a" ACS_BUS_VM_SIGNATURE, vim_vm_bus_property_get_vms, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("VmFailures", "a{ss}", vim_vm_bus_property_get_vm_failures, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Backends", "a" ACS_BUS_BACKEND_SIGNATURE, property_get_backends, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Policy", "a{sv}", property_get_policy, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Generation", "t", property_get_generation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Desired", "u", NULL, offsetof(VimManager, desired), 0),
        SD_BUS_PROPERTY("Role", "s", property_get_role, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LeaderAddress", "s", property_get_leader_address, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("GetBackends", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("t", generation, "a" ACS_BUS_BACKEND_SIGNATURE, backends), method_get_backends,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Scale", SD_BUS_ARGS("u", replicas), SD_BUS_NO_RESULT, method_scale,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetPolicy", SD_BUS_ARGS("a{sv}", policy), SD_BUS_NO_RESULT, method_set_policy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Activate", SD_BUS_ARGS("s", vm), SD_BUS_NO_RESULT, vim_vm_bus_method_activate,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Standby", SD_BUS_ARGS("s", vm), SD_BUS_NO_RESULT, vim_vm_bus_method_standby,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PowerOn", SD_BUS_ARGS("s", vm), SD_BUS_NO_RESULT, vim_vm_bus_method_power_on,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PowerOff", SD_BUS_ARGS("s", vm), SD_BUS_NO_RESULT, vim_vm_bus_method_power_off,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Drain", SD_BUS_ARGS("s", container), SD_BUS_NO_RESULT, method_drain,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("BackendsChanged", SD_BUS_ARGS("t", generation), 0),
        SD_BUS_VTABLE_END,
};

void vim_manager_bus_emit_backends_changed(VimManager *m, uint64_t generation) {
        int r;

        vim_cluster_backends_changed(m);
        if (!m->bus)
                return;
        r = sd_bus_emit_signal(m->bus, ACS_VIM_BUS_PATH, ACS_VIM_BUS_INTERFACE, "BackendsChanged", "t", generation);
        if (r < 0)
                log_warning_errno(r, "Failed to emit BackendsChanged, ignoring: %m");
        (void) sd_bus_emit_properties_changed(m->bus, ACS_VIM_BUS_PATH, ACS_VIM_BUS_INTERFACE, "Backends", "Generation",
                                              NULL);
}

/* A failed VM's reason changes with its state, so both are announced together. */
void vim_manager_bus_emit_vms_changed(VimManager *m) {
        if (m->bus)
                (void) sd_bus_emit_properties_changed(m->bus, ACS_VIM_BUS_PATH, ACS_VIM_BUS_INTERFACE, "VMs", "VmFailures",
                                                      NULL);
}

void vim_manager_bus_emit_properties(VimManager *m, const char *property) {
        if (m->bus)
                (void) sd_bus_emit_properties_changed(m->bus, ACS_VIM_BUS_PATH, ACS_VIM_BUS_INTERFACE, property, NULL);
}

int vim_manager_bus_start(VimManager *m) {
        int r;

        r = acs_bus_serve(m->bus_address, m->event, ACS_VIM_BUS_PATH, ACS_VIM_BUS_INTERFACE, vim_vtable, m,
                          &m->bus_slot_vtable, &m->bus);
        if (r < 0)
                return r;
        /* The name comes later (vim_manager_bus_own_name()): a proxy asks for the backends as
         * soon as the name has an owner, and a VIM that just started knows none yet. */
        return 0;
}

int vim_manager_bus_own_name(VimManager *m) {
        int r;

        if (m->bus_name_owned)
                return 0;       /* as a standby first, now as the leader */
        r = sd_bus_request_name(m->bus, ACS_VIM_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to own org.acs.VIM1: %m");
        m->bus_name_owned = true;
        log_info("Owning org.acs.VIM1 with %zu backends.", m->backends->n_items);
        return 0;
}
