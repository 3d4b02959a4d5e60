/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The shape every ACS daemon (acs-vim, acs-vmm, acs-proxy) shares, so that each main() only
 * parses, creates its manager and runs:
 *
 *     r = acs_daemon_new(&info, argc, argv, &d);       common options, RLIMIT_NOFILE, signals,
 *     if (r <= 0)                                       the event loop, watchdog
 *             return acs_daemon_exit_status(r);
 *     r = x_manager_new(d->event, &d->options, &m);
 *     ...
 *     acs_daemon_set_reload(d, x_manager_reload, m);   optional: SIGHUP
 *     acs_daemon_notify_ready("Serving.");
 *     return acs_daemon_run(d);
 *
 * The loop exits on SIGTERM and SIGINT (sd_event_set_signal_exit()). SIGHUP calls the reload
 * hook between RELOADING=1 and READY=1, as Type=notify-reload (systemd 253+) expects; on 252 the
 * extra notifications are harmless. The signals are blocked before any thread starts, so every
 * thread inherits the mask and only the loop's signalfd sees them (children get a clean mask
 * from acs-spawn.h).
 */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "acs-macro.h"

/* What a daemon says about itself, for --help, --version and the service manager. */
typedef struct AcsDaemonInfo {
        const char *name;               /* "acs-vim" */
        const char *description;        /* --help's sentence, ending in a newline */
        const char *default_config;     /* the file read without --config */
        const char *stopping_status;    /* STATUS= sent with STOPPING=1, or NULL */
        bool own_watchdog;              /* the daemon pings WATCHDOG=1 itself (acs-proxy: only
                                         * while its worker threads turn) */
} AcsDaemonInfo;

/* The options every daemon takes on its command line. */
typedef struct AcsDaemonOptions {
        const char *config;             /* --config=FILE, NULL: the default file */
        const char *bus_address;        /* as acs_bus_open() takes it: NULL the system bus,
                                         * "user" (--bus=user), or --bus-address=ADDR */
        bool bus_given;                 /* --bus= or --bus-address= was given: it wins over the
                                         * configuration file */
} AcsDaemonOptions;

/* Rereads what the daemon can change while running. Returns 0 or a negative errno, which is
 * logged by the skeleton; the daemon keeps running with what it had. */
typedef int (*AcsDaemonReloadHandler)(void *userdata);

typedef struct AcsDaemon {
        const AcsDaemonInfo *info;
        AcsDaemonOptions options;
        sd_event *event;
        sd_event_source *sighup;
        AcsDaemonReloadHandler reload;
        void *reload_userdata;
} AcsDaemon;

/* Sets up logging, parses the common options, raises RLIMIT_NOFILE, blocks the signals the loop
 * handles and creates the event loop (the thread's default one). Returns 1 with *ret set, 0 when
 * there is nothing to run (--help, --version), or a negative errno, logged. */
int acs_daemon_new(const AcsDaemonInfo *info, int argc, char *argv[], AcsDaemon **ret);
AcsDaemon *acs_daemon_free(AcsDaemon *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsDaemon *, acs_daemon_free);

/* The exit status for acs_daemon_new()'s result when it is not 1. */
int acs_daemon_exit_status(int r);

/* Registers the function SIGHUP calls (one per daemon; NULL removes it). Without one, SIGHUP
 * is logged and ignored. */
void acs_daemon_set_reload(AcsDaemon *d, AcsDaemonReloadHandler handler, void *userdata);

/* Runs the loop until a signal or sd_event_exit(); sends STOPPING=1 after it. Returns the exit
 * status for main(). */
int acs_daemon_run(AcsDaemon *d);

/* READY=1 with a STATUS= line (printf format, may be NULL). Later calls only update STATUS=. */
void acs_daemon_notify_ready(const char *format, ...) _printf_(1, 2);
/* STATUS= for systemctl status. */
void acs_daemon_notify_status(const char *format, ...) _printf_(1, 2);
/* Whether READY=1 was sent. */
bool acs_daemon_is_ready(void);

/* Raises the soft RLIMIT_NOFILE to the hard one: one descriptor per connection, and a fleet or a
 * busy proxy needs more than 1024. */
void acs_daemon_raise_fd_limit(void);
