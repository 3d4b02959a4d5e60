/* SPDX-License-Identifier: MIT */
#include <limits.h>

#include "acs-log.h"
#include "acs-ratelimit.h"

bool acs_ratelimit_below(AcsRateLimit *rl, usec_t now, unsigned *ret_suppressed) {
        bool pass;

        pthread_mutex_lock(&rl->lock);
        if (rl->begin == 0 || now < rl->begin || now - rl->begin >= rl->interval) {
                rl->begin = now ?: 1;
                rl->n = 0;
        }
        pass = rl->n < rl->burst;
        if (pass) {
                rl->n++;
                *ret_suppressed = rl->suppressed;
                rl->suppressed = 0;
        } else if (rl->suppressed < UINT_MAX)
                rl->suppressed++;
        pthread_mutex_unlock(&rl->lock);
        return pass;
}

bool log_ratelimit_pass(AcsRateLimit *rl, int level, const char *event) {
        unsigned suppressed;

        if (!acs_ratelimit_below(rl, now_usec(CLOCK_MONOTONIC), &suppressed))
                return false;
        if (suppressed > 0)
                log_event(level, event, NULL, NULL, "Suppressed %u similar messages.", suppressed);
        return true;
}
