/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "acs-daemon.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-curl.h"
#include "vmm-docker.h"
#include "vmm-image.h"
#include "vmm-manager.h"
#include "vmm-proxy-stats.h"
#include "vmm-uplink.h"

#define VMM_DOCKER_BACKOFF_MIN (250 * USEC_PER_MSEC)
#define VMM_DOCKER_BACKOFF_MAX (5 * USEC_PER_SEC)
#define VMM_CREATE_BACKOFF_MAX (30 * USEC_PER_SEC)

static void manager_docker_connect(VmmManager *m);

static int manager_on_tick(sd_event_source *s, uint64_t usec, void *userdata);
static int manager_on_reconcile(sd_event_source *s, void *userdata);

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

        r = vmm_docker_new(event, m->settings.docker_socket, &m->docker);
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
         * and are dropped without callbacks. */
        while (m->containers)
                vmm_container_free(m->containers);
        vmm_docker_free(m->docker);
        acs_curl_free(m->http);
        sd_event_source_disable_unref(m->tick);
        sd_event_source_disable_unref(m->reconcile);
        sd_event_source_disable_unref(m->docker_retry);
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
        for (VmmContainer *c = m->containers; c; c = c->next) {
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

        for (VmmContainer *c = m->containers; c; c = c->next)
                if (!pred || pred(c))
                        n++;
        return n;
}

static bool container_is_ready(const VmmContainer *c) {
        return !c->removing && c->state == VMM_CONTAINER_READY;
}

static bool container_is_starting(const VmmContainer *c) {
        return !c->removing && (c->state == VMM_CONTAINER_STARTING || c->state == VMM_CONTAINER_CREATING);
}

static bool container_is_draining(const VmmContainer *c) {
        return !c->removing && c->state == VMM_CONTAINER_DRAINING;
}

bool vmm_manager_vim_connected(VmmManager *m) {
        return m->uplink && vmm_uplink_is_connected(m->uplink);
}

/* STATUS= for systemctl status: the counts a person wants at a glance. */
static void manager_notify_status(VmmManager *m) {
        _cleanup_free_ char *status = NULL;

        if (asprintf(&status, "%u ready, %u starting, %u draining, %u wanted (%s); Docker %s; VIM %s",
                     vmm_manager_count(m, container_is_ready), vmm_manager_count(m, container_is_starting),
                     vmm_manager_count(m, container_is_draining), m->desired, vmm_state_to_string(m->state),
                     m->docker_up ? "up" : "unreachable",
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

/* --- Docker Engine up and down */

static int manager_on_docker_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_docker_connect(userdata);
        return 0;
}

static void manager_schedule_docker_retry(VmmManager *m) {
        usec_t delay;
        int r;

        m->docker_backoff = m->docker_backoff == 0 ? VMM_DOCKER_BACKOFF_MIN
                                                   : MIN(m->docker_backoff * 2, VMM_DOCKER_BACKOFF_MAX);
        /* Jitter, so that many VMs do not knock on restarted Engines in step. */
        delay = m->docker_backoff / 2 + (usec_t) random() % (m->docker_backoff / 2 + 1);

        if (m->docker_retry) {
                r = sd_event_source_set_time_relative(m->docker_retry, delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->docker_retry, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(m->event, &m->docker_retry, CLOCK_MONOTONIC, delay, 0,
                                               manager_on_docker_retry, m);
        if (r < 0)
                log_error_errno(r, "Failed to schedule a Docker retry: %m");
}

void vmm_manager_docker_failed(VmmManager *m, int error) {
        bool was_up = m->docker_up;

        m->docker_up = false;
        m->synced = false;
        m->image_ready = false;
        m->image_pending = false;
        vmm_docker_unwatch_events(m->docker);

        if (!m->docker_down_logged) {
                log_struct_errno(LOG_ERR, error, "docker-down", m->settings.name, NULL,
                                 "Docker Engine at %s is not answering: %m. Containers are left as they are, "
                                 "the D-Bus API keeps answering; retrying until it is back.",
                                 vmm_docker_socket(m->docker));
                m->docker_down_logged = true;
                vmm_manager_send_event(m, "docker-down", "", "Docker Engine is not answering");
        }
        if (was_up || !m->docker_retry || sd_event_source_get_enabled(m->docker_retry, NULL) == 0)
                manager_schedule_docker_retry(m);
        if (was_up)
                vmm_manager_bus_emit_changed(m, "DockerConnected", NULL);
        manager_notify_status(m);
}

static void manager_docker_event(VmmDocker *d, json_object *event, void *userdata) {
        VmmManager *m = userdata;
        json_object *action = json_get_path(event, "Action", NULL);
        json_object *id = json_get_path(event, "Actor", "ID", NULL);
        json_object *code = json_get_path(event, "Actor", "Attributes", "exitCode", NULL);
        VmmContainer *c;

        if (!action || !id || !json_object_is_type(action, json_type_string) ||
            !json_object_is_type(id, json_type_string))
                return;
        if (!streq(json_object_get_string(action), "die"))
                return;

        c = vmm_manager_find_container(m, json_object_get_string(id));
        if (!c || c->removing)
                return;         /* one we are stopping, or not ours */

        log_event(LOG_WARNING, "container-died", m->settings.name, c->id,
                  "Container %.12s on port %u died (exit code %s), replacing it.", c->id, c->port,
                  code ? json_object_get_string(code) : "unknown");
        vmm_manager_send_event(m, "container-died", c->id, "the container exited; replacing it");
        /* Removal frees the port and the slot; reconcile creates the replacement right away. */
        vmm_container_remove(c, false);
        vmm_manager_reconcile_soon(m);
}

static void manager_docker_events_end(VmmDocker *d, int error, void *userdata) {
        VmmManager *m = userdata;

        if (m->docker_up)
                vmm_manager_docker_failed(m, error);
}

/* Adopts a running container found at sync: its port is in our label. */
static void manager_container_inspected(VmmDocker *d, int error, long status, json_object *reply, const char *id,
                                        void *userdata) {
        VmmManager *m = userdata;
        VmmContainer *c = vmm_manager_find_container(m, id);
        json_object *pid = json_get_path(reply, "State", "Pid", NULL);
        json_object *running = json_get_path(reply, "State", "Running", NULL);

        if (error < 0) {
                vmm_manager_docker_failed(m, error);
                return;
        }
        if (!c || c->removing)
                return;
        if (status != 200 || !pid || !running || !json_object_get_boolean(running)) {
                /* It stopped between create/list and now: the die event replaces it. */
                log_struct_errno(LOG_WARNING, 0, "container-lost", m->settings.name, id,
                                 "Container %.12s is not running (HTTP %ld), replacing it.", id, status);
                vmm_container_remove(c, false);
                vmm_manager_reconcile_soon(m);
                return;
        }
        vmm_container_attach(c, (pid_t) json_object_get_int(pid));
        vmm_container_probe_readiness(c);      /* adopted ones: started ones probe already */
}

static void manager_container_started(VmmDocker *d, int error, long status, json_object *reply, const char *id,
                                      void *userdata) {
        VmmManager *m = userdata;
        VmmContainer *c = vmm_manager_find_container(m, id);
        int r;

        if (error < 0) {
                vmm_manager_docker_failed(m, error);
                return;
        }
        if (!c || c->removing)
                return;
        if (status != 204 && status != 304) {
                log_struct_errno(LOG_ERR, 0, "container-start-failed", m->settings.name, id,
                                 "Failed to start container %.12s on port %u: %s (HTTP %ld)", id, c->port,
                                 vmm_docker_error_message(reply), status);
                m->create_failures++;
                vmm_container_remove(c, false);
                return;
        }
        m->create_failures = 0;
        log_event(LOG_INFO, "container-started", m->settings.name, id, "Container %.12s started on %s:%u.", id,
                  m->settings.address, c->port);
        vmm_manager_send_event(m, "container-started", id, "started");
        /* Probing and inspecting (for the PID and so the cgroup) go on side by side. */
        vmm_container_probe_readiness(c);
        r = vmm_docker_inspect_container(m->docker, id, manager_container_inspected, m);
        if (r < 0)
                log_error_errno(r, "Failed to inspect container %.12s: %m", id);
}

static VmmContainer *manager_find_creating(VmmManager *m, unsigned port) {
        for (VmmContainer *c = m->containers; c; c = c->next)
                if (!c->id && c->port == port)
                        return c;
        return NULL;
}

static void manager_container_created(VmmDocker *d, int error, long status, json_object *reply, const char *context,
                                      void *userdata) {
        VmmManager *m = userdata;
        json_object *id = json_get_path(reply, "Id", NULL);
        VmmContainer *c = manager_find_creating(m, (unsigned) strtoul(strempty(context), NULL, 10));
        int r;

        if (error < 0) {
                vmm_container_free(c);
                vmm_manager_docker_failed(m, error);
                return;
        }
        if (status != 201 || !id || !json_object_is_type(id, json_type_string)) {
                log_struct_errno(LOG_ERR, 0, "container-create-failed", m->settings.name, NULL,
                                 "Failed to create a container on port %s: %s (HTTP %ld)", strempty(context),
                                 vmm_docker_error_message(reply), status);
                m->create_failures++;
                vmm_container_free(c);
                vmm_manager_containers_changed(m, false);
                return;
        }

        if (!c || c->removing) {
                /* Not wanted any more (scaled down while it was being created). */
                vmm_container_free(c);
                r = vmm_docker_remove_container(m->docker, json_object_get_string(id), NULL, NULL);
                (void) r;
                return;
        }

        r = vmm_container_set_id(c, json_object_get_string(id));
        if (r < 0) {
                log_oom();
                return;
        }
        r = vmm_docker_start_container(m->docker, c->id, manager_container_started, m);
        if (r < 0)
                log_error_errno(r, "Failed to start container %.12s: %m", c->id);
}

/* A port in our range that no container of ours holds and that nothing else listens on. */
static int manager_pick_port(VmmManager *m, unsigned *ret) {
        for (unsigned port = m->settings.port_start; port <= m->settings.port_end; port++) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
                _cleanup_close_ int fd = -1;
                bool taken = false;

                for (VmmContainer *c = m->containers; c; c = c->next)
                        if (c->port == port)
                                taken = true;
                if (taken)
                        continue;

                if (inet_pton(AF_INET, m->settings.address, &sa.sin_addr) != 1)
                        sa.sin_addr.s_addr = htonl(INADDR_ANY);
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                /* As the server will: connections of an earlier container in TIME_WAIT do not
                 * make the port busy. */
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int));
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        continue;
                *ret = port;
                return 0;
        }
        return -EADDRINUSE;
}

static int manager_create_container(VmmManager *m) {
        VmmContainer *c;
        char context[16];
        unsigned port = 0;
        int r;

        r = manager_pick_port(m, &port);
        if (r < 0) {
                m->create_failures++;
                return log_error_errno(r, "No free port in %u..%u on %s for a new container: %m",
                                       m->settings.port_start, m->settings.port_end, m->settings.address);
        }
        r = vmm_container_new(m, NULL, port, VMM_CONTAINER_CREATING, &c);
        if (r < 0)
                return log_oom();

        snprintf(context, sizeof(context), "%u", port);
        r = vmm_docker_create_container(m->docker, &(VmmContainerSpec) {
                .image = m->settings.image,
                .vm = m->settings.name,
                .service = m->settings.service,
                .address = m->settings.address,
                .port = port,
                .network = m->settings.network,
                .cpus = m->settings.cpu_limit,
                .memory = m->settings.memory_limit,
                .context = context,
        }, manager_container_created, m);
        if (r < 0) {
                vmm_container_free(c);
                return log_error_errno(r, "Failed to create a container: %m");
        }
        return 0;
}

/* Which container goes first on scale-in: one not yet serving, else the newest. */
static VmmContainer *manager_pick_victim(VmmManager *m) {
        VmmContainer *best = NULL;

        for (VmmContainer *c = m->containers; c; c = c->next) {
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

        if (!m->docker_up || !m->synced || !m->image_ready)
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
                        if (manager_create_container(m) < 0)
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
static void manager_containers_listed(VmmDocker *d, int error, long status, json_object *reply, const char *context,
                                      void *userdata) {
        VmmManager *m = userdata;
        size_t n;
        unsigned adopted = 0;
        int r;

        if (error < 0) {
                vmm_manager_docker_failed(m, error);
                return;
        }
        if (status != 200 || !json_object_is_type(reply, json_type_array)) {
                log_error("Failed to list containers: %s (HTTP %ld), retrying.", vmm_docker_error_message(reply),
                          status);
                vmm_manager_docker_failed(m, -EPROTO);
                return;
        }

        /* Forget what Docker no longer has. */
        for (VmmContainer *c = m->containers, *next; c; c = next) {
                bool listed = false;

                next = c->next;
                if (!c->id)
                        continue;
                n = json_object_array_length(reply);
                for (size_t i = 0; i < n; i++) {
                        json_object *id = json_get_path(json_object_array_get_idx(reply, i), "Id", NULL);
                        if (id && streq(json_object_get_string(id), c->id))
                                listed = true;
                }
                if (!listed) {
                        log_event(LOG_WARNING, "container-lost", m->settings.name, c->id,
                                  "Container %.12s is gone from Docker.", c->id);
                        vmm_container_free(c);
                }
        }

        n = json_object_array_length(reply);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(reply, i);
                json_object *id = json_get_path(e, "Id", NULL), *state = json_get_path(e, "State", NULL);
                json_object *port = json_get_path(e, "Labels", VMM_LABEL_PORT, NULL);
                const char *cid;
                VmmContainer *c;
                unsigned p;

                if (!id || !state || !json_object_is_type(id, json_type_string))
                        continue;
                cid = json_object_get_string(id);
                c = vmm_manager_find_container(m, cid);

                if (!streq(json_object_get_string(state), "running")) {
                        /* Exited, dead or never started: a crashed one; clear it and start a fresh one. */
                        log_event(LOG_NOTICE, "container-died", m->settings.name, cid,
                                  "Container %.12s is %s, removing it.", cid, json_object_get_string(state));
                        if (c)
                                vmm_container_free(c);
                        r = vmm_docker_remove_container(m->docker, cid, NULL, NULL);
                        if (r < 0)
                                log_error_errno(r, "Failed to remove container %.12s: %m", cid);
                        continue;
                }
                if (c) {
                        if (c->removing)
                                vmm_container_finish_removal(c);   /* cut short by an outage */
                        else {
                                adopted++;
                                /* An outage came between its start and our look at it. */
                                if (c->pid == 0) {
                                        r = vmm_docker_inspect_container(m->docker, cid, manager_container_inspected, m);
                                        if (r < 0)
                                                log_error_errno(r, "Failed to inspect container %.12s: %m", cid);
                                }
                        }
                        continue;
                }
                p = port ? (unsigned) strtoul(json_object_get_string(port), NULL, 10) : 0;
                if (p == 0 || p > 65535) {
                        log_warning("Container %.12s carries no valid %s label, leaving it alone.", cid,
                                    VMM_LABEL_PORT);
                        continue;
                }
                r = vmm_container_new(m, cid, p, VMM_CONTAINER_STARTING, &c);
                if (r < 0) {
                        log_oom();
                        continue;
                }
                log_event(LOG_INFO, "container-adopted", m->settings.name, cid, "Adopted running container %.12s on port %u.",
                          cid, p);
                adopted++;
                if (!m->backends_known) {
                        c->adopting = true;
                        m->n_adopting++;
                }
                r = vmm_docker_inspect_container(m->docker, cid, manager_container_inspected, m);
                if (r < 0)
                        log_error_errno(r, "Failed to inspect container %.12s: %m", cid);
        }

        /* At the first sync, what runs is what was wanted: a restart of the agent changes nothing. */
        if (!m->desired_known) {
                if (m->state == VMM_STATE_ACTIVE)
                        m->desired = CLAMP(adopted, m->settings.min_containers, m->settings.capacity);
                m->desired_known = true;
                vmm_manager_bus_emit_changed(m, "DesiredContainers", NULL);
        }
        /* Only a full answer says the Engine is back: one that is shutting down still answers
         * /version for a moment. */
        if (m->docker_down_logged) {
                log_struct_errno(LOG_NOTICE, 0, "docker-up", m->settings.name, NULL,
                                 "Docker Engine at %s is back (API %s).", vmm_docker_socket(d),
                                 vmm_docker_api_version(d));
                vmm_manager_send_event(m, "docker-up", "", "Docker Engine is back");
                m->docker_down_logged = false;
        }
        m->docker_backoff = 0;
        m->synced = true;
        vmm_manager_bus_emit_changed(m, "DockerConnected", NULL);
        if (m->n_adopting == 0)
                manager_backends_known(m);
        vmm_manager_containers_changed(m, true);
        vmm_manager_reconcile_soon(m);
}

static void manager_image_ready(VmmManager *m, int error, const char *message) {
        m->image_pending = false;
        if (error < 0 && !m->docker_up)
                return;         /* the outage is logged already; the image is looked at again when it ends */
        if (error < 0) {
                log_struct_errno(LOG_ERR, error, "image-missing", m->settings.name, NULL,
                                 "Image %s is not available: %s. Retrying later.", m->settings.image, message);
                return;
        }
        m->image_ready = true;
        vmm_manager_reconcile_soon(m);
}

static void manager_docker_negotiated(VmmDocker *d, int error, long status, json_object *reply, const char *context,
                                      void *userdata) {
        VmmManager *m = userdata;
        json_object *version = json_get_path(reply, "Version", NULL);
        int r;

        if (error >= 0 && status != 200)
                error = -EPROTO;
        if (error < 0) {
                vmm_manager_docker_failed(m, error);
                return;
        }

        if (!m->docker_down_logged)
                log_info("Connected to Docker Engine %s at %s (API %s).",
                         version ? json_object_get_string(version) : "?", vmm_docker_socket(d),
                         vmm_docker_api_version(d));
        m->docker_up = true;

        r = vmm_docker_watch_events(d, m->settings.name, manager_docker_event, manager_docker_events_end, m);
        if (r < 0) {
                vmm_manager_docker_failed(m, r);
                return;
        }
        r = vmm_docker_list_containers(d, m->settings.name, manager_containers_listed, m);
        if (r < 0) {
                vmm_manager_docker_failed(m, r);
                return;
        }
        if (!m->image_ready && !m->image_pending) {
                m->image_pending = true;
                vmm_image_ensure(m, manager_image_ready);
        }
        manager_notify_status(m);
}

static void manager_docker_connect(VmmManager *m) {
        int r;

        r = vmm_docker_negotiate(m->docker, manager_docker_negotiated, m);
        if (r < 0)
                vmm_manager_docker_failed(m, r);
}

/* --- sampling and the local policy */

/* Whether the local policy may act now: no VIM is configured, or it has been away for longer
 * than AutonomyGrace=. */
static bool manager_autonomous(VmmManager *m, usec_t now) {
        if (!m->settings.local_scaling || m->state != VMM_STATE_ACTIVE || !m->synced || vmm_manager_vim_connected(m))
                return false;
        return !m->uplink || now >= m->vim_away_since + m->settings.autonomy_grace;
}

/*
 * While the VIM is away for longer than the grace, this VM scales itself with the VIM's own rule
 * (acs-policy.h). Without a VM-side proxy (direct routing) the front proxy, fed only by the VIM,
 * may still route to any of our containers, so none is removed then; an added one serves once the
 * VIM is back and adopts it. What we did is reported when the link returns.
 */
static void manager_local_policy(VmmManager *m, usec_t now) {
        AcsPolicy policy;
        AcsScaleDecision d;
        AcsScaleInput in = {
                .replicas = m->desired,
                .ready = vmm_manager_count(m, container_is_ready),
                .starting = vmm_manager_count(m, container_is_starting),
                .cpu = m->utilization,
                .capacity = m->settings.capacity,
        };
        bool direct = m->uplink && !vmm_proxy_stats_present(m->proxy_stats);
        char buf[256];

        if (!manager_autonomous(m, now))
                return;

        acs_policy_init(&policy);
        policy.target_cpu = m->settings.target_cpu;
        policy.target_inflight = 0;     /* the VMM does not see requests, only CPU */
        policy.tolerance = m->settings.tolerance;
        policy.min_replicas = m->settings.min_containers;
        policy.max_replicas = m->settings.capacity;
        policy.scale_down_window = m->settings.scale_down_window;

        (void) acs_policy_decide(&policy, &m->history, now, &in, &d);
        /* The rule speaks of what serves; act only where it moves the count we keep the same
         * way (a recommendation made while containers are still starting is not a scale-in). */
        if (!((d.action == ACS_SCALE_OUT && d.desired > m->desired) ||
              (d.action == ACS_SCALE_IN && d.desired < m->desired && in.starting == 0)))
                return;
        if (d.action == ACS_SCALE_IN && direct) {
                log_debug("Local policy (VIM away): not removing containers the front proxy may still route to: %s",
                          d.reason);
                return;
        }
        if (m->uplink)
                log_event(LOG_INFO, d.action == ACS_SCALE_OUT ? "scale-out" : "scale-in", m->settings.name, NULL,
                          "Local policy (VIM away for %.0f s): %u -> %u containers: %s",
                          (double) (now - m->vim_away_since) / USEC_PER_SEC, m->desired, d.desired, d.reason);
        else
                log_event(LOG_INFO, d.action == ACS_SCALE_OUT ? "scale-out" : "scale-in", m->settings.name, NULL,
                          "Local policy (no VIM): %u -> %u containers: %s", m->desired, d.desired, d.reason);
        if (d.desired > m->desired)
                m->local_added += d.desired - m->desired;
        else
                m->local_drained += m->desired - d.desired;
        (void) vmm_manager_scale_to(m, d.desired, "local policy", buf, sizeof(buf));
}

static int manager_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        VmmManager *m = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        double total = 0, util = 0, old = m->utilization;
        unsigned n_ready = 0;

        for (VmmContainer *c = m->containers; c; c = c->next) {
                vmm_container_sample(c, now, m->settings.cpu_limit);
                total += c->cpus;
                if (container_is_ready(c)) {
                        util += c->utilization;
                        n_ready++;
                }
        }
        m->cpus = total;
        m->utilization = n_ready > 0 ? util / n_ready : 0;
        if (fabs(old - m->utilization) >= 0.005)
                vmm_manager_bus_emit_changed(m, "CpuUtilization", NULL);

        manager_local_policy(m, now);
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
        manager_docker_connect(m);
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
