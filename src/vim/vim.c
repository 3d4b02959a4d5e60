/* SPDX-License-Identifier: MIT */
/*
 * acs-vim: the control plane. Accepts the VMMs' agents, keeps the cluster model, decides
 * scaling and placement, feeds the proxy its backends over D-Bus and serves the API.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vim-manager.h"

static const char *arg_config = NULL;
static const char *arg_bus_address = NULL; /* NULL: system bus */

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The ACS control plane: agents, scaling, placement, org.acs.VIM1 and the HTTP API.\n\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "  -c --config=FILE        Configuration file (default " VIM_CONFIG_FILE ")\n"
               "     --log-level=LEVEL    debug, info, notice, warning, err\n"
               "     --bus=system|user    Which bus to own org.acs.VIM1 on (default system)\n"
               "     --bus-address=ADDR   Own org.acs.VIM1 on the bus at ADDR\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_LOG_LEVEL, ARG_BUS, ARG_BUS_ADDRESS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, 'c' },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "bus", required_argument, NULL, ARG_BUS },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                {},
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("acs-vim " ACS_VERSION "\n");
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_set_max_level_from_option(optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_BUS:
                        r = acs_bus_address_from_option(optarg, &arg_bus_address);
                        if (r < 0)
                                return r;
                        break;
                case ARG_BUS_ADDRESS:
                        arg_bus_address = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "%s takes no arguments.", program_invocation_short_name);
        return 1;
}

/* One connection per VM: a large fleet needs more than the default 1024 descriptors. */
static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = MIN(rl.rlim_max, (rlim_t) 65536);
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char *argv[]) {
        _cleanup_(vim_manager_freep) VimManager *m = NULL;
        sigset_t mask;
        int r;

        log_setup();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        raise_fd_limit();

        /* Hooks and load runs are children watched by the event loop. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);

        r = vim_manager_new(arg_config, arg_bus_address, &m);
        if (r < 0)
                return r == -EINVAL || r == -ENOENT || r == -EBADMSG ? ACS_EXIT_CONFIG : EXIT_FAILURE;
        r = vim_manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;
        r = vim_manager_run(m);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE;
        log_info("Stopped.");
        return EXIT_SUCCESS;
}
