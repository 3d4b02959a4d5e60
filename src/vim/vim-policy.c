/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "acs-macro.h"
#include "vim-policy.h"

static const char *placement_to_string(int v) {
        return acs_placement_to_string((AcsPlacement) v);
}

static const char *policy_kind_to_string(int v) {
        return acs_policy_kind_to_string((AcsPolicyKind) v);
}

static int policy_kind_from_string(const char *s) {
        return acs_policy_kind_from_string(s);
}

/* Choice fields are enums, read and written as int. */
_Static_assert(sizeof(AcsPlacement) == sizeof(int), "AcsPlacement is not int-sized");
_Static_assert(sizeof(AcsPolicyKind) == sizeof(int), "AcsPolicyKind is not int-sized");

static const struct {
        const char *key;
        VimPolicyKind kind;
        size_t offset;
        const char *(*to_string)(int v);
        int (*from_string)(const char *s);
} policy_fields[] = {
        { "policy", VIM_POLICY_CHOICE, offsetof(AcsPolicy, kind), policy_kind_to_string, policy_kind_from_string },
        { "target_cpu", VIM_POLICY_DOUBLE, offsetof(AcsPolicy, target_cpu) },
        { "target_inflight", VIM_POLICY_DOUBLE, offsetof(AcsPolicy, target_inflight) },
        { "tolerance", VIM_POLICY_DOUBLE, offsetof(AcsPolicy, tolerance) },
        { "min_replicas", VIM_POLICY_UINT, offsetof(AcsPolicy, min_replicas) },
        { "max_replicas", VIM_POLICY_UINT, offsetof(AcsPolicy, max_replicas) },
        { "scale_down_window_s", VIM_POLICY_SECONDS, offsetof(AcsPolicy, scale_down_window) },
        { "placement", VIM_POLICY_CHOICE, offsetof(AcsPolicy, placement), placement_to_string,
          acs_placement_from_string },
        { "vm_headroom", VIM_POLICY_UINT, offsetof(AcsPolicy, vm_headroom) },
        { "vm_standby_delay_s", VIM_POLICY_SECONDS, offsetof(AcsPolicy, vm_standby_delay) },
        { "dry_run", VIM_POLICY_BOOL, offsetof(AcsPolicy, dry_run) },
};

#define FIELD(p, i, type) ((type *) ((char *) (p) + policy_fields[i].offset))
#define CFIELD(p, i, type) ((const type *) ((const char *) (p) + policy_fields[i].offset))

static int policy_find(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(policy_fields); i++)
                if (streq(policy_fields[i].key, key))
                        return (int) i;
        return -ENOENT;
}

int vim_policy_key_kind(const char *key) {
        int i = policy_find(key);

        return i < 0 ? i : (int) policy_fields[i].kind;
}

size_t vim_policy_n_keys(void) {
        return ELEMENTSOF(policy_fields);
}

const char *vim_policy_key(size_t i) {
        return i < ELEMENTSOF(policy_fields) ? policy_fields[i].key : NULL;
}

int vim_policy_set_number(AcsPolicy *p, const char *key, double v) {
        int i = policy_find(key);

        if (i < 0)
                return i;
        if (!isfinite(v))
                return -EINVAL;
        switch (policy_fields[i].kind) {
        case VIM_POLICY_DOUBLE:
                *FIELD(p, i, double) = v;
                return 0;
        case VIM_POLICY_UINT:
                if (v < 0 || v > 1e6 || v != floor(v))
                        return -EINVAL;
                *FIELD(p, i, unsigned) = (unsigned) v;
                return 0;
        case VIM_POLICY_SECONDS:
                if (v < 0 || v > 86400)
                        return -EINVAL;
                *FIELD(p, i, usec_t) = (usec_t) llround(v * USEC_PER_SEC);
                return 0;
        default:
                return -EINVAL;
        }
}

int vim_policy_set_string(AcsPolicy *p, const char *key, const char *v) {
        int i = policy_find(key), x;

        if (i < 0)
                return i;
        if (policy_fields[i].kind != VIM_POLICY_CHOICE)
                return -EINVAL;
        x = policy_fields[i].from_string(v);
        if (x < 0)
                return x;
        *FIELD(p, i, int) = x;
        return 0;
}

int vim_policy_set_bool(AcsPolicy *p, const char *key, bool v) {
        int i = policy_find(key);

        if (i < 0)
                return i;
        if (policy_fields[i].kind != VIM_POLICY_BOOL)
                return -EINVAL;
        *FIELD(p, i, bool) = v;
        return 0;
}

double vim_policy_get_number(const AcsPolicy *p, size_t i) {
        switch (policy_fields[i].kind) {
        case VIM_POLICY_DOUBLE:
                return *CFIELD(p, i, double);
        case VIM_POLICY_UINT:
                return *CFIELD(p, i, unsigned);
        case VIM_POLICY_SECONDS:
                return (double) *CFIELD(p, i, usec_t) / USEC_PER_SEC;
        case VIM_POLICY_BOOL:
                return *CFIELD(p, i, bool);
        default:
                return *CFIELD(p, i, int);
        }
}

const char *vim_policy_get_string(const AcsPolicy *p, size_t i) {
        if (i >= ELEMENTSOF(policy_fields) || policy_fields[i].kind != VIM_POLICY_CHOICE)
                return NULL;
        return policy_fields[i].to_string(*CFIELD(p, i, int));
}

json_object *vim_policy_to_json(const AcsPolicy *p) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(policy_fields); i++) {
                json_object *v;

                switch (policy_fields[i].kind) {
                case VIM_POLICY_DOUBLE:
                        v = vim_json_double(*CFIELD(p, i, double), 4);
                        break;
                case VIM_POLICY_CHOICE:
                        v = json_object_new_string(vim_policy_get_string(p, i) ?: "");
                        break;
                case VIM_POLICY_BOOL:
                        v = json_object_new_boolean(*CFIELD(p, i, bool));
                        break;
                default:
                        v = json_object_new_int64((int64_t) vim_policy_get_number(p, i));
                        break;
                }
                if (!v || json_object_object_add(o, policy_fields[i].key, v) < 0) {
                        json_object_put(v);
                        json_object_put(o);
                        return NULL;
                }
        }
        return o;
}

int vim_policy_apply_json(AcsPolicy *p, const char *json, size_t size, char *error, size_t error_size) {
        json_tokener *tok = json_tokener_new();
        json_object *o;
        AcsPolicy copy = *p;
        const char *what;
        int r = 0;

        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, json, (int) MIN(size, (size_t) INT32_MAX));
        if (!o || json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int) size ||
            !json_object_is_type(o, json_type_object)) {
                (void) snprintf(error, error_size, "expected a JSON object of policy fields");
                r = -EINVAL;
                goto out;
        }

        json_object_object_foreach(o, key, value) {
                int kind = vim_policy_key_kind(key);

                switch (kind) {
                case VIM_POLICY_DOUBLE:
                case VIM_POLICY_UINT:
                case VIM_POLICY_SECONDS:
                        r = json_object_is_type(value, json_type_double) || json_object_is_type(value, json_type_int)
                                    ? vim_policy_set_number(&copy, key, json_object_get_double(value))
                                    : -EINVAL;
                        break;
                case VIM_POLICY_CHOICE:
                        r = json_object_is_type(value, json_type_string)
                                    ? vim_policy_set_string(&copy, key, json_object_get_string(value))
                                    : -EINVAL;
                        break;
                case VIM_POLICY_BOOL:
                        r = json_object_is_type(value, json_type_boolean)
                                    ? vim_policy_set_bool(&copy, key, json_object_get_boolean(value))
                                    : -EINVAL;
                        break;
                default:
                        r = -ENOENT;
                        break;
                }
                if (r < 0) {
                        (void) snprintf(error, error_size, r == -ENOENT ? "unknown policy key \"%s\"" :
                                        "policy key \"%s\": wrong type or value", key);
                        r = -EINVAL;
                        goto out;
                }
        }

        r = acs_policy_validate(&copy, &what);
        if (r < 0) {
                (void) snprintf(error, error_size, "%s", what);
                goto out;
        }
        *p = copy;
out:
        json_object_put(o);
        json_tokener_free(tok);
        return r;
}

json_object *vim_json_double(double v, int decimals) {
        char buf[64];
        size_t l;

        if (!isfinite(v))
                v = 0;
        (void) snprintf(buf, sizeof(buf), "%.*f", CLAMP(decimals, 0, 9), v);
        /* "0.600" -> "0.6", "2.000" -> "2.0": still a double to a reader. */
        l = strlen(buf);
        if (strchr(buf, '.')) {
                while (l > 0 && buf[l - 1] == '0')
                        buf[--l] = 0;
                if (l > 0 && buf[l - 1] == '.')
                        buf[l++] = '0', buf[l] = 0;
        }
        return json_object_new_double_s(v, buf);
}
