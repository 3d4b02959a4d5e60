/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Enum <-> name tables, after systemd's string-table.h. A table is a designated-initialiser
 * array of names indexed by the enum; the macros define the two lookups:
 *
 *     static const char *const vm_state_table[_ACS_VM_STATE_MAX] = { [ACS_VM_ACTIVE] = "active", ... };
 *     DEFINE_STRING_TABLE(acs_vm_state, AcsVmState, vm_state_table);
 *
 * gives acs_vm_state_to_string() (NULL for a value out of range) and acs_vm_state_from_string()
 * (-EINVAL for an unknown name or NULL). Enums that from_string() returns should have an
 * `_X_INVALID = -EINVAL` member so they are signed.
 */

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "acs-macro.h"

static inline const char *string_table_lookup_to_string(const char *const *table, size_t n, int i) {
        return i >= 0 && (size_t) i < n ? table[i] : NULL;
}

static inline int string_table_lookup_from_string(const char *const *table, size_t n, const char *s) {
        if (s)
                for (size_t i = 0; i < n; i++)
                        if (table[i] && streq(table[i], s))
                                return (int) i;
        return -EINVAL;
}

#define DEFINE_STRING_TABLE_TO_STRING(name, type, table)                                \
        const char *name##_to_string(type i) {                                          \
                return string_table_lookup_to_string(table, ELEMENTSOF(table), (int) i); \
        }

#define DEFINE_STRING_TABLE_FROM_STRING(name, type, table)                              \
        type name##_from_string(const char *s) {                                        \
                return (type) string_table_lookup_from_string(table, ELEMENTSOF(table), s); \
        }

#define DEFINE_STRING_TABLE(name, type, table)                                          \
        DEFINE_STRING_TABLE_TO_STRING(name, type, table)                                \
        DEFINE_STRING_TABLE_FROM_STRING(name, type, table)
