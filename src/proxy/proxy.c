/* SPDX-License-Identifier: MIT */
/* acs-proxy: the ACS data plane, an HTTP/1.1 reverse proxy and load balancer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "acs-config.h"
#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-manager.h"

static const char *arg_config = ACS_SYSCONFDIR "/acs/proxy.conf";

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "HTTP/1.1 reverse proxy and load balancer of Auto Cloud Scaler.\n\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "  -c --config=FILE        Configuration file (default: %s)\n"
               "     --log-level=LEVEL    debug, info, notice, warning, err\n"
               "     --bus-address=ADDR   D-Bus address to use (overrides BusAddress=)\n"
               "     --bus=user|system    Bus to use when no address is given (default: system)\n",
               program_invocation_short_name, arg_config);
}

static int parse_argv(int argc, char *argv[], Manager *m) {
        enum {
                ARG_VERSION = 0x100,
                ARG_LOG_LEVEL,
                ARG_BUS_ADDRESS,
                ARG_BUS,
        };
        static const struct option options[] = {
                { "help",        no_argument,       NULL, 'h'             },
                { "version",     no_argument,       NULL, ARG_VERSION     },
                { "config",      required_argument, NULL, 'c'             },
                { "log-level",   required_argument, NULL, ARG_LOG_LEVEL   },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                { "bus",         required_argument, NULL, ARG_BUS         },
                {}
        };
        const char *scope;
        int c, r;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("acs-proxy %s\n", ACS_VERSION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_set_max_level_from_option(optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_BUS_ADDRESS:
                        free(m->bus_address_override);
                        m->bus_address_override = strdup(optarg);
                        if (!m->bus_address_override)
                                return log_oom();
                        break;
                case ARG_BUS:
                        m->bus_requested = true;
                        r = acs_bus_address_from_option(optarg, &scope);
                        if (r < 0)
                                return r;
                        m->bus_scope = scope != NULL;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("Unexpected argument: %s", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        log_setup();
        m = manager_new();
        if (!m)
                return log_oom(), EXIT_FAILURE;

        r = parse_argv(argc, argv, m);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = manager_load(m, arg_config);
        if (r < 0)
                return ACS_EXIT_CONFIG;

        /* One descriptor per client and per backend connection: take all we may. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }

        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_run(m);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
