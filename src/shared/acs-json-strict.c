/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-json-strict.h"

int proto_refuse(char reason[static ACS_PROTO_REASON_MAX], const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(reason, ACS_PROTO_REASON_MAX, format, ap);
        va_end(ap);
        return -EBADMSG;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Length of the well-formed UTF-8 sequence at t[i] (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or 0. json-c's own check lets overlong forms through. */
static size_t utf8_sequence_length(const unsigned char *t, size_t size, size_t i) {
        unsigned char c = t[i];
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                if (c == 0xe0)
                        lo = 0xa0;      /* overlong */
                else if (c == 0xed)
                        hi = 0x9f;      /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                if (c == 0xf0)
                        lo = 0x90;      /* overlong */
                else if (c == 0xf4)
                        hi = 0x8f;      /* above U+10FFFF */
        } else
                return 0;

        if (size - i < n)
                return 0;
        if (t[i + 1] < lo || t[i + 1] > hi)
                return 0;
        for (size_t k = 2; k < n; k++)
                if (t[i + k] < 0x80 || t[i + k] > 0xbf)
                        return 0;
        return n;
}

static bool hex4(const char *t, size_t size, size_t i, unsigned *ret) {
        unsigned v = 0;

        if (size - i < 4)
                return false;
        for (size_t k = 0; k < 4; k++) {
                char c = t[i + k];
                v = v * 16 + (unsigned) (is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        *ret = v;       /* json-c already checked these are hex digits */
        return true;
}

/* Checks a \u escape at t[i] (the backslash); returns the index after it (and its pair). */
static int scan_unicode_escape(const char *t, size_t size, size_t i, size_t *ret_end,
                               char reason[static ACS_PROTO_REASON_MAX]) {
        unsigned u, low;

        if (!hex4(t, size, i + 2, &u))
                return proto_refuse(reason, "malformed \\u escape at offset %zu", i);
        if (u == 0)
                return proto_refuse(reason, "string contains a NUL character (offset %zu)", i);
        if (u >= 0xdc00 && u <= 0xdfff)
                return proto_refuse(reason, "unpaired surrogate escape at offset %zu", i);
        if (u >= 0xd800 && u <= 0xdbff) {
                if (size - i < 12 || t[i + 6] != '\\' || t[i + 7] != 'u' || !hex4(t, size, i + 8, &low) ||
                    low < 0xdc00 || low > 0xdfff)
                        return proto_refuse(reason, "unpaired surrogate escape at offset %zu", i);
                *ret_end = i + 12;
                return 0;
        }
        *ret_end = i + 6;
        return 0;
}

/* Skips a string starting at the opening quote; returns the index after the closing quote. */
static int scan_string(const char *t, size_t size, size_t i, size_t *ret_end, char reason[static ACS_PROTO_REASON_MAX]) {
        int r;

        i++;
        while (i < size) {
                unsigned char c = (unsigned char) t[i];
                size_t n;

                if (c == '"') {
                        *ret_end = i + 1;
                        return 0;
                }
                if (c < 0x20)
                        return proto_refuse(reason, "control character in a string at offset %zu", i);
                if (c == '\\') {
                        if (i + 1 < size && t[i + 1] == 'u') {
                                r = scan_unicode_escape(t, size, i, &i, reason);
                                if (r < 0)
                                        return r;
                        } else
                                i += 2;         /* json-c already checked the escape itself */
                        continue;
                }
                n = utf8_sequence_length((const unsigned char *) t, size, i);
                if (n == 0)
                        return proto_refuse(reason, "invalid UTF-8 in a string at offset %zu", i);
                i += n;
        }
        return proto_refuse(reason, "unterminated string");
}

/* Checks one number against the JSON grammar and its range; returns the index after it. */
static int scan_number(const char *t, size_t size, size_t start, size_t *ret_end, char reason[static ACS_PROTO_REASON_MAX]) {
        size_t i = start;
        bool integer = true;
        char buf[64];

        if (i < size && t[i] == '-')
                i++;
        if (i >= size || !is_digit(t[i]))
                return proto_refuse(reason, "malformed number at offset %zu", start);
        if (t[i] == '0')
                i++;
        else
                while (i < size && is_digit(t[i]))
                        i++;
        if (i < size && t[i] == '.') {
                integer = false;
                i++;
                if (i >= size || !is_digit(t[i]))
                        return proto_refuse(reason, "malformed number at offset %zu", start);
                while (i < size && is_digit(t[i]))
                        i++;
        }
        if (i < size && (t[i] == 'e' || t[i] == 'E')) {
                integer = false;
                i++;
                if (i < size && (t[i] == '+' || t[i] == '-'))
                        i++;
                if (i >= size || !is_digit(t[i]))
                        return proto_refuse(reason, "malformed number at offset %zu", start);
                while (i < size && is_digit(t[i]))
                        i++;
        }

        /* Any number that does not fit in 63 characters is out of range for us either way. */
        if (i - start >= sizeof(buf))
                return proto_refuse(reason, "number too long at offset %zu", start);
        memcpy(buf, t + start, i - start);
        buf[i - start] = '\0';

        errno = 0;
        if (integer) {
                (void) strtoll(buf, NULL, 10);
                if (errno == ERANGE)
                        return proto_refuse(reason, "integer %s out of range at offset %zu", buf, start);
        } else {
                double d = strtod(buf, NULL);
                if (!isfinite(d))
                        return proto_refuse(reason, "number %s out of range at offset %zu", buf, start);
        }

        *ret_end = i;
        return 0;
}

static int scan_word(const char *t, size_t size, size_t start, size_t *ret_end, char reason[static ACS_PROTO_REASON_MAX]) {
        static const char *const words[] = { "true", "false", "null" };

        for (size_t k = 0; k < ELEMENTSOF(words); k++) {
                size_t l = strlen(words[k]);

                if (size - start >= l && memcmp(t + start, words[k], l) == 0) {
                        *ret_end = start + l;
                        return 0;
                }
        }
        return proto_refuse(reason, "invalid literal at offset %zu (NaN and Infinity are not JSON)", start);
}

int json_strict_scan(const char *t, size_t size, size_t *ret_members, char reason[static ACS_PROTO_REASON_MAX]) {
        size_t members = 0, i = 0;
        int r;

        while (i < size) {
                char c = t[i];

                switch (c) {
                case '"':
                        r = scan_string(t, size, i, &i, reason);
                        break;
                case ':':
                        members++;
                        i++;
                        r = 0;
                        break;
                case '{': case '}': case '[': case ']': case ',':
                case ' ': case '\t': case '\n': case '\r':
                        i++;
                        r = 0;
                        break;
                case '-': case '0' ... '9':
                        r = scan_number(t, size, i, &i, reason);
                        break;
                case 'a' ... 'z': case 'A' ... 'Z':
                        r = scan_word(t, size, i, &i, reason);
                        break;
                default:
                        r = proto_refuse(reason, "unexpected character 0x%02x at offset %zu", (unsigned char) c, i);
                }
                if (r < 0)
                        return r;
        }

        *ret_members = members;
        return 0;
}

size_t json_strict_count_members(struct json_object *o) {
        size_t n = 0;

        switch (json_object_get_type(o)) {
        case json_type_object: {
                json_object_object_foreach(o, key, value) {
                        (void) key;
                        n += 1 + json_strict_count_members(value);
                }
                break;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        n += json_strict_count_members(json_object_array_get_idx(o, i));
                break;
        default:
                break;
        }
        return n;
}
