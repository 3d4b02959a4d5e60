/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "acs-macro.h"
#include "proxy-http-syntax.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* RFC 3986 unreserved and sub-delims, less ',' (see http_host_valid()); a table, since every
 * request's Host goes through it. */
static const bool reg_name_char[256] = {
        ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1,
        ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [';'] = 1, ['='] = 1,
        ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1,
};

static bool is_reg_name_char(char c) {
        return reg_name_char[(unsigned char) c];
}

static bool reg_name_valid(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        if (i + 2 >= n || acs_hex_value(s[i + 1]) < 0 || acs_hex_value(s[i + 2]) < 0)
                                return false;
                        i += 2;
                } else if (!is_reg_name_char(s[i]))
                        return false;
        }
        return true;
}

bool http_host_valid(const char *s, size_t n) {
        size_t host_end;

        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);

                if (!close || close == s + 1)
                        return false;
                for (const char *k = s + 1; k < close; k++)
                        if (acs_hex_value(*k) < 0 && *k != ':' && *k != '.')
                                return false;
                host_end = (size_t) (close - s) + 1;
        } else {
                const char *colon = memchr(s, ':', n);

                host_end = colon ? (size_t) (colon - s) : n;
                if (!reg_name_valid(s, host_end))
                        return false;
        }
        if (host_end == n)
                return true;
        if (s[host_end] != ':' || n - host_end - 1 > 5)
                return false;
        for (size_t i = host_end + 1; i < n; i++)
                if (!is_digit(s[i]))
                        return false;
        return true;
}

/* "http://authority/path?query" (the scheme case-insensitive, RFC 9110 4.2.3). */
static const char *absolute_form_check(const char *t, size_t n, HttpTarget *ret) {
        size_t scheme_len, a, e;

        if (n > 7 && strncasecmp(t, "http://", 7) == 0)
                scheme_len = 7;
        else if (n > 8 && strncasecmp(t, "https://", 8) == 0)
                scheme_len = 8;
        else
                return "unsupported request-target";
        a = scheme_len;
        for (e = a; e < n && t[e] != '/' && t[e] != '?'; e++)
                if (t[e] == '@')
                        return "userinfo in the request-target";
        if (e == a || !http_host_valid(t + a, e - a))
                return "invalid authority in the request-target";
        *ret = (HttpTarget) {
                .absolute = true,
                .authority = a,
                .authority_len = e - a,
                .path = e,
                .path_len = n - e,
        };
        return NULL;
}

const char *http_target_check(const char *t, size_t n, uint8_t method, HttpTarget *ret) {
        *ret = (HttpTarget) {};

        if (n == 0)
                return "empty request-target";
        if (memchr(t, '#', n))
                return "fragment in the request-target";
        if (method == HTTP_CONNECT)
                return NULL;    /* authority-form; refused later as CONNECT */
        if (t[0] == '/')
                return NULL;
        if (n == 1 && t[0] == '*')
                return method == HTTP_OPTIONS ? NULL : "asterisk-form with a method other than OPTIONS";
        return absolute_form_check(t, n, ret);
}

enum {
        LINE_SIZE,              /* hex digits */
        LINE_AFTER,             /* BWS, then ';' or CR */
        LINE_NAME_START,        /* BWS, then a token */
        LINE_NAME,
        LINE_AFTER_NAME,        /* BWS, then '=', ';' or CR */
        LINE_VALUE_START,       /* BWS, then a token or a quoted-string */
        LINE_VALUE,
        LINE_QUOTED,
        LINE_QUOTED_ESCAPE,
        LINE_LF,
};

static bool is_tchar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
               (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ws(char c) {
        return c == ' ' || c == '\t';
}

/* One byte of the line: the next state, or -1 when the byte does not belong there. */
static int chunk_line_step(HttpChunkLine *l, char c) {
        unsigned char u = (unsigned char) c;

        switch (l->state) {
        case LINE_SIZE:
                if (acs_hex_value(c) >= 0) {
                        if (l->size > UINT64_MAX >> 4)
                                return -1;
                        l->size = l->size << 4 | (uint64_t) acs_hex_value(c);
                        return LINE_SIZE;
                }
                return l->len == 0 ? -1 : c == '\r' ? LINE_LF : is_ws(c) ? LINE_AFTER : c == ';' ? LINE_NAME_START : -1;
        case LINE_AFTER:
                return is_ws(c) ? LINE_AFTER : c == ';' ? LINE_NAME_START : c == '\r' ? LINE_LF : -1;
        case LINE_NAME_START:
                return is_ws(c) ? LINE_NAME_START : is_tchar(c) ? LINE_NAME : -1;
        case LINE_NAME:
                if (is_tchar(c))
                        return LINE_NAME;
                __attribute__((fallthrough));
        case LINE_AFTER_NAME:
                return is_ws(c) ? LINE_AFTER_NAME : c == '=' ? LINE_VALUE_START : c == ';' ? LINE_NAME_START :
                       c == '\r' ? LINE_LF : -1;
        case LINE_VALUE_START:
                return is_ws(c) ? LINE_VALUE_START : c == '"' ? LINE_QUOTED : is_tchar(c) ? LINE_VALUE : -1;
        case LINE_VALUE:
                return is_tchar(c) ? LINE_VALUE : is_ws(c) ? LINE_AFTER : c == ';' ? LINE_NAME_START :
                       c == '\r' ? LINE_LF : -1;
        case LINE_QUOTED:
                /* qdtext: HTAB, SP, VCHAR but '"' and '\', obs-text */
                return c == '"' ? LINE_AFTER : c == '\\' ? LINE_QUOTED_ESCAPE :
                       (c == '\t' || (u >= 0x20 && u != 0x7f)) ? LINE_QUOTED : -1;
        case LINE_QUOTED_ESCAPE:
                return (c == '\t' || (u >= 0x20 && u != 0x7f)) ? LINE_QUOTED : -1;
        default:
                return -1;
        }
}

int http_chunk_line_scan(HttpChunkLine *l, const char *p, size_t n, size_t max, size_t *ret_used,
                         const char **ret_reason) {
        for (size_t i = 0; i < n; i++) {
                int next;

                if (l->len >= max) {
                        *ret_reason = "chunk-size line too long";
                        return -E2BIG;
                }
                if (l->state == LINE_LF) {
                        if (p[i] != '\n') {
                                *ret_reason = "CR without LF in a chunk-size line";
                                return -EBADMSG;
                        }
                        *ret_used = i + 1;
                        return 1;
                }
                next = chunk_line_step(l, p[i]);
                if (next < 0) {
                        *ret_reason = l->state == LINE_SIZE ? "invalid chunk size" : "invalid chunk extension";
                        return -EBADMSG;
                }
                l->state = (uint8_t) next;
                l->len++;
        }
        *ret_used = n;
        return 0;
}
