/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * proxy.conf: the [Proxy] section. Every key has a built-in default, so the smallest useful
 * file names only Listen=, Source=static and its Backend= lines.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acs-config.h"
#include "acs-etcd.h"
#include "acs-time.h"
#include "acs-tls-server.h"

#define PROXY_CONFIG_FILE ACS_SYSCONFDIR "/acs/proxy.conf"

typedef enum ProxySource {
        PROXY_SOURCE_STATIC,
        PROXY_SOURCE_VIM,
        PROXY_SOURCE_VMM,
        PROXY_SOURCE_ETCD,              /* the backend-set key of the cluster store */
} ProxySource;

typedef enum ProxyBalance {
        PROXY_BALANCE_P2C,
        PROXY_BALANCE_ROUNDROBIN,
        PROXY_BALANCE_LEASTCONN,
        PROXY_BALANCE_HASH,
} ProxyBalance;

typedef struct ProxySettings {
        char *listen;
        char *admin_listen;
        int source;                     /* ProxySource */
        char **backends;                /* "ADDR:PORT" or "ADDR:PORT WEIGHT" */
        char *bus_address;              /* empty: the system bus */
        AcsEtcdSettings etcd;           /* [Cluster], for Source=etcd */
        AcsTlsSettings tls;             /* [Tls]: clients over TLS when a certificate is given */
        unsigned workers;               /* 0: one per core */
        int balance;                    /* ProxyBalance */
        char *hash_key;                 /* "header:NAME" or "cookie:NAME" */

        usec_t connect_timeout;
        usec_t response_timeout;        /* from the request sent to the response head */
        usec_t client_head_timeout;     /* the whole request head, not reset per byte */
        usec_t client_body_timeout;     /* between two reads of a request body */
        unsigned client_body_min_rate;  /* bytes/s a body must average after its first client_body_timeout; 0: none */
        usec_t idle_timeout;            /* keep-alive idle, both sides */

        unsigned max_url_size;
        unsigned max_head_size;
        int64_t max_body_size;          /* bytes of a request body; 0: no limit */
        unsigned max_connections;       /* client connections in all; 0: as many as fds allow */
        unsigned max_conns_per_client;  /* 0: no limit */
        unsigned max_conns_per_backend; /* 0: no limit */
        unsigned queue_size;            /* requests waiting for a backend connection, per worker */
        usec_t queue_timeout;

        usec_t health_interval;         /* 0: no active checks */
        unsigned health_rise;
        unsigned health_fall;
        usec_t slow_start;
        unsigned eject_failures;        /* consecutive failures that eject a backend */
        usec_t eject_time;              /* first ejection; doubles on each repeat */

        bool access_log;
        /* A 503 to an idempotent, bodiless request is retried once on another backend, as a
         * connection failure is (HAProxy's retry-on 503). For a front proxy whose backends are
         * the VM-side proxies of two-tier routing: one of them may have no container left. */
        bool retry_on_503;

        /* [Http2] */
        bool h2_enabled;                /* offered by ALPN when [Tls] is on */
        bool h2_prior_knowledge;        /* h2c on the plain listener: a client preface starts it */
        unsigned h2_max_concurrent_streams;
        unsigned h2_max_header_list_size;
        unsigned h2_initial_window_size;
        unsigned h2_max_resets_per_second;
} ProxySettings;

extern const AcsConfigItem proxy_settings_table[];

void proxy_settings_init(ProxySettings *s);
void proxy_settings_done(ProxySettings *s);
/* Loads FILE and FILE.d/; on error prints the message and returns a negative errno. */
int proxy_settings_load(ProxySettings *s, const char *path);

/* "127.0.0.1:8080", "[::1]:8080", "*:8080" -> a socket address. */
int proxy_parse_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);
/* "ADDR:PORT" optionally followed by whitespace and a weight 1..256. */
int proxy_parse_backend_line(const char *s, char **ret_host, uint16_t *ret_port, unsigned *ret_weight);
