/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "acs-macro.h"
#include "vim-forecast.h"

void vim_boot_times_add(VimBootTimes *b, usec_t t) {
        b->samples[b->next] = t;
        b->next = (b->next + 1) % VIM_BOOT_SAMPLES;
        if (b->n < VIM_BOOT_SAMPLES)
                b->n++;
}

static int usec_compare(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;

        return x < y ? -1 : x > y;
}

usec_t vim_boot_times_median(const VimBootTimes *b) {
        usec_t sorted[VIM_BOOT_SAMPLES];

        if (b->n == 0)
                return b->guess;
        memcpy(sorted, b->samples, b->n * sizeof(*sorted));
        qsort(sorted, b->n, sizeof(*sorted), usec_compare);
        /* An even count takes the mean of the middle two. */
        return b->n % 2 ? sorted[b->n / 2] : (sorted[b->n / 2 - 1] + sorted[b->n / 2]) / 2;
}

void vim_demand_record(VimDemand *d, usec_t now, unsigned desired) {
        d->samples[d->next].at = now;
        d->samples[d->next].desired = desired;
        d->next = (d->next + 1) % VIM_DEMAND_SAMPLES;
        if (d->n < VIM_DEMAND_SAMPLES)
                d->n++;
}

double vim_demand_project(const VimDemand *d, usec_t now, usec_t ahead) {
        unsigned latest_i, low_i;
        double slope;

        if (d->n == 0)
                return 0;
        latest_i = (d->next + VIM_DEMAND_SAMPLES - 1) % VIM_DEMAND_SAMPLES;
        low_i = latest_i;
        /* The lowest count within the window, the latest of equals: growth is measured from
         * where the rise began, not from a dip long ago. */
        for (unsigned k = 0; k < d->n; k++) {
                unsigned i = (latest_i + VIM_DEMAND_SAMPLES - k) % VIM_DEMAND_SAMPLES;

                if (d->samples[i].at + VIM_DEMAND_WINDOW < now)
                        break;
                if (d->samples[i].desired < d->samples[low_i].desired)
                        low_i = i;
        }
        if (low_i == latest_i || d->samples[latest_i].at <= d->samples[low_i].at)
                return d->samples[latest_i].desired;
        slope = (double) (d->samples[latest_i].desired - d->samples[low_i].desired) /
                ((double) (d->samples[latest_i].at - d->samples[low_i].at) / USEC_PER_SEC);
        return d->samples[latest_i].desired + slope * ((double) ahead / USEC_PER_SEC);
}
