/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "acs-bus.h"
#include "acs-daemon.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-admin.h"
#include "proxy-health.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define MANAGER_TICK_USEC (1 * USEC_PER_SEC)

int manager_new(sd_event *event, const AcsDaemonOptions *options, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return log_oom();
        proxy_settings_init(&m->settings);
        pthread_mutex_init(&m->set_lock, NULL);
        m->http_fd = -1;
        m->admin_fd = -1;
        m->event = sd_event_ref(event);
        m->bus_given = options->bus_given;
        if (options->bus_address) {
                m->bus_address = strdup(options->bus_address);
                if (!m->bus_address)
                        return log_oom();
        }
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        for (unsigned i = 0; i < m->n_workers; i++)
                if (m->workers[i]) {
                        worker_stop(m->workers[i]);
                        worker_join(m->workers[i]);
                }
        for (unsigned i = 0; i < m->n_workers; i++)
                worker_free(m->workers[i]);
        free(m->workers);
        m->tls = acs_tls_server_free(m->tls);
        m->admin = admin_free(m->admin);
        m->health = health_checker_free(m->health);
        sd_bus_slot_unref(m->source_signal_slot);
        sd_bus_slot_unref(m->source_call_slot);
        sd_bus_slot_unref(m->source_owner_slot);
        sd_bus_slot_unref(m->object_slot);
        acs_etcd_watch_free(m->etcd_watch);
        acs_etcd_free(m->etcd);
        acs_curl_free(m->curl);
        sd_bus_flush_close_unref(m->bus);
        sd_event_source_disable_unref(m->tick_source);
        sd_event_source_disable_unref(m->first_backends_source);
        sd_event_source_disable_unref(m->watchdog_source);
        sd_event_unref(m->event);
        safe_close(m->http_fd);
        safe_close(m->admin_fd);
        backend_set_unref(m->set);
        pthread_mutex_destroy(&m->set_lock);
        free(m->bus_address);
        proxy_settings_done(&m->settings);
        free(m);
        return NULL;
}

void manager_freep(Manager **m) {
        manager_free(*m);
}

int manager_load(Manager *m, const char *config_path) {
        int r;

        r = proxy_settings_load(&m->settings, config_path);
        if (r < 0)
                return r;
        if (m->settings.workers == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                m->settings.workers = n > 0 ? (unsigned) MIN(n, 64L) : 1;
        }
        m->lb = lb_ops_for(m->settings.balance);
        if (acs_tls_settings_enabled(&m->settings.tls)) {
                static const char *const alpn_h2[] = { "h2", "http/1.1", NULL };
                static const char *const alpn[] = { "http/1.1", NULL };

                r = acs_tls_server_new(&m->settings.tls, m->settings.h2_enabled ? alpn_h2 : alpn, &m->tls);
                if (r < 0)
                        return r;
        }
        return 0;
}

int manager_reload(void *userdata) {
        Manager *m = userdata;

        /* The certificates, read again; connections keep theirs (acs-tls-server.h). */
        return m->tls ? acs_tls_server_reload(m->tls) : 0;
}

BackendSet *manager_get_backends(Manager *m) {
        BackendSet *s;

        pthread_mutex_lock(&m->set_lock);
        s = backend_set_ref(m->set);
        pthread_mutex_unlock(&m->set_lock);
        return s;
}

Backend *manager_backend_for(Manager *m, const char *host, uint16_t port, unsigned weight) {
        _cleanup_(backend_set_unrefp) BackendSet *current = manager_get_backends(m);
        char name[256];
        Backend *found;

        /* Looked up before anything is made: a change to a set of thousands keeps nearly all. */
        if (backend_format_name(name, sizeof(name), host, port) < 0)
                return NULL;
        found = backend_set_find(current, name);
        if (!found)
                return backend_new(host, port, weight, m->settings.workers);
        atomic_store(&found->weight, CLAMP(weight, 1u, 256u));
        return backend_ref(found);
}

#define LOGGED_CHANGES 16

/* Marks the backends that left as removed and logs the changes: each one while they are few,
 * then a count (a first set of thousands would otherwise cost more in logging than in work). */
static void log_set_changes(BackendSet *old, BackendSet *set) {
        unsigned added = 0, removed = 0;

        for (unsigned i = 0; old && i < old->n_backends; i++)
                if (!backend_set_find(set, old->backends[i]->name)) {
                        atomic_store(&old->backends[i]->removed, true);
                        if (++removed <= LOGGED_CHANGES)
                                log_info("Backend %s removed.", old->backends[i]->name);
                }
        for (unsigned i = 0; i < set->n_backends; i++)
                if (!backend_set_find(old, set->backends[i]->name) && ++added <= LOGGED_CHANGES)
                        log_info("Backend %s added (weight %u%s).", set->backends[i]->name,
                                 atomic_load(&set->backends[i]->weight),
                                 atomic_load(&set->backends[i]->draining) ? ", draining" : "");
        if (added > LOGGED_CHANGES || removed > LOGGED_CHANGES)
                log_info("Backend set generation %llu: %u backend(s) added, %u removed.",
                         (unsigned long long) set->generation, added, removed);
}

void manager_set_backends(Manager *m, BackendSet *set) {
        BackendSet *old;

        pthread_mutex_lock(&m->set_lock);
        old = m->set;
        m->set = set;
        atomic_store_explicit(&m->set_generation, set->generation, memory_order_release);
        atomic_fetch_add_explicit(&m->set_epoch, 1, memory_order_release);
        pthread_mutex_unlock(&m->set_lock);

        log_set_changes(old, set);
        backend_set_unref(old);

        for (unsigned i = 0; i < m->n_workers; i++)
                if (m->workers[i])
                        worker_wake(m->workers[i]);
}

static int manager_static_backends(Manager *m) {
        _cleanup_(backend_set_unrefp) BackendSet *set = NULL;
        unsigned n = 0;

        while (m->settings.backends && m->settings.backends[n])
                n++;
        set = backend_set_new(1, n);
        if (!set)
                return log_oom();
        for (unsigned i = 0; i < n; i++) {
                _cleanup_free_ char *host = NULL;
                uint16_t port;
                unsigned weight;
                Backend *b;
                int r;

                r = proxy_parse_backend_line(m->settings.backends[i], &host, &port, &weight);
                if (r < 0)
                        return log_error_errno(r, "Invalid backend %s.", m->settings.backends[i]);
                if (backend_set_find(set, m->settings.backends[i]))
                        continue;
                b = backend_new(host, port, weight, m->settings.workers);
                if (!b)
                        return log_oom();
                if (backend_set_add(set, b) < 0) {
                        backend_unref(b);
                        return log_oom();
                }
        }
        manager_set_backends(m, TAKE_PTR(set));
        return 0;
}

static int manager_inherit_fds(Manager *m) {
        char **names = NULL;
        int n;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to get the sockets passed by systemd: %m");
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                if (streq(names[i], "http") && m->http_fd < 0)
                        m->http_fd = fd;
                else if (streq(names[i], "admin") && m->admin_fd < 0)
                        m->admin_fd = fd;
                else {
                        log_warning("Ignoring passed socket named \"%s\".", names[i]);
                        safe_close(fd);
                }
        }
        strv_freep(&names);
        /* The workers share it and take turns: accept() must never block one of them. */
        if (m->http_fd >= 0 && fcntl(m->http_fd, F_SETFL, fcntl(m->http_fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the activated socket non-blocking: %m");
        if (m->admin_fd >= 0 && fcntl(m->admin_fd, F_SETFL, fcntl(m->admin_fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the activated admin socket non-blocking: %m");
        if (m->http_fd >= 0)
                log_info("Using the socket-activated \"http\" socket.");
        return 0;
}

static int manager_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_(backend_set_unrefp) BackendSet *set = manager_get_backends(m);
        uint64_t total = atomic_load(&m->requests_total);

        acs_daemon_notify_status("%llu requests/s, %u in flight, %u backends (generation %llu).",
                                 (unsigned long long) (total - m->last_requests_total), atomic_load(&m->in_flight),
                                 set ? set->n_backends : 0, (unsigned long long) (set ? set->generation : 0));
        m->last_requests_total = total;
        return sd_event_source_set_time_relative(s, MANAGER_TICK_USEC);
}

/* WATCHDOG=1 only while every worker's loop turns: a stuck worker loses traffic even though
 * the main loop is fine, and systemd should restart the service then. */
static int manager_on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        for (unsigned i = 0; i < m->n_workers; i++) {
                usec_t beat = atomic_load_explicit(&m->workers[i]->heartbeat, memory_order_relaxed);

                if (beat + m->watchdog_usec / 2 < now) {
                        log_error("Worker %u has not run its loop for %llu ms, not pinging the watchdog.", i,
                                  (unsigned long long) ((now - beat) / USEC_PER_MSEC));
                        return sd_event_source_set_time_relative(s, m->watchdog_usec / 4);
                }
        }
        (void) sd_notify(false, "WATCHDOG=1");
        return sd_event_source_set_time_relative(s, m->watchdog_usec / 4);
}

/* --bus= or --bus-address= win over BusAddress=; without either, the system bus. */
static int manager_connect_bus(Manager *m) {
        const char *address = m->bus_address;
        int r;

        if (!m->bus_given && m->settings.bus_address && *m->settings.bus_address)
                address = m->settings.bus_address;

        r = acs_bus_open(address, &m->bus);
        if (r < 0)
                return r;
        return sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
}

static bool manager_source_is_bus(Manager *m) {
        return m->settings.source == PROXY_SOURCE_VIM || m->settings.source == PROXY_SOURCE_VMM;
}

#define MANAGER_FIRST_BACKENDS_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* Starts the workers, which accept connections, and tells the service manager we are ready. */
static int manager_start_serving(Manager *m) {
        int r;

        if (m->serving)
                return 0;
        m->serving = true;
        m->first_backends_source = sd_event_source_disable_unref(m->first_backends_source);

        m->workers = calloc(m->settings.workers, sizeof(Worker *));
        if (!m->workers)
                return log_oom();
        for (unsigned i = 0; i < m->settings.workers; i++) {
                m->workers[i] = worker_new(m, i);
                if (!m->workers[i])
                        return log_oom();
                m->n_workers++;
                r = worker_start(m->workers[i]);
                if (r < 0)
                        return r;
        }

        log_info("Listening on %s with %u worker(s), balancing with %s.",
                 m->http_fd >= 0 ? "the activated socket" : m->settings.listen, m->n_workers, m->lb->name);
        acs_daemon_notify_ready("Serving on %s.", m->settings.listen);
        return 0;
}

static void manager_start_serving_or_exit(Manager *m) {
        int r = manager_start_serving(m);

        if (r < 0)
                (void) sd_event_exit(m->event, r);
}

static int manager_on_first_backends_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        log_warning("No backend set from the controller after %llu s; serving anyway (503 until one arrives).",
                    (unsigned long long) (MANAGER_FIRST_BACKENDS_TIMEOUT_USEC / USEC_PER_SEC));
        manager_start_serving_or_exit(m);
        return 0;
}

void manager_backends_arrived(Manager *m) {
        manager_start_serving_or_exit(m);
}

/* A static proxy needs no bus; it still offers its statistics when one is given. */
static int manager_start_bus(Manager *m) {
        int r;

        if (manager_source_is_bus(m) || m->bus_given ||
            (m->settings.bus_address && *m->settings.bus_address)) {
                r = manager_connect_bus(m);
                if (r < 0) {
                        if (manager_source_is_bus(m))
                                return log_error_errno(r, "Failed to connect to the bus: %m");
                        log_warning_errno(r, "Failed to connect to the bus, continuing without it: %m");
                        m->bus = sd_bus_flush_close_unref(m->bus);
                }
        }
        if (!m->bus)
                return 0;
        r = manager_bus_register(m);
        if (r < 0)
                return r;
        if (manager_source_is_bus(m))
                return manager_source_bus_start(m);
        return 0;
}

/* The watchdog pings (only with WatchdogSec=) and the once-a-second STATUS= line. */
static int manager_start_timers(Manager *m) {
        int r;

        if (m->watchdog_usec > 0) {
                r = sd_event_add_time_relative(m->event, &m->watchdog_source, CLOCK_MONOTONIC,
                                               m->watchdog_usec / 4, 0, manager_on_watchdog, m);
                if (r < 0)
                        return log_error_errno(r, "Failed to add the watchdog timer: %m");
                (void) sd_event_source_set_enabled(m->watchdog_source, SD_EVENT_ON);
        }

        r = sd_event_add_time_relative(m->event, &m->tick_source, CLOCK_MONOTONIC, MANAGER_TICK_USEC,
                                       100 * USEC_PER_MSEC, manager_on_tick, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the status timer: %m");
        (void) sd_event_source_set_enabled(m->tick_source, SD_EVENT_ON);
        return 0;
}

int manager_start(Manager *m) {
        int r;

        /* Signals are the skeleton's (acs-daemon.h), blocked before the workers inherit the mask. */
        (void) sd_watchdog_enabled(false, &m->watchdog_usec);

        r = manager_inherit_fds(m);
        if (r < 0)
                return r;

        if (m->settings.source == PROXY_SOURCE_STATIC) {
                r = manager_static_backends(m);
                if (r < 0)
                        return r;
        } else {
                BackendSet *empty = backend_set_new(0, 0);
                if (!empty)
                        return log_oom();
                manager_set_backends(m, empty);
        }

        r = manager_start_bus(m);
        if (r < 0)
                return r;
        if (m->settings.source == PROXY_SOURCE_ETCD) {
                r = manager_source_etcd_start(m);
                if (r < 0)
                        return r;
        }

        /* With a controller, accept only once its backend set is here: a restarted proxy behind
         * its socket would otherwise answer the queued connections with 503. The kernel holds
         * them meanwhile. A controller that does not answer delays us by a bounded time only. */
        if (m->settings.source == PROXY_SOURCE_STATIC || (manager_source_is_bus(m) && !m->bus)) {
                r = manager_start_serving(m);
                if (r < 0)
                        return r;
        } else {
                r = sd_event_add_time_relative(m->event, &m->first_backends_source, CLOCK_MONOTONIC,
                                               MANAGER_FIRST_BACKENDS_TIMEOUT_USEC, 0,
                                               manager_on_first_backends_timeout, m);
                if (r < 0)
                        return log_error_errno(r, "Failed to add the start-up timer: %m");
                acs_daemon_notify_status("Waiting for the backend set from the controller.");
        }

        if (m->settings.admin_listen || m->admin_fd >= 0) {
                r = admin_new(m, &m->admin);
                if (r < 0)
                        return r;
        }

        if (m->settings.health_interval > 0) {
                r = health_checker_new(m, &m->health);
                if (r < 0)
                        return r;
        }

        return manager_start_timers(m);
}
