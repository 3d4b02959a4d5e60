/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A backend (one address:port) and the backend set in force. Both are shared by every worker
 * thread: a Backend's counters are atomics, its identity fields never change after creation,
 * and a BackendSet is immutable once published. The manager swaps in a new set; a worker picks
 * it up between requests. A backend that stays in the new set keeps its Backend object (and so
 * its counters, health and idle connections); one that left it is marked removed.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acs-time.h"

typedef struct BackendConn BackendConn;

typedef enum BackendHealth {
        BACKEND_UP,
        BACKEND_DOWN,
        BACKEND_DRAINING,
        BACKEND_SLOWSTART,
} BackendHealth;

/* Idle connections to one backend, owned by one worker (only that worker touches it). */
typedef struct BackendPool {
        BackendConn *idle;
        unsigned n_idle;
} BackendPool;

#define LATENCY_SLOTS 10        /* one per second: p99 over the last 10 s */
#define LATENCY_BUCKETS 96      /* log2-spaced buckets of 1/4 octave from 16 µs to 268 s */

typedef struct LatencySlot {
        _Atomic uint64_t second;
        _Atomic uint32_t bucket[LATENCY_BUCKETS];
} LatencySlot;

typedef struct Backend {
        _Atomic unsigned n_ref;

        /* identity: never changes */
        char *name;                     /* "127.0.0.1:9001", also the key across sets */
        char *host;
        uint16_t port;
        struct sockaddr_storage sockaddr;
        socklen_t sockaddr_len;

        /* from the controller: replaced when a new set is built (the set owns this copy) */
        _Atomic unsigned weight;
        _Atomic bool draining;
        _Atomic bool removed;

        /* live counts, shared by the workers */
        _Atomic unsigned in_flight;
        _Atomic unsigned conns;
        _Atomic uint64_t requests_total;
        _Atomic uint64_t errors_total;

        /* health */
        _Atomic bool checked_down;      /* active checks say down */
        _Atomic usec_t ejected_until;   /* passive ejection */
        _Atomic unsigned consecutive_failures;
        _Atomic unsigned ejections;     /* grows the ejection time */
        _Atomic usec_t up_since;        /* slow start begins here */
        unsigned check_ok, check_fail;  /* only the health checker touches these */

        LatencySlot latency[LATENCY_SLOTS];

        BackendPool *pools;             /* one per worker */
        unsigned n_pools;
} Backend;

typedef struct BackendSet {
        _Atomic unsigned n_ref;
        uint64_t generation;
        Backend **backends;
        unsigned n_backends, alloc;
        /* By name, for sets built with backend_set_add() (open addressing, a power of two at
         * least twice n_backends): a set of thousands is compared with the last one in linear
         * time. */
        Backend **index;
        unsigned index_size;
} BackendSet;

Backend *backend_new(const char *host, uint16_t port, unsigned weight, unsigned n_workers);
/* The name backend_new() gives: "HOST:PORT", "[V6]:PORT". */
int backend_format_name(char *buf, size_t size, const char *host, uint16_t port);
Backend *backend_ref(Backend *b);
Backend *backend_unref(Backend *b);
void backend_unrefp(Backend **b);

/* Is b eligible for a new request right now (not draining, removed, ejected or checked down)? */
bool backend_available(Backend *b, usec_t now);
#define BACKEND_WEIGHT_SCALE 64u

/* The weight the balancers use: the configured one times BACKEND_WEIGHT_SCALE, ramped during
 * slow start (at least 1). */
unsigned backend_effective_weight(Backend *b, usec_t now, usec_t slow_start);
BackendHealth backend_health(Backend *b, usec_t now, usec_t slow_start);
const char *backend_health_to_string(BackendHealth h);

/* Passive health: a success resets the failure count; eject_failures consecutive failures
 * eject the backend for eject_time, doubled on every ejection in a row (at most 64x). */
void backend_note_success(Backend *b);
void backend_note_failure(Backend *b, usec_t now, unsigned eject_failures, usec_t eject_time);

void backend_record_latency(Backend *b, usec_t now, usec_t latency);
/* p99 of the latencies recorded in the last LATENCY_SLOTS seconds, 0 when none. */
usec_t backend_latency_p99(Backend *b, usec_t now);

BackendSet *backend_set_new(uint64_t generation, unsigned n);
BackendSet *backend_set_ref(BackendSet *s);
BackendSet *backend_set_unref(BackendSet *s);
void backend_set_unrefp(BackendSet **s);
Backend *backend_set_find(BackendSet *s, const char *name);
/* Appends b (the set takes the reference), growing the set as needed; -ENOMEM leaves b to the
 * caller. No fixed limit: a set is as large as the message that brought it. */
int backend_set_add(BackendSet *s, Backend *b);
