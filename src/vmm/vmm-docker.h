/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Docker Engine API over its unix socket, asynchronously (acs-curl.c). Only the calls the
 * VMM needs, and only in shapes it chooses: a caller can name a container id, a port and
 * limits, never an image other than ours, a mount, a device, a capability or a privileged flag.
 *
 * Every call answers through a VmmDockerReply with the request's context string (typically a
 * container id, copied) so that the owner looks its object up again instead of holding a
 * pointer that may be gone by then.
 */

#include <json-c/json.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "acs-buf.h"
#include "acs-macro.h"
#include "acs-time.h"
#include "vmm-config.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

typedef struct VmmDocker VmmDocker;
typedef struct AcsHttp AcsHttp;

/* error < 0: no answer from the Engine (it is down); else status is the HTTP status and reply
 * the parsed JSON body (NULL when the body was empty or not JSON). */
typedef void (*VmmDockerReply)(VmmDocker *d, int error, long status, json_object *reply,
                               const char *context, void *userdata);
/* One message of the /events stream. */
typedef void (*VmmDockerEvent)(VmmDocker *d, json_object *event, void *userdata);
/* The /events stream ended (error < 0 when it broke). */
typedef void (*VmmDockerEventsEnd)(VmmDocker *d, int error, void *userdata);

typedef struct VmmContainerSpec {
        const char *image;
        const char *vm;
        const char *service;
        const char *address;    /* the VM address the port is published on (bridge) */
        unsigned port;
        VmmNetwork network;
        double cpus;
        uint64_t memory;
        usec_t request_cost;    /* ACS_WEB_COST_MS; USEC_INFINITY leaves acs-web's cost model */
        bool client_cost;       /* ACS_WEB_CLIENT_COST=1: clients may set ?cost_ms= */
        const char *context;    /* handed back in the reply, to find the pending container */
} VmmContainerSpec;

#define VMM_LABEL_MANAGED "org.acs.managed"
#define VMM_LABEL_VM "org.acs.vmm"
#define VMM_LABEL_SERVICE "org.acs.service"
#define VMM_LABEL_PORT "org.acs.port"

int vmm_docker_new(sd_event *event, const char *socket_path, VmmDocker **ret);
VmmDocker *vmm_docker_free(VmmDocker *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(VmmDocker *, vmm_docker_free);

const char *vmm_docker_socket(VmmDocker *d);
/* The API version in use ("1.41"), after vmm_docker_negotiate() succeeded. */
const char *vmm_docker_api_version(VmmDocker *d);

/* GET /version: picks min(server's version, ours). reply is the /version object. */
int vmm_docker_negotiate(VmmDocker *d, VmmDockerReply cb, void *userdata);
/* Every container (running or not) labeled managed by ACS for this VM. */
int vmm_docker_list_containers(VmmDocker *d, const char *vm, VmmDockerReply cb, void *userdata);
int vmm_docker_inspect_container(VmmDocker *d, const char *id, VmmDockerReply cb, void *userdata);
/* Creates (not starts) a container; context of the reply is NULL, the reply holds "Id". */
int vmm_docker_create_container(VmmDocker *d, const VmmContainerSpec *spec, VmmDockerReply cb, void *userdata);
int vmm_docker_start_container(VmmDocker *d, const char *id, VmmDockerReply cb, void *userdata);
/* SIGTERM, then SIGKILL after timeout. */
int vmm_docker_stop_container(VmmDocker *d, const char *id, usec_t timeout, VmmDockerReply cb, void *userdata);
/* Removes it, killing it first if it still runs. */
int vmm_docker_remove_container(VmmDocker *d, const char *id, VmmDockerReply cb, void *userdata);
int vmm_docker_inspect_image(VmmDocker *d, const char *tag, VmmDockerReply cb, void *userdata);
/* POST /build with a tar build context; reply is NULL (the body is a progress stream), status
 * 200 means the daemon accepted it; the caller inspects the image afterwards. */
int vmm_docker_build_image(VmmDocker *d, const char *tag, const AcsBuf *context, VmmDockerReply cb, void *userdata);

/* Follows /events for containers labeled for vm until vmm_docker_unwatch_events(). */
int vmm_docker_watch_events(VmmDocker *d, const char *vm, VmmDockerEvent on_event, VmmDockerEventsEnd on_end,
                            void *userdata);
void vmm_docker_unwatch_events(VmmDocker *d);

/* The "message" of an Engine API error reply, or a fallback. */
const char *vmm_docker_error_message(json_object *reply);
/* Looks up a nested key path ("State", "Pid"); NULL when absent. */
json_object *json_get_path(json_object *o, ...);
