/* SPDX-License-Identifier: MIT */
/*
 * A container's side of the Docker Engine API: created on a free port, started, inspected for its
 * PID; stopped and removed. Every reply finds its container again by id (or, while it has none
 * yet, by port): the object may be gone by the time Docker answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "acs-curl.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-container.h"
#include "vmm-docker.h"
#include "vmm-engine.h"
#include "vmm-manager.h"

static void container_inspected(VmmDocker *d, int error, long status, json_object *reply, const char *id,
                                void *userdata) {
        VmmManager *m = userdata;
        VmmContainer *c = vmm_manager_find_container(m, id);
        json_object *pid = json_get_path(reply, "State", "Pid", NULL);
        json_object *running = json_get_path(reply, "State", "Running", NULL);

        if (error < 0) {
                vmm_engine_failed(m->engine, error);
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

void vmm_container_inspect(VmmContainer *c) {
        VmmManager *m = c->manager;
        int r;

        r = vmm_docker_inspect_container(vmm_engine_docker(m->engine), c->id, container_inspected, m);
        if (r < 0)
                log_error_errno(r, "Failed to inspect container %.12s: %m", c->id);
}

static void container_started(VmmDocker *d, int error, long status, json_object *reply, const char *id,
                              void *userdata) {
        VmmManager *m = userdata;
        VmmContainer *c = vmm_manager_find_container(m, id);

        if (error < 0) {
                vmm_engine_failed(m->engine, error);
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
        vmm_container_inspect(c);
}

/* A port in our range that no container of ours holds and that nothing else listens on. */
static int container_pick_port(VmmManager *m, unsigned *ret) {
        for (unsigned port = m->settings.port_start; port <= m->settings.port_end; port++) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
                _cleanup_close_ int fd = -1;
                bool taken = false;

                for (VmmContainer *c = m->containers; c; c = c->containers_next)
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

static VmmContainer *container_find_creating(VmmManager *m, unsigned port) {
        for (VmmContainer *c = m->containers; c; c = c->containers_next)
                if (!c->id && c->port == port)
                        return c;
        return NULL;
}

static void container_created(VmmDocker *d, int error, long status, json_object *reply, const char *context,
                              void *userdata) {
        VmmManager *m = userdata;
        json_object *id = json_get_path(reply, "Id", NULL);
        VmmContainer *c = container_find_creating(m, (unsigned) strtoul(strempty(context), NULL, 10));
        int r;

        if (error < 0) {
                vmm_container_free(c);
                vmm_engine_failed(m->engine, error);
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
                (void) vmm_docker_remove_container(d, json_object_get_string(id), NULL, NULL);
                return;
        }

        r = vmm_container_set_id(c, json_object_get_string(id));
        if (r < 0) {
                log_oom();
                return;
        }
        r = vmm_docker_start_container(d, c->id, container_started, m);
        if (r < 0)
                log_error_errno(r, "Failed to start container %.12s: %m", c->id);
}

int vmm_container_create(VmmManager *m) {
        VmmContainer *c;
        char context[16];
        unsigned port = 0;
        int r;

        r = container_pick_port(m, &port);
        if (r < 0) {
                m->create_failures++;
                return log_error_errno(r, "No free port in %u..%u on %s for a new container: %m",
                                       m->settings.port_start, m->settings.port_end, m->settings.address);
        }
        r = vmm_container_new(m, NULL, port, VMM_CONTAINER_CREATING, &c);
        if (r < 0)
                return log_oom();

        /* The reply finds the container by its port: it has no id yet. */
        snprintf(context, sizeof(context), "%u", port);
        r = vmm_docker_create_container(vmm_engine_docker(m->engine), &(VmmContainerSpec) {
                .image = m->settings.image,
                .vm = m->settings.name,
                .service = m->settings.service,
                .address = m->settings.address,
                .port = port,
                .network = m->settings.network,
                .cpus = m->settings.cpu_limit,
                .memory = m->settings.memory_limit,
                .request_cost = m->settings.request_cost,
                .client_cost = m->settings.client_cost,
                .context = context,
        }, container_created, m);
        if (r < 0) {
                vmm_container_free(c);
                return log_error_errno(r, "Failed to create a container: %m");
        }
        return 0;
}

static void container_removed(VmmDocker *d, int error, long status, json_object *reply, const char *id, void *userdata) {
        VmmManager *m = userdata;
        VmmContainer *c = vmm_manager_find_container(m, id);

        if (error < 0) {
                vmm_engine_failed(m->engine, error);
                /* The object stays as "removing"; the next sync after Docker is back settles it. */
                return;
        }
        if (status != 204 && status != 404)
                log_struct_errno(LOG_WARNING, 0, "container-remove-failed", m->settings.name, id,
                                 "Failed to remove container %.12s: %s (HTTP %ld)", id,
                                 vmm_docker_error_message(reply), status);
        else
                log_event(LOG_INFO, "container-removed", m->settings.name, id, "Container %.12s removed.", id);

        if (c) {
                vmm_container_free(c);
                vmm_manager_containers_changed(m, false);
        }
        vmm_manager_send_event(m, "container-removed", id, "removed");
        vmm_manager_reconcile_soon(m);
}

static void container_stopped(VmmDocker *d, int error, long status, json_object *reply, const char *id, void *userdata) {
        VmmManager *m = userdata;
        int r;

        if (error < 0) {
                vmm_engine_failed(m->engine, error);
                return;
        }
        /* 204 stopped, 304 already stopped, 404 gone: remove it in every case. */
        r = vmm_docker_remove_container(d, id, container_removed, m);
        if (r < 0)
                log_error_errno(r, "Failed to remove container %.12s: %m", id);
}

void vmm_container_remove(VmmContainer *c, bool graceful) {
        VmmManager *m = c->manager;
        bool was_backend = vmm_container_is_backend(c);
        int r;

        if (c->removing)
                return;
        c->removing = true;
        c->probe = acs_http_cancel(c->probe);
        if (c->timer)
                (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        vmm_manager_containers_changed(m, was_backend);

        if (!c->id)
                return;         /* still creating: the create reply removes it */

        log_event(LOG_INFO, "container-stopping", m->settings.name, c->id, "Stopping container %.12s (port %u)%s.",
                  c->id, c->port, graceful ? " with SIGTERM and a grace period" : "");
        if (graceful)
                r = vmm_docker_stop_container(vmm_engine_docker(m->engine), c->id, m->settings.stop_timeout,
                                              container_stopped, m);
        else
                r = vmm_docker_remove_container(vmm_engine_docker(m->engine), c->id, container_removed, m);
        if (r < 0)
                log_error_errno(r, "Failed to stop container %.12s: %m", c->id);
}

void vmm_container_finish_removal(VmmContainer *c) {
        int r;

        if (!c->removing || !c->id)
                return;
        r = vmm_docker_remove_container(vmm_engine_docker(c->manager->engine), c->id, container_removed, c->manager);
        if (r < 0)
                log_error_errno(r, "Failed to remove container %.12s: %m", c->id);
}
