/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * vim.conf: where the VIM listens, where the agents' keys are, the scaling policy and the API.
 * Every key has a built-in default, so the VIM runs from a build tree with no file at all.
 */

#include <stdbool.h>

#include "acs-config.h"
#include "acs-etcd.h"
#include "acs-policy.h"
#include "acs-time.h"
#include "acs-tls-server.h"

#define VIM_CONFIG_FILE ACS_SYSCONFDIR "/acs/vim.conf"

typedef enum VimStore {
        VIM_STORE_EMBEDDED,             /* alone, state in memory (and StateDirectory) */
        VIM_STORE_ETCD,                 /* leader election and state in etcd */
} VimStore;

typedef struct VimSettings {
        /* [Agents] */
        char *agent_listen;             /* "127.0.0.1:7070" */
        char *key_directory;            /* /etc/acs/agents.d */
        usec_t grace_period;            /* metrics silence before a VM is unreachable */
        usec_t handshake_timeout;
        bool allow_host_addresses;      /* containers on loopback or the front host's addresses */
        unsigned container_port_min;    /* where a VM's containers may listen */
        unsigned container_port_max;
        unsigned max_containers;        /* per VM, unless its <vm>.conf says otherwise */
        unsigned max_weight;
        char *vm_directory;             /* /etc/acs/vms.d: one NAME.conf per declared VM */

        /* [Scaling] */
        int policy_kind;                /* AcsPolicyKind */
        double target_cpu;
        double target_inflight;
        double tolerance;
        unsigned min_replicas;
        unsigned max_replicas;
        usec_t scale_down_window;
        int placement;                  /* AcsPlacement */
        unsigned vm_headroom;
        usec_t vm_standby_delay;
        unsigned min_active_vms;        /* never power off below this many VMs in use */
        usec_t drain_timeout;
        char *scale_up_limit;           /* "4" containers or "100%" per scale_up_period */
        usec_t scale_up_period;         /* 0: per decision */
        char *scale_down_limit;
        usec_t scale_down_period;
        bool dry_run;
        char *activate_command;         /* run with ACS_VM=<name> by /bin/sh -c */
        char *standby_command;

        /* [Cluster] */
        int store;                      /* VimStore */
        AcsEtcdSettings etcd;
        usec_t lease_ttl;               /* the leader's lease; a dead leader is replaced after it */
        char *advertise;                /* the agent address VMMs reach this VIM at, for the others */

        /* [Proxy] */
        char *state_directory;          /* [State] Directory=: where run-time changes are kept; "" none */
        char *proxy_bus_address;        /* where org.acs.Proxy1 lives; empty: our own bus */

        /* [Api] */
        char *api_listen;               /* "127.0.0.1:8081" */
        char *token;                    /* mutations need "Authorization: Bearer <token>"; empty: no mutations */
        char *token_file;               /* or the token from this file (mode 0600) */
        usec_t idle_timeout;            /* a connection silent this long is closed (event streams excepted) */
        usec_t request_timeout;         /* a request's head and body must arrive within this of its first byte */
        unsigned max_event_streams;

        /* [Tls]: the dashboard, API and event stream over TLS when a certificate is given */
        AcsTlsSettings tls;

        /* [Dashboard] */
        char *dashboard_directory;
        char *proxy_url;                /* the front proxy, for probes, load and the dashboard */
        char *load_command;             /* acs-load */
        unsigned max_load_users;
        unsigned max_load_seconds;
} VimSettings;

/* Every key of vim.conf; also read by the test that the manual documents each. */
extern const AcsConfigItem vim_config_table[];

void vim_settings_init(VimSettings *s);
void vim_settings_done(VimSettings *s);
/* Loads path (and its drop-ins); missing_ok when no --config was given. Logs errors. */
int vim_settings_load(VimSettings *s, const char *path, bool missing_ok);
/* The policy part of the settings. */
void vim_settings_to_policy(const VimSettings *s, AcsPolicy *ret);

/* Splits "host:port" (IPv4 or [IPv6]:port) into a newly allocated host and a port. */
int vim_parse_listen(const char *s, char **ret_host, uint16_t *ret_port);
