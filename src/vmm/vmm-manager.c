/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "acs-daemon.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-curl.h"
#include "vmm-docker.h"
#include "vmm-engine.h"
#include "vmm-manager.h"
#include "vmm-proxy-stats.h"
#include "vmm-uplink.h"

#define VMM_CREATE_BACKOFF_MAX (30 * USEC_PER_SEC)

static int manager_on_tick(sd_event_source *s, uint64_t usec, void *userdata);
static int manager_on_reconcile(sd_event_source *s, void *userdata);
static const VmmEngineCallbacks manager_engine_callbacks;

int vmm_manager_new(sd_event *event, VmmSettings *settings, VmmManager **ret) {
        _cleanup_(vmm_manager_freep) VmmManager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->settings = *settings;                /* takes the strings over */
        *settings = (VmmSettings) {};
        m->state = m->settings.state;
        m->cgroup_root = "/sys/fs/cgroup";
        m->desired = m->state == VMM_STATE_ACTIVE ? m->settings.min_containers : 0;
        acs_scale_history_reset(&m->history);
        m->vim_away_since = now_usec(CLOCK_MONOTONIC);
        /* Back-off jitter differs between VMs started at the same time. */
        srandom((unsigned) (now_usec(CLOCK_REALTIME) ^ ((usec_t) getpid() << 16)));

        r = vmm_engine_new(event, &m->settings, &manager_engine_callbacks, m, &m->engine);
        if (r < 0)
                return r;
        m->http = acs_curl_new(event);
        if (!m->http)
                return -ENOMEM;

        r = sd_event_add_time_relative(event, &m->tick, CLOCK_MONOTONIC, m->settings.monitor_interval,
                                       10 * USEC_PER_MSEC, manager_on_tick, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->tick, "monitor-tick");
        (void) sd_event_source_set_enabled(m->tick, SD_EVENT_OFF);

        r = sd_event_add_defer(event, &m->reconcile, manager_on_reconcile, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->reconcile, "reconcile");
        (void) sd_event_source_set_enabled(m->reconcile, SD_EVENT_OFF);

        *ret = TAKE_PTR(m);
        return 0;
}

int vmm_manager_new_from_config(sd_event *event, const char *path, VmmManager **ret) {
        AcsConfigError error = {};
        VmmSettings settings;
        int r;

        r = vmm_settings_init(&settings);
        if (r < 0)
                return log_oom();
        r = vmm_settings_load(&settings, path ?: VMM_CONFIG_FILE, !path, &error);
        if (r < 0) {
                log_error("%s", strna(error.message));
                acs_config_error_done(&error);
                vmm_settings_done(&settings);
                return -EBADMSG;
        }
        r = vmm_manager_new(event, &settings, ret);
        vmm_settings_done(&settings);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m");
        (*ret)->config_path = strdup(path ?: VMM_CONFIG_FILE);
        if (!(*ret)->config_path)
                return log_oom();
        (*ret)->config_missing_ok = !path;
        return 0;
}

VmmManager *vmm_manager_free(VmmManager *m) {
        if (!m)
                return NULL;
        vmm_uplink_free(m->uplink);
        vmm_proxy_stats_free(m->proxy_stats);
        /* Containers cancel their probes in m->http; Docker requests only name containers by id,
         * and are dropped without callbacks with the engine. */
        while (m->containers)
                vmm_container_free(m->containers);
        vmm_engine_free(m->engine);
        acs_curl_free(m->http);
        sd_event_source_disable_unref(m->tick);
        sd_event_source_disable_unref(m->reconcile);
        sd_bus_flush_close_unref(m->bus);
        free(m->config_path);
        sd_event_unref(m->event);
        vmm_settings_done(&m->settings);
        free(m->last_status);
        return mfree(m);
}

/* A full id, or a unique prefix of at least 12 characters as `docker ps` shows them. */
VmmContainer *vmm_manager_find_container(VmmManager *m, const char *id) {
        VmmContainer *found = NULL;
        size_t n;

        if (!id || !*id)
                return NULL;
        n = strlen(id);
        for (VmmContainer *c = m->containers; c; c = c->containers_next) {
                if (!c->id)
                        continue;
                if (streq(c->id, id))
                        return c;
                if (n >= 12 && strneq(c->id, id, n)) {
                        if (found)
                                return NULL;
                        found = c;
                }
        }
        return found;
}

unsigned vmm_manager_count(VmmManager *m, bool (*pred)(const VmmContainer *c)) {
        unsigned n = 0;

        for (VmmContainer *c = m->containers; c; c = c->containers_next)
                if (!pred || pred(c))
                        n++;
        return n;
}

bool vmm_manager_vim_connected(VmmManager *m) {
        return m->uplink && vmm_uplink_is_connected(m->uplink);
}

/* STATUS= for systemctl status: the counts a person wants at a glance. */
static void manager_notify_status(VmmManager *m) {
        _cleanup_free_ char *status = NULL;

        if (asprintf(&status, "%u ready, %u starting, %u draining, %u wanted (%s); Docker %s; VIM %s",
                     vmm_manager_count(m, vmm_container_is_ready), vmm_manager_count(m, vmm_container_is_starting),
                     vmm_manager_count(m, vmm_container_is_draining), m->desired, vmm_state_to_string(m->state),
                     vmm_engine_is_up(m->engine) ? "up" : "unreachable",
                     m->uplink ? (vmm_manager_vim_connected(m) ? "connected" : "away") : "not configured") < 0)
                return;
        if (streq_ptr(status, m->last_status))
                return;
        acs_daemon_notify_status("%s", status);
        free(m->last_status);
        m->last_status = TAKE_PTR(status);
}

void vmm_manager_containers_changed(VmmManager *m, bool backends) {
        if (backends) {
                m->generation++;
                vmm_manager_bus_emit_backends_changed(m);
                /* The VIM routes to ready containers and stops routing to draining ones: tell it
                 * now rather than at the next once-a-second report, which would add up to a
                 * second to every scale-out. */
                if (m->uplink)
                        vmm_uplink_send_metrics(m->uplink);
        }
        vmm_manager_bus_emit_changed(m, "Containers", NULL);
        manager_notify_status(m);
}

/* Until the containers found at start have been probed, the backend set would wrongly be
 * empty: a proxy that asks then would drop every backend. GetBackends() says "not yet" and
 * BackendsChanged follows once the set is known. */
static void manager_backends_known(VmmManager *m) {
        if (m->backends_known)
                return;
        m->backends_known = true;
        vmm_manager_containers_changed(m, true);
}

void vmm_manager_adoption_probed(VmmManager *m) {
        assert(m->n_adopting > 0);
        if (--m->n_adopting == 0)
                manager_backends_known(m);
}

void vmm_manager_reconcile_soon(VmmManager *m) {
        (void) sd_event_source_set_enabled(m->reconcile, SD_EVENT_ONESHOT);
}

void vmm_manager_send_event(VmmManager *m, const char *event, const char *container, const char *message) {
        if (m->uplink)
                vmm_uplink_send_event(m->uplink, event, container, message);
}

/* --- the Docker Engine's news (vmm-engine.c) */

static void manager_engine_up(VmmEngine *e, void *userdata) {
        manager_notify_status(userdata);
}

static void manager_engine_down(VmmEngine *e, bool first, bool was_up, void *userdata) {
        VmmManager *m = userdata;

        if (first)
                vmm_manager_send_event(m, "docker-down", "", "Docker Engine is not answering");
        if (was_up)
                vmm_manager_bus_emit_changed(m, "DockerConnected", NULL);
        manager_notify_status(m);
}

static void manager_engine_died(VmmEngine *e, const char *id, const char *exit_code, void *userdata) {
        VmmManager *m = userdata;
        VmmContainer *c = vmm_manager_find_container(m, id);

        if (!c || c->removing)
                return;         /* one we are stopping, or not ours */

        log_event(LOG_WARNING, "container-died", m->settings.name, c->id,
                  "Container %.12s on port %u died (exit code %s), replacing it.", c->id, c->port,
                  exit_code ?: "unknown");
        vmm_manager_send_event(m, "container-died", c->id, "the container exited; replacing it");
        /* Removal frees the port and the slot; reconcile creates the replacement right away. */
        vmm_container_remove(c, false);
        vmm_manager_reconcile_soon(m);
}

static void manager_engine_image_ready(VmmEngine *e, void *userdata) {
        vmm_manager_reconcile_soon(userdata);
}

/* Which container goes first on scale-in: one not yet serving, else the newest. */
static VmmContainer *manager_pick_victim(VmmManager *m) {
        VmmContainer *best = NULL;

        for (VmmContainer *c = m->containers; c; c = c->containers_next) {
                if (!vmm_container_counts(c))
                        continue;
                if (!best)
                        best = c;
                else if ((c->state != VMM_CONTAINER_READY) > (best->state != VMM_CONTAINER_READY))
                        best = c;
                else if ((c->state != VMM_CONTAINER_READY) == (best->state != VMM_CONTAINER_READY) &&
                         c->state_since > best->state_since)
                        best = c;
        }
        return best;
}

static void manager_reconcile(VmmManager *m) {
        unsigned want, have;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (!vmm_engine_is_ready(m->engine))
                return;

        want = m->state == VMM_STATE_ACTIVE ? m->desired : 0;
        have = vmm_manager_count(m, vmm_container_counts);

        if (have < want) {
                if (now < m->create_not_before)
                        return;
                if (m->create_failures > 0) {
                        /* Something keeps failing: wait longer each time, instead of a create per tick. */
                        usec_t backoff = MIN(VMM_CREATE_BACKOFF_MAX,
                                             (usec_t) 500 * USEC_PER_MSEC << MIN(m->create_failures, 6U));
                        m->create_not_before = now + backoff;
                }
                for (; have < want; have++)
                        if (vmm_container_create(m) < 0)
                                break;
                vmm_manager_containers_changed(m, false);
        }

        for (; have > want; have--) {
                VmmContainer *c = manager_pick_victim(m);
                if (!c)
                        break;
                vmm_container_drain(c, m->settings.drain_time);
        }

        /* A draining VM that has emptied becomes standby. */
        if (m->state == VMM_STATE_DRAINING && vmm_manager_count(m, NULL) == 0) {
                m->state = VMM_STATE_STANDBY;
                log_event(LOG_INFO, "vm-standby", m->settings.name, NULL, "VM %s drained, now on standby.",
                          m->settings.name);
                vmm_manager_bus_emit_changed(m, "State", NULL);
                if (m->uplink)
                        vmm_uplink_send_register(m->uplink);
        }
}

static int manager_on_reconcile(sd_event_source *s, void *userdata) {
        manager_reconcile(userdata);
        return 0;
}

/* The first sync after Docker came up: adopt what runs, clear out what does not. */
static void manager_engine_synced(VmmEngine *e, json_object *containers, bool back, void *userdata) {
        VmmManager *m = userdata;
        unsigned adopted = vmm_sync_containers(m, containers);

        /* At the first sync, what runs is what was wanted: a restart of the agent changes nothing. */
        if (!m->desired_known) {
                if (m->state == VMM_STATE_ACTIVE)
                        m->desired = CLAMP(adopted, m->settings.min_containers, m->settings.capacity);
                m->desired_known = true;
                vmm_manager_bus_emit_changed(m, "DesiredContainers", NULL);
        }
        if (back)
                vmm_manager_send_event(m, "docker-up", "", "Docker Engine is back");
        vmm_manager_bus_emit_changed(m, "DockerConnected", NULL);
        if (m->n_adopting == 0)
                manager_backends_known(m);
        vmm_manager_containers_changed(m, true);
        vmm_manager_reconcile_soon(m);
}

static const VmmEngineCallbacks manager_engine_callbacks = {
        .up = manager_engine_up,
        .synced = manager_engine_synced,
        .down = manager_engine_down,
        .died = manager_engine_died,
        .image_ready = manager_engine_image_ready,
};

/* --- sampling and the local policy */

static int manager_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        VmmManager *m = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        double total = 0, util = 0, old = m->utilization;
        unsigned n_ready = 0;

        for (VmmContainer *c = m->containers; c; c = c->containers_next) {
                vmm_container_sample(c, now, m->settings.cpu_limit);
                total += c->cpus;
                if (vmm_container_is_ready(c)) {
                        util += c->utilization;
                        n_ready++;
                }
        }
        m->cpus = total;
        m->utilization = n_ready > 0 ? util / n_ready : 0;
        if (fabs(old - m->utilization) >= 0.005)
                vmm_manager_bus_emit_changed(m, "CpuUtilization", NULL);

        vmm_local_policy_run(m, now);
        manager_reconcile(m);
        if (m->uplink)
                vmm_uplink_send_metrics(m->uplink);
        manager_notify_status(m);

        (void) sd_event_source_set_time_relative(s, m->settings.monitor_interval);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int vmm_manager_start(VmmManager *m) {
        int r;

        if (m->settings.vim_addresses && m->settings.vim_addresses[0]) {
                r = vmm_uplink_new(m, &m->uplink);
                if (r < 0)
                        return r;
        }
        if (m->bus) {
                r = vmm_proxy_stats_new(m, &m->proxy_stats);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up reading the VM-side proxy: %m");
        }
        vmm_engine_start(m->engine);
        r = sd_event_source_set_enabled(m->tick, SD_EVENT_ONESHOT);
        if (r < 0)
                return r;
        manager_notify_status(m);
        return 0;
}

/* --- requests */

_printf_(4, 5) static int fail(char *buf, size_t size, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(buf, size, format, ap);
        va_end(ap);
        return r;
}

int vmm_manager_scale_to(VmmManager *m, unsigned count, const char *who, char *buf, size_t size) {
        if (count > m->settings.capacity)
                return fail(buf, size, -ERANGE,
                            "Cannot run %u containers on VM %s: its capacity is %u (MaxContainers=).", count,
                            m->settings.name, m->settings.capacity);
        if (count < m->settings.min_containers && m->state == VMM_STATE_ACTIVE)
                return fail(buf, size, -ERANGE,
                            "Cannot run %u containers on VM %s: at least %u must run (MinContainers=).", count,
                            m->settings.name, m->settings.min_containers);
        if (count > 0 && m->state != VMM_STATE_ACTIVE)
                return fail(buf, size, -EBUSY, "VM %s is %s: activate it before scaling it up.", m->settings.name,
                            vmm_state_to_string(m->state));

        if (m->desired != count)
                log_event(LOG_INFO, count > m->desired ? "scale-out" : "scale-in", m->settings.name, NULL,
                          "Scaling VM %s from %u to %u containers (asked by %s).", m->settings.name, m->desired, count,
                          who);
        m->desired = count;
        m->desired_known = true;
        vmm_manager_bus_emit_changed(m, "DesiredContainers", NULL);
        vmm_manager_reconcile_soon(m);
        manager_notify_status(m);
        return 0;
}

int vmm_manager_add_container(VmmManager *m, const char *who, char *buf, size_t size) {
        return vmm_manager_scale_to(m, m->desired + 1, who, buf, size);
}

int vmm_manager_remove_container(VmmManager *m, const char *id, bool drain, usec_t drain_timeout, const char *who,
                                 char *buf, size_t size) {
        VmmContainer *c = vmm_manager_find_container(m, id);

        if (!c || c->removing)
                return fail(buf, size, -ENOENT, "No container %s on VM %s.", id, m->settings.name);

        /* The count drops with it, unless that would go below the minimum: then it is replaced. */
        if (vmm_container_counts(c) && m->desired > 0 &&
            (m->desired > m->settings.min_containers || m->state != VMM_STATE_ACTIVE)) {
                m->desired--;
                vmm_manager_bus_emit_changed(m, "DesiredContainers", NULL);
        }
        log_event(LOG_INFO, drain ? "drain" : "remove", m->settings.name, c->id, "%s container %.12s (asked by %s).",
                  drain ? "Draining" : "Removing", c->id, who);
        if (drain)
                vmm_container_drain(c, drain_timeout);
        else
                vmm_container_remove(c, true);
        vmm_manager_reconcile_soon(m);
        return 0;
}

int vmm_manager_set_state(VmmManager *m, VmmState state, const char *who, char *buf, size_t size) {
        if (state < 0 || state >= _VMM_STATE_MAX)
                return fail(buf, size, -EINVAL, "Unknown state; expected active, standby or draining.");
        if (state == m->state)
                return 0;

        log_event(LOG_INFO, state == VMM_STATE_ACTIVE ? "vm-activate" : "vm-standby", m->settings.name, NULL,
                  "VM %s: %s -> %s (asked by %s).", m->settings.name, vmm_state_to_string(m->state),
                  vmm_state_to_string(state), who);
        m->state = state;
        if (state == VMM_STATE_ACTIVE)
                m->desired = MAX(m->desired, m->settings.min_containers);
        else
                m->desired = 0;
        /* Standby right away stops everything as draining does; the VIM asked for it. */
        vmm_manager_bus_emit_changed(m, "State", "DesiredContainers", NULL);
        vmm_manager_reconcile_soon(m);
        manager_notify_status(m);
        if (m->uplink)
                vmm_uplink_send_register(m->uplink);
        return 0;
}
