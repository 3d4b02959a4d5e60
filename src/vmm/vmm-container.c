/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-curl.h"
#include "acs-list.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-string-table.h"
#include "vmm-container.h"
#include "vmm-manager.h"

#define VMM_PROBE_INTERVAL (100 * USEC_PER_MSEC)
#define VMM_PROBE_TIMEOUT (1 * USEC_PER_SEC)

static const char *const container_state_table[_VMM_CONTAINER_STATE_MAX] = {
        [VMM_CONTAINER_CREATING] = "creating",
        [VMM_CONTAINER_STARTING] = "starting",
        [VMM_CONTAINER_READY] = "ready",
        [VMM_CONTAINER_DRAINING] = "draining",
};

DEFINE_STRING_TABLE_TO_STRING(vmm_container_state, VmmContainerState, container_state_table);

int vmm_container_new(VmmManager *m, const char *id, unsigned port, VmmContainerState state, VmmContainer **ret) {
        VmmContainer *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (VmmContainer) {
                .manager = m,
                .port = port,
                .state = state,
                .state_since = now_usec(CLOCK_MONOTONIC),
                .cgroup = VMM_CGROUP_NULL,
        };
        if (id) {
                c->id = strdup(id);
                if (!c->id) {
                        free(c);
                        return -ENOMEM;
                }
        }

        LIST_PREPEND(containers, m->containers, c);

        if (ret)
                *ret = c;
        return 0;
}

VmmContainer *vmm_container_free(VmmContainer *c) {
        if (!c)
                return NULL;
        if (c->manager)
                LIST_REMOVE(containers, c->manager->containers, c);
        acs_http_cancel(c->probe);
        sd_event_source_disable_unref(c->timer);
        vmm_cgroup_close(&c->cgroup);
        if (c->adopting && c->manager) {
                c->adopting = false;
                vmm_manager_adoption_probed(c->manager);
        }
        free(c->id);
        return mfree(c);
}

bool vmm_container_counts(const VmmContainer *c) {
        return !c->removing && c->state != VMM_CONTAINER_DRAINING;
}

bool vmm_container_is_backend(const VmmContainer *c) {
        return !c->removing && (c->state == VMM_CONTAINER_READY || c->state == VMM_CONTAINER_DRAINING);
}

bool vmm_container_is_ready(const VmmContainer *c) {
        return !c->removing && c->state == VMM_CONTAINER_READY;
}

bool vmm_container_is_starting(const VmmContainer *c) {
        return !c->removing && (c->state == VMM_CONTAINER_STARTING || c->state == VMM_CONTAINER_CREATING);
}

bool vmm_container_is_draining(const VmmContainer *c) {
        return !c->removing && c->state == VMM_CONTAINER_DRAINING;
}

static void container_set_state(VmmContainer *c, VmmContainerState state) {
        bool was_backend = vmm_container_is_backend(c);

        if (c->state == state)
                return;
        c->state = state;
        c->state_since = now_usec(CLOCK_MONOTONIC);
        vmm_manager_containers_changed(c->manager, was_backend || vmm_container_is_backend(c));
}

int vmm_container_set_id(VmmContainer *c, const char *id) {
        char *copy = strdup(id);

        if (!copy)
                return -ENOMEM;
        free(c->id);
        c->id = copy;
        container_set_state(c, VMM_CONTAINER_STARTING);
        return 0;
}

static int container_on_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* Arms the one timer of the container: what it means follows from the state (a readiness probe
 * while starting, the end of the drain while draining). */
static int container_arm_timer(VmmContainer *c, usec_t delay) {
        int r;

        if (c->timer) {
                r = sd_event_source_set_time_relative(c->timer, delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
                return r;
        }
        r = sd_event_add_time_relative(c->manager->event, &c->timer, CLOCK_MONOTONIC, delay, 10 * USEC_PER_MSEC,
                                       container_on_timer, c);
        if (r >= 0)
                (void) sd_event_source_set_description(c->timer, "container-timer");
        return r;
}

static void container_probe_done(AcsHttp *h, int error, long status, AcsBuf *body, void *userdata) {
        VmmContainer *c = userdata;
        VmmManager *m = c->manager;

        c->probe = NULL;
        if (c->removing || c->state != VMM_CONTAINER_STARTING)
                return;

        if (error >= 0 && status == 200) {
                log_event(LOG_INFO, "container-ready", m->settings.name, c->id,
                          "Container %.12s is ready on %s:%u.", c->id, m->settings.address, c->port);
                container_set_state(c, VMM_CONTAINER_READY);
                vmm_manager_send_event(m, "container-ready", c->id, "ready");
        }
        if (c->adopting) {
                c->adopting = false;
                vmm_manager_adoption_probed(m);
        }
        if (c->state == VMM_CONTAINER_READY)
                return;

        if (now_usec(CLOCK_MONOTONIC) - c->state_since > m->settings.ready_timeout) {
                log_event(LOG_WARNING, "container-unready", m->settings.name, c->id,
                          "Container %.12s did not become ready on port %u within %.0fs, replacing it.", c->id,
                          c->port, (double) m->settings.ready_timeout / USEC_PER_SEC);
                vmm_container_remove(c, false);
                vmm_manager_reconcile_soon(m);
                return;
        }
        (void) container_arm_timer(c, VMM_PROBE_INTERVAL);
}

static void container_probe(VmmContainer *c) {
        char url[128];
        int r;

        if (c->probe || c->removing || c->state != VMM_CONTAINER_STARTING)
                return;

        snprintf(url, sizeof(url), "http://%s:%u/readyz", c->manager->settings.address, c->port);
        r = acs_http_start(c->manager->http, &(AcsHttpOptions) {
                .url = url,
                .timeout = VMM_PROBE_TIMEOUT,
                .max_body = 4096,
                .on_done = container_probe_done,
                .userdata = c,
        }, &c->probe);
        if (r < 0) {
                log_warning_errno(r, "Failed to probe container %.12s, retrying: %m", c->id);
                (void) container_arm_timer(c, USEC_PER_SEC);
        }
}

void vmm_container_probe_readiness(VmmContainer *c) {
        if (c->state == VMM_CONTAINER_STARTING && !c->removing)
                (void) container_arm_timer(c, 0);
}

void vmm_container_attach(VmmContainer *c, pid_t pid) {
        VmmManager *m = c->manager;
        int r;

        c->pid = pid;
        vmm_cgroup_close(&c->cgroup);
        r = vmm_cgroup_open(&c->cgroup, "/proc", m->cgroup_root, pid);
        if (r < 0)
                log_struct_errno(LOG_WARNING, r, "monitor", m->settings.name, c->id,
                                 "Cannot find the cgroup of container %.12s (PID %d), its CPU is unknown: %m", c->id,
                                 (int) pid);
}

static int container_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        VmmContainer *c = userdata;

        if (c->removing)
                return 0;
        if (c->state == VMM_CONTAINER_STARTING)
                container_probe(c);
        else if (c->state == VMM_CONTAINER_DRAINING)
                vmm_container_remove(c, true);
        return 0;
}

void vmm_container_drain(VmmContainer *c, usec_t timeout) {
        VmmManager *m = c->manager;

        if (c->removing || c->state == VMM_CONTAINER_DRAINING)
                return;
        /* Nobody routes to a container that is not ready yet: nothing to drain. */
        if (c->state != VMM_CONTAINER_READY) {
                vmm_container_remove(c, false);
                return;
        }
        log_event(LOG_INFO, "container-draining", m->settings.name, c->id,
                  "Draining container %.12s on port %u; stopping it after %.1fs at the latest.", c->id, c->port,
                  (double) timeout / USEC_PER_SEC);
        c->probe = acs_http_cancel(c->probe);
        container_set_state(c, VMM_CONTAINER_DRAINING);
        if (container_arm_timer(c, timeout) < 0)
                vmm_container_remove(c, true);
}

void vmm_container_sample(VmmContainer *c, usec_t now, double cpu_limit) {
        VmmCgroupSample s;
        int r;

        if (!vmm_cgroup_is_open(&c->cgroup))
                return;
        r = vmm_cgroup_sample(&c->cgroup, now, &s);
        if (r < 0) {
                /* The cgroup went away with the container; Docker's event says why. */
                vmm_cgroup_close(&c->cgroup);
                return;
        }
        c->memory = s.memory;
        if (s.valid) {
                c->cpus = s.cpus;
                c->utilization = cpu_limit > 0 ? s.cpus / cpu_limit : 0;
        }
}
