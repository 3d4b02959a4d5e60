/* SPDX-License-Identifier: MIT */
/*
 * acs-vim in high availability: with [Cluster] Store=etcd every acs-vim holds a lease in etcd
 * and campaigns for PREFIX/leader with a create-if-absent transaction bound to its lease. The
 * winner serves the agents (VMMs), decides and gives orders; the others are standbys that do
 * not listen for agents, so a VMM's link client moves on to the leader's address.
 *
 * Fencing: a leader counts itself leader only until its lease would run out, counted from the
 * last keep-alive etcd confirmed; past that (a pause, a partition) it gives no order, drops its
 * agents and campaigns again. Every write of state is a transaction that holds only while the
 * leader key is still the one it created (its create revision), so a deposed leader's late
 * write changes nothing.
 *
 * State under the prefix, written by the leader: "backends" (the backend set with its
 * generation, which acs-proxy Source=etcd watches) and "state" (the replica count to hold, the
 * policy, the count an operator set, the VMs' power decisions and the VMs that are up). A
 * standby watches both and follows them: its bus object and API report the leader's policy
 * and count, and its generation of the backend set never falls behind the leader's. A new
 * leader continues from them: the same policy and counts, a generation above the last one, and
 * a first decision as soon as every VM that was up has registered again, instead of after the
 * whole GracePeriod=.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acs-etcd.h"
#include "acs-log.h"
#include "acs-proto.h"
#include "vim-backends.h"
#include "vim-cluster.h"
#include "vim-manager.h"
#include "vim-policy.h"
#include "vim-state.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

struct VimCluster {
        VimManager *manager;
        AcsCurl *curl;
        AcsEtcd *etcd;
        VimRole role;
        int64_t lease;                  /* 0: none granted (yet) */
        usec_t ttl;                     /* as etcd granted it */
        usec_t lease_deadline;          /* monotonic: the lease holds at least until then */
        int64_t leader_revision;        /* create revision of our leader key, while leader */
        char *leader_address;           /* the leader's agent address, "" when none */
        char *value;                    /* our leader key's value */
        sd_event_source *timer;         /* keep-alive and campaign, every ttl / 3 */
        AcsEtcdCall *lease_call, *campaign_call, *backends_call, *state_call, *read_call;
        usec_t lease_sent;              /* when the lease call in flight was sent */
        AcsEtcdWatch *leader_watch;
        bool backends_dirty;            /* changed while a write was in flight */
        unsigned stored_desired;        /* from "state", applied at the first decision */
        bool have_stored_desired;
        json_object *stored_vms;        /* the VMs up at the last leader ("state"), an array */
        AcsEtcdWatch *state_watch, *backends_watch; /* a standby follows the leader's writes */
        AcsEtcdCall *backends_read_call;
        char *state_written;            /* the last "state" document written */
        int agent_fd;                   /* the socket-activated agent socket, or -1 */
        sd_event_source *refuse_source; /* a standby closes each connection on it at once */
};

static void cluster_read_state(VimCluster *c);
static void cluster_read_backends(VimCluster *c);
static void cluster_parse_leader(VimCluster *c, const char *value);

static void cluster_arm(VimCluster *c, usec_t delay) {
        (void) sd_event_source_set_time_relative(c->timer, delay);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static void cluster_set_leader_address(VimCluster *c, const char *address) {
        char *copy;

        if (streq_ptr(c->leader_address, address))
                return;
        copy = strdup(address);
        if (!copy)
                return;
        free(c->leader_address);
        c->leader_address = copy;
        vim_manager_bus_emit_properties(c->manager, "LeaderAddress");
}

static void cluster_set_role(VimCluster *c, VimRole role, const char *why) {
        VimManager *m = c->manager;

        if (c->role == role)
                return;
        c->role = role;
        log_event(role == VIM_ROLE_LEADER ? LOG_NOTICE : LOG_WARNING, role == VIM_ROLE_LEADER ? "leader" : "standby",
                  NULL, NULL, "Cluster role: %s (%s); leader %s.", vim_role_to_string(role), why,
                  c->leader_address && *c->leader_address ? c->leader_address : "unknown");
        vim_manager_bus_emit_properties(m, "Role");
}

/* Stops giving orders at once: no agent is served any more, every VMM moves on. */
static void cluster_step_down(VimCluster *c, const char *why) {
        VimManager *m = c->manager;

        c->leader_revision = 0;
        if (c->role != VIM_ROLE_LEADER) {
                cluster_set_role(c, VIM_ROLE_STANDBY, why);
                return;
        }
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->link) {
                        m->vms[i]->link = NULL;
                        vim_vm_forget_orders(m->vms[i]);
                }
        m->agents = acs_link_server_free(m->agents);
        if (c->refuse_source)
                (void) sd_event_source_set_enabled(c->refuse_source, SD_EVENT_ON);
        c->backends_call = acs_etcd_call_cancel(c->backends_call);
        c->state_call = acs_etcd_call_cancel(c->state_call);
        cluster_set_leader_address(c, "");
        cluster_set_role(c, VIM_ROLE_STANDBY, why);
}

/* Won the election: serve the agents; the model is rebuilt from their registrations as after
 * a restart, with the replica count to hold taken from the store. */
static void cluster_take_lead(VimCluster *c, int64_t revision) {
        VimManager *m = c->manager;
        int r;

        c->leader_revision = revision;
        cluster_set_leader_address(c, m->settings.advertise);
        m->started = now_usec(CLOCK_MONOTONIC);
        m->decided_once = false;
        m->backends->hold_signals = true;
        if (c->refuse_source)
                (void) sd_event_source_set_enabled(c->refuse_source, SD_EVENT_OFF);
        /* The server takes a copy: the socket outlives a lead that ends. */
        r = vim_agents_start(m, c->agent_fd >= 0 ? fcntl(c->agent_fd, F_DUPFD_CLOEXEC, 3) : -1);
        if (r < 0) {
                log_error_errno(r, "Failed to serve agents as leader, stepping down: %m");
                cluster_step_down(c, "cannot serve agents");
                return;
        }
        cluster_set_role(c, VIM_ROLE_LEADER, "won the election");
        cluster_read_state(c);
        cluster_read_backends(c);
}

static void cluster_on_campaign(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        VimCluster *c = userdata;
        json_object *header, *responses, *range;
        _cleanup_free_ char *value = NULL;

        c->campaign_call = NULL;
        if (error < 0) {
                log_warning_errno(error, "Campaign for the lead failed, retrying: %m");
                return;
        }
        if (json_object_get_boolean(json_object_object_get(reply, "succeeded"))) {
                header = json_object_object_get(reply, "header");
                cluster_take_lead(c, acs_etcd_json_int64(header, "revision"));
                return;
        }
        /* Someone leads: note where. */
        responses = json_object_object_get(reply, "responses");
        range = json_object_object_get(json_object_array_get_idx(responses, 0), "response_range");
        value = range ? acs_etcd_range_value(range, NULL, NULL) : NULL;
        if (value)
                cluster_parse_leader(c, value);
        cluster_set_role(c, VIM_ROLE_STANDBY, "another acs-vim leads");
}

static int cluster_campaign(VimCluster *c) {
        _cleanup_(json_object_putp) json_object *req = NULL;
        _cleanup_free_ char *key = acs_etcd_key64(c->etcd, "leader");
        _cleanup_free_ char *value = acs_base64_encode(c->value, strlen(c->value));
        char text[512];

        if (!key || !value)
                return -ENOMEM;
        (void) snprintf(text, sizeof(text),
                        "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"create_revision\":\"0\"}],"
                        "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%lld\"}}],"
                        "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                        key, key, value, (long long) c->lease, key);
        req = json_tokener_parse(text);
        if (!req)
                return -ENOMEM;
        return acs_etcd_call(c->etcd, "/v3/kv/txn", req, 0, cluster_on_campaign, c, &c->campaign_call);
}

static void cluster_on_lease(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        VimCluster *c = userdata;
        json_object *result = json_object_object_get(reply, "result") ?: reply;
        int64_t id, ttl;

        c->lease_call = NULL;
        if (error < 0) {
                log_warning_errno(error, "Lease request to etcd failed: %m");
                return;
        }
        id = acs_etcd_json_int64(result, "ID");
        ttl = acs_etcd_json_int64(result, "TTL");
        if (id == 0 || ttl <= 0) {
                /* Expired: whatever we led is not ours any more. */
                log_warning("Lease %llx expired in etcd.", (unsigned long long) c->lease);
                c->lease = 0;
                cluster_step_down(c, "lease expired");
                cluster_arm(c, 0);
                return;
        }
        if (c->lease == 0)
                log_info("Holding lease %llx in etcd at %s, %lld s.", (unsigned long long) id,
                         acs_etcd_endpoint(etcd), (long long) ttl);
        c->lease = id;
        c->ttl = (usec_t) ttl * USEC_PER_SEC;
        c->lease_deadline = c->lease_sent + c->ttl;
        if (c->role != VIM_ROLE_LEADER && !c->campaign_call && (!c->leader_address || !*c->leader_address))
                (void) cluster_campaign(c);
}

static int cluster_send_lease(VimCluster *c) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object();
        const char *path = c->lease ? "/v3/lease/keepalive" : "/v3/lease/grant";

        if (!req)
                return -ENOMEM;
        if (c->lease)
                json_object_object_add(req, "ID", json_object_new_int64(c->lease));
        else
                json_object_object_add(req, "TTL",
                                       json_object_new_int64((int64_t) (c->manager->settings.lease_ttl / USEC_PER_SEC)));
        c->lease_sent = now_usec(CLOCK_MONOTONIC);
        return acs_etcd_call(c->etcd, path, req, c->manager->settings.lease_ttl / 3, cluster_on_lease, c,
                             &c->lease_call);
}

static int cluster_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        VimCluster *c = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        cluster_arm(c, c->manager->settings.lease_ttl / 3);
        if (c->role == VIM_ROLE_LEADER && now >= c->lease_deadline)
                cluster_step_down(c, "lease not renewed in time");
        if (!c->lease_call) {
                c->lease_call = acs_etcd_call_cancel(c->lease_call);
                if (cluster_send_lease(c) < 0)
                        log_oom();
        }
        /* The watch tells at once when the leader key goes; this is the fallback. */
        if (c->lease && c->role != VIM_ROLE_LEADER && !c->campaign_call &&
            (!c->leader_address || !*c->leader_address))
                (void) cluster_campaign(c);
        return 0;
}

static void cluster_parse_leader(VimCluster *c, const char *value) {
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse(value);
        json_object *address;

        if (!o || !json_object_object_get_ex(o, "address", &address) ||
            !json_object_is_type(address, json_type_string) || json_object_get_string_len(address) > 256) {
                log_warning("Ignoring a leader key that is not an acs-vim's: %.64s", value);
                return;
        }
        cluster_set_leader_address(c, json_object_get_string(address));
}

/* Runs inside a curl callback: note, and let the timer campaign. */
static void cluster_on_leader_key(AcsEtcdWatch *w, const char *value, size_t size, int64_t revision,
                                  void *userdata) {
        VimCluster *c = userdata;

        if (!value) {
                log_info("The leader key is gone (revision %lld).", (long long) revision);
                if (c->role == VIM_ROLE_LEADER)
                        c->lease_deadline = 0;  /* not ours any more: fence at once */
                cluster_set_leader_address(c, "");
                cluster_arm(c, 0);
                return;
        }
        if (c->role != VIM_ROLE_LEADER)
                cluster_parse_leader(c, value);
}

/* ---- state written by the leader, fenced by the leader key's create revision */

static void cluster_on_write(VimCluster *c, int error, json_object *reply, const char *what) {
        if (error < 0) {
                log_warning_errno(error, "Failed to write %s to etcd: %m", what);
                return;
        }
        if (!json_object_get_boolean(json_object_object_get(reply, "succeeded"))) {
                log_warning("Writing %s to etcd found another leader key: deposed.", what);
                cluster_step_down(c, "deposed");
        }
}

static int cluster_write(VimCluster *c, const char *name, const char *value, AcsEtcdReply cb, AcsEtcdCall **ret) {
        _cleanup_free_ char *leader = acs_etcd_key64(c->etcd, "leader"), *key = acs_etcd_key64(c->etcd, name);
        _cleanup_free_ char *value64 = acs_base64_encode(value, strlen(value));
        _cleanup_(json_object_putp) json_object *req = NULL;
        _cleanup_free_ char *text = NULL;

        if (!leader || !key || !value64)
                return -ENOMEM;
        if (asprintf(&text,
                     "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"create_revision\":\"%lld\"}],"
                     "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}]}",
                     leader, (long long) c->leader_revision, key, value64) < 0)
                return -ENOMEM;
        req = json_tokener_parse(text);
        if (!req)
                return -ENOMEM;
        return acs_etcd_call(c->etcd, "/v3/kv/txn", req, 0, cb, c, ret);
}

static char *cluster_backends_json(VimManager *m) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *a = json_object_new_array();

        if (!o || !a)
                return NULL;
        for (size_t i = 0; i < m->n_vms; i++)
                for (size_t k = 0; k < m->vms[i]->n_backends; k++) {
                        VimBackend *x = m->vms[i]->backends + k;
                        json_object *b = json_object_new_object();

                        if (!b || json_object_array_add(a, b) < 0)
                                return NULL;
                        json_object_object_add(b, "address", json_object_new_string(x->address));
                        json_object_object_add(b, "port", json_object_new_int(x->port));
                        json_object_object_add(b, "weight", json_object_new_int((int) x->weight));
                        json_object_object_add(b, "state", json_object_new_string(x->draining ? "draining" : "ready"));
                        json_object_object_add(b, "vm", json_object_new_string(x->vm));
                        json_object_object_add(b, "container", json_object_new_string(x->container));
                }
        json_object_object_add(o, "generation", json_object_new_int64((int64_t) m->backends->generation));
        json_object_object_add(o, "backends", json_object_get(a));
        return strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static int cluster_write_backends(VimCluster *c);

static void cluster_on_backends_written(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        VimCluster *c = userdata;

        c->backends_call = NULL;
        cluster_on_write(c, error, reply, "the backend set");
        if (c->backends_dirty && c->role == VIM_ROLE_LEADER)
                (void) cluster_write_backends(c);
}

static int cluster_write_backends(VimCluster *c) {
        _cleanup_free_ char *value = NULL;
        int r;

        if (c->backends_call) {
                c->backends_dirty = true;
                return 0;
        }
        c->backends_dirty = false;
        value = cluster_backends_json(c->manager);
        if (!value)
                return log_oom();
        r = cluster_write(c, "backends", value, cluster_on_backends_written, &c->backends_call);
        if (r < 0)
                return log_warning_errno(r, "Failed to write the backend set to etcd: %m");
        return 0;
}

static void cluster_on_state_written(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        VimCluster *c = userdata;

        c->state_call = NULL;
        cluster_on_write(c, error, reply, "the state");
}

/* The policy the previous leader ran with (changed at run time, maybe): all of it or none. */
static void cluster_restore_policy(VimCluster *c, json_object *policy, const char *source) {
        const char *text = json_object_to_json_string_ext(policy, JSON_C_TO_STRING_PLAIN);
        AcsPolicy p = c->manager->policy;
        char error[256] = "";

        if (vim_policy_apply_json(&p, text, strlen(text), error, sizeof(error)) < 0) {
                log_warning("Ignoring the stored policy: %s", error);
                return;
        }
        if (memcmp(&p, &c->manager->policy, sizeof(p)) == 0)
                return;
        c->manager->policy = p;
        vim_manager_policy_changed(c->manager, source);
}

/* The VMs up at the last leader: an array of VM names. */
static bool cluster_vms_valid(json_object *vms) {
        size_t n;

        if (!json_object_is_type(vms, json_type_array))
                return false;
        n = json_object_array_length(vms);
        if (n > 1024)
                return false;
        for (size_t i = 0; i < n; i++) {
                json_object *name = json_object_array_get_idx(vms, i);

                if (!json_object_is_type(name, json_type_string) || json_object_get_string_len(name) > 255)
                        return false;
        }
        return true;
}

/* The leader's "state" document: followed by a standby, continued from by a new leader. All of
 * it is checked before any of it is taken. */
static void cluster_take_state(VimCluster *c, const char *value, const char *source) {
        _cleanup_(json_object_putp) json_object *o = value ? json_tokener_parse(value) : NULL;
        VimManager *m = c->manager;
        json_object *desired, *policy, *vms = NULL;
        int64_t n;

        if (!o)
                return;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "desired", &desired) ||
            !json_object_is_type(desired, json_type_int) || (n = json_object_get_int64(desired)) < 0 || n > 100000 ||
            !json_object_object_get_ex(o, "policy", &policy) || !json_object_is_type(policy, json_type_object) ||
            vim_state_check_runtime(o) < 0 ||
            (json_object_object_get_ex(o, "vms", &vms) && !cluster_vms_valid(vms))) {
                char shown[LOG_UNTRUSTED_MAX + 4];

                log_warning("Ignoring a state in etcd that is not an acs-vim's: %s",
                            log_untrusted(value, strlen(value), shown));
                return;
        }
        cluster_restore_policy(c, policy, source);
        vim_state_apply_runtime(m, o, source);
        c->stored_desired = (unsigned) n;
        c->have_stored_desired = true;
        json_object_put(c->stored_vms);
        c->stored_vms = vms ? json_object_get(vms) : NULL;
        /* A standby reports the count the leader holds. */
        if (c->role != VIM_ROLE_LEADER)
                m->desired = c->stored_desired;
        vim_state_save(m);
}

/* What a new leader continues from: the stored state. */
static void cluster_on_state_read(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        VimCluster *c = userdata;
        _cleanup_free_ char *value = NULL;

        c->read_call = NULL;
        if (error < 0) {
                log_warning_errno(error, "Failed to read the state from etcd, deciding without it: %m");
                return;
        }
        value = acs_etcd_range_value(reply, NULL, NULL);
        if (!value)
                return;
        cluster_take_state(c, value, "the previous leader (cluster store)");
        if (c->have_stored_desired)
                log_info("Continuing from the stored state: %u replicas to hold.", c->stored_desired);
}

/* One backend of the leader's document, checked as the proxy checks it; strings borrowed. */
static bool cluster_parse_backend(json_object *o, VimBackend *ret) {
        json_object *address, *port, *weight, *state, *vm, *container;

        if (!json_object_object_get_ex(o, "address", &address) || !json_object_is_type(address, json_type_string) ||
            json_object_get_string_len(address) == 0 || json_object_get_string_len(address) > 255 ||
            !json_object_object_get_ex(o, "port", &port) || !json_object_is_type(port, json_type_int) ||
            json_object_get_int64(port) < 1 || json_object_get_int64(port) > 65535 ||
            !json_object_object_get_ex(o, "weight", &weight) || !json_object_is_type(weight, json_type_int) ||
            json_object_get_int64(weight) < 1 || json_object_get_int64(weight) > 256 ||
            !json_object_object_get_ex(o, "state", &state) || !json_object_is_type(state, json_type_string) ||
            !json_object_object_get_ex(o, "vm", &vm) || !json_object_is_type(vm, json_type_string) ||
            !acs_proto_vm_name_is_valid(json_object_get_string(vm)) ||
            !json_object_object_get_ex(o, "container", &container) || !json_object_is_type(container, json_type_string) ||
            json_object_get_string_len(container) > 255)
                return false;
        if (!streq(json_object_get_string(state), "ready") && !streq(json_object_get_string(state), "draining"))
                return false;
        *ret = (VimBackend) {
                .address = json_object_get_string(address),
                .port = (uint16_t) json_object_get_int64(port),
                .weight = (uint32_t) json_object_get_int64(weight),
                .draining = streq(json_object_get_string(state), "draining"),
                .vm = json_object_get_string(vm),
                .container = json_object_get_string(container),
        };
        return true;
}

/* The leader's backend set. A standby (or a new leader rebuilding its model) serves it on its
 * bus as it is; a leader only keeps its generation above it. Either way the generation never
 * goes backwards for a proxy. */
static void cluster_follow_backends(VimCluster *c, const char *value) {
        _cleanup_(json_object_putp) json_object *o = value ? json_tokener_parse(value) : NULL;
        _cleanup_free_ VimBackend *items = NULL;
        VimManager *m = c->manager;
        json_object *generation, *backends;
        size_t n;

        if (!value)
                return;
        if (!json_object_object_get_ex(o, "generation", &generation) ||
            !json_object_is_type(generation, json_type_int) || json_object_get_int64(generation) < 0 ||
            !json_object_object_get_ex(o, "backends", &backends) || !json_object_is_type(backends, json_type_array) ||
            json_object_array_length(backends) > 100000) {
                log_warning("Ignoring a backend set in etcd that is not an acs-vim's.");
                return;
        }
        if (c->role == VIM_ROLE_LEADER && !m->backends->hold_signals) {
                m->backends->generation = MAX(m->backends->generation, (uint64_t) json_object_get_int64(generation));
                return;
        }
        n = json_object_array_length(backends);
        items = calloc(MAX(n, (size_t) 1), sizeof(*items));
        if (!items) {
                log_oom();
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (!cluster_parse_backend(json_object_array_get_idx(backends, i), items + i)) {
                        log_warning("Ignoring a backend set in etcd with a backend that is not an acs-vim's.");
                        return;
                }
        if (vim_backends_follow(m, (uint64_t) json_object_get_int64(generation), items, n) < 0)
                log_oom();
}

static void cluster_on_backends_read(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        VimCluster *c = userdata;
        _cleanup_free_ char *value = NULL;

        c->backends_read_call = NULL;
        if (error < 0) {
                log_warning_errno(error, "Failed to read the backend set from etcd: %m");
                return;
        }
        value = acs_etcd_range_value(reply, NULL, NULL);
        cluster_follow_backends(c, value);
        log_info("Continuing the backend set from generation %llu.",
                 (unsigned long long) c->manager->backends->generation);
}

static void cluster_read_backends(VimCluster *c) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object();
        _cleanup_free_ char *key = acs_etcd_key64(c->etcd, "backends");
        int r;

        if (!req || !key) {
                log_oom();
                return;
        }
        json_object_object_add(req, "key", json_object_new_string(key));
        r = acs_etcd_call(c->etcd, "/v3/kv/range", req, 0, cluster_on_backends_read, c, &c->backends_read_call);
        if (r < 0)
                log_warning_errno(r, "Failed to read the backend set from etcd: %m");
}

/* The watches: a standby follows; a leader's own writes come back too and change nothing. */
static void cluster_on_state_key(AcsEtcdWatch *w, const char *value, size_t size, int64_t revision, void *userdata) {
        VimCluster *c = userdata;

        if (c->role != VIM_ROLE_LEADER && value)
                cluster_take_state(c, value, "the leader (cluster store)");
}

static void cluster_on_backends_key(AcsEtcdWatch *w, const char *value, size_t size, int64_t revision,
                                    void *userdata) {
        cluster_follow_backends(userdata, value);
}

static void cluster_read_state(VimCluster *c) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object();
        _cleanup_free_ char *key = acs_etcd_key64(c->etcd, "state");
        int r;

        if (!req || !key) {
                log_oom();
                return;
        }
        json_object_object_add(req, "key", json_object_new_string(key));
        r = acs_etcd_call(c->etcd, "/v3/kv/range", req, 0, cluster_on_state_read, c, &c->read_call);
        if (r < 0)
                log_warning_errno(r, "Failed to read the state from etcd: %m");
}

/* ---- the manager's side */

const char *vim_role_to_string(VimRole role) {
        return role == VIM_ROLE_LEADER ? "leader" : role == VIM_ROLE_STANDBY ? "standby" : "alone";
}

bool vim_manager_is_leader(VimManager *m) {
        VimCluster *c = m->cluster;

        if (!c)
                return true;
        return c->role == VIM_ROLE_LEADER && now_usec(CLOCK_MONOTONIC) < c->lease_deadline;
}

VimRole vim_manager_role(VimManager *m) {
        return m->cluster ? m->cluster->role : VIM_ROLE_ALONE;
}

const char *vim_manager_leader_address(VimManager *m) {
        if (!m->cluster)
                return m->settings.agent_listen;
        return m->cluster->leader_address ?: "";
}

void vim_cluster_backends_changed(VimManager *m) {
        /* Held: the set served is the previous leader's, already in the store. */
        if (m->cluster && vim_manager_is_leader(m) && !m->backends->hold_signals)
                (void) cluster_write_backends(m->cluster);
}

static json_object *cluster_state_json(VimManager *m) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *vms = json_object_new_array();

        if (!o || !vms || json_object_object_add(o, "vms", vms) < 0)
                return NULL;
        if (json_object_object_add(o, "desired", json_object_new_int64(m->desired)) < 0 ||
            json_object_object_add(o, "policy", vim_policy_to_json(&m->policy)) < 0 || vim_state_add_runtime(m, o) < 0)
                return NULL;
        for (size_t i = 0; i < m->n_vms; i++)
                if (vim_vm_is_reachable(m->vms[i]) &&
                    json_object_array_add(vms, json_object_new_string(m->vms[i]->name)) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

bool vim_cluster_model_complete(VimManager *m) {
        VimCluster *c = m->cluster;
        size_t n;

        if (!c || !c->stored_vms)
                return false;
        n = json_object_array_length(c->stored_vms);
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                VimVm *vm = vim_manager_find_vm(m, json_object_get_string(json_object_array_get_idx(c->stored_vms, i)));

                if (!vm || !vim_vm_is_reachable(vm))
                        return false;
        }
        return true;
}

void vim_cluster_state_changed(VimManager *m) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        VimCluster *c = m->cluster;
        const char *value;
        int r;

        if (!c || !vim_manager_is_leader(m) || c->state_call || !m->decided_once)
                return;
        o = cluster_state_json(m);
        if (!o) {
                log_oom();
                return;
        }
        value = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (streq_ptr(c->state_written, value))
                return;
        r = cluster_write(c, "state", value, cluster_on_state_written, &c->state_call);
        if (r < 0) {
                log_warning_errno(r, "Failed to write the state to etcd: %m");
                return;
        }
        free(c->state_written);
        c->state_written = strdup(value);
}

bool vim_cluster_take_stored_desired(VimManager *m, unsigned *ret) {
        VimCluster *c = m->cluster;

        if (!c || !c->have_stored_desired)
                return false;
        c->have_stored_desired = false;
        *ret = c->stored_desired;
        return true;
}

/* A standby behind a socket systemd holds open refuses agents itself, so that a VMM moves on
 * to the next address at once instead of waiting out its handshake. */
static int cluster_on_refuse(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        for (unsigned i = 0; i < 64; i++) {
                int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (conn < 0)
                        break;
                safe_close(conn);
        }
        return 0;
}

static char *cluster_leader_value(VimManager *m) {
        char host[256] = "";
        char *value;

        (void) gethostname(host, sizeof(host) - 1);
        if (asprintf(&value, "{\"address\":\"%s\",\"host\":\"%s\",\"pid\":%d}", m->settings.advertise, host,
                     (int) getpid()) < 0)
                return NULL;
        return value;
}

int vim_cluster_start(VimManager *m, int agent_fd) {
        VimCluster *c;
        int r;

        c = m->cluster = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(agent_fd);
                return log_oom();
        }
        c->manager = m;
        c->agent_fd = agent_fd;
        if (agent_fd >= 0) {
                /* accept4() must not wait: the loop drains what is there, then returns. */
                r = fcntl(agent_fd, F_GETFL);
                if (r < 0 || fcntl(agent_fd, F_SETFL, r | O_NONBLOCK) < 0)
                        return log_error_errno(errno, "Failed to make the agent socket non-blocking: %m");
                r = sd_event_add_io(m->event, &c->refuse_source, agent_fd, EPOLLIN, cluster_on_refuse, c);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the agent socket: %m");
        }
        c->role = VIM_ROLE_STANDBY;
        c->value = cluster_leader_value(m);
        c->curl = acs_curl_new(m->event);
        if (!c->value || !c->curl)
                return log_oom();
        r = acs_etcd_new(m->event, c->curl, &m->settings.etcd, &c->etcd);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the etcd client: %m");
        r = acs_etcd_watch_new(c->etcd, "leader", cluster_on_leader_key, c, &c->leader_watch);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the leader key: %m");
        r = acs_etcd_watch_new(c->etcd, "state", cluster_on_state_key, c, &c->state_watch);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the state in etcd: %m");
        r = acs_etcd_watch_new(c->etcd, "backends", cluster_on_backends_key, c, &c->backends_watch);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the backend set in etcd: %m");
        r = sd_event_add_time_relative(m->event, &c->timer, CLOCK_MONOTONIC, 0, 0, cluster_on_timer, c);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the cluster timer: %m");
        (void) sd_event_source_set_description(c->timer, "vim-cluster");
        log_info("Cluster store: etcd at %s, lease %llu s; standing by until elected.", acs_etcd_endpoint(c->etcd),
                 (unsigned long long) (m->settings.lease_ttl / USEC_PER_SEC));
        return 0;
}

VimCluster *vim_cluster_free(VimCluster *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->refuse_source);
        safe_close(c->agent_fd);
        acs_etcd_free(c->etcd);
        acs_curl_free(c->curl);
        free(c->leader_address);
        free(c->value);
        free(c->state_written);
        json_object_put(c->stored_vms);
        return mfree(c);
}
