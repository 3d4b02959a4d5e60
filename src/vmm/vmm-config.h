/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * vmm.conf: what this VM is (name, address, capacity), how containers are made (Docker socket,
 * image, limits, networking), where the VIM is, how often to sample and how to scale locally.
 */

#include <stdbool.h>
#include <stdint.h>

#include "acs-config.h"
#include "acs-time.h"

#define VMM_CONFIG_FILE ACS_SYSCONFDIR "/acs/vmm.conf"

/* acs-web's own bound of a request's cost (ACS_WEB_MAX_COST_MS). */
#define VMM_REQUEST_COST_MAX (10 * USEC_PER_SEC)

typedef enum VmmNetwork {
        VMM_NETWORK_BRIDGE,     /* Docker's bridge, the port published on [VM] Address (production) */
        VMM_NETWORK_HOST,       /* host networking: the container binds [VM] Address:port itself */
} VmmNetwork;

typedef enum VmmState {
        VMM_STATE_ACTIVE,
        VMM_STATE_STANDBY,
        VMM_STATE_DRAINING,
        _VMM_STATE_MAX,
} VmmState;

typedef struct VmmSettings {
        /* [VM] */
        char *name;
        char *address;
        char *service;
        unsigned capacity;
        unsigned min_containers;
        int state;                      /* VmmState; only active/standby are accepted in the file */
        unsigned port_start, port_end;

        /* [Docker] */
        char *docker_socket;
        char *image;                    /* full tag, e.g. acs-web:0.1.0 */
        char *web_binary;
        int network;                    /* VmmNetwork */
        double cpu_limit;               /* CPUs per container */
        char *memory_limit_text;        /* as written: "128M" */
        uint64_t memory_limit;          /* bytes per container */
        usec_t stop_timeout;            /* SIGTERM -> SIGKILL grace */
        usec_t drain_time;              /* our own drains (local policy, D-Bus): draining this long before being
                                         * stopped; the VIM's drains carry its DrainTimeout= */
        usec_t ready_timeout;           /* a container not ready after this is replaced */

        /* [Web]: what acs-web in each container is told */
        usec_t request_cost;            /* CPU time per request; USEC_INFINITY = derived from CpuLimit */
        bool client_cost;               /* honour a client's ?cost_ms= (tests, demos) */

        /* [Vim] */
        char **vim_addresses;           /* host:port of each VIM (one leads); NULL = no VIM */
        char *key_file;

        /* [Monitor] */
        usec_t monitor_interval;

        /* [Policy] */
        bool local_scaling;             /* scale by our own rule while the VIM is away */
        usec_t autonomy_grace;          /* ... but only once it has been away this long */
        double target_cpu;
        double tolerance;
        usec_t scale_down_window;
} VmmSettings;

const char *vmm_state_to_string(VmmState s);
VmmState vmm_state_from_string(const char *s);

/* Fills *s with the built-in defaults. */
/* Every key of vmm.conf; also read by the test that the manual documents each. */
extern const AcsConfigItem vmm_config_table[];

int vmm_settings_init(VmmSettings *s);
void vmm_settings_done(VmmSettings *s);

/* Loads path (a missing file is an error unless allow_missing) and its drop-ins, then checks
 * the values against each other. On failure *ret_error says where and why. */
int vmm_settings_load(VmmSettings *s, const char *path, bool allow_missing, AcsConfigError *ret_error);
