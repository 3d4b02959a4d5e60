/* SPDX-License-Identifier: MIT */
/*
 * The backend set from the cluster store: the leading acs-vim writes it under PREFIX/backends
 * as one JSON document,
 *     {"generation": 12, "backends": [{"address": "10.0.0.5", "port": 9100, "weight": 1,
 *                                      "state": "ready", "vm": "vm1", "container": "web-1"}]}
 * and every front proxy, on any host, watches that key and applies each new generation as it
 * does a BackendsChanged signal. A document that is not that shape is refused with a log line
 * and the set in force stays; so does the set when etcd cannot be reached.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-manager.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

static bool json_member(json_object *o, const char *key, json_type type, json_object **ret) {
        return json_object_object_get_ex(o, key, ret) && json_object_is_type(*ret, type);
}

static int source_etcd_add(Manager *m, BackendSet *set, json_object *b) {
        json_object *address, *port, *weight, *state;
        int64_t p, w;

        if (!json_object_is_type(b, json_type_object) ||
            !json_member(b, "address", json_type_string, &address) ||
            !json_member(b, "port", json_type_int, &port) ||
            !json_member(b, "weight", json_type_int, &weight) ||
            !json_member(b, "state", json_type_string, &state))
                return -EBADMSG;
        p = json_object_get_int64(port);
        w = json_object_get_int64(weight);
        if (p < 1 || p > 65535 || w < 1 || w > 256)
                return -EBADMSG;
        return manager_backend_set_add(m, set, json_object_get_string(address), (uint16_t) p, (uint32_t) w,
                                       json_object_get_string(state));
}

/* The document into a new set. */
static int source_etcd_parse(Manager *m, const char *text, size_t size, BackendSet **ret) {
        _cleanup_(backend_set_unrefp) BackendSet *set = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        json_object *generation, *backends;
        json_tokener *tok;
        size_t n;
        int r;

        tok = json_tokener_new_ex(8);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        doc = json_tokener_parse_ex(tok, text, (int) size);
        r = json_tokener_get_error(tok) == json_tokener_success && (size_t) json_tokener_get_parse_end(tok) == size;
        json_tokener_free(tok);
        if (!r || !json_object_is_type(doc, json_type_object) ||
            !json_member(doc, "generation", json_type_int, &generation) ||
            !json_member(doc, "backends", json_type_array, &backends) ||
            json_object_get_int64(generation) < 0)
                return -EBADMSG;
        set = backend_set_new((uint64_t) json_object_get_int64(generation), 64);
        if (!set)
                return -ENOMEM;
        n = json_object_array_length(backends);
        for (size_t i = 0; i < n; i++) {
                r = source_etcd_add(m, set, json_object_array_get_idx(backends, i));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(set);
        return 0;
}

static void source_etcd_on_change(AcsEtcdWatch *w, const char *value, size_t size, int64_t revision,
                                  void *userdata) {
        Manager *m = userdata;
        BackendSet *set = NULL;
        int r;

        if (!value) {
                log_warning("The backend set was deleted from the cluster store; keeping the current one.");
                return;
        }
        r = source_etcd_parse(m, value, size, &set);
        if (r < 0) {
                log_warning_errno(r, "Refusing the backend set at revision %lld of the cluster store, keeping the current one: %m",
                                  (long long) revision);
                return;
        }
        log_info("Backend set generation %llu from the cluster store: %u backend(s).",
                 (unsigned long long) set->generation, set->n_backends);
        manager_set_backends(m, set);
        manager_backends_arrived(m);
}

int manager_source_etcd_start(Manager *m) {
        int r;

        m->curl = acs_curl_new(m->event);
        if (!m->curl)
                return log_oom();
        r = acs_etcd_new(m->event, m->curl, &m->settings.etcd, &m->etcd);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the etcd client: %m");
        r = acs_etcd_watch_new(m->etcd, "backends", source_etcd_on_change, m, &m->etcd_watch);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the backend set in etcd: %m");
        log_info("Taking the backend set from etcd at %s.", acs_etcd_endpoint(m->etcd));
        return 0;
}
