/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The policy's fields by name, as SetPolicy(a{sv}) and PUT /api/v1/policy take them and the
 * Policy property and GET /api/v1/state show them: policy (s), target_cpu (d), target_inflight (d),
 * tolerance (d), min_replicas (u), max_replicas (u), scale_down_window_s (u), placement (s),
 * vm_headroom (u), vm_standby_delay_s (u), dry_run (b).
 */

#include <json-c/json.h>
#include <stdbool.h>

#include "acs-policy.h"

typedef enum VimPolicyKind {
        VIM_POLICY_DOUBLE,
        VIM_POLICY_UINT,
        VIM_POLICY_SECONDS,
        VIM_POLICY_CHOICE,              /* a name out of a fixed set (placement, policy) */
        VIM_POLICY_BOOL,
} VimPolicyKind;

/* The kind of a key, or -ENOENT for a key that is not a policy field. */
int vim_policy_key_kind(const char *key);

/* Set one field on p (a copy: validate with acs_policy_validate() before using it).
 * -ENOENT unknown key, -EINVAL a value of the wrong kind or out of range. */
int vim_policy_set_number(AcsPolicy *p, const char *key, double v);
int vim_policy_set_string(AcsPolicy *p, const char *key, const char *v);
int vim_policy_set_bool(AcsPolicy *p, const char *key, bool v);

/* The whole policy as a JSON object (NULL when out of memory). */
json_object *vim_policy_to_json(const AcsPolicy *p);

/* Iteration for the bus side: the number of keys and key i. */
size_t vim_policy_n_keys(void);
const char *vim_policy_key(size_t i);
/* Field i's value as a number (double kinds, counts, seconds, bool as 0/1). */
double vim_policy_get_number(const AcsPolicy *p, size_t i);
/* Field i's value as a name (choice kinds), NULL for other kinds. */
const char *vim_policy_get_string(const AcsPolicy *p, size_t i);

/* Applies a partial policy from JSON text, all or nothing: 0, -EINVAL with error[] saying which
 * key and why, or -ENOMEM. */
int vim_policy_apply_json(AcsPolicy *p, const char *json, size_t size, char *error, size_t error_size);

static inline void vim_json_putp(json_object **o) {
        if (*o)
                (void) json_object_put(*o);
}

/* A JSON number printed with at most `decimals` decimals (json-c would print 0.6 as
 * 0.59999999999999998). */
json_object *vim_json_double(double v, int decimals);
