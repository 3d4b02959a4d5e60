/* SPDX-License-Identifier: MIT */
/*
 * What the API shows: GET /api/v1/state (also the SSE "state" event) and GET /metrics.
 */
#include <stdlib.h>

#include "acs-macro.h"
#include "vim-api.h"
#include "vim-backends.h"
#include "vim-manager.h"
#include "vim-vm-config.h"
#include "vim-provider.h"
#include "vim-policy.h"
#include "vim-proxy-stats.h"

/* json-c's adders take ownership and tolerate NULL values; a failed allocation leaves a key out
 * rather than the whole answer. */
#define ADD(o, key, v) (void) json_object_object_add((o), (key), (v))

static json_object *container_json(const VimContainer *c, usec_t now) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        ADD(o, "id", json_object_new_string(c->id));
        ADD(o, "address", json_object_new_string(c->address));
        ADD(o, "port", json_object_new_int(c->port));
        ADD(o, "state", json_object_new_string(acs_container_state_to_string(vim_container_effective_state(c))));
        ADD(o, "cpu", vim_json_double(c->cpu, 4));
        ADD(o, "cpu_limit", vim_json_double(c->cpu_limit, 3));
        ADD(o, "mem", json_object_new_int64((int64_t) c->mem));
        ADD(o, "in_flight", json_object_new_int64(vim_container_in_flight(c, now)));
        return o;
}

static json_object *vm_json(const VimVm *vm, usec_t now) {
        json_object *o = json_object_new_object(), *list;

        if (!o)
                return NULL;
        ADD(o, "name", json_object_new_string(vm->name));
        ADD(o, "address", json_object_new_string(vm->address));
        ADD(o, "state", json_object_new_string(vim_vm_state_to_string(vm->state)));
        ADD(o, "capacity", json_object_new_int64(vm->capacity));
        /* What a powered VM brings once up: an off VM has no slots yet, but an operator wants
         * to see what powering it on gives. */
        if (vm->config)
                ADD(o, "declared_capacity", json_object_new_int64(vm->config->capacity));
        ADD(o, "provider", json_object_new_string(vm->provider->name));
        if (vm->failure)
                ADD(o, "failure", json_object_new_string(vm->failure));
        if (vm->config)
                ADD(o, "boot_time", vim_json_double((double) vim_boot_times_median(&vm->boot_times) / USEC_PER_SEC, 1));
        ADD(o, "cpu", vim_json_double(vm->cpu, 4));
        list = json_object_new_array();
        for (size_t i = 0; list && i < vm->n_containers; i++)
                (void) json_object_array_add(list, container_json(vm->containers[i], now));
        ADD(o, "containers", list);
        return o;
}

json_object *vim_api_state_json(VimManager *m) {
        VimProxyStats *ps = m->proxy_stats;
        VimApi *api = m->api;
        usec_t now = now_usec(CLOCK_MONOTONIC), wall = now_usec(CLOCK_REALTIME);
        json_object *o = json_object_new_object(), *x;
        unsigned running, ready;

        if (!o)
                return NULL;
        vim_scaler_count(m, &running, &ready);

        ADD(o, "generation", json_object_new_int64((int64_t) m->backends->generation));
        ADD(o, "time", vim_json_double((double) wall / USEC_PER_SEC, 3));
        ADD(o, "policy", vim_policy_to_json(&m->policy));

        x = json_object_new_object();
        if (x) {
                ADD(x, "desired", json_object_new_int64(m->desired));
                ADD(x, "running", json_object_new_int64(running));
                ADD(x, "ready", json_object_new_int64(ready));
        }
        ADD(o, "service", x);

        x = json_object_new_object();
        if (x) {
                bool have = ps && ps->available;

                ADD(x, "available", json_object_new_boolean(have));
                ADD(x, "requests_per_s", vim_json_double(have ? ps->requests_per_s : 0, 2));
                /* The proxy reports a p99 per backend; no median crosses the bus, so p50 is not
                 * known here and is reported as null. */
                ADD(x, "p50_ms", NULL);
                ADD(x, "p99_ms", vim_json_double(have ? ps->p99_ms : 0, 3));
                ADD(x, "in_flight", json_object_new_int64(have ? ps->in_flight : 0));
                ADD(x, "requests_total", json_object_new_int64(have ? (int64_t) ps->requests_total : 0));
                ADD(x, "errors_total", json_object_new_int64(have ? (int64_t) ps->errors_total : 0));
        }
        ADD(o, "proxy", x);

        x = json_object_new_array();
        for (size_t i = 0; x && i < m->n_vms; i++)
                (void) json_object_array_add(x, vm_json(m->vms[i], now));
        ADD(o, "vms", x);

        x = json_object_new_object();
        if (x) {
                bool running_load = api && vim_load_runner_is_running(&api->load);

                ADD(x, "running", json_object_new_boolean(running_load));
                ADD(x, "users", json_object_new_int64(running_load ? api->load.users : 0));
                ADD(x, "remaining_s", json_object_new_int64(running_load && api->load.end > wall
                                                                    ? (int64_t) ((api->load.end - wall) / USEC_PER_SEC)
                                                                    : 0));
        }
        ADD(o, "load", x);
        ADD(o, "proxy_url", json_object_new_string(m->settings.proxy_url));
        return o;
}

/* Label values are VM names and hex ids, which need no escaping; quotes and backslashes are
 * refused at the protocol level. */
int vim_api_metrics_text(VimManager *m, AcsBuf *out) {
        VimProxyStats *ps = m->proxy_stats;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        unsigned running, ready;
        int r = 0;

        vim_scaler_count(m, &running, &ready);
        r |= acs_buf_printf(out,
                            "# HELP acs_containers_desired Replica count the VIM converges to.\n"
                            "# TYPE acs_containers_desired gauge\n"
                            "acs_containers_desired %u\n"
                            "# HELP acs_containers_running Containers starting or ready on reachable VMs.\n"
                            "# TYPE acs_containers_running gauge\n"
                            "acs_containers_running %u\n"
                            "# HELP acs_containers_ready Ready containers on reachable VMs.\n"
                            "# TYPE acs_containers_ready gauge\n"
                            "acs_containers_ready %u\n"
                            "# HELP acs_backends_generation Generation of the backend set.\n"
                            "# TYPE acs_backends_generation gauge\n"
                            "acs_backends_generation %llu\n"
                            "# HELP acs_decisions_total Scaling decisions by outcome.\n"
                            "# TYPE acs_decisions_total counter\n"
                            "acs_decisions_total{decision=\"none\"} %llu\n"
                            "acs_decisions_total{decision=\"scale-out\"} %llu\n"
                            "acs_decisions_total{decision=\"scale-in\"} %llu\n"
                            "acs_decisions_total{decision=\"scale-hold\"} %llu\n",
                            m->desired, running, ready, (unsigned long long) m->backends->generation,
                            (unsigned long long) m->n_decisions[ACS_SCALE_NONE],
                            (unsigned long long) m->n_decisions[ACS_SCALE_OUT],
                            (unsigned long long) m->n_decisions[ACS_SCALE_IN],
                            (unsigned long long) m->n_decisions[ACS_SCALE_HOLD]);

        r |= acs_buf_printf(out, "# HELP acs_vm_up VM state (1 for the state it is in).\n"
                                 "# TYPE acs_vm_up gauge\n");
        for (size_t i = 0; i < m->n_vms; i++)
                r |= acs_buf_printf(out, "acs_vm_up{vm=\"%s\",state=\"%s\"} 1\n", m->vms[i]->name,
                                    vim_vm_state_to_string(m->vms[i]->state));
        r |= acs_buf_printf(out, "# HELP acs_vm_capacity Container slots of the VM.\n"
                                 "# TYPE acs_vm_capacity gauge\n");
        for (size_t i = 0; i < m->n_vms; i++)
                r |= acs_buf_printf(out, "acs_vm_capacity{vm=\"%s\"} %u\n", m->vms[i]->name, m->vms[i]->capacity);
        r |= acs_buf_printf(out, "# HELP acs_vm_cpu CPUs in use by the VM's containers.\n"
                                 "# TYPE acs_vm_cpu gauge\n");
        for (size_t i = 0; i < m->n_vms; i++)
                r |= acs_buf_printf(out, "acs_vm_cpu{vm=\"%s\"} %.4f\n", m->vms[i]->name, m->vms[i]->cpu);

        r |= acs_buf_printf(out, "# HELP acs_container_cpu CPU utilization of a container against its limit.\n"
                                 "# TYPE acs_container_cpu gauge\n");
        for (size_t i = 0; i < m->n_vms; i++)
                for (size_t k = 0; k < m->vms[i]->n_containers; k++) {
                        VimContainer *c = m->vms[i]->containers[k];

                        r |= acs_buf_printf(out, "acs_container_cpu{vm=\"%s\",container=\"%.12s\",state=\"%s\"} %.4f\n",
                                            m->vms[i]->name, c->id,
                                            acs_container_state_to_string(vim_container_effective_state(c)), c->cpu);
                }
        r |= acs_buf_printf(out, "# HELP acs_container_in_flight Requests in flight to a container.\n"
                                 "# TYPE acs_container_in_flight gauge\n");
        for (size_t i = 0; i < m->n_vms; i++)
                for (size_t k = 0; k < m->vms[i]->n_containers; k++) {
                        VimContainer *c = m->vms[i]->containers[k];

                        r |= acs_buf_printf(out, "acs_container_in_flight{vm=\"%s\",container=\"%.12s\"} %u\n",
                                            m->vms[i]->name, c->id, vim_container_in_flight(c, now));
                }

        if (ps && ps->available)
                r |= acs_buf_printf(out,
                                    "# HELP acs_proxy_requests_total Requests the front proxy answered.\n"
                                    "# TYPE acs_proxy_requests_total counter\n"
                                    "acs_proxy_requests_total %llu\n"
                                    "# HELP acs_proxy_errors_total Requests the front proxy failed.\n"
                                    "# TYPE acs_proxy_errors_total counter\n"
                                    "acs_proxy_errors_total %llu\n",
                                    (unsigned long long) ps->requests_total, (unsigned long long) ps->errors_total);
        return r < 0 ? -ENOMEM : 0;
}
