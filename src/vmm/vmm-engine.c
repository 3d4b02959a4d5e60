/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-engine.h"

#define VMM_DOCKER_BACKOFF_MIN (250 * USEC_PER_MSEC)
#define VMM_DOCKER_BACKOFF_MAX (5 * USEC_PER_SEC)

int vmm_engine_new(sd_event *event, const VmmSettings *settings, const VmmEngineCallbacks *callbacks, void *userdata,
                   VmmEngine **ret) {
        _cleanup_(vmm_engine_freep) VmmEngine *e = NULL;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->event = sd_event_ref(event);
        e->settings = settings;
        e->callbacks = callbacks;
        e->userdata = userdata;

        r = vmm_docker_new(event, settings->docker_socket, &e->docker);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

VmmEngine *vmm_engine_free(VmmEngine *e) {
        if (!e)
                return NULL;
        /* Requests in flight are dropped without callbacks. */
        vmm_docker_free(e->docker);
        sd_event_source_disable_unref(e->retry);
        sd_event_unref(e->event);
        return mfree(e);
}

VmmDocker *vmm_engine_docker(VmmEngine *e) {
        return e->docker;
}

bool vmm_engine_is_up(const VmmEngine *e) {
        return e->up;
}

bool vmm_engine_is_synced(const VmmEngine *e) {
        return e->synced;
}

bool vmm_engine_is_ready(const VmmEngine *e) {
        return e->up && e->synced && e->image_ready;
}

static int engine_on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        vmm_engine_start(userdata);
        return 0;
}

static void engine_schedule_retry(VmmEngine *e) {
        usec_t delay;
        int r;

        e->backoff = e->backoff == 0 ? VMM_DOCKER_BACKOFF_MIN : MIN(e->backoff * 2, VMM_DOCKER_BACKOFF_MAX);
        /* Jitter, so that many VMs do not knock on restarted Engines in step. */
        delay = e->backoff / 2 + (usec_t) random() % (e->backoff / 2 + 1);

        if (e->retry) {
                r = sd_event_source_set_time_relative(e->retry, delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(e->retry, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(e->event, &e->retry, CLOCK_MONOTONIC, delay, 0, engine_on_retry, e);
        if (r < 0)
                log_error_errno(r, "Failed to schedule a Docker retry: %m");
}

void vmm_engine_failed(VmmEngine *e, int error) {
        bool was_up = e->up, first = !e->down_logged;

        e->up = false;
        e->synced = false;
        e->image_ready = false;
        e->image_pending = false;
        vmm_docker_unwatch_events(e->docker);

        if (first) {
                log_struct_errno(LOG_ERR, error, "docker-down", e->settings->name, NULL,
                                 "Docker Engine at %s is not answering: %m. Containers are left as they are, "
                                 "the D-Bus API keeps answering; retrying until it is back.",
                                 vmm_docker_socket(e->docker));
                e->down_logged = true;
        }
        /* Every failing call of one outage lands here: only one retry is pending at a time. */
        if (was_up || !e->retry || sd_event_source_get_enabled(e->retry, NULL) == 0)
                engine_schedule_retry(e);
        e->callbacks->down(e, first, was_up, e->userdata);
}

static void engine_on_event(VmmDocker *d, json_object *event, void *userdata) {
        VmmEngine *e = userdata;
        json_object *action = json_get_path(event, "Action", NULL);
        json_object *id = json_get_path(event, "Actor", "ID", NULL);
        json_object *code = json_get_path(event, "Actor", "Attributes", "exitCode", NULL);

        if (!action || !id || !json_object_is_type(action, json_type_string) ||
            !json_object_is_type(id, json_type_string))
                return;
        if (!streq(json_object_get_string(action), "die"))
                return;
        e->callbacks->died(e, json_object_get_string(id), code ? json_object_get_string(code) : NULL, e->userdata);
}

static void engine_on_events_end(VmmDocker *d, int error, void *userdata) {
        VmmEngine *e = userdata;

        if (e->up)
                vmm_engine_failed(e, error);
}

/* The first sync after the Engine came up. */
static void engine_containers_listed(VmmDocker *d, int error, long status, json_object *reply, const char *context,
                                     void *userdata) {
        VmmEngine *e = userdata;
        bool back = e->down_logged;

        if (error < 0) {
                vmm_engine_failed(e, error);
                return;
        }
        if (status != 200 || !json_object_is_type(reply, json_type_array)) {
                log_error("Failed to list containers: %s (HTTP %ld), retrying.", vmm_docker_error_message(reply),
                          status);
                vmm_engine_failed(e, -EPROTO);
                return;
        }
        /* Only a full answer says the Engine is back: one that is shutting down still answers
         * /version for a moment. */
        if (back)
                log_struct_errno(LOG_NOTICE, 0, "docker-up", e->settings->name, NULL,
                                 "Docker Engine at %s is back (API %s).", vmm_docker_socket(d),
                                 vmm_docker_api_version(d));
        e->down_logged = false;
        e->backoff = 0;
        e->synced = true;
        e->callbacks->synced(e, reply, back, e->userdata);
}

static void engine_image_ready(VmmEngine *e, int error, const char *message) {
        e->image_pending = false;
        if (error < 0 && !e->up)
                return;         /* the outage is logged already; the image is looked at again when it ends */
        if (error < 0) {
                log_struct_errno(LOG_ERR, error, "image-missing", e->settings->name, NULL,
                                 "Image %s is not available: %s. Retrying later.", e->settings->image, message);
                return;
        }
        e->image_ready = true;
        e->callbacks->image_ready(e, e->userdata);
}

static void engine_negotiated(VmmDocker *d, int error, long status, json_object *reply, const char *context,
                              void *userdata) {
        VmmEngine *e = userdata;
        json_object *version = json_get_path(reply, "Version", NULL);
        int r;

        if (error >= 0 && status != 200)
                error = -EPROTO;
        if (error < 0) {
                vmm_engine_failed(e, error);
                return;
        }

        if (!e->down_logged)
                log_info("Connected to Docker Engine %s at %s (API %s).",
                         version ? json_object_get_string(version) : "?", vmm_docker_socket(d),
                         vmm_docker_api_version(d));
        e->up = true;

        r = vmm_docker_watch_events(d, e->settings->name, engine_on_event, engine_on_events_end, e);
        if (r < 0) {
                vmm_engine_failed(e, r);
                return;
        }
        r = vmm_docker_list_containers(d, e->settings->name, engine_containers_listed, e);
        if (r < 0) {
                vmm_engine_failed(e, r);
                return;
        }
        if (!e->image_ready && !e->image_pending) {
                e->image_pending = true;
                vmm_image_ensure(e, engine_image_ready);
        }
        e->callbacks->up(e, e->userdata);
}

void vmm_engine_start(VmmEngine *e) {
        int r;

        r = vmm_docker_negotiate(e->docker, engine_negotiated, e);
        if (r < 0)
                vmm_engine_failed(e, r);
}
