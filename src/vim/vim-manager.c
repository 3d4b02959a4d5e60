/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-api.h"
#include "vim-backends.h"
#include "vim-manager.h"
#include "vim-policy.h"
#include "vim-proxy-stats.h"
#include "vim-state.h"
#include "vim-vm-config.h"

int vim_manager_new(sd_event *event, const AcsDaemonOptions *options, VimManager **ret) {
        _cleanup_(vim_manager_freep) VimManager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        vim_settings_init(&m->settings);
        m->config_path = strdup(options->config ?: VIM_CONFIG_FILE);
        if (!m->config_path)
                return log_oom();
        m->config_missing_ok = !options->config;
        r = vim_settings_load(&m->settings, m->config_path, m->config_missing_ok);
        if (r < 0)
                return r;
        vim_settings_to_policy(&m->settings, &m->policy);
        m->desired = m->policy.min_replicas;

        if (options->bus_address) {
                m->bus_address = strdup(options->bus_address);
                if (!m->bus_address)
                        return log_oom();
        }
        m->backends = vim_backends_new();
        if (!m->backends)
                return log_oom();
        /* After a restart the proxy keeps its last set: no signal until the VMMs re-registered. */
        m->backends->hold_signals = true;

        m->event = sd_event_ref(event);
        r = vim_vm_config_load_directory(m, m->settings.vm_directory);
        if (r < 0)
                return r;
        /* After the VMs are declared: the file names their power states. */
        r = vim_state_load(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

VimManager *vim_manager_free(VimManager *m) {
        if (!m)
                return NULL;
        m->cluster = vim_cluster_free(m->cluster);
        vim_api_free(m->api);
        vim_proxy_stats_free(m->proxy_stats);
        while (m->n_vms > 0)
                vim_vm_free(m->vms[m->n_vms - 1]);
        free(m->vms);
        acs_link_server_free(m->agents);
        sd_event_source_unref(m->scaler_timer);
        sd_bus_slot_unref(m->bus_slot_vtable);
        sd_bus_flush_close_unref(m->bus);
        vim_backends_free(m->backends);
        sd_event_unref(m->event);
        vim_settings_done(&m->settings);
        free(m->bus_address);
        free(m->config_path);
        return mfree(m);
}

/* The listening sockets systemd passed, by FileDescriptorName=: "agent", and "http" (or "api")
 * for the dashboard and API. */
static void manager_take_fds(int *ret_agent, int *ret_api) {
        _cleanup_strv_free_ char **names = NULL;
        int n = sd_listen_fds_with_names(true, &names);

        *ret_agent = *ret_api = -1;
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                if (names && names[i] && streq(names[i], "agent") && *ret_agent < 0)
                        *ret_agent = fd;
                else if (names && names[i] && (streq(names[i], "http") || streq(names[i], "api")) && *ret_api < 0)
                        *ret_api = fd;
                else {
                        log_warning("Ignoring passed socket %d named \"%s\".", fd, names && names[i] ? names[i] : "");
                        safe_close(fd);
                }
        }
}

int vim_manager_start(VimManager *m) {
        int agent_fd, api_fd, r;

        manager_take_fds(&agent_fd, &api_fd);
        m->started = now_usec(CLOCK_MONOTONIC);

        r = vim_manager_bus_start(m);
        if (r < 0)
                goto fail;
        /* With a cluster store, agents are served by the leader only. */
        if (m->settings.store == VIM_STORE_ETCD)
                r = vim_cluster_start(m, agent_fd);
        else
                r = vim_agents_start(m, agent_fd);
        agent_fd = -1;
        if (r < 0)
                goto fail;
        r = vim_api_start(m, api_fd);
        api_fd = -1;
        if (r < 0)
                goto fail;
        r = vim_proxy_stats_start(m);
        if (r < 0)
                goto fail;
        r = vim_scaler_start(m);
        if (r < 0)
                goto fail;

        log_info("Policy: target cpu %.2f, in-flight %.1f per container, %u..%u replicas, %s placement%s.",
                 m->policy.target_cpu, m->policy.target_inflight, m->policy.min_replicas, m->policy.max_replicas,
                 acs_placement_to_string(m->policy.placement), m->policy.dry_run ? ", dry run" : "");
        return 0;
fail:
        safe_close(agent_fd);
        safe_close(api_fd);
        return r;
}

int vim_manager_add_vm(VimManager *m, VimVm *vm) {
        VimVm **a = reallocarray(m->vms, m->n_vms + 1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        m->vms = a;
        m->vms[m->n_vms++] = vm;
        return 0;
}

void vim_manager_remove_vm(VimManager *m, VimVm *vm) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i] == vm) {
                        memmove(m->vms + i, m->vms + i + 1, (m->n_vms - i - 1) * sizeof(*m->vms));
                        m->n_vms--;
                        break;
                }
        vm->manager = NULL;
}

VimVm *vim_manager_find_vm(VimManager *m, const char *name) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (streq(m->vms[i]->name, name))
                        return m->vms[i];
        return NULL;
}

VimContainer *vim_manager_find_container(VimManager *m, const char *id) {
        for (size_t i = 0; i < m->n_vms; i++) {
                VimContainer *c = vim_vm_find_container(m->vms[i], id);

                if (c)
                        return c;
        }
        return NULL;
}

void vim_manager_containers_changed(VimManager *m, VimVm *vm) {
        int r = vm ? vim_backends_update_vm(m, vm) : vim_backends_update(m);

        if (r < 0)
                log_warning_errno(r, "Failed to update the backend set, ignoring: %m");
}

void vim_manager_vms_changed(VimManager *m) {
        /* Coalesced: with a thousand VMs registering at once, one VMs property of a thousand
         * entries per change would be most of the VIM's work. */
        m->vms_dirty = true;
}

void vim_manager_flush_changes(VimManager *m) {
        unsigned running, ready;

        if (!m->vms_dirty)
                return;
        m->vms_dirty = false;
        vim_manager_bus_emit_vms_changed(m);
        vim_scaler_count(m, &running, &ready);
        acs_daemon_notify_status("%zu VMs, %u/%u containers ready, %u desired.", m->n_vms, ready, running,
                                 m->desired);
}

void vim_manager_policy_changed(VimManager *m, const char *who) {
        _cleanup_(vim_json_putp) json_object *o = vim_policy_to_json(&m->policy);

        log_event(LOG_NOTICE, "policy", NULL, NULL, "Policy changed by %s: %s", who,
                  o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "?");
        vim_manager_bus_emit_properties(m, "Policy");
        vim_state_save(m);
}
