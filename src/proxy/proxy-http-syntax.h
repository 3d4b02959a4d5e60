/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The pieces of HTTP/1.1 grammar that llhttp leaves to us or gets wrong for a proxy: the four
 * forms of a request-target (RFC 9112 3.2), Host's uri-host [":" port] (RFC 9110 7.2), and the
 * chunk-size line with its extensions (RFC 9112 7.1.1), scanned byte by byte and bounded.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct HttpTarget {
        bool absolute;                  /* absolute-form: authority and path below are set */
        size_t authority, authority_len; /* offsets into the target */
        size_t path, path_len;          /* path and query; may be empty */
} HttpTarget;

/* Checks a request-target against its method (llhttp's method number). Returns NULL, or the
 * reason to refuse it with 400. */
const char *http_target_check(const char *t, size_t n, uint8_t method, HttpTarget *ret);

/* uri-host [":" port]: reg-name (without ',', which only a list would hold), IPv4, or an
 * IP-literal in brackets; no userinfo, no whitespace. */
bool http_host_valid(const char *s, size_t n);

typedef struct HttpChunkLine {
        uint8_t state;
        uint16_t len;
        uint64_t size;
} HttpChunkLine;

static inline void http_chunk_line_start(HttpChunkLine *l) {
        *l = (HttpChunkLine) {};
}

/* Scans bytes of a chunk-size line: returns 0 when more are needed (all n used), 1 when the
 * line ended (*ret_used bytes, its LF included), or -EBADMSG / -E2BIG (longer than max) with
 * *ret_reason set. */
int http_chunk_line_scan(HttpChunkLine *l, const char *p, size_t n, size_t max, size_t *ret_used,
                         const char **ret_reason);
