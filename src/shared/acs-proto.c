/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "acs-json.h"
#include "acs-frame.h"
#include "acs-json-strict.h"
#include "acs-proto.h"
#include "acs-string-table.h"

static const char *const message_type_table[_ACS_MESSAGE_TYPE_MAX] = {
        [ACS_MESSAGE_REGISTER] = "register",
        [ACS_MESSAGE_METRICS] = "metrics",
        [ACS_MESSAGE_EVENT] = "event",
        [ACS_MESSAGE_ORDER] = "order",
        [ACS_MESSAGE_ACK] = "ack",
};

static const char *const vm_state_table[_ACS_VM_STATE_MAX] = {
        [ACS_VM_ACTIVE] = "active",
        [ACS_VM_STANDBY] = "standby",
};

static const char *const container_state_table[_ACS_CONTAINER_STATE_MAX] = {
        [ACS_CONTAINER_STARTING] = "starting",
        [ACS_CONTAINER_READY] = "ready",
        [ACS_CONTAINER_DRAINING] = "draining",
};

static const char *const order_kind_table[_ACS_ORDER_KIND_MAX] = {
        [ACS_ORDER_SCALE] = "scale",
        [ACS_ORDER_ADD] = "add",
        [ACS_ORDER_REMOVE] = "remove",
        [ACS_ORDER_DRAIN] = "drain",
        [ACS_ORDER_ACTIVATE] = "activate",
        [ACS_ORDER_STANDBY] = "standby",
};

DEFINE_STRING_TABLE(acs_message_type, AcsMessageType, message_type_table);
DEFINE_STRING_TABLE(acs_vm_state, AcsVmState, vm_state_table);
DEFINE_STRING_TABLE(acs_container_state, AcsContainerState, container_state_table);
DEFINE_STRING_TABLE(acs_order_kind, AcsOrderKind, order_kind_table);

bool acs_proto_vm_name_is_valid(const char *s) {
        size_t n;

        if (!s || s[0] == '\0' || s[0] == '.' || s[0] == '-')
                return false;
        n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
        return s[n] == '\0' && n <= ACS_PROTO_VM_NAME_MAX;
}

bool acs_proto_container_id_is_valid(const char *s) {
        return s && strlen(s) == ACS_PROTO_CONTAINER_ID_LEN &&
               strspn(s, "0123456789abcdef") == ACS_PROTO_CONTAINER_ID_LEN;
}

static bool event_name_is_valid(const char *s) {
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-");
        return n > 0 && s[n] == '\0' && n <= ACS_PROTO_EVENT_NAME_MAX;
}

/* Printable ASCII without spaces: a host name or a numeric address. */
static bool address_is_valid(const char *s) {
        size_t n = 0;

        for (; s[n]; n++)
                if (s[n] <= ' ' || s[n] >= 0x7f)
                        return false;
        return n > 0 && n <= ACS_PROTO_ADDRESS_MAX;
}

/* --- validation: one place for every range, used before encoding and after decoding */

static int validate_containers(const AcsContainerInfo *c, size_t n, char reason[static ACS_PROTO_REASON_MAX]) {
        if (n > ACS_PROTO_CONTAINERS_MAX)
                return proto_refuse(reason, "%zu containers, at most %d allowed", n, ACS_PROTO_CONTAINERS_MAX);
        if (n > 0 && !c)
                return proto_refuse(reason, "containers missing");

        for (size_t i = 0; i < n; i++) {
                if (!acs_proto_container_id_is_valid(c[i].id))
                        return proto_refuse(reason, "containers[%zu].id: expected 64 lowercase hex digits", i);
                if (!c[i].address || !address_is_valid(c[i].address))
                        return proto_refuse(reason, "containers[%zu].address: expected a host or address", i);
                if (c[i].port == 0)
                        return proto_refuse(reason, "containers[%zu].port: expected 1..65535", i);
                if (!acs_container_state_to_string(c[i].state))
                        return proto_refuse(reason, "containers[%zu].state: expected starting, ready or draining", i);
                if (!isfinite(c[i].cpu) || c[i].cpu < 0)
                        return proto_refuse(reason, "containers[%zu].cpu: expected a finite number >= 0", i);
                if (!isfinite(c[i].cpu_limit) || c[i].cpu_limit < 0)
                        return proto_refuse(reason, "containers[%zu].cpu_limit: expected a finite number >= 0", i);
                if (c[i].mem > (uint64_t) INT64_MAX)
                        return proto_refuse(reason, "containers[%zu].mem: out of range", i);
        }
        return 0;
}

static int validate_text(const char *field, const char *s, char reason[static ACS_PROTO_REASON_MAX]) {
        if (!s)
                return proto_refuse(reason, "%s: missing", field);
        if (strlen(s) > ACS_PROTO_TEXT_MAX)
                return proto_refuse(reason, "%s: longer than %d bytes", field, ACS_PROTO_TEXT_MAX);
        return 0;
}

static int validate_container_ref(const char *field, const char *s, bool required,
                                  char reason[static ACS_PROTO_REASON_MAX]) {
        if (!s)
                return proto_refuse(reason, "%s: missing", field);
        if (required ? !acs_proto_container_id_is_valid(s) : (s[0] != '\0' && !acs_proto_container_id_is_valid(s)))
                return proto_refuse(reason, "%s: expected %s64 lowercase hex digits", field, required ? "" : "\"\" or ");
        return 0;
}

static int message_check(const AcsMessage *m, char reason[static ACS_PROTO_REASON_MAX]) {
        int r;

        if (m->seq > ACS_PROTO_SEQ_MAX)
                return proto_refuse(reason, "seq out of range");

        switch (m->type) {

        case ACS_MESSAGE_REGISTER:
                if (!acs_proto_vm_name_is_valid(m->reg.vm))
                        return proto_refuse(reason, "register: vm: expected a VM name ([A-Za-z0-9._-], 1..%d, not starting with '.' or '-')", ACS_PROTO_VM_NAME_MAX);
                if (!m->reg.address || !address_is_valid(m->reg.address))
                        return proto_refuse(reason, "register: address: expected a host or address");
                if (m->reg.capacity > ACS_PROTO_CONTAINERS_MAX)
                        return proto_refuse(reason, "register: capacity %u: expected 0..%d", m->reg.capacity, ACS_PROTO_CONTAINERS_MAX);
                if (m->reg.min > m->reg.capacity)
                        return proto_refuse(reason, "register: min %u exceeds capacity %u", m->reg.min, m->reg.capacity);
                if (!acs_vm_state_to_string(m->reg.state))
                        return proto_refuse(reason, "register: state: expected active or standby");
                r = validate_containers(m->reg.containers, m->reg.n_containers, reason);
                break;

        case ACS_MESSAGE_METRICS:
                if (!acs_proto_vm_name_is_valid(m->metrics.vm))
                        return proto_refuse(reason, "metrics: vm: expected a VM name ([A-Za-z0-9._-], 1..%d, not starting with '.' or '-')", ACS_PROTO_VM_NAME_MAX);
                if (!isfinite(m->metrics.cpu) || m->metrics.cpu < 0)
                        return proto_refuse(reason, "metrics: cpu: expected a finite number >= 0");
                r = validate_containers(m->metrics.containers, m->metrics.n_containers, reason);
                break;

        case ACS_MESSAGE_EVENT:
                if (!m->event.event || !event_name_is_valid(m->event.event))
                        return proto_refuse(reason, "event: event: expected a name ([a-z0-9-], 1..%d)", ACS_PROTO_EVENT_NAME_MAX);
                r = validate_container_ref("event: container", m->event.container, false, reason);
                if (r >= 0)
                        r = validate_text("event: message", m->event.message, reason);
                break;

        case ACS_MESSAGE_ORDER: {
                bool needs_container = m->order.order == ACS_ORDER_REMOVE || m->order.order == ACS_ORDER_DRAIN;

                if (!acs_order_kind_to_string(m->order.order))
                        return proto_refuse(reason, "order: order: expected scale, add, remove, drain, activate or standby");
                if (m->order.order == ACS_ORDER_SCALE ? m->order.count > ACS_PROTO_CONTAINERS_MAX : m->order.count != 0)
                        return proto_refuse(reason, "order: count %u: expected %s", m->order.count,
                                      m->order.order == ACS_ORDER_SCALE ? "0..1024" : "0 unless the order is scale");
                if (!m->order.container)
                        return proto_refuse(reason, "order: container: missing");
                if (needs_container)
                        r = validate_container_ref("order: container", m->order.container, true, reason);
                else if (m->order.container[0] != '\0')
                        return proto_refuse(reason, "order: container: expected \"\" for %s", acs_order_kind_to_string(m->order.order));
                else
                        r = 0;
                if (r >= 0 && (m->order.order == ACS_ORDER_DRAIN ? m->order.timeout_ms > ACS_PROTO_DRAIN_TIMEOUT_MAX_MS
                                                                  : m->order.timeout_ms != 0))
                        return proto_refuse(reason, "order: timeout_ms %u: expected %s", m->order.timeout_ms,
                                            m->order.order == ACS_ORDER_DRAIN ? "0..3600000" : "0 unless the order is drain");
                break;
        }

        case ACS_MESSAGE_ACK:
                if (m->ack.ack > ACS_PROTO_SEQ_MAX)
                        return proto_refuse(reason, "ack: ack out of range");
                if (m->ack.result > 0 || m->ack.result < -4095)
                        return proto_refuse(reason, "ack: result %d: expected 0 or -errno", m->ack.result);
                r = validate_text("ack: message", m->ack.message, reason);
                break;

        default:
                return proto_refuse(reason, "unknown message type %d", (int) m->type);
        }

        return r;
}

int acs_message_validate(const AcsMessage *m, char reason[static ACS_PROTO_REASON_MAX]) {
        return message_check(m, reason) < 0 ? -EINVAL : 0;
}

/* --- decoding */

/* Checks that o has exactly the given keys, naming the first missing or extra one. */
static int expect_keys(struct json_object *o, const char *what, const char *const *keys, size_t n,
                       char reason[static ACS_PROTO_REASON_MAX]) {
        for (size_t i = 0; i < n; i++)
                if (!json_object_object_get_ex(o, keys[i], NULL))
                        return proto_refuse(reason, "%s: missing key \"%s\"", what, keys[i]);

        if ((size_t) json_object_object_length(o) == n)
                return 0;

        json_object_object_foreach(o, key, value) {
                bool known = false;

                (void) value;
                for (size_t i = 0; i < n && !known; i++)
                        known = streq(key, keys[i]);
                if (!known)
                        return proto_refuse(reason, "%s: unexpected key \"%.64s\"", what, key);
        }
        return proto_refuse(reason, "%s: unexpected keys", what);
}

static int get_string(struct json_object *o, const char *what, const char *key, const char **ret,
                      char reason[static ACS_PROTO_REASON_MAX]) {
        struct json_object *v = json_object_object_get(o, key);
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return proto_refuse(reason, "%s: \"%s\": expected a string", what, key);
        s = json_object_get_string(v);
        if ((size_t) json_object_get_string_len(v) != strlen(s))
                return proto_refuse(reason, "%s: \"%s\": string contains a NUL character", what, key);
        *ret = s;
        return 0;
}

/* An integer in [min, max]; doubles such as 1.0 are refused: the field is an integer. */
static int get_integer(struct json_object *o, const char *what, const char *key, int64_t min, int64_t max,
                       int64_t *ret, char reason[static ACS_PROTO_REASON_MAX]) {
        struct json_object *v = json_object_object_get(o, key);
        int64_t i;

        if (!json_object_is_type(v, json_type_int))
                return proto_refuse(reason, "%s: \"%s\": expected an integer", what, key);
        /* Values beyond int64 were refused by the raw scan, so this does not saturate. */
        i = json_object_get_int64(v);
        if (i < min || i > max)
                return proto_refuse(reason, "%s: \"%s\": %" PRIi64 " out of range %" PRIi64 "..%" PRIi64,
                              what, key, i, min, max);
        *ret = i;
        return 0;
}

static int get_number(struct json_object *o, const char *what, const char *key, double *ret,
                      char reason[static ACS_PROTO_REASON_MAX]) {
        struct json_object *v = json_object_object_get(o, key);
        double d;

        if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
                return proto_refuse(reason, "%s: \"%s\": expected a number", what, key);
        d = json_object_get_double(v);
        if (!isfinite(d))
                return proto_refuse(reason, "%s: \"%s\": expected a finite number", what, key);
        *ret = d;
        return 0;
}

static int get_enum(struct json_object *o, const char *what, const char *key, int (*from_string)(const char *),
                    int *ret, char reason[static ACS_PROTO_REASON_MAX]) {
        const char *s;
        int r;

        r = get_string(o, what, key, &s, reason);
        if (r < 0)
                return r;
        r = from_string(s);
        if (r < 0)
                return proto_refuse(reason, "%s: \"%s\": unknown value \"%.64s\"", what, key, s);
        *ret = r;
        return 0;
}

static int vm_state_from_string_int(const char *s) {
        return acs_vm_state_from_string(s);
}
static int container_state_from_string_int(const char *s) {
        return acs_container_state_from_string(s);
}
static int order_kind_from_string_int(const char *s) {
        return acs_order_kind_from_string(s);
}

static int decode_container(struct json_object *o, size_t index, AcsContainerInfo *c,
                            char reason[static ACS_PROTO_REASON_MAX]) {
        static const char *const keys[] = { "id", "address", "port", "state", "cpu", "cpu_limit", "mem", "in_flight" };
        char what[32];
        int64_t i = 0;
        int r, e = 0;

        (void) snprintf(what, sizeof(what), "containers[%zu]", index);
        if (!json_object_is_type(o, json_type_object))
                return proto_refuse(reason, "%s: expected an object", what);
        r = expect_keys(o, what, keys, ELEMENTSOF(keys), reason);
        if (r < 0)
                return r;

        if ((r = get_string(o, what, "id", &c->id, reason)) < 0 ||
            (r = get_string(o, what, "address", &c->address, reason)) < 0)
                return r;
        if ((r = get_integer(o, what, "port", 1, UINT16_MAX, &i, reason)) < 0)
                return r;
        c->port = (uint16_t) i;
        if ((r = get_enum(o, what, "state", container_state_from_string_int, &e, reason)) < 0)
                return r;
        c->state = (AcsContainerState) e;
        if ((r = get_number(o, what, "cpu", &c->cpu, reason)) < 0 ||
            (r = get_number(o, what, "cpu_limit", &c->cpu_limit, reason)) < 0)
                return r;
        if ((r = get_integer(o, what, "mem", 0, INT64_MAX, &i, reason)) < 0)
                return r;
        c->mem = (uint64_t) i;
        if ((r = get_integer(o, what, "in_flight", 0, UINT32_MAX, &i, reason)) < 0)
                return r;
        c->in_flight = (uint32_t) i;
        return 0;
}

static int decode_containers(struct json_object *o, AcsMessage *m, const AcsContainerInfo **ret, size_t *ret_n,
                             char reason[static ACS_PROTO_REASON_MAX]) {
        struct json_object *a = json_object_object_get(o, "containers");
        size_t n;
        int r;

        if (!json_object_is_type(a, json_type_array))
                return proto_refuse(reason, "\"containers\": expected an array");
        n = json_object_array_length(a);
        if (n > ACS_PROTO_CONTAINERS_MAX)
                return proto_refuse(reason, "\"containers\": %zu entries, at most %d allowed", n, ACS_PROTO_CONTAINERS_MAX);

        if (n > 0) {
                m->_containers = calloc(n, sizeof(AcsContainerInfo));
                if (!m->_containers)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                r = decode_container(json_object_array_get_idx(a, i), i, &m->_containers[i], reason);
                if (r < 0)
                        return r;
        }
        *ret = m->_containers;
        *ret_n = n;
        return 0;
}

static int decode_body(struct json_object *o, AcsMessage *m, char reason[static ACS_PROTO_REASON_MAX]) {
        static const char *const keys[_ACS_MESSAGE_TYPE_MAX][9] = {
                [ACS_MESSAGE_REGISTER] = { "v", "type", "seq", "vm", "address", "capacity", "min", "state", "containers" },
                [ACS_MESSAGE_METRICS] = { "v", "type", "seq", "vm", "cpu", "containers" },
                [ACS_MESSAGE_EVENT] = { "v", "type", "seq", "event", "container", "message" },
                [ACS_MESSAGE_ORDER] = { "v", "type", "seq", "order", "count", "container", "timeout_ms" },
                [ACS_MESSAGE_ACK] = { "v", "type", "seq", "ack", "result", "message" },
        };
        const char *what = acs_message_type_to_string(m->type);
        size_t n_keys = 0;
        int64_t i = 0;
        int r, e = 0;

        while (n_keys < ELEMENTSOF(keys[m->type]) && keys[m->type][n_keys])
                n_keys++;
        r = expect_keys(o, what, keys[m->type], n_keys, reason);
        if (r < 0)
                return r;

        switch (m->type) {

        case ACS_MESSAGE_REGISTER:
                if ((r = get_string(o, what, "vm", &m->reg.vm, reason)) < 0 ||
                    (r = get_string(o, what, "address", &m->reg.address, reason)) < 0)
                        return r;
                if ((r = get_integer(o, what, "capacity", 0, UINT32_MAX, &i, reason)) < 0)
                        return r;
                m->reg.capacity = (uint32_t) i;
                if ((r = get_integer(o, what, "min", 0, UINT32_MAX, &i, reason)) < 0)
                        return r;
                m->reg.min = (uint32_t) i;
                if ((r = get_enum(o, what, "state", vm_state_from_string_int, &e, reason)) < 0)
                        return r;
                m->reg.state = (AcsVmState) e;
                return decode_containers(o, m, &m->reg.containers, &m->reg.n_containers, reason);

        case ACS_MESSAGE_METRICS:
                if ((r = get_string(o, what, "vm", &m->metrics.vm, reason)) < 0 ||
                    (r = get_number(o, what, "cpu", &m->metrics.cpu, reason)) < 0)
                        return r;
                return decode_containers(o, m, &m->metrics.containers, &m->metrics.n_containers, reason);

        case ACS_MESSAGE_EVENT:
                if ((r = get_string(o, what, "event", &m->event.event, reason)) < 0 ||
                    (r = get_string(o, what, "container", &m->event.container, reason)) < 0 ||
                    (r = get_string(o, what, "message", &m->event.message, reason)) < 0)
                        return r;
                return 0;

        case ACS_MESSAGE_ORDER:
                if ((r = get_enum(o, what, "order", order_kind_from_string_int, &e, reason)) < 0)
                        return r;
                m->order.order = (AcsOrderKind) e;
                if ((r = get_integer(o, what, "count", 0, UINT32_MAX, &i, reason)) < 0)
                        return r;
                m->order.count = (uint32_t) i;
                if ((r = get_integer(o, what, "timeout_ms", 0, UINT32_MAX, &i, reason)) < 0)
                        return r;
                m->order.timeout_ms = (uint32_t) i;
                return get_string(o, what, "container", &m->order.container, reason);

        case ACS_MESSAGE_ACK:
                if ((r = get_integer(o, what, "ack", 0, (int64_t) ACS_PROTO_SEQ_MAX, &i, reason)) < 0)
                        return r;
                m->ack.ack = (uint64_t) i;
                if ((r = get_integer(o, what, "result", INT32_MIN, INT32_MAX, &i, reason)) < 0)
                        return r;
                m->ack.result = (int32_t) i;
                return get_string(o, what, "message", &m->ack.message, reason);

        default:
                return proto_refuse(reason, "unknown message type");
        }
}

/* Parses the whole payload as exactly one JSON object, with the checks json-c lacks. */
static int parse_strict(const char *text, size_t size, struct json_object **ret, char reason[static ACS_PROTO_REASON_MAX]) {
        struct json_tokener *tok;
        struct json_object *o;
        enum json_tokener_error e;
        size_t end, members;
        int r;

        if (size == 0 || size > INT32_MAX)
                return proto_refuse(reason, "empty or oversized payload");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, text, (int) size);
        e = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        if (!o) {
                if (e == json_tokener_continue)
                        return proto_refuse(reason, "invalid JSON: truncated");
                return proto_refuse(reason, "invalid JSON at offset %zu: %s", end, json_tokener_error_desc(e));
        }
        if (end != size) {
                json_object_put(o);
                return proto_refuse(reason, "trailing data after the JSON object at offset %zu", end);
        }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return proto_refuse(reason, "expected a JSON object");
        }

        r = json_strict_scan(text, size, &members, reason);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        if (members != json_strict_count_members(o)) {
                json_object_put(o);
                return proto_refuse(reason, "duplicate key");
        }

        *ret = o;
        return 0;
}

int acs_message_decode(const void *data, size_t size, AcsMessage **ret, char reason[static ACS_PROTO_REASON_MAX]) {
        _cleanup_(acs_message_freep) AcsMessage *m = NULL;
        struct json_object *o = NULL, *v;
        const char *type;
        int64_t i;
        int r;

        reason[0] = '\0';
        m = calloc(1, sizeof(AcsMessage));
        if (!m)
                return -ENOMEM;

        r = parse_strict(data, size, &o, reason);
        if (r < 0)
                return r;
        m->_json = o;

        /* The version first: a peer of another version gets told so, not "unexpected key". */
        if (!json_object_object_get_ex(o, "v", &v))
                return proto_refuse(reason, "missing key \"v\"");
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != ACS_PROTO_VERSION)
                return proto_refuse(reason, "unsupported protocol version %.32s, expected %d",
                              json_object_to_json_string(v), ACS_PROTO_VERSION);

        r = get_string(o, "message", "type", &type, reason);
        if (r < 0)
                return r;
        m->type = acs_message_type_from_string(type);
        if (m->type < 0)
                return proto_refuse(reason, "unknown message type \"%.64s\"", type);

        r = get_integer(o, type, "seq", 0, (int64_t) ACS_PROTO_SEQ_MAX, &i, reason);
        if (r < 0)
                return r;
        m->seq = (uint64_t) i;

        r = decode_body(o, m, reason);
        if (r < 0)
                return r;
        r = message_check(m, reason);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

AcsMessage *acs_message_free(AcsMessage *m) {
        if (!m)
                return NULL;
        json_object_put(m->_json);
        free(m->_containers);
        return mfree(m);
}

/* --- encoding */

static int add_containers(struct json_object *o, const AcsContainerInfo *c, size_t n) {
        struct json_object *a = json_object_new_array_ext((int) n);
        int r;

        r = acs_json_add(o, "containers", a);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct json_object *e = json_object_new_object();

                if (!e || json_object_array_add(a, e) < 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
                if ((r = acs_json_add(e, "id", json_object_new_string(c[i].id))) < 0 ||
                    (r = acs_json_add(e, "address", json_object_new_string(c[i].address))) < 0 ||
                    (r = acs_json_add(e, "port", json_object_new_int(c[i].port))) < 0 ||
                    (r = acs_json_add(e, "state", json_object_new_string(acs_container_state_to_string(c[i].state)))) < 0 ||
                    (r = acs_json_add(e, "cpu", json_object_new_double(c[i].cpu))) < 0 ||
                    (r = acs_json_add(e, "cpu_limit", json_object_new_double(c[i].cpu_limit))) < 0 ||
                    (r = acs_json_add(e, "mem", json_object_new_int64((int64_t) c[i].mem))) < 0 ||
                    (r = acs_json_add(e, "in_flight", json_object_new_int64(c[i].in_flight))) < 0)
                        return r;
        }
        return 0;
}

static int build_json(const AcsMessage *m, struct json_object **ret) {
        struct json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        if ((r = acs_json_add(o, "v", json_object_new_int(ACS_PROTO_VERSION))) < 0 ||
            (r = acs_json_add(o, "type", json_object_new_string(acs_message_type_to_string(m->type)))) < 0 ||
            (r = acs_json_add(o, "seq", json_object_new_int64((int64_t) m->seq))) < 0)
                goto fail;

        switch (m->type) {
        case ACS_MESSAGE_REGISTER:
                if ((r = acs_json_add(o, "vm", json_object_new_string(m->reg.vm))) < 0 ||
                    (r = acs_json_add(o, "address", json_object_new_string(m->reg.address))) < 0 ||
                    (r = acs_json_add(o, "capacity", json_object_new_int64(m->reg.capacity))) < 0 ||
                    (r = acs_json_add(o, "min", json_object_new_int64(m->reg.min))) < 0 ||
                    (r = acs_json_add(o, "state", json_object_new_string(acs_vm_state_to_string(m->reg.state)))) < 0 ||
                    (r = add_containers(o, m->reg.containers, m->reg.n_containers)) < 0)
                        goto fail;
                break;
        case ACS_MESSAGE_METRICS:
                if ((r = acs_json_add(o, "vm", json_object_new_string(m->metrics.vm))) < 0 ||
                    (r = acs_json_add(o, "cpu", json_object_new_double(m->metrics.cpu))) < 0 ||
                    (r = add_containers(o, m->metrics.containers, m->metrics.n_containers)) < 0)
                        goto fail;
                break;
        case ACS_MESSAGE_EVENT:
                if ((r = acs_json_add(o, "event", json_object_new_string(m->event.event))) < 0 ||
                    (r = acs_json_add(o, "container", json_object_new_string(m->event.container))) < 0 ||
                    (r = acs_json_add(o, "message", json_object_new_string(m->event.message))) < 0)
                        goto fail;
                break;
        case ACS_MESSAGE_ORDER:
                if ((r = acs_json_add(o, "order", json_object_new_string(acs_order_kind_to_string(m->order.order)))) < 0 ||
                    (r = acs_json_add(o, "count", json_object_new_int64(m->order.count))) < 0 ||
                    (r = acs_json_add(o, "container", json_object_new_string(m->order.container))) < 0 ||
                    (r = acs_json_add(o, "timeout_ms", json_object_new_int64(m->order.timeout_ms))) < 0)
                        goto fail;
                break;
        case ACS_MESSAGE_ACK:
                if ((r = acs_json_add(o, "ack", json_object_new_int64((int64_t) m->ack.ack))) < 0 ||
                    (r = acs_json_add(o, "result", json_object_new_int(m->ack.result))) < 0 ||
                    (r = acs_json_add(o, "message", json_object_new_string(m->ack.message))) < 0)
                        goto fail;
                break;
        default:
                r = -EINVAL;
                goto fail;
        }

        *ret = o;
        return 0;

fail:
        json_object_put(o);
        return r;
}

int acs_message_to_json(const AcsMessage *m, char **ret) {
        char reason[ACS_PROTO_REASON_MAX];
        struct json_object *o;
        char *s;
        int r;

        r = acs_message_validate(m, reason);
        if (r < 0)
                return r;
        r = build_json(m, &o);
        if (r < 0)
                return r;
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int acs_message_encode(const AcsMessage *m, AcsBuf *out, size_t max, char reason[static ACS_PROTO_REASON_MAX]) {
        struct json_object *o;
        const char *s;
        size_t len;
        int r;

        reason[0] = '\0';
        r = acs_message_validate(m, reason);
        if (r < 0)
                return r;
        r = build_json(m, &o);
        if (r < 0)
                return r;
        s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        r = s ? acs_frame_encode(out, s, len, max) : -ENOMEM;
        json_object_put(o);
        if (r == -EMSGSIZE)
                (void) snprintf(reason, ACS_PROTO_REASON_MAX, "message of %zu bytes exceeds the frame limit", len);
        return r;
}
