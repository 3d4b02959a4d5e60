/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "acs-macro.h"
#include "acs-time.h"

int parse_duration(const char *s, usec_t *ret) {
        static const struct {
                const char *suffix;
                double usec;
        } units[] = {
                { "us", 1 }, { "ms", 1e3 }, { "s", 1e6 }, { "sec", 1e6 }, { "m", 60e6 },
                { "min", 60e6 }, { "h", 3600e6 }, { "", 1e6 },
        };
        char *end = NULL;
        double v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || !isfinite(v) || v < 0)
                return -EINVAL;
        while (*end == ' ')
                end++;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix)) {
                        double us = v * units[i].usec;
                        if (us >= (double) UINT64_MAX / 2)
                                return -ERANGE;
                        *ret = (usec_t) llround(us);
                        return 0;
                }
        return -EINVAL;
}
