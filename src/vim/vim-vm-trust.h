/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What a VM's report may say. The VIM, not the VM, decides where the VM's containers are
 * reached: only at the VM's known address ([VM] Address= in <KeyDirectory>/<vm>.conf, beside its
 * key; without one, the peer address of its link), on a port within [Agents] ContainerPortMin= ..
 * ContainerPortMax=, at most MaxContainers= of them, none weighing more than MaxWeight=.
 * Wildcard and link-local addresses are never a VM's; loopback and the front host's own addresses
 * are refused unless [Agents] AllowHostAddresses=yes (a demo where every VM is this host).
 * Without these checks a VM could point the front proxy at a service bound to the front host's
 * loopback, or at any other host.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "acs-proto.h"

typedef struct VimVm VimVm;
typedef struct VimSettings VimSettings;

#define VIM_REFUSAL_MAX 160

typedef struct VimVmTrust {
        int family;                             /* AF_INET, AF_INET6; AF_UNSPEC: none acceptable */
        struct in6_addr address;                /* an IPv4 address in its first 4 bytes */
        char address_text[INET6_ADDRSTRLEN];
        char refusal[VIM_REFUSAL_MAX];          /* why, when family is AF_UNSPEC */
        unsigned max_containers;
        unsigned max_weight;
        unsigned port_min, port_max;
} VimVmTrust;

/* Nothing acceptable until the VM registered. */
void vim_vm_trust_init(VimVmTrust *t);

/*
 * Settles what the VM may report, at each registration: reads <KeyDirectory>/<vm>.conf (when
 * key_directory is not NULL) and checks its address, or peer_address when the file names none.
 * Logs what it refuses. Returns 0, or a negative errno when the file is unusable (the VM then
 * may report nothing).
 */
int vim_vm_trust_settle(VimVmTrust *t, const VimSettings *s, const char *vm_name, const char *key_directory,
                        const char *peer_address);

/* Whether the VM may have this container at this place; the reason otherwise. */
bool vim_vm_trust_allows(const VimVmTrust *t, const AcsContainerInfo *c, char reason[static VIM_REFUSAL_MAX]);

/* Copies VM-supplied text for the journal, the hooks and the dashboard: at most size - 1 bytes,
 * cut at a character boundary, control characters replaced by '?'. */
void vim_text_sanitize(const char *s, char *buf, size_t size);
