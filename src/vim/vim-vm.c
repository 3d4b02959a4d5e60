/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-string-table.h"
#include "vim-backends.h"
#include "vim-manager.h"
#include "vim-provider.h"
#include "vim-vm-config.h"
#include "vim-vm.h"

/* An order unanswered for this long is forgotten (the VMM may have been restarted). */
#define ORDER_TIMEOUT (30 * USEC_PER_SEC)

static const char *const vm_state_names[_VIM_VM_STATE_MAX] = {
        [VIM_VM_OFF] = "off",
        [VIM_VM_BOOTING] = "booting",
        [VIM_VM_REGISTERED] = "registered",
        [VIM_VM_ACTIVE] = "active",
        [VIM_VM_DRAINING] = "draining",
        [VIM_VM_STANDBY] = "standby",
        [VIM_VM_POWERING_OFF] = "powering-off",
        [VIM_VM_FAILED] = "failed",
        [VIM_VM_UNREACHABLE] = "unreachable",
};

DEFINE_STRING_TABLE_TO_STRING(vim_vm_state, VimVmState, vm_state_names);

VimVm *vim_vm_new(VimManager *m, const char *name) {
        _cleanup_free_ VimVm *vm = NULL;

        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return NULL;
        vm->manager = m;
        vm->state = vm->reported_state = VIM_VM_UNREACHABLE;
        vim_vm_trust_init(&vm->trust);
        vm->provider = &vim_provider_agent;
        vm->boot_times.guess = 30 * USEC_PER_SEC;
        vm->name = strdup(name);
        vm->address = strdup("");
        if (!vm->name || !vm->address)
                goto fail;
        if (vim_manager_add_vm(m, vm) < 0)
                goto fail;
        return TAKE_PTR(vm);
fail:
        free(vm->name);
        free(vm->address);
        return NULL;
}

VimVm *vim_vm_free(VimVm *vm) {
        if (!vm)
                return NULL;
        while (vm->n_containers > 0)
                vim_container_free(vm->containers[vm->n_containers - 1]);
        if (vm->link)
                acs_link_set_userdata(vm->link, NULL);
        if (vm->provider && vm->provider->done)
                vm->provider->done(vm);
        sd_event_source_disable_unref(vm->power_timer);
        vim_vm_config_free(vm->config);
        free(vm->failure);
        if (vm->manager) {
                vm->manager->backends->n_items -= vm->n_backends;
                vim_manager_remove_vm(vm->manager, vm);
        }
        free(vm->backends);
        free(vm->containers);
        free(vm->orders);
        free(vm->name);
        free(vm->address);
        return mfree(vm);
}

int vim_vm_add_container(VimVm *vm, VimContainer *c) {
        VimContainer **a = reallocarray(vm->containers, vm->n_containers + 1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        vm->containers = a;
        vm->containers[vm->n_containers++] = c;
        c->vm = vm;
        return 0;
}

void vim_vm_remove_container(VimVm *vm, VimContainer *c) {
        for (size_t i = 0; i < vm->n_containers; i++)
                if (vm->containers[i] == c) {
                        memmove(vm->containers + i, vm->containers + i + 1,
                                (vm->n_containers - i - 1) * sizeof(*vm->containers));
                        vm->n_containers--;
                        break;
                }
        c->vm = NULL;
}

VimContainer *vim_vm_find_container(VimVm *vm, const char *id) {
        for (size_t i = 0; i < vm->n_containers; i++)
                if (streq(vm->containers[i]->id, id))
                        return vm->containers[i];
        return NULL;
}

typedef enum VmVerdict {
        VM_ACCEPTED,
        VM_REFUSED,
        VM_REFUSED_CLASH,
} VmVerdict;

/* Whether vm may have this container, n_accepted being the ones of the report accepted before
 * it. A container id belongs to the first VM that reported it: a second VM reporting it is
 * refused, so that no VM can take another's container, or make it flap between them. */
static VmVerdict vm_accepts_container(VimVm *vm, const AcsContainerInfo *info, size_t n_accepted,
                                      char reason[static VIM_REFUSAL_MAX]) {
        VimContainer *other;

        if (n_accepted >= vm->trust.max_containers) {
                (void) snprintf(reason, VIM_REFUSAL_MAX, "more than MaxContainers=%u", vm->trust.max_containers);
                return VM_REFUSED;
        }
        if (!vim_vm_trust_allows(&vm->trust, info, reason))
                return VM_REFUSED;
        other = vim_manager_find_container(vm->manager, info->id);
        if (other && other->vm != vm) {
                (void) snprintf(reason, VIM_REFUSAL_MAX, "its id belongs to VM %s", other->vm->name);
                return VM_REFUSED_CLASH;
        }
        return VM_ACCEPTED;
}

/* One line per change in what a VM's reports have refused, not one per report: a VM that
 * insists every second does not flood the journal. */
static void vm_log_refusals(VimVm *vm, size_t n_refused, size_t n_clashes, size_t n, const char *first_id,
                            const char *first_reason) {
        char summary[sizeof(vm->last_refusal)];

        if (n_refused == 0)
                summary[0] = 0;
        else
                (void) snprintf(summary, sizeof(summary), "%zu of %zu containers refused (%zu id clashes), first %.12s: %s",
                                n_refused, n, n_clashes, first_id, first_reason);
        if (streq(summary, vm->last_refusal))
                return;
        (void) snprintf(vm->last_refusal, sizeof(vm->last_refusal), "%s", summary);
        if (n_clashes > 0)
                log_event(LOG_WARNING, "container-id-clash", vm->name, NULL,
                          "VM %s reported %zu containers whose ids belong to other VMs; refused.", vm->name, n_clashes);
        if (n_refused > 0)
                log_event(LOG_WARNING, "report-refused", vm->name, NULL, "VM %s: %s.", vm->name, summary);
}

bool vim_vm_apply_containers(VimVm *vm, const AcsContainerInfo *list, size_t n, bool keep_missing,
                             unsigned *ret_adopted) {
        char reason[VIM_REFUSAL_MAX], first_reason[VIM_REFUSAL_MAX] = "";
        const char *first_id = NULL;
        size_t accepted = 0, refused = 0, clashes = 0;
        bool changed = false;
        unsigned appeared = 0;
        double cpu = 0;

        for (size_t i = 0; i < vm->n_containers; i++)
                vm->containers[i]->seen = false;

        for (size_t i = 0; i < n; i++) {
                VmVerdict v = vm_accepts_container(vm, &list[i], accepted, reason);

                if (v != VM_ACCEPTED) {
                        clashes += v == VM_REFUSED_CLASH;
                        if (refused++ == 0) {
                                first_id = list[i].id;
                                memcpy(first_reason, reason, sizeof(reason));
                        }
                        continue;
                }
                accepted++;
                VimContainer *c = vim_vm_find_container(vm, list[i].id);
                if (c)
                        changed |= vim_container_update(c, &list[i]);
                else {
                        c = vim_container_new(vm, &list[i]);
                        if (!c) {
                                log_oom();
                                continue;
                        }
                        log_event(LOG_INFO, "container-adopted", vm->name, c->id, "Container %.12s at %s:%u (%s).",
                                  c->id, c->address, c->port, acs_container_state_to_string(c->state));
                        changed = true;
                        appeared++;
                }
                c->seen = true;
                cpu += list[i].cpu * list[i].cpu_limit;
        }
        vm_log_refusals(vm, refused, clashes, n, first_id, first_reason);

        for (size_t i = vm->n_containers; i > 0; i--) {
                VimContainer *c = vm->containers[i - 1];

                if (c->seen || keep_missing)
                        continue;
                log_event(LOG_INFO, "container-gone", vm->name, c->id, "Container %.12s at %s:%u is gone.", c->id,
                          c->address, c->port);
                vim_container_free(c);
                changed = true;
        }

        vm->cpu = cpu;
        /* Containers that appeared are the adds we ordered, as far as counting goes; the rest
         * were there before us (a VMM that registers with what it runs). */
        if (ret_adopted)
                *ret_adopted = appeared > vm->pending_adds ? appeared - vm->pending_adds : 0;
        vm->pending_adds -= MIN(vm->pending_adds, appeared);
        return changed;
}

static void vm_forget_old_orders(VimVm *vm, usec_t now) {
        size_t k = 0;

        for (size_t i = 0; i < vm->n_orders; i++) {
                if (vm->orders[i].sent + ORDER_TIMEOUT < now) {
                        log_warning("VM %s did not acknowledge order %s #%llu, forgetting it.", vm->name,
                                    acs_order_kind_to_string(vm->orders[i].kind),
                                    (unsigned long long) vm->orders[i].seq);
                        continue;
                }
                vm->orders[k++] = vm->orders[i];
        }
        vm->n_orders = k;
}

int vim_vm_send_order(VimVm *vm, AcsOrderKind kind, uint32_t count, const char *container) {
        AcsMessage msg = {
                .type = ACS_MESSAGE_ORDER,
                .order = {
                        .order = kind,
                        .count = count,
                        .container = container ?: "",
                        .timeout_ms = kind == ACS_ORDER_DRAIN ? (uint32_t) (vm->manager->settings.drain_timeout / USEC_PER_MSEC) : 0,
                },
        };
        usec_t now = now_usec(CLOCK_MONOTONIC);
        VimOrder *o;
        uint64_t seq;
        int r;

        if (!vm->link)
                return -ENOTCONN;
        /* Fencing: a VIM that is not sure it still leads gives no order. */
        if (!vim_manager_is_leader(vm->manager))
                return -EPERM;
        vm_forget_old_orders(vm, now);

        o = reallocarray(vm->orders, vm->n_orders + 1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        vm->orders = o;

        r = acs_link_send(vm->link, &msg, &seq);
        if (r < 0)
                return r;

        o = vm->orders + vm->n_orders++;
        *o = (VimOrder) { .seq = seq, .kind = kind, .sent = now };
        (void) snprintf(o->container, sizeof(o->container), "%s", container ?: "");
        if (kind == ACS_ORDER_ADD) {
                vm->pending_adds++;
                vm->pending_since = now;
        }
        return 0;
}

bool vim_vm_ack_order(VimVm *vm, const AcsAck *ack) {
        for (size_t i = 0; i < vm->n_orders; i++) {
                VimOrder o = vm->orders[i];

                if (o.seq != ack->ack)
                        continue;
                memmove(vm->orders + i, vm->orders + i + 1, (vm->n_orders - i - 1) * sizeof(*vm->orders));
                vm->n_orders--;

                if (o.kind == ACS_ORDER_ADD && ack->result < 0 && vm->pending_adds > 0)
                        vm->pending_adds--;
                if (ack->result == -ENOENT && o.kind == ACS_ORDER_REMOVE)
                        /* The VMM removes a drained container by itself; ours came second. */
                        log_debug("VM %s had already removed %.12s.", vm->name, o.container);
                else if (ack->result < 0) {
                        char text[256];

                        vim_text_sanitize(ack->message, text, sizeof(text));
                        log_event(LOG_WARNING, "order-failed", vm->name, o.container[0] ? o.container : NULL,
                                  "Order %s%s%.12s failed on %s: %s (%s)", acs_order_kind_to_string(o.kind),
                                  o.container[0] ? " " : "", o.container, vm->name, strerror(-ack->result), text);
                } else
                        log_debug("VM %s acknowledged order %s #%llu.", vm->name, acs_order_kind_to_string(o.kind),
                                  (unsigned long long) o.seq);
                return true;
        }
        return false;
}

void vim_vm_set_state(VimVm *vm, VimVmState state, const char *event, const char *reason) {
        if (vm->state == state)
                return;
        if (event)
                log_event(state == VIM_VM_UNREACHABLE ? LOG_WARNING : LOG_NOTICE, event, vm->name, NULL,
                          "VM %s: %s -> %s: %s", vm->name, vim_vm_state_to_string(vm->state),
                          vim_vm_state_to_string(state), reason);
        /* Activated later, emptied first: placement reads the rank. VMs that registered as
         * active share rank 0 and are ordered by name. */
        if (state == VIM_VM_ACTIVE && (vm->state == VIM_VM_STANDBY || vm->state == VIM_VM_REGISTERED)) {
                vm->rank = ++vm->manager->next_rank;
                vm->may_return_to_standby = true;
        }
        if (state == VIM_VM_STANDBY)
                vm->may_return_to_standby = false;
        vm->state = state;
        vm->empty_since = 0;
        vim_manager_vms_changed(vm->manager);
}

unsigned vim_vm_used_slots(const VimVm *vm) {
        return (unsigned) vm->n_containers + vm->pending_adds;
}

/* Creating a container takes an image check, a create and a start: well under this. */
#define PENDING_ADD_TIMEOUT (60 * USEC_PER_SEC)

void vim_vm_expire_pending_adds(VimVm *vm, usec_t now) {
        if (vm->pending_adds == 0 || vm->pending_since + PENDING_ADD_TIMEOUT >= now)
                return;
        log_warning("VM %s did not show %u ordered containers within %llu s, no longer counting them.", vm->name,
                    vm->pending_adds, (unsigned long long) (PENDING_ADD_TIMEOUT / USEC_PER_SEC));
        vm->pending_adds = 0;
}

void vim_vm_forget_orders(VimVm *vm) {
        vm->n_orders = 0;
        vm->pending_adds = 0;
}

unsigned vim_vm_count_serving(const VimVm *vm) {
        unsigned n = 0;

        for (size_t i = 0; i < vm->n_containers; i++)
                n += vim_container_effective_state(vm->containers[i]) != ACS_CONTAINER_DRAINING;
        return n;
}

void vim_vm_dry_run_decision(VimVm *vm, const char *event, const char *format, ...) {
        char message[512];
        va_list ap;

        if (streq(vm->dry_run_said, event))
                return;
        (void) snprintf(vm->dry_run_said, sizeof(vm->dry_run_said), "%s", event);
        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        log_event(LOG_NOTICE, event, vm->name, NULL, "%s (dry run, no change)", message);
}
