/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What json-c's strict mode lets through and a protocol must not, checked on the raw text of a
 * document json-c has already parsed (strict, UTF-8 validated, the whole input consumed):
 *   - single-quoted strings and raw control characters inside strings;
 *   - NaN, Infinity and any bare word other than true, false, null;
 *   - numbers outside the JSON grammar ("1.", "+1", ".5");
 *   - integers outside int64 (json-c saturates them silently);
 *   - numbers with a fraction or exponent that overflow a double.
 * It also counts the object members in the text (one ':' outside strings per member), so the
 * caller can compare with the members json-c kept: json-c keeps only the last of duplicate keys.
 */

#include <stddef.h>

#include "acs-proto.h"

/* Formats a refusal reason into reason[] and returns -EBADMSG (shared with acs-proto.c). */
_printf_(2, 3)
int proto_refuse(char reason[static ACS_PROTO_REASON_MAX], const char *format, ...);

/* Returns 0 and the member count, or -EBADMSG with a reason. */
int json_strict_scan(const char *text, size_t size, size_t *ret_members, char reason[static ACS_PROTO_REASON_MAX]);

struct json_object;
/* The number of members of all objects in the tree. */
size_t json_strict_count_members(struct json_object *o);
