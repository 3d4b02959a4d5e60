/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "acs-bus.h"
#include "acs-daemon.h"
#include "acs-options.h"
#include "acs-log.h"
#include "acs-time.h"

/* sd_notify() speaks for the whole process, so whether READY=1 went out is process state too. */
static bool daemon_ready = false;

static void daemon_help(const AcsDaemonInfo *info) {
        printf("%s [OPTIONS...]\n\n"
               "%s\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "  -c --config=FILE        Configuration file (default: %s)\n"
               "     --log-level=LEVEL    debug, info, notice, warning, err\n"
               "     --bus=system|user    Which standard bus to use (default: system)\n"
               "     --bus-address=ADDR   Connect to the bus at this D-Bus address instead\n",
               info->name, info->description, info->default_config);
}

/* Returns 1 to go on, 0 to exit successfully, or a negative errno, logged. */
static int daemon_parse_argv(const AcsDaemonInfo *info, int argc, char *argv[], AcsDaemonOptions *o) {
        static const struct option options[] = {
                ACS_COMMON_OPTIONS,
                { "config", required_argument, NULL, 'c' },
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0) {
                if (c == 'h') {
                        daemon_help(info);
                        return 0;
                }
                if (c == 'c') {
                        o->config = optarg;
                        continue;
                }
                r = acs_options_common(c, optarg, info->name, &o->bus_address);
                if (r < 0 || r == ACS_OPTION_DONE)
                        return r;
                if (r == ACS_OPTION_UNKNOWN)
                        return -EINVAL;
                if (c == ACS_ARG_BUS || c == ACS_ARG_BUS_ADDRESS)
                        o->bus_given = true;
        }
        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument: %s", argv[optind]);
        return 1;
}

void acs_daemon_raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        log_debug_errno(errno, "Failed to raise RLIMIT_NOFILE, ignoring: %m");
        }
}

/* SIGTERM and SIGINT end the loop, SIGHUP reloads, SIGCHLD feeds child sources, SIGPIPE is an
 * EPIPE from write() instead. Blocked here, before any thread exists, so all inherit it. */
static int daemon_block_signals(void) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGPIPE);
        r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
        if (r != 0)
                return log_error_errno(r, "Failed to block signals: %m");
        return 0;
}

static int daemon_on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        AcsDaemon *d = userdata;
        int r;

        if (!d->reload) {
                log_notice("SIGHUP: %s has nothing to reload, ignoring.", d->info->name);
                return 0;
        }
        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu",
                          (unsigned long long) now_usec(CLOCK_MONOTONIC));
        log_info("Reloading.");
        r = d->reload(d->reload_userdata);
        if (r < 0)
                log_error_errno(r, "Reload failed, keeping the running configuration: %m");
        /* A reload before start-up finished must not announce readiness early. */
        (void) sd_notify(false, daemon_ready ? "READY=1" : "STATUS=Reloaded; starting.");
        return 0;
}

static int daemon_setup_event(AcsDaemon *d) {
        int r;

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = sd_event_set_signal_exit(d->event, true);
        if (r < 0)
                return log_error_errno(r, "Failed to handle SIGTERM and SIGINT: %m");
        r = sd_event_add_signal(d->event, &d->sighup, SIGHUP, daemon_on_sighup, d);
        if (r < 0)
                return log_error_errno(r, "Failed to handle SIGHUP: %m");
        if (!d->info->own_watchdog) {
                r = sd_event_set_watchdog(d->event, true);
                if (r < 0)
                        return log_error_errno(r, "Failed to enable the watchdog: %m");
        }
        return 0;
}

int acs_daemon_new(const AcsDaemonInfo *info, int argc, char *argv[], AcsDaemon **ret) {
        _cleanup_(acs_daemon_freep) AcsDaemon *d = NULL;
        int r;

        log_setup_journal();
        d = calloc(1, sizeof(*d));
        if (!d)
                return log_oom();
        d->info = info;
        r = daemon_parse_argv(info, argc, argv, &d->options);
        if (r <= 0)
                return r;

        acs_daemon_raise_fd_limit();
        r = daemon_block_signals();
        if (r < 0)
                return r;
        r = daemon_setup_event(d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 1;
}

AcsDaemon *acs_daemon_free(AcsDaemon *d) {
        if (!d)
                return NULL;
        sd_event_source_disable_unref(d->sighup);
        sd_event_unref(d->event);
        return mfree(d);
}

int acs_daemon_exit_status(int r) {
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

void acs_daemon_set_reload(AcsDaemon *d, AcsDaemonReloadHandler handler, void *userdata) {
        d->reload = handler;
        d->reload_userdata = userdata;
}

int acs_daemon_run(AcsDaemon *d) {
        int r;

        r = sd_event_loop(d->event);
        if (d->info->stopping_status)
                (void) sd_notifyf(false, "STOPPING=1\nSTATUS=%s", d->info->stopping_status);
        else
                (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE;
        return EXIT_SUCCESS;
}

static void daemon_notifyv(bool ready, const char *format, va_list ap) {
        _cleanup_free_ char *status = NULL;

        if (format && vasprintf(&status, format, ap) < 0)
                status = NULL;
        if (ready)
                (void) sd_notifyf(false, "READY=1%s%s", status ? "\nSTATUS=" : "", strempty(status));
        else if (status)
                (void) sd_notifyf(false, "STATUS=%s", status);
}

void acs_daemon_notify_ready(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        daemon_notifyv(true, format, ap);
        va_end(ap);
        daemon_ready = true;
}

void acs_daemon_notify_status(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        daemon_notifyv(false, format, ap);
        va_end(ap);
}

bool acs_daemon_is_ready(void) {
        return daemon_ready;
}
