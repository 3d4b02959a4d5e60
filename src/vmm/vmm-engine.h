/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Docker Engine as the VMM sees it: reachable or not. vmm_engine_start() negotiates the API
 * version, follows /events, lists this VM's containers and makes sure our image is there. Any
 * call that gets no answer (from here or from a container's own calls, vmm_engine_failed())
 * marks the Engine down, logs the outage once and retries with a jittered back-off; only a full
 * listing says it is back. What the manager does about it comes through VmmEngineCallbacks.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "acs-macro.h"
#include "acs-time.h"
#include "vmm-config.h"
#include "vmm-docker.h"

typedef struct VmmEngine VmmEngine;

/* vmm-image.c: error is 0 when the image is there, else a negative errno and a message for the log. */
typedef void (*VmmImageReady)(VmmEngine *e, int error, const char *message);

typedef struct VmmEngineCallbacks {
        /* /version answered: the Engine is up (not yet synced). */
        void (*up)(VmmEngine *e, void *userdata);
        /* A full listing of this VM's containers (a JSON array) after the Engine came up; back
         * says that an outage (logged as such) has just ended. */
        void (*synced)(VmmEngine *e, json_object *containers, bool back, void *userdata);
        /* A call got no answer. first: the outage starts now (it is logged once); was_up: the
         * Engine had been up until now. */
        void (*down)(VmmEngine *e, bool first, bool was_up, void *userdata);
        /* A container of this VM exited (Docker's "die"); exit_code may be NULL. */
        void (*died)(VmmEngine *e, const char *id, const char *exit_code, void *userdata);
        /* The image is there: containers can be created. */
        void (*image_ready)(VmmEngine *e, void *userdata);
} VmmEngineCallbacks;

struct VmmEngine {
        sd_event *event;
        VmmDocker *docker;
        const VmmSettings *settings;    /* the manager's: name, image, WebBinary= */
        const VmmEngineCallbacks *callbacks;
        void *userdata;

        bool up;                        /* /version answered since the last failure */
        bool down_logged;               /* the outage is logged; cleared by a full listing */
        bool synced;                    /* the container list was read since the Engine came up */
        bool image_ready;
        bool image_pending;             /* inspect or build in flight */
        bool image_built;               /* we built it in this round */
        VmmImageReady image_done;
        usec_t backoff;
        sd_event_source *retry;
};

int vmm_engine_new(sd_event *event, const VmmSettings *settings, const VmmEngineCallbacks *callbacks, void *userdata,
                   VmmEngine **ret);
VmmEngine *vmm_engine_free(VmmEngine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(VmmEngine *, vmm_engine_free);

/* Starts connecting; failures are retried, never returned. */
void vmm_engine_start(VmmEngine *e);
/* A Docker call got no answer: the Engine is down until a retry reaches it. */
void vmm_engine_failed(VmmEngine *e, int error);

/* The client for the calls the containers make themselves. */
VmmDocker *vmm_engine_docker(VmmEngine *e);
bool vmm_engine_is_up(const VmmEngine *e);
bool vmm_engine_is_synced(const VmmEngine *e);
/* Up, synced and our image there: containers can be created. */
bool vmm_engine_is_ready(const VmmEngine *e);

/* vmm-image.c: inspects the image and builds it when missing; calls done once, from the event loop. */
void vmm_image_ensure(VmmEngine *e, VmmImageReady done);
