/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-link.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-psk.h"
#include "vmm-manager.h"
#include "vmm-proxy-stats.h"
#include "vmm-uplink.h"

struct VmmUplink {
        VmmManager *manager;
        AcsLinkClient *client;
        AcsLink *link;                  /* NULL between connections */
};

static AcsContainerState container_state_to_proto(VmmContainerState s) {
        switch (s) {
        case VMM_CONTAINER_READY:
                return ACS_CONTAINER_READY;
        case VMM_CONTAINER_DRAINING:
                return ACS_CONTAINER_DRAINING;
        default:
                return ACS_CONTAINER_STARTING;
        }
}

/* The containers as the protocol lists them: those with an id that are not being removed. */
static int uplink_containers(VmmUplink *u, AcsContainerInfo **ret, size_t *ret_n) {
        VmmManager *m = u->manager;
        AcsContainerInfo *infos;
        size_t n = 0;

        infos = calloc(vmm_manager_count(m, NULL) + 1, sizeof(*infos));
        if (!infos)
                return -ENOMEM;
        for (VmmContainer *c = m->containers; c; c = c->containers_next) {
                if (!c->id || c->removing)
                        continue;
                infos[n++] = (AcsContainerInfo) {
                        .id = c->id,
                        .address = m->settings.address,
                        .port = (uint16_t) c->port,
                        .state = container_state_to_proto(c->state),
                        .cpu = c->utilization,
                        .cpu_limit = m->settings.cpu_limit,
                        .mem = c->memory,
                        .in_flight = vmm_container_reported_in_flight(c), /* from the VM-side proxy, if any */
                };
        }
        *ret = infos;
        *ret_n = n;
        return 0;
}

static void uplink_send(VmmUplink *u, const AcsMessage *msg, const char *what) {
        int r;

        if (!u->link)
                return;
        r = acs_link_send(u->link, msg, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to send %s to the VIM: %m", what);
}

/* register and metrics: both carry the containers as they are now. */
static void uplink_send_containers(VmmUplink *u, AcsMessageType type) {
        VmmManager *m = u->manager;
        _cleanup_free_ AcsContainerInfo *infos = NULL;
        AcsMessage msg = { .type = type };
        size_t n;

        if (!u->link || uplink_containers(u, &infos, &n) < 0)
                return;
        if (type == ACS_MESSAGE_REGISTER)
                msg.reg = (AcsRegister) {
                        .vm = m->settings.name,
                        .address = m->settings.address,
                        .capacity = m->settings.capacity,
                        .min = m->settings.min_containers,
                        .state = m->state == VMM_STATE_ACTIVE ? ACS_VM_ACTIVE : ACS_VM_STANDBY,
                        .containers = infos,
                        .n_containers = n,
                };
        else
                msg.metrics = (AcsMetrics) {
                        .vm = m->settings.name,
                        .cpu = m->cpus,
                        .containers = infos,
                        .n_containers = n,
                };
        uplink_send(u, &msg, acs_message_type_to_string(type));
}

void vmm_uplink_send_register(VmmUplink *u) {
        uplink_send_containers(u, ACS_MESSAGE_REGISTER);
}

void vmm_uplink_send_metrics(VmmUplink *u) {
        uplink_send_containers(u, ACS_MESSAGE_METRICS);
}

void vmm_uplink_send_event(VmmUplink *u, const char *event, const char *container, const char *message) {
        uplink_send(u, &(AcsMessage) {
                .type = ACS_MESSAGE_EVENT,
                .event = {
                        .event = event,
                        .container = strempty(container),
                        .message = strempty(message),
                },
        }, "an event");
}

bool vmm_uplink_is_connected(VmmUplink *u) {
        return u && u->link;
}

static int uplink_execute(VmmUplink *u, const AcsOrder *o, char *buf, size_t size) {
        VmmManager *m = u->manager;

        switch (o->order) {
        case ACS_ORDER_SCALE:
                return vmm_manager_scale_to(m, o->count, "the VIM", buf, size);
        case ACS_ORDER_ADD:
                return vmm_manager_add_container(m, "the VIM", buf, size);
        case ACS_ORDER_REMOVE:
                return vmm_manager_remove_container(m, o->container, false, 0, "the VIM", buf, size);
        case ACS_ORDER_DRAIN:
                /* The VIM's DrainTimeout= is the only drain clock: it orders the removal once the
                 * proxy no longer routes to the container and nothing is in flight; we stop it by
                 * ourselves only if that order never comes. */
                return vmm_manager_remove_container(m, o->container, true, (usec_t) o->timeout_ms * USEC_PER_MSEC,
                                                    "the VIM", buf, size);
        case ACS_ORDER_ACTIVATE:
                return vmm_manager_set_state(m, VMM_STATE_ACTIVE, "the VIM", buf, size);
        case ACS_ORDER_STANDBY:
                return vmm_manager_set_state(m, VMM_STATE_STANDBY, "the VIM", buf, size);
        default:
                snprintf(buf, size, "unknown order");
                return -EOPNOTSUPP;
        }
}

/* What the local policy did while the VIM was away: the registration that just went out lists
 * the containers as they are now, and this says how they came to be so. */
static void uplink_report_local_actions(VmmUplink *u) {
        VmmManager *m = u->manager;
        char text[160];

        if (m->local_added == 0 && m->local_drained == 0)
                return;
        (void) snprintf(text, sizeof(text), "while the VIM was away for %.0f s the local policy added %u and drained %u containers",
                        (double) (now_usec(CLOCK_MONOTONIC) - m->vim_away_since) / USEC_PER_SEC, m->local_added,
                        m->local_drained);
        log_event(LOG_NOTICE, "local-scaling", m->settings.name, NULL, "Reported to the VIM: %s.", text);
        vmm_uplink_send_event(u, "local-scaling", NULL, text);
        m->local_added = m->local_drained = 0;
}

static void uplink_on_connect(AcsLink *link, const char *vm, void *userdata) {
        VmmUplink *u = userdata;

        u->link = link;
        log_event(LOG_INFO, "vim-connected", u->manager->settings.name, NULL, "Connected to the VIM at %s.",
                  acs_link_get_peer(link));
        vmm_uplink_send_register(u);
        uplink_report_local_actions(u);
        vmm_manager_bus_emit_changed(u->manager, "VimConnected", NULL);
}

static void uplink_on_message(AcsLink *link, const AcsMessage *msg, void *userdata) {
        VmmUplink *u = userdata;
        char buf[256] = "";
        int r;

        if (msg->type != ACS_MESSAGE_ORDER)
                return;         /* acks of what we sent: nothing to do */

        r = uplink_execute(u, &msg->order, buf, sizeof(buf));
        if (r < 0)
                log_event(LOG_WARNING, "order-refused", u->manager->settings.name, NULL, "Refused the VIM's %s order: %s",
                          acs_order_kind_to_string(msg->order.order), buf);
        (void) acs_link_send_ack(link, msg->seq, r < 0 ? r : 0, r < 0 ? buf : "done");
}

static void uplink_on_disconnect(AcsLink *link, int reason, void *userdata) {
        VmmUplink *u = userdata;

        u->link = NULL;
        u->manager->vim_away_since = now_usec(CLOCK_MONOTONIC);
        log_event(LOG_WARNING, "vim-disconnected", u->manager->settings.name, NULL,
                  "Lost the VIM; containers keep serving%s, reconnecting.",
                  u->manager->settings.local_scaling ? " (the local policy scales them if it stays away)" : "");
        vmm_manager_bus_emit_changed(u->manager, "VimConnected", NULL);
}

static const AcsLinkHandlers uplink_handlers = {
        .on_connect = uplink_on_connect,
        .on_message = uplink_on_message,
        .on_disconnect = uplink_on_disconnect,
};

/* "host:port" or "[v6]:port" into a new host and a port. */
static int uplink_parse_address(const char *address, char **ret_host, uint16_t *ret_port) {
        _cleanup_free_ char *host = strdup(address);
        char *colon, *end = NULL;
        unsigned long port;

        if (!host)
                return -ENOMEM;
        colon = strrchr(host, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        port = strtoul(colon + 1, &end, 10);
        if (!end || *end || port == 0 || port > 65535)
                return -EINVAL;
        if (host[0] == '[' && colon > host && colon[-1] == ']') {
                colon[-1] = 0;
                memmove(host, host + 1, strlen(host));
        }
        *ret_host = TAKE_PTR(host);
        *ret_port = (uint16_t) port;
        return 0;
}

/* The link to the VIM: every [Vim] Address= in order; a standby VIM refuses, so the client
 * moves on until it reaches the leader. */
static int uplink_client_new(VmmUplink *u, const uint8_t key[static ACS_PSK_SIZE]) {
        VmmManager *m = u->manager;
        int r;

        for (char **a = m->settings.vim_addresses; *a; a++) {
                _cleanup_free_ char *host = NULL;
                uint16_t port;

                r = uplink_parse_address(*a, &host, &port);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(EINVAL, "[Vim] Address=%s: expected host:port", *a);
                if (!u->client)
                        r = acs_link_client_new(m->event, NULL, host, port, m->settings.name, key, &uplink_handlers,
                                                u, &u->client);
                else
                        r = acs_link_client_add_address(u->client, host, port);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the link to the VIM at %s: %m", *a);
        }
        return 0;
}

int vmm_uplink_new(VmmManager *m, VmmUplink **ret) {
        uint8_t key[ACS_PSK_SIZE];
        VmmUplink *u;
        int r;

        r = acs_psk_read_file(m->settings.key_file, key);
        if (r < 0)
                return log_error_errno(r, "Cannot use the VIM key %s: %s", m->settings.key_file, acs_psk_strerror(r));

        u = calloc(1, sizeof(*u));
        if (!u)
                return log_oom();
        u->manager = m;
        r = uplink_client_new(u, key);
        explicit_bzero(key, sizeof(key));
        if (r < 0) {
                vmm_uplink_free(u);
                return r;
        }
        r = acs_link_client_start(u->client);
        if (r < 0) {
                vmm_uplink_free(u);
                return log_error_errno(r, "Failed to start the link to the VIM: %m");
        }
        log_info("Connecting to the VIM at %s%s as %s.", m->settings.vim_addresses[0],
                 m->settings.vim_addresses[1] ? " (or the next [Vim] Address=)" : "", m->settings.name);
        *ret = u;
        return 0;
}

VmmUplink *vmm_uplink_free(VmmUplink *u) {
        if (!u)
                return NULL;
        acs_link_client_free(u->client);
        return mfree(u);
}
