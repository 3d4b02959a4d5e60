/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "acs-macro.h"
#include "load-stats.h"

int load_samples_add(LoadSamples *s, usec_t latency) {
        if (s->n == s->alloc) {
                size_t a = MAX(s->alloc * 2, (size_t) 64);
                uint32_t *n = reallocarray(s->usec, a, sizeof(uint32_t));
                if (!n)
                        return -ENOMEM;
                s->usec = n;
                s->alloc = a;
        }
        s->usec[s->n++] = (uint32_t) MIN(latency, (usec_t) UINT32_MAX);
        s->sorted = false;
        return 0;
}

void load_samples_clear(LoadSamples *s) {
        s->n = 0;
        s->sorted = true;
}

void load_samples_done(LoadSamples *s) {
        s->usec = mfree(s->usec);
        s->n = s->alloc = 0;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

usec_t load_samples_percentile(LoadSamples *s, double p) {
        size_t rank;

        if (s->n == 0)
                return 0;
        if (!s->sorted) {
                qsort(s->usec, s->n, sizeof(uint32_t), cmp_u32);
                s->sorted = true;
        }
        p = CLAMP(p, 0.0, 100.0);
        rank = (size_t) ceil(p / 100.0 * (double) s->n);
        return s->usec[rank > 0 ? rank - 1 : 0];
}

static LoadCount *counts_find_or_add(LoadCounts *c, const char *name) {
        LoadCount *a;
        char *copy;

        for (size_t i = 0; i < c->n; i++)
                if (streq(c->items[i].name, name))
                        return c->items + i;
        copy = strdup(name);
        if (!copy)
                return NULL;
        a = reallocarray(c->items, c->n + 1, sizeof(LoadCount));
        if (!a) {
                free(copy);
                return NULL;
        }
        c->items = a;
        c->items[c->n] = (LoadCount) { .name = copy };
        return c->items + c->n++;
}

int load_counts_add(LoadCounts *c, const char *name, uint64_t n) {
        LoadCount *item = counts_find_or_add(c, name);

        if (!item)
                return -ENOMEM;
        item->count += n;
        return 0;
}

int load_counts_add_answer(LoadCounts *c, const char *name, usec_t sent, usec_t answered) {
        LoadCount *item = counts_find_or_add(c, name);

        if (!item)
                return -ENOMEM;
        if (item->count++ == 0) {
                item->first_sent = sent;
                item->first_answered = answered;
        }
        return 0;
}

uint64_t load_counts_get(const LoadCounts *c, const char *name) {
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->items[i].name, name))
                        return c->items[i].count;
        return 0;
}

void load_counts_clear(LoadCounts *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->items[i].name);
        c->items = mfree(c->items);
        c->n = 0;
}
