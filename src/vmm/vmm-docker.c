/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-json.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-curl.h"
#include "vmm-docker.h"
#include "acs-json-stream.h"

/* The newest Engine API we speak; Debian 12's docker.io has 1.41. */
#define VMM_DOCKER_API_MAX_MAJOR 1
#define VMM_DOCKER_API_MAX_MINOR 41
#define VMM_DOCKER_CALL_TIMEOUT (60 * USEC_PER_SEC)
#define VMM_DOCKER_BUILD_TIMEOUT (300 * USEC_PER_SEC)

struct VmmDocker {
        AcsCurl *curl;
        char *socket_path;
        char api_version[16];

        AcsHttp *events;
        AcsJsonStream *events_stream;
        json_object *events_queue;      /* parsed, not yet dispatched (see docker_events_queue) */
        sd_event_source *events_dispatch;
        VmmDockerEvent on_event;
        VmmDockerEventsEnd on_events_end;
        void *events_userdata;
};

typedef struct DockerCall {
        VmmDocker *docker;
        VmmDockerReply cb;
        void *userdata;
        char *context;
        bool raw;               /* the body is not one JSON document */
        bool negotiate;         /* a /version call: take the API version from it */
} DockerCall;

static DockerCall *docker_call_free(DockerCall *c) {
        if (!c)
                return NULL;
        free(c->context);
        return mfree(c);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(DockerCall *, docker_call_free);

static int docker_events_dispatch(sd_event_source *s, void *userdata);

int vmm_docker_new(sd_event *event, const char *socket_path, VmmDocker **ret) {
        _cleanup_(vmm_docker_freep) VmmDocker *d = NULL;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->socket_path = strdup(socket_path);
        if (!d->socket_path)
                return -ENOMEM;
        d->curl = acs_curl_new(event);
        if (!d->curl)
                return -ENOMEM;
        d->events_queue = json_object_new_array();
        if (!d->events_queue)
                return -ENOMEM;
        r = sd_event_add_defer(event, &d->events_dispatch, docker_events_dispatch, d);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(d->events_dispatch, SD_EVENT_OFF);
        (void) sd_event_source_set_description(d->events_dispatch, "docker-events");
        snprintf(d->api_version, sizeof(d->api_version), "%d.%d", VMM_DOCKER_API_MAX_MAJOR, VMM_DOCKER_API_MAX_MINOR);
        *ret = TAKE_PTR(d);
        return 0;
}

VmmDocker *vmm_docker_free(VmmDocker *d) {
        if (!d)
                return NULL;
        vmm_docker_unwatch_events(d);
        /* Pending calls go without their callbacks; the destroy hook frees each DockerCall. */
        acs_curl_free(d->curl);
        json_object_put(d->events_queue);
        sd_event_source_disable_unref(d->events_dispatch);
        free(d->socket_path);
        return mfree(d);
}

const char *vmm_docker_socket(VmmDocker *d) {
        return d->socket_path;
}

const char *vmm_docker_api_version(VmmDocker *d) {
        return d->api_version;
}

const char *vmm_docker_error_message(json_object *reply) {
        json_object *m;

        if (reply && json_object_object_get_ex(reply, "message", &m) && json_object_is_type(m, json_type_string))
                return json_object_get_string(m);
        return "no message from the Docker Engine";
}

json_object *json_get_path(json_object *o, ...) {
        const char *key;
        va_list ap;

        va_start(ap, o);
        while (o && (key = va_arg(ap, const char *)))
                if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &o))
                        o = NULL;
        va_end(ap);
        return o;
}

/* /version's ApiVersion: we speak min(server, ours). */
static void docker_take_api_version(VmmDocker *d, json_object *reply) {
        json_object *v = json_get_path(reply, "ApiVersion", NULL);
        unsigned major, minor;

        if (!v || sscanf(json_object_get_string(v), "%u.%u", &major, &minor) != 2)
                return;
        if (major < VMM_DOCKER_API_MAX_MAJOR || (major == VMM_DOCKER_API_MAX_MAJOR && minor < VMM_DOCKER_API_MAX_MINOR))
                snprintf(d->api_version, sizeof(d->api_version), "%u.%u", major, minor);
        else
                snprintf(d->api_version, sizeof(d->api_version), "%d.%d", VMM_DOCKER_API_MAX_MAJOR,
                         VMM_DOCKER_API_MAX_MINOR);
}

static void docker_call_done(AcsHttp *h, int error, long status, AcsBuf *body, void *userdata) {
        DockerCall *c = userdata;
        _cleanup_(json_object_putp) json_object *reply = NULL;

        if (error >= 0 && !c->raw && acs_buf_len(body) > 0) {
                _cleanup_free_ char *text = acs_buf_steal_string(body);
                if (text)
                        reply = json_tokener_parse(text);
        }
        if (c->negotiate && error >= 0 && status == 200)
                docker_take_api_version(c->docker, reply);
        if (c->cb)
                c->cb(c->docker, error, status, reply, c->context, c->userdata);
}

static void docker_call_destroy(void *userdata) {
        docker_call_free(userdata);
}

typedef struct DockerCallOptions {
        const char *method;
        const char *path;
        bool unversioned;
        const void *body;
        size_t body_size;
        const char *content_type;
        usec_t timeout;
        bool raw;
        bool negotiate;
        const char *context;
} DockerCallOptions;

static int docker_call(VmmDocker *d, const DockerCallOptions *o, VmmDockerReply cb, void *userdata) {
        _cleanup_(docker_call_freep) DockerCall *c = NULL;
        _cleanup_free_ char *url = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (DockerCall) { .docker = d, .cb = cb, .userdata = userdata, .raw = o->raw, .negotiate = o->negotiate };
        if (o->context) {
                c->context = strdup(o->context);
                if (!c->context)
                        return -ENOMEM;
        }

        /* The host part is ignored on a unix socket. */
        r = o->unversioned ? asprintf(&url, "http://docker%s", o->path)
                           : asprintf(&url, "http://docker/v%s%s", d->api_version, o->path);
        if (r < 0)
                return -ENOMEM;

        r = acs_http_start(d->curl, &(AcsHttpOptions) {
                .url = url,
                .unix_socket = d->socket_path,
                .method = o->method,
                .body = o->body,
                .body_size = o->body_size,
                .content_type = o->content_type,
                .timeout = o->timeout ?: VMM_DOCKER_CALL_TIMEOUT,
                .on_done = docker_call_done,
                .userdata = c,
                .destroy = docker_call_destroy,
        }, NULL);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 0;
}

static int docker_call_json(VmmDocker *d, const char *method, const char *path, json_object *body,
                            const char *context, VmmDockerReply cb, void *userdata) {
        const char *text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;

        return docker_call(d, &(DockerCallOptions) {
                .method = method,
                .path = path,
                .body = text,
                .body_size = text ? strlen(text) : 0,
                .content_type = text ? "application/json" : NULL,
                .context = context,
        }, cb, userdata);
}

/* Container ids and image tags go into URL paths: accept only what they may contain. */
static bool docker_name_is_safe(const char *s) {
        if (!s || !*s || strlen(s) > 128)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("-_.:", *p)))
                        return false;
        return true;
}

int vmm_docker_negotiate(VmmDocker *d, VmmDockerReply cb, void *userdata) {
        return docker_call(d, &(DockerCallOptions) {
                .method = "GET",
                .path = "/version",
                .unversioned = true,
                .timeout = 10 * USEC_PER_SEC,
                .negotiate = true,
        }, cb, userdata);
}

/* filters={"label":["org.acs.managed=1","org.acs.vmm=<vm>"], ...extra}, URL-escaped. */
static char *docker_label_filters(const char *vm, const char *extra) {
        _cleanup_free_ char *json = NULL;
        char *escaped, *result;

        if (asprintf(&json, "{\"label\":[\"" VMM_LABEL_MANAGED "=1\",\"" VMM_LABEL_VM "=%s\"]%s}", vm,
                     strempty(extra)) < 0)
                return NULL;
        escaped = curl_easy_escape(NULL, json, 0);
        if (!escaped)
                return NULL;
        result = strdup(escaped);
        curl_free(escaped);
        return result;
}

int vmm_docker_list_containers(VmmDocker *d, const char *vm, VmmDockerReply cb, void *userdata) {
        _cleanup_free_ char *filters = NULL, *path = NULL;

        if (!docker_name_is_safe(vm))
                return -EINVAL;
        filters = docker_label_filters(vm, NULL);
        if (!filters || asprintf(&path, "/containers/json?all=1&filters=%s", filters) < 0)
                return -ENOMEM;
        return docker_call_json(d, "GET", path, NULL, NULL, cb, userdata);
}

static int docker_container_call(VmmDocker *d, const char *method, const char *id, const char *format_suffix,
                                 VmmDockerReply cb, void *userdata) {
        _cleanup_free_ char *path = NULL;

        if (!docker_name_is_safe(id))
                return -EINVAL;
        if (asprintf(&path, "/containers/%s%s", id, format_suffix) < 0)
                return -ENOMEM;
        return docker_call_json(d, method, path, NULL, id, cb, userdata);
}

int vmm_docker_inspect_container(VmmDocker *d, const char *id, VmmDockerReply cb, void *userdata) {
        return docker_container_call(d, "GET", id, "/json", cb, userdata);
}

int vmm_docker_start_container(VmmDocker *d, const char *id, VmmDockerReply cb, void *userdata) {
        return docker_container_call(d, "POST", id, "/start", cb, userdata);
}

int vmm_docker_stop_container(VmmDocker *d, const char *id, usec_t timeout, VmmDockerReply cb, void *userdata) {
        char suffix[64];

        snprintf(suffix, sizeof(suffix), "/stop?t=%llu",
                 (unsigned long long) ((timeout + USEC_PER_SEC - 1) / USEC_PER_SEC));
        return docker_container_call(d, "POST", id, suffix, cb, userdata);
}

int vmm_docker_remove_container(VmmDocker *d, const char *id, VmmDockerReply cb, void *userdata) {
        return docker_container_call(d, "DELETE", id, "?force=1", cb, userdata);
}

static int json_append(json_object *a, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_array_add(a, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *json_string_printf(const char *format, ...) _printf_(1, 2);
static json_object *json_string_printf(const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        return r < 0 ? NULL : json_object_new_string(s);
}

/* The whole create body. What is not here is not set: no binds, devices, capabilities, no
 * privileged mode, no host PID/IPC; every capability dropped, no new privileges, read-only
 * root, an unprivileged user. */
static json_object *docker_container_body(const VmmContainerSpec *spec) {
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        json_object *labels, *env, *host, *capdrop, *secopt;
        char portkey[32];
        int r = 0;

        if (!body)
                return NULL;
        snprintf(portkey, sizeof(portkey), "%u/tcp", spec->port);

        labels = json_object_new_object();
        env = json_object_new_array();
        host = json_object_new_object();
        capdrop = json_object_new_array();
        secopt = json_object_new_array();
        r |= acs_json_add(body, "Labels", labels);
        r |= acs_json_add(body, "Env", env);
        r |= acs_json_add(body, "HostConfig", host);
        r |= acs_json_add(host, "CapDrop", capdrop);
        r |= acs_json_add(host, "SecurityOpt", secopt);
        if (r < 0)
                return NULL;

        r |= acs_json_add(body, "Image", json_object_new_string(spec->image));
        r |= acs_json_add(body, "User", json_object_new_string("65534:65534"));
        r |= acs_json_add(labels, VMM_LABEL_MANAGED, json_object_new_string("1"));
        r |= acs_json_add(labels, VMM_LABEL_VM, json_object_new_string(spec->vm));
        r |= acs_json_add(labels, VMM_LABEL_SERVICE, json_object_new_string(spec->service));
        r |= acs_json_add(labels, VMM_LABEL_PORT, json_string_printf("%u", spec->port));
        r |= json_append(env, json_string_printf("ACS_PORT=%u", spec->port));
        r |= json_append(env, json_string_printf("ACS_VM=%s", spec->vm));
        r |= json_append(env, json_string_printf("ACS_SERVICE=%s", spec->service));
        /* Always said, so that an image's own ENV cannot hand the cost to the clients. */
        r |= json_append(env, json_string_printf("ACS_WEB_CLIENT_COST=%s", spec->client_cost ? "1" : "0"));
        if (spec->request_cost != USEC_INFINITY)
                r |= json_append(env, json_string_printf("ACS_WEB_COST_MS=%.3f",
                                                         (double) spec->request_cost / USEC_PER_MSEC));

        r |= acs_json_add(host, "NanoCpus", json_object_new_int64((int64_t) (spec->cpus * 1e9)));
        r |= acs_json_add(host, "Memory", json_object_new_int64((int64_t) spec->memory));
        r |= acs_json_add(host, "Privileged", json_object_new_boolean(false));
        r |= acs_json_add(host, "ReadonlyRootfs", json_object_new_boolean(true));
        r |= json_append(capdrop, json_object_new_string("ALL"));
        r |= json_append(secopt, json_object_new_string("no-new-privileges"));

        if (spec->network == VMM_NETWORK_HOST)
                r |= acs_json_add(host, "NetworkMode", json_object_new_string("host"));
        else {
                json_object *exposed = json_object_new_object(), *bindings = json_object_new_object();
                json_object *list = json_object_new_array(), *binding = json_object_new_object();

                r |= acs_json_add(body, "ExposedPorts", exposed);
                r |= acs_json_add(host, "NetworkMode", json_object_new_string("bridge"));
                r |= acs_json_add(host, "PortBindings", bindings);
                if (r < 0) {
                        json_object_put(list);
                        json_object_put(binding);
                        return NULL;
                }
                r |= acs_json_add(exposed, portkey, json_object_new_object());
                r |= acs_json_add(bindings, portkey, list);
                if (r < 0) {
                        json_object_put(binding);
                        return NULL;
                }
                r |= json_append(list, binding);
                if (r < 0)
                        return NULL;
                r |= acs_json_add(binding, "HostIp", json_object_new_string(spec->address));
                r |= acs_json_add(binding, "HostPort", json_string_printf("%u", spec->port));
        }
        if (r < 0)
                return NULL;
        return TAKE_PTR(body);
}

int vmm_docker_create_container(VmmDocker *d, const VmmContainerSpec *spec, VmmDockerReply cb, void *userdata) {
        _cleanup_(json_object_putp) json_object *body = NULL;

        if (!docker_name_is_safe(spec->vm) || !docker_name_is_safe(spec->service) || !docker_name_is_safe(spec->image))
                return -EINVAL;
        body = docker_container_body(spec);
        if (!body)
                return -ENOMEM;
        return docker_call_json(d, "POST", "/containers/create", body, spec->context, cb, userdata);
}

int vmm_docker_inspect_image(VmmDocker *d, const char *tag, VmmDockerReply cb, void *userdata) {
        _cleanup_free_ char *path = NULL;

        if (!docker_name_is_safe(tag))
                return -EINVAL;
        if (asprintf(&path, "/images/%s/json", tag) < 0)
                return -ENOMEM;
        return docker_call_json(d, "GET", path, NULL, tag, cb, userdata);
}

int vmm_docker_build_image(VmmDocker *d, const char *tag, const AcsBuf *context, VmmDockerReply cb, void *userdata) {
        _cleanup_free_ char *path = NULL, *escaped = NULL;
        char *e;

        if (!docker_name_is_safe(tag))
                return -EINVAL;
        e = curl_easy_escape(NULL, tag, 0);
        if (!e)
                return -ENOMEM;
        escaped = strdup(e);
        curl_free(e);
        if (!escaped || asprintf(&path, "/build?t=%s&rm=1&forcerm=1", escaped) < 0)
                return -ENOMEM;
        return docker_call(d, &(DockerCallOptions) {
                .method = "POST",
                .path = path,
                .body = acs_buf_peek(context),
                .body_size = acs_buf_len(context),
                .content_type = "application/x-tar",
                .timeout = VMM_DOCKER_BUILD_TIMEOUT,
                .raw = true,
                .context = tag,
        }, cb, userdata);
}

/* One complete event document; we are inside curl here, and the handler may start requests,
 * so it runs from the event loop (docker_events_dispatch()). */
static int docker_events_queue(json_object *event, void *userdata) {
        VmmDocker *d = userdata;

        if (json_object_array_add(d->events_queue, json_object_get(event)) < 0) {
                json_object_put(event);
                return -ENOMEM;
        }
        (void) sd_event_source_set_enabled(d->events_dispatch, SD_EVENT_ONESHOT);
        return 0;
}

static int docker_events_data(AcsHttp *h, const void *p, size_t n, void *userdata) {
        VmmDocker *d = userdata;

        return acs_json_stream_feed(d->events_stream, p, n, docker_events_queue, d);
}

static int docker_events_dispatch(sd_event_source *s, void *userdata) {
        VmmDocker *d = userdata;
        _cleanup_(json_object_putp) json_object *queue = TAKE_PTR(d->events_queue);

        d->events_queue = json_object_new_array();
        if (!d->events_queue)
                return log_oom();
        for (size_t i = 0; queue && i < json_object_array_length(queue); i++)
                if (d->on_event)
                        d->on_event(d, json_object_array_get_idx(queue, i), d->events_userdata);
        return 0;
}

static void docker_events_done(AcsHttp *h, int error, long status, AcsBuf *body, void *userdata) {
        VmmDocker *d = userdata;

        d->events = NULL;
        d->events_stream = acs_json_stream_free(d->events_stream);
        if (error >= 0 && status != 200)
                error = -EPROTO;
        d->on_events_end(d, error < 0 ? error : -ECONNRESET, d->events_userdata);
}

int vmm_docker_watch_events(VmmDocker *d, const char *vm, VmmDockerEvent on_event, VmmDockerEventsEnd on_end,
                            void *userdata) {
        _cleanup_free_ char *filters = NULL, *url = NULL;
        int r;

        vmm_docker_unwatch_events(d);
        if (!docker_name_is_safe(vm))
                return -EINVAL;
        filters = docker_label_filters(vm, ",\"type\":[\"container\"]");
        if (!filters || asprintf(&url, "http://docker/v%s/events?filters=%s", d->api_version, filters) < 0)
                return -ENOMEM;
        d->events_stream = acs_json_stream_new();
        if (!d->events_stream)
                return -ENOMEM;
        d->on_event = on_event;
        d->on_events_end = on_end;
        d->events_userdata = userdata;

        r = acs_http_start(d->curl, &(AcsHttpOptions) {
                .url = url,
                .unix_socket = d->socket_path,
                .on_done = docker_events_done,
                .on_data = docker_events_data,
                .userdata = d,
        }, &d->events);
        if (r < 0) {
                d->events_stream = acs_json_stream_free(d->events_stream);
                return r;
        }
        return 0;
}

void vmm_docker_unwatch_events(VmmDocker *d) {
        d->events = acs_http_cancel(d->events);
        d->events_stream = acs_json_stream_free(d->events_stream);
}
