/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-config.h"
#include "vmm-manager.h"

static const char *arg_config = NULL;
static const char *arg_bus_address = NULL;
static bool arg_user_bus = false;

static void help(void) {
        printf("Usage: acs-vmm [OPTIONS]\n\n"
               "The ACS VM agent: runs this VM's web-server containers, measures them, and\n"
               "reports to the VIM. Owns org.acs.VMM1 on D-Bus.\n\n"
               "  -c --config=FILE        Configuration file (default " VMM_CONFIG_FILE ")\n"
               "     --bus-address=ADDR   Connect to this D-Bus address instead of the system bus\n"
               "     --bus=system|user    Which standard bus to use (default system)\n"
               "     --log-level=LEVEL    debug, info, notice, warning, err\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n");
}

/* Returns 1 to go on, 0 to exit successfully, or a negative errno. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_BUS_ADDRESS = 0x100, ARG_BUS, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                { "bus", required_argument, NULL, ARG_BUS },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *scope;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_BUS_ADDRESS:
                        arg_bus_address = optarg;
                        break;
                case ARG_BUS:
                        r = acs_bus_address_from_option(optarg, &scope);
                        if (r < 0)
                                return r;
                        arg_user_bus = scope != NULL;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_set_max_level_from_option(optarg);
                        if (r < 0)
                                return r;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("acs-vmm %s\n", ACS_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument: %s", argv[optind]);
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(vmm_manager_freep) VmmManager *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        AcsConfigError error = {};
        VmmSettings settings;
        sigset_t mask;
        int r;

        log_setup();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = vmm_settings_init(&settings);
        if (r < 0)
                return log_oom(), EXIT_FAILURE;
        r = vmm_settings_load(&settings, arg_config ?: VMM_CONFIG_FILE, !arg_config, &error);
        if (r < 0) {
                log_error("%s", strna(error.message));
                acs_config_error_done(&error);
                vmm_settings_done(&settings);
                return ACS_EXIT_CONFIG;
        }

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m"), EXIT_FAILURE;
        /* systemd 252 has no sd_event_set_signal_exit(): block, then exit on either signal. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_set_watchdog(event, true);

        r = vmm_manager_new(event, &settings, &m);
        vmm_settings_done(&settings);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m"), EXIT_FAILURE;

        r = vmm_manager_connect_bus(m, arg_bus_address, arg_user_bus);
        if (r < 0)
                return EXIT_FAILURE;
        r = vmm_manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        log_info("acs-vmm %s serving VM %s (capacity %u, min %u, %s).", ACS_VERSION, m->settings.name,
                 m->settings.capacity, m->settings.min_containers, vmm_state_to_string(m->state));
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping; containers keep running.");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE;
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
