/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Messages of the VMM <-> VIM link (protocol version 1). Every message is one JSON object,
 * {"v":1,"type":T,"seq":N,...}, carried in one frame (acs-frame.h). The types and their
 * fields:
 *
 *   register  VMM->VIM  vm, address, capacity, min, state ("active"|"standby"), containers
 *   metrics   VMM->VIM  vm, cpu, containers
 *   event     VMM->VIM  event, container, message
 *   order     VIM->VMM  order, count, container, timeout_ms
 *   ack       both      ack, result, message
 *
 * Decoding is strict: the frame must be exactly one JSON object (json-c strict mode, UTF-8
 * validated, nothing after it), no key may appear twice, every key of the type must be present
 * and no other, each value must have its type and lie in its range (integers that do not fit,
 * NaN and infinities are refused). A refusal returns -EBADMSG with a reason a person can read.
 *
 * Strings in a message are `const char *`: a message built for sending points at the caller's
 * storage; a decoded message (acs_message_decode()) owns its storage and is released with
 * acs_message_free().
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acs-buf.h"
#include "acs-macro.h"

#define ACS_PROTO_VERSION 1

#define ACS_PROTO_VM_NAME_MAX 63          /* [A-Za-z0-9._-], not starting with '.' or '-' */
#define ACS_PROTO_CONTAINER_ID_LEN 64     /* lowercase hex */
#define ACS_PROTO_ADDRESS_MAX 255
#define ACS_PROTO_EVENT_NAME_MAX 64       /* [a-z0-9-] */
#define ACS_PROTO_TEXT_MAX 4096           /* event and ack messages */
#define ACS_PROTO_CONTAINERS_MAX 1024     /* per message; also the largest capacity */
#define ACS_PROTO_SEQ_MAX ((uint64_t) INT64_MAX)
#define ACS_PROTO_REASON_MAX 256
#define ACS_PROTO_DRAIN_TIMEOUT_MAX_MS (3600U * 1000U)

typedef enum AcsMessageType {
        ACS_MESSAGE_REGISTER,
        ACS_MESSAGE_METRICS,
        ACS_MESSAGE_EVENT,
        ACS_MESSAGE_ORDER,
        ACS_MESSAGE_ACK,
        _ACS_MESSAGE_TYPE_MAX,
        _ACS_MESSAGE_TYPE_INVALID = -EINVAL,
} AcsMessageType;

typedef enum AcsVmState {
        ACS_VM_ACTIVE,
        ACS_VM_STANDBY,
        _ACS_VM_STATE_MAX,
        _ACS_VM_STATE_INVALID = -EINVAL,
} AcsVmState;

typedef enum AcsContainerState {
        ACS_CONTAINER_STARTING,
        ACS_CONTAINER_READY,
        ACS_CONTAINER_DRAINING,
        _ACS_CONTAINER_STATE_MAX,
        _ACS_CONTAINER_STATE_INVALID = -EINVAL,
} AcsContainerState;

typedef enum AcsOrderKind {
        ACS_ORDER_SCALE,        /* count = the number of containers this VM should run */
        ACS_ORDER_ADD,          /* one more container */
        ACS_ORDER_REMOVE,       /* container = id: stop and remove it now */
        ACS_ORDER_DRAIN,        /* container = id: stop routing to it; the VIM orders the removal once
                                 * idle, the VMM stops it by itself only after timeout_ms */
        ACS_ORDER_ACTIVATE,
        ACS_ORDER_STANDBY,
        _ACS_ORDER_KIND_MAX,
        _ACS_ORDER_KIND_INVALID = -EINVAL,
} AcsOrderKind;

/* One container, in register and metrics. */
typedef struct AcsContainerInfo {
        const char *id;         /* 64 lowercase hex digits */
        const char *address;    /* non-empty, at most ACS_PROTO_ADDRESS_MAX bytes */
        uint16_t port;          /* 1..65535 */
        AcsContainerState state;
        double cpu;             /* utilization against its limit, >= 0 (may exceed 1) */
        double cpu_limit;       /* CPUs, >= 0 */
        uint64_t mem;           /* bytes, 0..INT64_MAX */
        uint32_t in_flight;
} AcsContainerInfo;

typedef struct AcsRegister {
        const char *vm;         /* must equal the PSK identity; checked by the link server */
        const char *address;
        uint32_t capacity;      /* 0..ACS_PROTO_CONTAINERS_MAX */
        uint32_t min;           /* 0..capacity */
        AcsVmState state;
        const AcsContainerInfo *containers;
        size_t n_containers;    /* 0..ACS_PROTO_CONTAINERS_MAX */
} AcsRegister;

typedef struct AcsMetrics {
        const char *vm;
        double cpu;             /* sum over containers, in CPUs, >= 0 */
        const AcsContainerInfo *containers;
        size_t n_containers;
} AcsMetrics;

typedef struct AcsEvent {
        const char *event;      /* "container-died", "container-started", "docker-down", ... */
        const char *container;  /* "" or a 64-hex container id */
        const char *message;    /* free text, at most ACS_PROTO_TEXT_MAX bytes */
} AcsEvent;

typedef struct AcsOrder {
        AcsOrderKind order;
        uint32_t count;         /* for scale (0..ACS_PROTO_CONTAINERS_MAX), else 0 */
        const char *container;  /* 64-hex id for remove/drain, else "" */
        uint32_t timeout_ms;    /* for drain: the VIM's DrainTimeout= (0..ACS_PROTO_DRAIN_TIMEOUT_MAX_MS), else 0 */
} AcsOrder;

typedef struct AcsAck {
        uint64_t ack;           /* the seq acknowledged */
        int32_t result;         /* 0 or -errno (-4095..0) */
        const char *message;    /* at most ACS_PROTO_TEXT_MAX bytes */
} AcsAck;

typedef struct AcsMessage {
        AcsMessageType type;
        uint64_t seq;           /* 0..ACS_PROTO_SEQ_MAX; acs_link_send() fills it in */
        union {
                AcsRegister reg;
                AcsMetrics metrics;
                AcsEvent event;
                AcsOrder order;
                AcsAck ack;
        };

        /* private: what a decoded message owns */
        void *_json;
        AcsContainerInfo *_containers;
} AcsMessage;

const char *acs_message_type_to_string(AcsMessageType t);
AcsMessageType acs_message_type_from_string(const char *s);
const char *acs_vm_state_to_string(AcsVmState s);
AcsVmState acs_vm_state_from_string(const char *s);
const char *acs_container_state_to_string(AcsContainerState s);
AcsContainerState acs_container_state_from_string(const char *s);
const char *acs_order_kind_to_string(AcsOrderKind k);
AcsOrderKind acs_order_kind_from_string(const char *s);

/* True for a name usable as a VM name and PSK identity: 1..63 of [A-Za-z0-9._-], not starting
 * with '.' or '-'. Such a name goes into file names (agents.d/NAME.key), D-Bus paths, journal
 * fields, Docker labels and the dashboard as it is, so every name from a peer or a file is
 * checked with this before it is used. */
bool acs_proto_vm_name_is_valid(const char *s);
/* True for exactly 64 lowercase hex digits. */
bool acs_proto_container_id_is_valid(const char *s);

/*
 * Checks a message against the same rules the decoder applies, so a sender cannot put on the
 * wire what the peer would refuse. Returns 0 or -EINVAL with a reason in reason[].
 */
int acs_message_validate(const AcsMessage *m, char reason[static ACS_PROTO_REASON_MAX]);

/* Serialises m (validated first) as JSON and appends it as one frame to out (max 0 = default). */
int acs_message_encode(const AcsMessage *m, AcsBuf *out, size_t max, char reason[static ACS_PROTO_REASON_MAX]);

/* Serialises m as a NUL-terminated JSON string the caller frees (for logs and tests). */
int acs_message_to_json(const AcsMessage *m, char **ret);

/*
 * Decodes one frame payload. On success returns 0 and a message the caller frees with
 * acs_message_free(). Returns -EBADMSG with the reason in reason[] for anything but an exact
 * message of protocol version 1, or -ENOMEM.
 */
int acs_message_decode(const void *data, size_t size, AcsMessage **ret, char reason[static ACS_PROTO_REASON_MAX]);

AcsMessage *acs_message_free(AcsMessage *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsMessage *, acs_message_free);
