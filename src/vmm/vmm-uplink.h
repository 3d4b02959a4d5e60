/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The VMM's link to the VIM (acs-link.h: TLS 1.3 with this VM's pre-shared key, reconnecting
 * with back-off and jitter forever). On every connect it registers with what it runs; it sends
 * metrics every monitor interval and events as they happen; it carries out the VIM's orders and
 * acks each. The VIM's absence stops nothing: the containers keep serving and the local policy
 * takes over (vmm-manager.c).
 */

#include <stdbool.h>

typedef struct VmmManager VmmManager;
typedef struct VmmUplink VmmUplink;

/* Reads [Vim] KeyFile= and starts connecting to [Vim] Address=. */
int vmm_uplink_new(VmmManager *m, VmmUplink **ret);
VmmUplink *vmm_uplink_free(VmmUplink *u);

bool vmm_uplink_is_connected(VmmUplink *u);
void vmm_uplink_send_register(VmmUplink *u);
void vmm_uplink_send_metrics(VmmUplink *u);
void vmm_uplink_send_event(VmmUplink *u, const char *event, const char *container, const char *message);
