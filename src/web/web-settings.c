/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "web-settings.h"

int web_parse_port(const char *s, uint16_t *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != 0 || v < 1 || v > 65535 || s[0] == '-' || s[0] == '+')
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

/* An unsigned environment value in [lo, hi], or def when unset. */
static int env_unsigned(const char *name, unsigned lo, unsigned hi, unsigned def, unsigned *ret) {
        const char *e = getenv(name);
        char *end;
        unsigned long v;

        if (!e || !*e) {
                *ret = def;
                return 0;
        }
        errno = 0;
        v = strtoul(e, &end, 10);
        if (errno != 0 || *end != 0 || e[0] == '-' || v < lo || v > hi)
                return log_error_errno(EINVAL, "%s=%s: expected a whole number from %u to %u.", name, e, lo, hi);
        *ret = (unsigned) v;
        return 0;
}

static int env_double(const char *name, double lo, double hi, double def, double *ret) {
        const char *e = getenv(name);
        char *end;
        double v;

        if (!e || !*e) {
                *ret = def;
                return 0;
        }
        errno = 0;
        v = strtod(e, &end);
        if (errno != 0 || *end != 0 || !(v >= lo && v <= hi))
                return log_error_errno(EINVAL, "%s=%s: expected a number from %g to %g.", name, e, lo, hi);
        *ret = v;
        return 0;
}

/* A yes/no environment value, or def when unset. */
static int env_bool(const char *name, bool def, bool *ret) {
        const char *e = getenv(name);
        bool b;

        if (!e || !*e) {
                *ret = def;
                return 0;
        }
        /* The words acs-config.c takes, without linking it into this static binary. */
        if (streq(e, "1") || streq(e, "yes") || streq(e, "true") || streq(e, "on"))
                b = true;
        else if (streq(e, "0") || streq(e, "no") || streq(e, "false") || streq(e, "off"))
                b = false;
        else
                return log_error_errno(EINVAL, "%s=%s: expected yes or no.", name, e);
        *ret = b;
        return 0;
}

static void copy_string(char *dst, size_t size, const char *src) {
        (void) snprintf(dst, size, "%s", src);
}

static const char *env_or(const char *name, const char *def) {
        const char *e = getenv(name);
        return e && *e ? e : def;
}

/* Connections need a descriptor each; keep a few for the loop itself. */
static unsigned max_connections_by_rlimit(unsigned want) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return want;
        if (rl.rlim_cur < 64)
                return 16;
        return (unsigned) MIN((rlim_t) want, rl.rlim_cur - 32);
}

int web_settings_from_environment(const char *root, WebSettings *ret) {
        WebSettings s = {};
        unsigned max_connections, request_timeout;
        double grace;
        const char *e;
        int r;

        e = env_or("ACS_PORT", "9100");
        if (web_parse_port(e, &s.port) < 0)
                return log_error_errno(EINVAL, "ACS_PORT=%s: expected a port from 1 to 65535.", e);
        copy_string(s.listen_address, sizeof(s.listen_address), env_or("ACS_WEB_LISTEN", "0.0.0.0"));
        copy_string(s.vm, sizeof(s.vm), env_or("ACS_VM", "local"));
        copy_string(s.service, sizeof(s.service), env_or("ACS_SERVICE", "web"));

        e = getenv("ACS_CONTAINER");
        if (e && *e)
                copy_string(s.container, sizeof(s.container), e);
        else if (web_cgroup_container_id(root, s.container, sizeof(s.container)) <= 0 &&
                 gethostname(s.container, sizeof(s.container) - 1) < 0)
                copy_string(s.container, sizeof(s.container), "unknown");

        /* The cost is the operator's: a client may choose it only where the operator said so. */
        r = env_bool("ACS_WEB_CLIENT_COST", false, &s.client_cost);
        if (r < 0)
                return r;
        r = env_double("ACS_WEB_MAX_COST_MS", 0, 600000, 10000, &s.max_cost_ms);
        if (r < 0)
                return r;
        r = web_cost_resolve(root, getenv("ACS_WEB_CPU"), getenv("ACS_WEB_COST_MS"), s.max_cost_ms, &s.cost);
        if (r < 0)
                return log_error_errno(r, "ACS_WEB_CPU=%s ACS_WEB_COST_MS=%s: expected a CPU count above 0 "
                                       "and a cost from 0 to %g ms.",
                                       strempty(getenv("ACS_WEB_CPU")), strempty(getenv("ACS_WEB_COST_MS")),
                                       s.max_cost_ms);

        r = env_unsigned("ACS_WEB_WORKERS", 1, 256, 4, &s.n_workers);
        if (r < 0)
                return r;
        r = env_unsigned("ACS_WEB_MAX_CONNECTIONS", 1, 1000000, 10000, &max_connections);
        if (r < 0)
                return r;
        s.max_connections = max_connections_by_rlimit(max_connections);
        r = env_double("ACS_WEB_GRACE_S", 0, 3600, 8, &grace);
        if (r < 0)
                return r;
        s.grace = (usec_t) (grace * (double) USEC_PER_SEC);
        r = env_unsigned("ACS_WEB_REQUEST_TIMEOUT_S", 1, 3600, 10, &request_timeout);
        if (r < 0)
                return r;
        s.idle_timeout = 60 * USEC_PER_SEC;
        s.request_timeout = request_timeout * USEC_PER_SEC;

        *ret = s;
        return 0;
}
