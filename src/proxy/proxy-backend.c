/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-string-table.h"
#include "proxy-backend.h"
#include "proxy-settings.h"

int backend_format_name(char *buf, size_t size, const char *host, uint16_t port) {
        int n = snprintf(buf, size, strchr(host, ':') && host[0] != '[' ? "[%s]:%u" : "%s:%u", host, port);

        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

Backend *backend_new(const char *host, uint16_t port, unsigned weight, unsigned n_workers) {
        _cleanup_free_ char *addr = NULL;
        Backend *b;

        if (asprintf(&addr, strchr(host, ':') && host[0] != '[' ? "[%s]:%u" : "%s:%u", host, port) < 0)
                return NULL;

        b = calloc(1, sizeof(Backend));
        if (!b)
                return NULL;
        b->n_ref = 1;
        b->port = port;
        b->weight = CLAMP(weight, 1u, 256u);
        b->up_since = now_usec(CLOCK_MONOTONIC);
        b->host = strdup(host);
        b->pools = calloc(n_workers ? n_workers : 1, sizeof(BackendPool));
        b->n_pools = n_workers;
        if (!b->host || !b->pools || proxy_parse_address(addr, &b->sockaddr, &b->sockaddr_len) < 0)
                return backend_unref(b);
        b->name = TAKE_PTR(addr);
        return b;
}

Backend *backend_ref(Backend *b) {
        if (b)
                atomic_fetch_add_explicit(&b->n_ref, 1, memory_order_relaxed);
        return b;
}

Backend *backend_unref(Backend *b) {
        if (!b || atomic_fetch_sub_explicit(&b->n_ref, 1, memory_order_acq_rel) != 1)
                return NULL;
        /* Idle connections hold a reference each, so the pools are empty by now. */
        free(b->pools);
        free(b->name);
        free(b->host);
        free(b);
        return NULL;
}

void backend_unrefp(Backend **b) {
        backend_unref(*b);
}

bool backend_available(Backend *b, usec_t now) {
        return !atomic_load_explicit(&b->draining, memory_order_relaxed) &&
               !atomic_load_explicit(&b->removed, memory_order_relaxed) &&
               !atomic_load_explicit(&b->checked_down, memory_order_relaxed) &&
               atomic_load_explicit(&b->ejected_until, memory_order_relaxed) <= now;
}

unsigned backend_effective_weight(Backend *b, usec_t now, usec_t slow_start) {
        /* In 1/64ths, so that a backend of weight 1 can ramp up too. */
        unsigned w = atomic_load_explicit(&b->weight, memory_order_relaxed) * BACKEND_WEIGHT_SCALE;
        usec_t since = atomic_load_explicit(&b->up_since, memory_order_relaxed);

        if (slow_start > 0 && now >= since && now - since < slow_start)
                w = (unsigned) MAX(1.0, (double) w * (double) (now - since) / (double) slow_start);
        return w;
}

BackendHealth backend_health(Backend *b, usec_t now, usec_t slow_start) {
        usec_t since;

        if (atomic_load(&b->draining))
                return BACKEND_DRAINING;
        if (atomic_load(&b->checked_down) || atomic_load(&b->ejected_until) > now)
                return BACKEND_DOWN;
        since = atomic_load(&b->up_since);
        if (slow_start > 0 && now >= since && now - since < slow_start)
                return BACKEND_SLOWSTART;
        return BACKEND_UP;
}

static const char *const backend_health_table[] = {
        [BACKEND_UP] = "up",
        [BACKEND_DOWN] = "down",
        [BACKEND_DRAINING] = "draining",
        [BACKEND_SLOWSTART] = "slowstart",
};

DEFINE_STRING_TABLE_TO_STRING(backend_health, BackendHealth, backend_health_table);

void backend_note_success(Backend *b) {
        if (atomic_load_explicit(&b->consecutive_failures, memory_order_relaxed) != 0)
                atomic_store(&b->consecutive_failures, 0);
        if (atomic_load_explicit(&b->ejections, memory_order_relaxed) != 0)
                atomic_store(&b->ejections, 0);
}

void backend_note_failure(Backend *b, usec_t now, unsigned eject_failures, usec_t eject_time) {
        unsigned n = atomic_fetch_add(&b->consecutive_failures, 1) + 1, e;

        if (n < eject_failures)
                return;
        atomic_store(&b->consecutive_failures, 0);
        e = atomic_fetch_add(&b->ejections, 1);
        atomic_store(&b->ejected_until, now + eject_time * (1u << MIN(e, 6u)));
        /* Coming back from an ejection ramps up again. */
        atomic_store(&b->up_since, now + eject_time * (1u << MIN(e, 6u)));
        log_event(LOG_WARNING, "backend-ejected", NULL, NULL,
                  "Backend %s ejected for %llu ms after %u failures in a row.", b->name,
                  (unsigned long long) (eject_time * (1u << MIN(e, 6u)) / USEC_PER_MSEC), n);
}

/* Bucket i holds latencies in [16 µs * 2^(i/4), 16 µs * 2^((i+1)/4)); bucket 0 also holds
 * everything shorter, the last everything longer. */
static unsigned latency_bucket(usec_t latency) {
        double i;

        if (latency < 20)       /* below 16 µs * 2^(1/4) */
                return 0;
        i = floor(4.0 * log2((double) latency / 16.0));
        return i >= LATENCY_BUCKETS - 1 ? LATENCY_BUCKETS - 1 : (unsigned) i;
}

static usec_t latency_bucket_upper(unsigned i) {
        return (usec_t) (16.0 * exp2((double) (i + 1) / 4.0));
}

void backend_record_latency(Backend *b, usec_t now, usec_t latency) {
        uint64_t second = now / USEC_PER_SEC;
        LatencySlot *slot = &b->latency[second % LATENCY_SLOTS];
        uint64_t old = atomic_load_explicit(&slot->second, memory_order_relaxed);

        /* The first writer of a new second clears the slot; a concurrent writer may lose a
         * sample or two to that race, which a p99 does not notice. */
        if (old != second &&
            atomic_compare_exchange_strong(&slot->second, &old, second))
                for (unsigned i = 0; i < LATENCY_BUCKETS; i++)
                        atomic_store_explicit(&slot->bucket[i], 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&slot->bucket[latency_bucket(latency)], 1, memory_order_relaxed);
}

usec_t backend_latency_p99(Backend *b, usec_t now) {
        uint64_t second = now / USEC_PER_SEC, counts[LATENCY_BUCKETS] = {}, total = 0, seen = 0;

        for (unsigned s = 0; s < LATENCY_SLOTS; s++) {
                LatencySlot *slot = &b->latency[s];
                uint64_t sec = atomic_load(&slot->second);

                if (sec + LATENCY_SLOTS <= second || sec > second)
                        continue;
                for (unsigned i = 0; i < LATENCY_BUCKETS; i++) {
                        uint32_t c = atomic_load_explicit(&slot->bucket[i], memory_order_relaxed);
                        counts[i] += c;
                        total += c;
                }
        }
        if (total == 0)
                return 0;
        for (unsigned i = 0; i < LATENCY_BUCKETS; i++) {
                seen += counts[i];
                if (seen * 100 >= total * 99)
                        return latency_bucket_upper(i);
        }
        return latency_bucket_upper(LATENCY_BUCKETS - 1);
}

BackendSet *backend_set_new(uint64_t generation, unsigned n) {
        BackendSet *s = calloc(1, sizeof(BackendSet));

        if (!s)
                return NULL;
        s->n_ref = 1;
        s->generation = generation;
        s->alloc = n ? n : 1;
        s->backends = calloc(s->alloc, sizeof(Backend *));
        if (!s->backends)
                return mfree(s);
        return s;
}

BackendSet *backend_set_ref(BackendSet *s) {
        if (s)
                atomic_fetch_add_explicit(&s->n_ref, 1, memory_order_relaxed);
        return s;
}

BackendSet *backend_set_unref(BackendSet *s) {
        if (!s || atomic_fetch_sub_explicit(&s->n_ref, 1, memory_order_acq_rel) != 1)
                return NULL;
        for (unsigned i = 0; i < s->n_backends; i++)
                backend_unref(s->backends[i]);
        free(s->backends);
        free(s->index);
        free(s);
        return NULL;
}

void backend_set_unrefp(BackendSet **s) {
        backend_set_unref(*s);
}

static uint32_t name_hash(const char *name) {
        uint32_t h = 2166136261u;

        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                h = (h ^ *p) * 16777619u;
        return h;
}

static void index_insert(Backend **index, unsigned size, Backend *b) {
        unsigned i = name_hash(b->name) & (size - 1);

        while (index[i])
                i = (i + 1) & (size - 1);
        index[i] = b;
}

Backend *backend_set_find(BackendSet *s, const char *name) {
        if (!s)
                return NULL;
        if (s->index_size > 0) {
                for (unsigned i = name_hash(name) & (s->index_size - 1); s->index[i]; i = (i + 1) & (s->index_size - 1))
                        if (streq(s->index[i]->name, name))
                                return s->index[i];
                return NULL;
        }
        for (unsigned i = 0; i < s->n_backends; i++)
                if (streq(s->backends[i]->name, name))
                        return s->backends[i];
        return NULL;
}

static int index_grow(BackendSet *s) {
        unsigned size = MAX(s->index_size * 2, 64u);
        Backend **index;

        while (size < 2 * (s->n_backends + 1))
                size *= 2;
        index = calloc(size, sizeof(Backend *));
        if (!index)
                return -ENOMEM;
        for (unsigned i = 0; i < s->n_backends; i++)
                index_insert(index, size, s->backends[i]);
        free(s->index);
        s->index = index;
        s->index_size = size;
        return 0;
}

int backend_set_add(BackendSet *s, Backend *b) {
        if (s->n_backends >= s->alloc) {
                Backend **p = reallocarray(s->backends, s->alloc * 2, sizeof(Backend *));

                if (!p)
                        return -ENOMEM;
                s->backends = p;
                s->alloc *= 2;
        }
        /* Built here or never: an index that missed a backend would hide it. */
        if (s->index_size == 0 && s->n_backends > 0) {
                s->backends[s->n_backends++] = b;
                return 0;
        }
        if ((s->n_backends + 1) * 2 > s->index_size && index_grow(s) < 0)
                return -ENOMEM;
        s->backends[s->n_backends++] = b;
        index_insert(s->index, s->index_size, b);
        return 0;
}
