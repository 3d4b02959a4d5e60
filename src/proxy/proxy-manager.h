/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The manager runs in the main thread: settings, the worker threads, the backend set in force
 * (swapped under a lock, picked up by the workers between requests), the D-Bus side (backend
 * source and the org.acs.Proxy1 object), the admin listener, active health checks, signals and
 * sd_notify. Everything a request touches lives in a worker.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "acs-daemon.h"
#include "acs-etcd.h"
#include "proxy-backend.h"
#include "proxy-h2.h"
#include "proxy-lb.h"
#include "proxy-settings.h"

typedef struct Worker Worker;
typedef struct Admin Admin;
typedef struct HealthChecker HealthChecker;

#define CLIENT_ADDR_SLOTS 4096

typedef struct Manager {
        ProxySettings settings;
        char *bus_address;              /* --bus=/--bus-address= as acs_bus_open() takes it */
        bool bus_given;                 /* either given: it wins over BusAddress=, and we connect
                                         * even with Source=static */

        sd_event *event;
        sd_event_source *tick_source;
        sd_event_source *watchdog_source;
        sd_event_source *first_backends_source; /* bounds the wait for the controller's first set */
        bool serving;                   /* workers started: accepting connections */
        usec_t watchdog_usec;           /* WatchdogSec= of the service, 0 if none */
        sd_bus *bus;
        sd_bus_slot *source_signal_slot;
        sd_bus_slot *source_call_slot;
        sd_bus_slot *source_owner_slot;
        bool source_refetch;            /* a change was announced while GetBackends() ran */
        usec_t source_fetch_started;    /* when the GetBackends() in flight was called */
        sd_bus_slot *object_slot;
        AcsCurl *curl;                  /* Source=etcd */
        AcsEtcd *etcd;
        AcsEtcdWatch *etcd_watch;
        AcsTlsServer *tls;              /* [Tls]: shared by the workers; NULL: clear text */

        Worker **workers;
        unsigned n_workers;
        const LbOps *lb;

        pthread_mutex_t set_lock;
        BackendSet *set;                /* under set_lock */
        _Atomic uint64_t set_generation;        /* the controller's number for it */
        _Atomic uint64_t set_epoch;             /* ours: bumped on every publish, even when a
                                                 * restarted controller counts from 1 again */

        int http_fd;                    /* socket-activated "http", or -1 */
        int admin_fd;                   /* socket-activated "admin", or -1 */
        Admin *admin;
        HealthChecker *health;

        _Atomic uint64_t requests_total;
        _Atomic uint64_t errors_total;
        _Atomic unsigned in_flight;
        _Atomic uint64_t connections_total;
        _Atomic uint64_t h2_streams_total;
        _Atomic uint64_t h2_stream_errors_total;        /* RST_STREAM PROTOCOL_ERROR / REFUSED_STREAM sent */
        _Atomic uint64_t h2_refused_total[_H2_REFUSED_MAX];
        _Atomic unsigned client_addr_conns[CLIENT_ADDR_SLOTS];

        uint64_t last_requests_total;   /* for the STATUS= rate */
} Manager;

int manager_new(sd_event *event, const AcsDaemonOptions *options, Manager **ret);
Manager *manager_free(Manager *m);
void manager_freep(Manager **m);

/* Loads proxy.conf (exit 78 on error is the caller's). */
int manager_load(Manager *m, const char *config_path);
/* SIGHUP: reads the TLS certificates again (the other settings apply at start). */
int manager_reload(void *userdata);
/* Binds or inherits the sockets, connects the bus, starts the workers. */
int manager_start(Manager *m);
/* The controller's backend set arrived: start accepting if we were waiting for it. */
void manager_backends_arrived(Manager *m);

/* Publishes a new backend set (takes the reference). Backends that left are marked removed. */
void manager_set_backends(Manager *m, BackendSet *set);
/* A reference to the set in force. */
BackendSet *manager_get_backends(Manager *m);
/* A Backend for host:port: the one in force if present (reference taken), else a new one. */
Backend *manager_backend_for(Manager *m, const char *host, uint16_t port, unsigned weight);

/* Backend source over D-Bus (proxy-source-bus.c). */
int manager_source_bus_start(Manager *m);
/* Adds a controller's backend to set unless invalid or present; -ENOMEM. */
int manager_backend_set_add(Manager *m, BackendSet *set, const char *address, uint16_t port, uint32_t weight,
                            const char *state);
/* Backend source from the cluster store (proxy-source-etcd.c): watches the backend-set key. */
int manager_source_etcd_start(Manager *m);
/* org.acs.Proxy1 (proxy-manager-bus.c). */
int manager_bus_register(Manager *m);
