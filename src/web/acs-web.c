/* SPDX-License-Identifier: MIT */
/*
 * acs-web: the web service ACS scales. A small static HTTP/1.1 server whose "/" requests cost
 * real CPU (half of the container's CPU share per request), and which says which VM and
 * container answered.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "web-healthcheck.h"
#include "web-server.h"
#include "web-settings.h"

#define EXIT_CONFIG 78 /* EX_CONFIG, as ACS_EXIT_CONFIG */

static void help(void) {
        printf("acs-web [OPTIONS...]\n\n"
               "The CPU-costly web server of Auto Cloud Scaler.\n\n"
               "  -h --help             Show this help\n"
               "     --version          Show the version\n"
               "     --port=PORT        Listen on PORT (default: $ACS_PORT, else 9100)\n"
               "     --listen=ADDRESS   Listen on this IPv4 address (default: $ACS_WEB_LISTEN, else 0.0.0.0)\n"
               "     --workers=N        Threads that burn request costs (default: $ACS_WEB_WORKERS, else 4)\n"
               "     --log-level=LEVEL  debug, info, notice, warning, err\n"
               "     --healthcheck      GET http://127.0.0.1:PORT/healthz; exit 0 when it answers 200\n\n"
               "Endpoints: GET / (JSON; ?cost_ms=N sets the CPU cost when ACS_WEB_CLIENT_COST=1),\n"
               "/healthz, /readyz.\n"
               "Environment: ACS_VM, ACS_SERVICE, ACS_CONTAINER, ACS_WEB_CPU, ACS_WEB_COST_MS,\n"
               "ACS_WEB_CLIENT_COST, ACS_WEB_MAX_COST_MS, ACS_WEB_MAX_CONNECTIONS, ACS_WEB_GRACE_S.\n");
}

static const char *arg_port, *arg_listen, *arg_workers;
static bool arg_healthcheck;

/* 1 to go on, 0 when done (--help, --version), or a negative errno (logged). */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_PORT, ARG_LISTEN, ARG_WORKERS, ARG_LOG_LEVEL, ARG_HEALTHCHECK };
        static const struct option options[] = {
                { "help",        no_argument,       NULL, 'h'             },
                { "version",     no_argument,       NULL, ARG_VERSION     },
                { "port",        required_argument, NULL, ARG_PORT        },
                { "listen",      required_argument, NULL, ARG_LISTEN      },
                { "workers",     required_argument, NULL, ARG_WORKERS     },
                { "log-level",   required_argument, NULL, ARG_LOG_LEVEL   },
                { "healthcheck", no_argument,       NULL, ARG_HEALTHCHECK },
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("acs-web %s\n", ACS_VERSION);
                        return 0;
                case ARG_PORT:
                        arg_port = optarg;
                        break;
                case ARG_LISTEN:
                        arg_listen = optarg;
                        break;
                case ARG_WORKERS:
                        arg_workers = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0) {
                                log_error("--log-level=%s: not a log level.", optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(r);
                        break;
                case ARG_HEALTHCHECK:
                        arg_healthcheck = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("Unexpected argument: %s", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* --healthcheck: through loopback unless the server listens on one address only. */
static int healthcheck(const WebSettings *settings) {
        const char *address = streq(settings->listen_address, "0.0.0.0") ? "127.0.0.1" : settings->listen_address;
        int r;

        r = web_healthcheck(address, settings->port, 3 * USEC_PER_SEC);
        if (r < 0) {
                log_error_errno(r, "Health check of %s:%u failed: %m", address, settings->port);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        _cleanup_(web_server_freep) WebServer *server = NULL;
        WebSettings settings;
        int r;

        log_setup();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_CONFIG : EXIT_SUCCESS;

        /* Command-line values go through the same checks as the environment. */
        if (arg_port)
                (void) setenv("ACS_PORT", arg_port, 1);
        if (arg_listen)
                (void) setenv("ACS_WEB_LISTEN", arg_listen, 1);
        if (arg_workers)
                (void) setenv("ACS_WEB_WORKERS", arg_workers, 1);
        r = web_settings_from_environment("", &settings);
        if (r < 0)
                return EXIT_CONFIG;
        if (arg_healthcheck)
                return healthcheck(&settings);

        r = web_server_new(&settings, &server);
        if (r < 0)
                return EXIT_FAILURE;
        r = web_server_run(server);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
