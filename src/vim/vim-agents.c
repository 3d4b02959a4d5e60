/* SPDX-License-Identifier: MIT */
/*
 * The agent server: VMMs connect over the TLS-PSK link (acs-link.h), register with what they run,
 * then report metrics every second. The link layer proves the VM name and refuses anything that
 * is not an exact message; here the reports become the cluster model.
 */
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-manager.h"
#include "vim-provider.h"

/* The userdata of a connection that a newer one of the same VM replaced. */
static char link_replaced;

static void agent_attach(VimVm *vm, AcsLink *link) {
        if (vm->link && vm->link != link) {
                /* The VMM reconnected before we noticed the old connection died. */
                log_info("VM %s connected again from %s, closing its previous connection.", vm->name,
                         acs_link_get_peer(link));
                acs_link_set_userdata(vm->link, &link_replaced);
                acs_link_close(vm->link, ACS_LINK_CLOSED_LOCALLY);
        }
        vm->link = link;
        vim_vm_forget_orders(vm);
        acs_link_set_userdata(link, vm);
}

static void agent_on_connect(AcsLink *link, const char *name, void *userdata) {
        VimManager *m = userdata;
        VimVm *vm = vim_manager_find_vm(m, name);

        /* A VM we do not know yet enters the model with its registration, not before. */
        if (vm)
                agent_attach(vm, link);
        log_debug("VM %s connected from %s.", name, acs_link_get_peer(link));
}

/* A VM the VIM powered on registered: it was booted for the demand, so it goes to work. */
static void agent_booted(VimManager *m, VimVm *vm, VimVmState reported) {
        vim_power_registered(vm);
        vim_vm_set_state(vm, VIM_VM_REGISTERED, "vm-registered", "booted by the VIM");
        if (m->policy.dry_run)
                return;
        if (reported == VIM_VM_STANDBY)
                (void) vim_vm_send_order(vm, ACS_ORDER_ACTIVATE, 0, NULL);
        vim_vm_set_state(vm, VIM_VM_ACTIVE, "vm-activate", "booted for the demand");
}

static void agent_on_register(VimManager *m, VimVm *vm, const AcsRegister *reg) {
        VimVmState reported = reg->state == ACS_VM_STANDBY ? VIM_VM_STANDBY : VIM_VM_ACTIVE;
        bool first = !vim_vm_is_reachable(vm);
        unsigned adopted = 0;
        char *address;

        vm->registered_since_start = true;

        /* The file beside its key and its peer address say where its containers may be, and
         * how many: the report does not. Its reported address is not used at all (hooks get
         * ACS_VM_ADDRESS= from here). */
        (void) vim_vm_trust_settle(&vm->trust, &m->settings, vm->name, m->settings.key_directory,
                                   acs_link_get_peer_address(vm->link));
        address = strdup(vm->trust.address_text);
        if (address) {
                free(vm->address);
                vm->address = address;
        }
        vm->last_refusal[0] = 0;
        vm->capacity = MIN(reg->capacity, vm->trust.max_containers);
        vm->min = MIN(reg->min, vm->capacity);
        vm->reported_state = reported;
        vm->last_seen = vm->registered = now_usec(CLOCK_MONOTONIC);
        if (vm->state == VIM_VM_BOOTING)
                agent_booted(m, vm, reported);
        /* A VM we are draining stays draining, whatever it thinks; one we power off stays so. */
        else if (vm->state != VIM_VM_POWERING_OFF &&
                 (first || reported == VIM_VM_STANDBY || vm->state != VIM_VM_DRAINING))
                vim_vm_set_state(vm, reported, NULL, "registered");
        log_event(LOG_NOTICE, "vm-registered", vm->name, NULL,
                  "VM %s registered from %s: %s, capacity %u, %zu containers reported%s.", vm->name,
                  acs_link_get_peer(vm->link), acs_vm_state_to_string(reg->state), vm->capacity, reg->n_containers,
                  vm->capacity < reg->capacity ? " (capacity capped by MaxContainers=)" : "");

        /* Back from unreachable: what it kept running counts again. */
        if (first)
                vim_scaler_adopt(m, vm, vim_vm_count_serving(vm), "are back");
        (void) vim_vm_apply_containers(vm, reg->containers, reg->n_containers, true, &adopted);
        vim_scaler_adopt(m, vm, adopted, "adopted at registration");
        vim_manager_containers_changed(m, vm);
        vim_manager_vms_changed(m);
}

static void agent_on_metrics(VimManager *m, VimVm *vm, const AcsMetrics *metrics) {
        unsigned adopted = 0;

        vm->last_seen = now_usec(CLOCK_MONOTONIC);
        if (vm->state == VIM_VM_UNREACHABLE) {
                vim_vm_set_state(vm, vm->reported_state, "vm-reachable", "reporting again");
                vim_scaler_adopt(m, vm, vim_vm_count_serving(vm), "are back");
        }

        /* Right after a registration a container missing from a report may only not be listed
         * yet: a VMM restarted next to running containers adopts them after it registered. */
        if (vim_vm_apply_containers(vm, metrics->containers, metrics->n_containers,
                                    vm->last_seen < vm->registered + m->settings.grace_period, &adopted))
                vim_manager_containers_changed(m, vm);
        vim_scaler_adopt(m, vm, adopted, "appeared without an order");
}

static void agent_on_message(AcsLink *link, const AcsMessage *msg, void *userdata) {
        VimManager *m = userdata;
        VimVm *vm = acs_link_get_userdata(link);

        if (vm == (VimVm *) &link_replaced)
                return;
        if (!vm) {
                /* The link lets nothing but a register come first. */
                if (msg->type != ACS_MESSAGE_REGISTER)
                        return;
                vm = vim_manager_find_vm(m, acs_link_get_vm(link)) ?: vim_vm_new(m, acs_link_get_vm(link));
                if (!vm) {
                        log_oom();
                        acs_link_close(link, -ENOMEM);
                        return;
                }
                agent_attach(vm, link);
        }

        switch (msg->type) {
        case ACS_MESSAGE_REGISTER:
                agent_on_register(m, vm, &msg->reg);
                break;
        case ACS_MESSAGE_METRICS:
                agent_on_metrics(m, vm, &msg->metrics);
                break;
        case ACS_MESSAGE_EVENT: {
                char text[256];

                /* The decoder checked the event name and the id; the text is the VM's own. */
                vim_text_sanitize(msg->event.message, text, sizeof(text));
                log_event(LOG_NOTICE, msg->event.event, vm->name,
                          msg->event.container[0] ? msg->event.container : NULL, "VM %s: %s: %s", vm->name,
                          msg->event.event, text);
                break;
        }
        case ACS_MESSAGE_ACK:
                if (!vim_vm_ack_order(vm, &msg->ack))
                        log_debug("VM %s acknowledged #%llu, which is not pending.", vm->name,
                                  (unsigned long long) msg->ack.ack);
                break;
        default:
                /* The link server lets only the types above through. */
                break;
        }
}

static void agent_on_disconnect(AcsLink *link, int reason, void *userdata) {
        VimVm *vm = acs_link_get_userdata(link);

        if (!vm || vm == (VimVm *) &link_replaced)
                return;
        /* Not unreachable yet: the grace period decides that; a VMM that reconnects at once
         * never leaves the model. */
        log_debug("VM %s disconnected.", vm->name);
        vm->link = NULL;
        vim_vm_forget_orders(vm);
}

static const AcsLinkHandlers agent_handlers = {
        .on_connect = agent_on_connect,
        .on_message = agent_on_message,
        .on_disconnect = agent_on_disconnect,
};

int vim_agents_start(VimManager *m, int fd) {
        AcsLinkOptions options = { .handshake_timeout = m->settings.handshake_timeout };
        _cleanup_free_ char *host = NULL;
        uint16_t port;
        int r;

        r = acs_link_server_new(m->event, &options, acs_link_key_lookup_directory, m->settings.key_directory,
                                &agent_handlers, m, &m->agents);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the agent server: %m");

        if (fd >= 0) {
                r = acs_link_server_listen_fd(m->agents, fd);
                if (r < 0)
                        return log_error_errno(r, "Failed to serve agents on the passed socket: %m");
                log_info("Serving agents on the socket passed by the service manager.");
                return 0;
        }

        r = vim_parse_listen(m->settings.agent_listen, &host, &port);
        if (r < 0)
                return log_error_errno(r, "[Agents] Listen=%s: expected an address like 127.0.0.1:7070.",
                                       m->settings.agent_listen);
        r = acs_link_server_listen(m->agents, host, port);
        if (r < 0)
                return log_error_errno(r, "Failed to listen for agents on %s: %m", m->settings.agent_listen);
        (void) acs_link_server_get_port(m->agents, &port);
        log_info("Listening for agents on %s port %u, keys in %s.", host, port, m->settings.key_directory);
        return 0;
}
