/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acs-macro.h"
#include "web-cost.h"

double web_cost_ms_for_cpus(double cpus) {
        return cpus * 1000.0 / 2.0;
}

/* A whole string that is a finite number in [lo, hi]. */
static int parse_number(const char *s, size_t len, double lo, double hi, double *ret) {
        char buf[64], *end;
        double v;

        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = 0;
        errno = 0;
        v = strtod(buf, &end);
        if (errno != 0 || *end != 0 || !isfinite(v) || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}

int web_cost_parse_ms(const char *s, size_t len, double max_ms, double *ret_ms) {
        return parse_number(s, len, 0, max_ms, ret_ms);
}

int web_cost_resolve(const char *root, const char *env_cpu, const char *env_cost_ms, double max_cost_ms,
                     WebCost *ret) {
        WebCgroupVersion version = WEB_CGROUP_NONE;
        WebCost c = {
                .cpus = WEB_DEFAULT_CPUS,
                .source = "default",
        };
        double v;

        if (web_cgroup_cpu_limit(root, &v, &version) > 0) {
                c.cpus = v;
                c.source = web_cgroup_version_to_string(version);
        } else if (env_cpu && *env_cpu) {
                if (parse_number(env_cpu, strlen(env_cpu), 0, 1024, &v) < 0 || v == 0)
                        return -EINVAL;
                c.cpus = v;
                c.source = "ACS_WEB_CPU";
        }
        c.cost_ms = web_cost_ms_for_cpus(c.cpus);

        if (env_cost_ms && *env_cost_ms) {
                if (web_cost_parse_ms(env_cost_ms, strlen(env_cost_ms), max_cost_ms, &v) < 0)
                        return -EINVAL;
                c.cost_ms = v;
                c.fixed = true;
        }
        *ret = c;
        return 0;
}

usec_t web_burn_cpu(usec_t cost, const atomic_bool *cancel) {
        usec_t start = now_usec(CLOCK_THREAD_CPUTIME_ID), used = 0;
        uint64_t x = (uint64_t) start | 1;

        while (used < cost && !(cancel && atomic_load_explicit(cancel, memory_order_relaxed))) {
                /* About 20 µs of mixing between clock reads: fine-grained, cheap to check. */
                for (unsigned i = 0; i < 8192; i++) {
                        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                        x ^= x >> 29;
                }
                used = now_usec(CLOCK_THREAD_CPUTIME_ID) - start;
        }
        /* Tell the compiler the result is used, so the arithmetic is really done. */
        __asm__ volatile("" : : "r"(x));
        return used;
}
