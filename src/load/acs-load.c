/* SPDX-License-Identifier: MIT */
/*
 * acs-load: simulated users against one URL, a bounded run with a per-second report.
 *
 *   acs-load --url http://127.0.0.1:8080/ --users 12 --duration 60
 *   acs-load --url http://127.0.0.1:8080/ --profile 0:1,30:12,90:1,150:1 --count-backends --json run.json
 *
 * Exit status: 0 when every request got a 2xx answer, 1 when any did not (or the run could
 * not take place), 2 for a usage error.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-time.h"
#include "load-report.h"
#include "load-run.h"

#define EXIT_USAGE 2

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
        stop_requested = 1;
}

typedef struct Args {
        const char *url;
        const char *profile;
        const char *json_path;
        unsigned users;
        usec_t duration;
        usec_t ramp;
        usec_t timeout;
        unsigned max_users;
        usec_t max_duration;
        bool count_backends;
        bool json_latencies;
} Args;

static void help(void) {
        printf("acs-load --url URL (--users N --duration TIME [--ramp TIME] | --profile T:U,...) [OPTIONS]\n\n"
               "Simulated users, each sending one GET a second to URL; a line a second, then a summary.\n\n"
               "  --url URL              Target (the front proxy, e.g. http://127.0.0.1:8080/)\n"
               "  --users N              Number of users (with --duration)\n"
               "  --duration TIME        Length of the run (\"90\", \"90s\", \"2min\")\n"
               "  --ramp TIME            Rise from 1 to N users over this time first\n"
               "  --profile SPEC         time_s:users points, e.g. 0:1,30:12,90:1,150:1: each count holds\n"
               "                         until the next point; the last point's time ends the run\n"
               "  --timeout TIME         Per-request timeout (default 10s)\n"
               "  --max-users N          Refuse runs with more users (default 200, ceiling %u)\n"
               "  --max-duration TIME    Refuse longer runs (default 10min, ceiling %us)\n"
               "  --count-backends       Count answers per VM and container (acs-web's JSON)\n"
               "  --json FILE            Write the per-second rows and the summary as JSON\n"
               "  --json-latencies       With --json: list every latency in its second's row\n"
               "  --log-level LEVEL      debug, info, notice, warning, err\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n\n"
               "Exit status: 0 when every request got a 2xx answer, 1 otherwise, 2 for a usage error.\n",
               LOAD_USERS_CEILING, LOAD_DURATION_CEILING_S);
}

static int parse_unsigned_arg(const char *name, const char *s, unsigned *ret) {
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || !end || *end != '\0' || *s == '-' || *s == '\0' || v > UINT_MAX) {
                log_error("Invalid %s: %s", name, s);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

static int parse_duration_arg(const char *name, const char *s, usec_t *ret) {
        int r = parse_duration(s, ret);
        if (r < 0)
                return log_error_errno(r, "Invalid %s: %s", name, s);
        return 0;
}

enum {
        ARG_URL = 0x100, ARG_USERS, ARG_DURATION, ARG_RAMP, ARG_PROFILE, ARG_TIMEOUT,
        ARG_MAX_USERS, ARG_MAX_DURATION, ARG_COUNT_BACKENDS, ARG_JSON, ARG_JSON_LATENCIES, ARG_LOG_LEVEL, ARG_VERSION,
};

/* One option of getopt_long(): 1 to go on, 0 when done (--help, --version), or a negative errno. */
static int parse_option(Args *a, int c, const char *arg) {
        int r = 0;

        switch (c) {
        case ARG_URL:
                a->url = arg;
                break;
        case ARG_USERS:
                r = parse_unsigned_arg("--users", arg, &a->users);
                break;
        case ARG_DURATION:
                r = parse_duration_arg("--duration", arg, &a->duration);
                break;
        case ARG_RAMP:
                r = parse_duration_arg("--ramp", arg, &a->ramp);
                break;
        case ARG_PROFILE:
                a->profile = arg;
                break;
        case ARG_TIMEOUT:
                r = parse_duration_arg("--timeout", arg, &a->timeout);
                if (r >= 0 && a->timeout < USEC_PER_MSEC) {
                        log_error("--timeout must be at least 1ms.");
                        r = -EINVAL;
                }
                break;
        case ARG_MAX_USERS:
                r = parse_unsigned_arg("--max-users", arg, &a->max_users);
                break;
        case ARG_MAX_DURATION:
                r = parse_duration_arg("--max-duration", arg, &a->max_duration);
                break;
        case ARG_COUNT_BACKENDS:
                a->count_backends = true;
                break;
        case ARG_JSON:
                a->json_path = arg;
                break;
        case ARG_JSON_LATENCIES:
                a->json_latencies = true;
                break;
        case ARG_LOG_LEVEL:
                r = log_level_from_string(arg);
                if (r < 0)
                        return log_error_errno(r, "Invalid --log-level: %s", arg);
                log_set_max_level(r);
                r = 0;
                break;
        case 'h':
                help();
                return 0;
        case ARG_VERSION:
                printf("acs-load %s\n", ACS_VERSION);
                return 0;
        default:
                return -EINVAL;
        }
        return r < 0 ? r : 1;
}

static int parse_argv(int argc, char *argv[], Args *a) {
        static const struct option options[] = {
                { "url", required_argument, NULL, ARG_URL },
                { "users", required_argument, NULL, ARG_USERS },
                { "duration", required_argument, NULL, ARG_DURATION },
                { "ramp", required_argument, NULL, ARG_RAMP },
                { "profile", required_argument, NULL, ARG_PROFILE },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "max-users", required_argument, NULL, ARG_MAX_USERS },
                { "max-duration", required_argument, NULL, ARG_MAX_DURATION },
                { "count-backends", no_argument, NULL, ARG_COUNT_BACKENDS },
                { "json", required_argument, NULL, ARG_JSON },
                { "json-latencies", no_argument, NULL, ARG_JSON_LATENCIES },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = parse_option(a, c, optarg);
                if (r <= 0)
                        return r;
        }
        if (optind < argc) {
                log_error("Unexpected argument: %s", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* Builds the profile from the arguments and checks it against the bounds. */
static int args_to_profile(const Args *a, LoadProfile *ret) {
        int r;

        if (a->max_users > LOAD_USERS_CEILING || a->max_duration > LOAD_DURATION_CEILING_S * USEC_PER_SEC) {
                log_error("--max-users and --max-duration cannot exceed %u users and %us.", LOAD_USERS_CEILING,
                          LOAD_DURATION_CEILING_S);
                return -ERANGE;
        }
        if (a->profile) {
                if (a->users > 0 || a->duration > 0 || a->ramp > 0) {
                        log_error("--profile cannot be combined with --users, --duration or --ramp.");
                        return -EINVAL;
                }
                r = load_profile_parse(a->profile, ret);
                if (r < 0)
                        return log_error_errno(r, "Invalid --profile '%s' (want time_s:users,... from 0 s, "
                                               "increasing times, an end point): %m", a->profile);
        } else {
                if (a->users == 0 || a->duration < USEC_PER_SEC) {
                        log_error("Need --users N (N >= 1) and --duration TIME (>= 1s), or --profile.");
                        return -EINVAL;
                }
                if (a->users > LOAD_USERS_CEILING || a->duration > LOAD_DURATION_CEILING_S * USEC_PER_SEC) {
                        log_error("At most %u users for at most %us.", LOAD_USERS_CEILING, LOAD_DURATION_CEILING_S);
                        return -ERANGE;
                }
                r = load_profile_ramp(a->users, (unsigned) (a->ramp / USEC_PER_SEC),
                                      (unsigned) (a->duration / USEC_PER_SEC), ret);
                if (r < 0)
                        return log_error_errno(r, "Invalid --ramp: it must be shorter than --duration.");
        }
        if (load_profile_max_users(ret) > a->max_users) {
                log_error("The run wants %u users, more than --max-users=%u.", load_profile_max_users(ret),
                          a->max_users);
                return -ERANGE;
        }
        if ((usec_t) load_profile_duration(ret) * USEC_PER_SEC > a->max_duration) {
                log_error("The run lasts %us, longer than --max-duration.", load_profile_duration(ret));
                return -ERANGE;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        Args a = {
                .timeout = 10 * USEC_PER_SEC,
                .max_users = 200,
                .max_duration = 600 * USEC_PER_SEC,
        };
        _cleanup_(load_report_done) LoadReport report = {};
        _cleanup_(load_profile_done) LoadProfile profile = {};
        LoadOptions o = { .out = stdout, .stop = &stop_requested };
        struct sigaction sa = { .sa_handler = on_stop_signal };
        int r;

        log_setup_journal();
        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
        if (!a.url) {
                log_error("Need --url URL (see --help).");
                return EXIT_USAGE;
        }
        r = args_to_profile(&a, &profile);
        if (r < 0)
                return EXIT_USAGE;
        o.profile = profile;
        o.url = a.url;
        o.timeout = a.timeout;
        o.count_backends = a.count_backends;

        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) signal(SIGPIPE, SIG_IGN);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                log_error("Failed to initialize libcurl.");
                return EXIT_FAILURE;
        }

        r = load_report_init(&report, stdout, a.json_path != NULL, a.json_latencies);
        if (r >= 0)
                r = load_run(&o, &report);
        if (r >= 0 && a.json_path) {
                r = load_report_write_json(&report, a.json_path);
                if (r < 0)
                        log_error_errno(r, "Failed to write %s: %m", a.json_path);
        }
        curl_global_cleanup();
        return r < 0 || report.failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
