/* SPDX-License-Identifier: MIT */
/*
 * The routes of the HTTP API, in one table: method, path (or prefix), whether the call needs the
 * token, and its handler. Reads need nothing. Every call that changes anything (the cluster,
 * the policy, or what the VIM does on its own: probes and load runs) needs the [Api] Token= as a
 * bearer token and must come from the page itself: a request a foreign page made the browser
 * send (Origin or Sec-Fetch-Site saying so, or a body that is not application/json, as an HTML
 * form sends) is refused even with the token.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <strings.h>

#include "acs-log.h"
#include "acs-ratelimit.h"
#include "acs-macro.h"
#include "vim-api-internal.h"
#include "vim-manager.h"
#include "vim-policy.h"

typedef void (*ApiHandler)(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who);

typedef struct ApiRoute {
        const char *method;
        const char *path;       /* ends in '/': a prefix, the rest goes to the handler */
        bool needs_token;
        ApiHandler handler;
} ApiRoute;

static bool request_authorized(VimApiConnection *c, const AcsHttpRequest *req) {
        const char *token = c->api->manager->settings.token;
        const char *h = acs_http_request_header(req, "Authorization");
        const char *given;

        if (!token[0] || !h || !(given = startswith(h, "Bearer ")))
                return false;
        return strlen(given) == strlen(token) && CRYPTO_memcmp(given, token, strlen(token)) == 0;
}

/* "alice (api 127.0.0.1:40112)": the X-ACS-User header when it is plain text, else "api". */
static void request_who(VimApiConnection *c, const AcsHttpRequest *req, char *buf, size_t size) {
        const char *user = acs_http_request_header(req, "X-ACS-User");
        bool plain = user && user[0] && strlen(user) <= 64;

        for (const char *p = user; plain && *p; p++)
                plain = *p >= 0x20 && *p < 0x7f;
        (void) snprintf(buf, size, "%s (api %s)", plain ? user : "api", c->peer);
}

/* Parses the request body as a JSON object; replies 400 and returns NULL when it is not one. */
static json_object *request_json(VimApiConnection *c, const AcsHttpRequest *req) {
        json_tokener *tok = json_tokener_new();
        json_object *o = NULL;

        if (tok) {
                o = json_tokener_parse_ex(tok, (const char *) req->body, (int) req->body_size);
                if (o && (json_tokener_get_error(tok) != json_tokener_success ||
                          (size_t) tok->char_offset != req->body_size || !json_object_is_type(o, json_type_object))) {
                        json_object_put(o);
                        o = NULL;
                }
                json_tokener_free(tok);
        }
        if (!o)
                vim_api_connection_reply_error(c, 400, "Expected a JSON object.");
        return o;
}

static bool json_get_uint(json_object *o, const char *key, unsigned max, unsigned *ret) {
        json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        x = json_object_get_int64(v);
        if (x < 0 || (uint64_t) x > max)
                return false;
        *ret = (unsigned) x;
        return true;
}

static void ok(VimApiConnection *c) {
        _cleanup_(vim_json_putp) json_object *o = json_object_new_object();

        if (o)
                (void) json_object_object_add(o, "ok", json_object_new_boolean(true));
        vim_api_connection_reply_json(c, 200, o);
}

static void handle_put_policy(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        VimManager *m = c->api->manager;
        char error[256];
        int r;

        r = vim_policy_apply_json(&m->policy, (const char *) req->body, req->body_size, error, sizeof(error));
        if (r == -ENOMEM)
                return vim_api_connection_reply_error(c, 500, "Out of memory.");
        if (r < 0)
                return vim_api_connection_reply_error(c, 400, "%s", error);
        vim_manager_policy_changed(m, who);
        ok(c);
}

static void handle_post_scale(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        VimManager *m = c->api->manager;
        _cleanup_(vim_json_putp) json_object *o = request_json(c, req);
        unsigned replicas;

        if (!o)
                return;
        if (!json_get_uint(o, "replicas", m->policy.max_replicas, &replicas) || replicas < m->policy.min_replicas)
                return vim_api_connection_reply_error(c, 400, "Expected {\"replicas\":N} with N in %u..%u.",
                                                      m->policy.min_replicas, m->policy.max_replicas);
        (void) vim_scaler_scale_to(m, replicas, who);
        ok(c);
}

static void handle_post_vm(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        VimManager *m = c->api->manager;
        const char *slash = strchr(rest, '/');
        _cleanup_free_ char *name = NULL;
        VimVm *vm;
        int r;

        if (!slash || !(name = strndup(rest, slash - rest)))
                return vim_api_connection_reply_error(c, 404, "No such resource.");
        vm = vim_manager_find_vm(m, name);
        if (!vm)
                return vim_api_connection_reply_error(c, 404, "No VM named \"%s\".",
                                                      acs_proto_vm_name_is_valid(name) ? name : "?");
        if (streq(slash, "/activate"))
                r = vim_scaler_activate(m, vm, who);
        else if (streq(slash, "/standby"))
                r = vim_scaler_standby(m, vm, who);
        else
                return vim_api_connection_reply_error(c, 404, "No such resource.");
        if (r < 0)
                return vim_api_connection_reply_error(c, 409, "VM %s: %s", vm->name, strerror(-r));
        ok(c);
}

static void handle_post_drain(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        char id[ACS_PROTO_CONTAINER_ID_LEN + 1];
        const char *slash = strchr(rest, '/');
        int r;

        if (!slash || !streq(slash, "/drain") || (size_t) (slash - rest) != ACS_PROTO_CONTAINER_ID_LEN)
                return vim_api_connection_reply_error(c, 404, "No such resource.");
        memcpy(id, rest, ACS_PROTO_CONTAINER_ID_LEN);
        id[ACS_PROTO_CONTAINER_ID_LEN] = 0;
        r = vim_scaler_drain(c->api->manager, id, who);
        if (r == -ENOENT)
                return vim_api_connection_reply_error(c, 404, "No container %s.",
                                                      acs_proto_container_id_is_valid(id) ? id : "?");
        if (r < 0)
                return vim_api_connection_reply_error(c, 409, "Container %.12s: %s", id, strerror(-r));
        ok(c);
}

static void handle_post_load(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        VimManager *m = c->api->manager;
        _cleanup_(vim_json_putp) json_object *o = request_json(c, req);
        unsigned users, duration;
        char error[256];

        if (!o)
                return;
        if (!json_get_uint(o, "users", m->settings.max_load_users, &users) || users < 1 ||
            !json_get_uint(o, "duration_s", m->settings.max_load_seconds, &duration) || duration < 1)
                return vim_api_connection_reply_error(c, 400,
                                                      "Expected {\"users\":N,\"duration_s\":M} with N in 1..%u, M in 1..%u.",
                                                      m->settings.max_load_users, m->settings.max_load_seconds);
        if (vim_load_runner_start(&c->api->load, users, duration, error, sizeof(error)) < 0)
                return vim_api_connection_reply_error(c, 409, "%s", error);
        ok(c);
}

static void handle_get_state(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        _cleanup_(vim_json_putp) json_object *o = vim_api_state_json(c->api->manager);

        if (!o)
                return vim_api_connection_reply_error(c, 500, "Out of memory.");
        vim_api_connection_reply_json(c, 200, o);
}

static void handle_get_events(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        vim_api_serve_events(c);
}

static void handle_get_metrics(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        _cleanup_(acs_buf_done) AcsBuf text = {};

        if (vim_api_metrics_text(c->api->manager, &text) < 0)
                return vim_api_connection_reply_error(c, 500, "Out of memory.");
        vim_api_connection_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", acs_buf_peek(&text),
                                 acs_buf_len(&text), NULL);
}

static void handle_post_probe(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        c->busy = true;
        if (vim_api_probe_start(c->api, c) < 0)
                vim_api_connection_reply_error(c, 502, "Failed to start a probe of %s.",
                                               c->api->manager->settings.proxy_url);
}

static void handle_delete_load(VimApiConnection *c, const AcsHttpRequest *req, const char *rest, const char *who) {
        (void) vim_load_runner_stop(&c->api->load);
        ok(c);
}

static const ApiRoute routes[] = {
        { "GET",    "/api/v1/state",       false, handle_get_state },
        { "GET",    "/api/v1/events",      false, handle_get_events },
        { "GET",    "/metrics",            false, handle_get_metrics },
        { "POST",   "/api/v1/probe",       true,  handle_post_probe },
        { "POST",   "/api/v1/load",        true,  handle_post_load },
        { "DELETE", "/api/v1/load",        true,  handle_delete_load },
        { "PUT",    "/api/v1/policy",      true,  handle_put_policy },
        { "POST",   "/api/v1/scale",       true,  handle_post_scale },
        { "POST",   "/api/v1/vms/",        true,  handle_post_vm },
        { "POST",   "/api/v1/containers/", true,  handle_post_drain },
};

/* "text/plain" for "text/plain; charset=utf-8" */
static bool media_type_is(const char *value, const char *type) {
        size_t l = strlen(type);

        return strncasecmp(value, type, l) == 0 && (value[l] == 0 || value[l] == ';' || value[l] == ' ');
}

/* NULL when the request may be a mutation of the page itself (or of a program such as curl),
 * else why not. */
static const char *request_cross_site(const AcsHttpRequest *req) {
        const char *site = acs_http_request_header(req, "Sec-Fetch-Site");
        const char *origin = acs_http_request_header(req, "Origin");
        const char *host = acs_http_request_header(req, "Host");
        const char *type = acs_http_request_header(req, "Content-Type");
        const char *rest;

        /* "none": typed by the user; browsers send the header with every request they make */
        if (site && !streq(site, "same-origin") && !streq(site, "none"))
                return "Sec-Fetch-Site is not same-origin";
        if (origin) {
                rest = startswith(origin, "http://") ?: startswith(origin, "https://");
                if (!rest || !host || !streq(rest, host))
                        return "Origin is not this host";
        }
        /* An HTML form can only send urlencoded, multipart or text/plain bodies. */
        if ((type || req->body_size > 0) && (!type || !media_type_is(type, "application/json")))
                return "the body is not application/json";
        return NULL;
}

/* Whether the request may go on to its handler; answers it otherwise. */
static bool request_permitted(VimApiConnection *c, const AcsHttpRequest *req, const char *path) {
        const char *token = c->api->manager->settings.token, *why;

        /* Refusals are what an attacker makes by the thousand: their lines are rate-limited. */
        if (!request_authorized(c, req)) {
                if (log_ratelimit_here(LOG_NOTICE, "access-denied"))
                        log_event(LOG_NOTICE, "access-denied", NULL, NULL, "Refused %s %s from %s: %s.", req->method,
                                  path, c->peer, token[0] ? "no valid bearer token" : "no [Api] Token= set");
                vim_api_connection_reply_error(c, 401, "A valid \"Authorization: Bearer <token>\" is required.");
                return false;
        }
        /* Even with the token, only the page itself or a program may act: never a foreign page
         * the browser happens to show. */
        why = request_cross_site(req);
        if (why) {
                if (log_ratelimit_here(LOG_NOTICE, "access-denied"))
                        log_event(LOG_NOTICE, "access-denied", NULL, NULL, "Refused %s %s from %s: %s.", req->method,
                                  path, c->peer, why);
                vim_api_connection_reply_error(c, 403, "Refused: %s.", why);
                return false;
        }
        return true;
}

/* The route for method and path. For a known path with another method, *ret_allowed lists the
 * methods it has ("POST or DELETE"); it stays empty for an unknown path. */
static const ApiRoute *route_find(const char *method, const char *path, const char **ret_rest, char *ret_allowed,
                                  size_t allowed_size) {
        size_t l = 0;

        ret_allowed[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
                const ApiRoute *r = routes + i;
                bool prefix = r->path[strlen(r->path) - 1] == '/';
                const char *rest = prefix ? startswith(path, r->path) : (streq(path, r->path) ? "" : NULL);

                if (!rest)
                        continue;
                l += snprintf(ret_allowed + l, l < allowed_size ? allowed_size - l : 0, "%s%s", l > 0 ? " or " : "",
                              r->method);
                l = MIN(l, allowed_size);
                if (streq(method, r->method)) {
                        *ret_rest = rest;
                        return r;
                }
        }
        return NULL;
}

void vim_api_handle_request(VimApiConnection *c, const AcsHttpRequest *req) {
        _cleanup_free_ char *path = NULL;
        const ApiRoute *route;
        const char *rest = NULL;
        char who[160] = "", allowed[32];

        c->keep_alive = req->keep_alive;
        /* The path from the target ourselves: the reader's req->path can point at memory it
         * reallocated while reading the headers (seen with long targets). */
        path = strndup(req->target, strcspn(req->target, "?"));
        if (!path)
                return vim_api_connection_reply_error(c, 500, "Out of memory.");

        route = route_find(req->method, path, &rest, allowed, sizeof(allowed));
        if (!route) {
                if (allowed[0])
                        return vim_api_connection_reply_error(c, 405, "Use %s.", allowed);
                if (startswith(path, "/api/"))
                        return vim_api_connection_reply_error(c, 404, "No such resource.");
                if (!streq(req->method, "GET") && !streq(req->method, "HEAD"))
                        return vim_api_connection_reply_error(c, 405, "Use GET.");
                return vim_api_serve_static(c, req, path);
        }
        if (route->needs_token) {
                if (!request_permitted(c, req, path))
                        return;
                request_who(c, req, who, sizeof(who));
        }
        route->handler(c, req, rest, who);
}
