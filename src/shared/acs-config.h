/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Typed INI configuration: a daemon describes its keys in a table (section, key, type, bounds,
 * where the value goes in its settings struct), fills the struct with defaults, then loads
 * FILE and FILE.d/ drop-ins (every "*.conf" in the directory named FILE + ".d", applied in lexical order, later wins).
 *
 * Anything unexpected is an error that names file, line, key and what was expected:
 *     /etc/acs/vim.conf:12: [Scaling] TargetCpu=1.7: expected a number in 0.05..1
 * Daemons exit with EX_CONFIG (78) on such an error.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acs-time.h"

#define ACS_EXIT_CONFIG 78 /* EX_CONFIG from sysexits.h */

typedef enum AcsConfigType {
        ACS_CONFIG_STRING,   /* char *, replaced on each assignment */
        ACS_CONFIG_STRV,     /* char **, NULL-terminated; each assignment appends, an empty one clears */
        ACS_CONFIG_BOOL,     /* bool: yes/no, true/false, on/off, 1/0 */
        ACS_CONFIG_INT,      /* int64_t within [min, max] */
        ACS_CONFIG_UINT,     /* unsigned within [min, max] */
        ACS_CONFIG_DOUBLE,   /* double within [dmin, dmax], finite */
        ACS_CONFIG_DURATION, /* usec_t: "250ms", "5s", "1min"; bounds in µs in [min, max] */
        ACS_CONFIG_ENUM,     /* int: index into choices[] */
        ACS_CONFIG_CUSTOM,   /* parse() does it */
} AcsConfigType;

typedef struct AcsConfigItem AcsConfigItem;

/* For ACS_CONFIG_CUSTOM: parse value into dest. On failure return a negative errno and set
 * *ret_expected to a static string saying what was expected ("an address like 127.0.0.1:8080"). */
typedef int (*AcsConfigParse)(const AcsConfigItem *item, const char *value, void *dest,
                              const char **ret_expected);

struct AcsConfigItem {
        const char *section;
        const char *key;
        AcsConfigType type;
        size_t offset;                  /* offsetof() the field in the settings struct */
        int64_t min, max;               /* INT, UINT, DURATION; both 0 = unbounded */
        double dmin, dmax;              /* DOUBLE */
        const char *const *choices;     /* ENUM, NULL-terminated */
        AcsConfigParse parse;           /* CUSTOM */
};

typedef struct AcsConfigError {
        char *file;     /* NULL for errors not tied to a file */
        unsigned line;  /* 0 if not tied to a line */
        char *message;  /* whole human-readable message, "FILE:LINE: ..." */
} AcsConfigError;

void acs_config_error_done(AcsConfigError *e);

/*
 * Loads path and its drop-ins into settings according to table (terminated by an item with a
 * NULL key). A missing main file is not an error when allow_missing is true (the built-in
 * defaults then hold; drop-ins still apply). Returns 0, or a negative errno with *ret_error set.
 */
int acs_config_load(const char *path, bool allow_missing, const AcsConfigItem *table, void *settings,
                    AcsConfigError *ret_error);

/* Loads one configuration text (no drop-ins); name is used in error messages. For tests and for
 * embedded default configurations. */
int acs_config_load_string(const char *name, const char *text, const AcsConfigItem *table,
                           void *settings, AcsConfigError *ret_error);

/* Frees the STRING and STRV fields that table names in settings. */
void acs_config_free(const AcsConfigItem *table, void *settings);

/*
 * For a reload: whether item has the same value in two settings structs (a CUSTOM item always
 * compares equal: its shape is its parser's), and the exchange of that one value between them,
 * so that a reload takes what may change at run time from the new struct and the old one keeps
 * the rest. Returns -EOPNOTSUPP for CUSTOM items.
 */
bool acs_config_item_equal(const AcsConfigItem *item, const void *a, const void *b);
int acs_config_item_swap(const AcsConfigItem *item, void *a, void *b);

int parse_boolean(const char *s);  /* 1, 0, or -EINVAL */
