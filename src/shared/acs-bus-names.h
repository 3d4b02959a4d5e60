/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The D-Bus names of ACS in one place: each daemon's well-known name, object path and
 * interface (the same string for the name and the interface, as systemd's daemons do), and the
 * signatures of the structures that cross between them. The bus policies in services/ name
 * the same strings; a change here is a change of the bus API.
 */

#define ACS_VIM_BUS_NAME "org.acs.VIM1"
#define ACS_VIM_BUS_PATH "/org/acs/VIM1"
#define ACS_VIM_BUS_INTERFACE "org.acs.VIM1"

#define ACS_VMM_BUS_NAME "org.acs.VMM1"
#define ACS_VMM_BUS_PATH "/org/acs/VMM1"
#define ACS_VMM_BUS_INTERFACE "org.acs.VMM1"

#define ACS_PROXY_BUS_NAME "org.acs.Proxy1"
#define ACS_PROXY_BUS_PATH "/org/acs/Proxy1"
#define ACS_PROXY_BUS_INTERFACE "org.acs.Proxy1"

/* A backend as GetBackends() and the Backends property give it: address, port, weight, state,
 * VM, container. */
#define ACS_BUS_BACKEND_SIGNATURE "(squsss)"
/* A VM of the VIM's VMs property: name, address, state, capacity, containers, ready, utilization. */
#define ACS_BUS_VM_SIGNATURE "(sssuuud)"
/* A container of the VMM's Containers property: id, address, port, state, utilization, memory. */
#define ACS_BUS_CONTAINER_SIGNATURE "(ssqsdt)"
/* A backend of the proxy's GetBackendStats(): address, port, health, in flight, requests,
 * errors, p99 in microseconds. */
#define ACS_BUS_BACKEND_STATS_SIGNATURE "(sqsuttt)"
