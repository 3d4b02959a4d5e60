/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A bounded HTTP/1.1 request reader on llhttp. It does no I/O: the caller feeds the bytes it
 * read, and gets complete requests back one at a time, pipelined ones included (llhttp is
 * paused at the end of each message, so the bytes of the next request stay with the caller).
 *
 * Every size is bounded (request target, header bytes, header count, body); a request past a
 * bound, or one llhttp refuses, ends the parse with an HTTP status to answer with before
 * closing the connection: 400, 413, 414, 431 or 505.
 *
 * A returned request is borrowed: it stays valid until the next acs_http_request_parser_feed()
 * or _free() on the same parser, so a server reuses the same memory for every request of a
 * connection and allocates nothing per request once warm.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acs-macro.h"

typedef struct AcsHttpLimits {
        size_t max_target;        /* request target ("/path?query") in bytes: 414 past it */
        size_t max_header_bytes;  /* sum of all header names and values: 431 past it */
        size_t max_headers;       /* number of header lines: 431 past it */
        size_t max_body;          /* body bytes, after chunked decoding: 413 past it */
} AcsHttpLimits;

/* 8 KiB target, 16 KiB of headers in at most 64 lines, 1 MiB of body. */
extern const AcsHttpLimits acs_http_limits_default;

typedef struct AcsHttpHeader {
        const char *name;   /* as sent; compare with strcasecmp() */
        const char *value;  /* leading and trailing blanks removed */
} AcsHttpHeader;

typedef struct AcsHttpRequest {
        const char *method;       /* "GET", "POST", ... */
        const char *target;       /* as sent: "/path?query" */
        const char *path;         /* target up to '?' */
        const char *query;        /* after '?', "" when there is none */
        unsigned http_major, http_minor;
        const AcsHttpHeader *headers;
        size_t n_headers;
        const uint8_t *body;      /* NUL-terminated for convenience; body_size excludes it */
        size_t body_size;
        bool keep_alive;          /* the client may send another request on this connection */
} AcsHttpRequest;

typedef struct AcsHttpRequestParser AcsHttpRequestParser;

/* limits NULL = acs_http_limits_default. Returns NULL when out of memory. */
AcsHttpRequestParser *acs_http_request_parser_new(const AcsHttpLimits *limits);
AcsHttpRequestParser *acs_http_request_parser_free(AcsHttpRequestParser *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsHttpRequestParser *, acs_http_request_parser_free);

/*
 * Parses up to size bytes. Always sets *ret_consumed to the bytes used; bytes not consumed
 * belong to the next request and must be fed again later.
 *  1  a request is complete: *ret_request points to it (borrowed, see above);
 *  0  every byte was consumed and no request is complete yet;
 * <0  the request is refused (-EBADMSG, -EMSGSIZE, -EPROTONOSUPPORT, -ENOMEM):
 *     acs_http_request_parser_error_status() gives the status to answer with, then close.
 *     The parser stays in that error until reset.
 */
int acs_http_request_parser_feed(AcsHttpRequestParser *p, const void *data, size_t size,
                                 size_t *ret_consumed, const AcsHttpRequest **ret_request);

/* The peer closed its side: returns 1 with a request that ends at EOF (rare for requests),
 * 0 when the connection ended cleanly between requests, <0 when it ended inside a request. */
int acs_http_request_parser_finish(AcsHttpRequestParser *p, const AcsHttpRequest **ret_request);

/* True while part of a request has been fed but the request is not complete. */
bool acs_http_request_parser_in_request(const AcsHttpRequestParser *p);

/* After an error: 400, 413, 414, 431 or 505 (500 when out of memory); 0 when there was none. */
int acs_http_request_parser_error_status(const AcsHttpRequestParser *p);
/* After an error: a short English reason for logs and error bodies. */
const char *acs_http_request_parser_error_reason(const AcsHttpRequestParser *p);

/* Forgets any partial request and error, as for a new connection. */
void acs_http_request_parser_reset(AcsHttpRequestParser *p);

/* First header of that name (case-insensitive), or NULL. */
const char *acs_http_request_header(const AcsHttpRequest *r, const char *name);

/* Finds key in an "a=1&b=2" query string: returns a pointer to its raw value (not decoded) and
 * its length in *ret_len, or NULL when absent. "key" alone gives an empty value. */
const char *acs_http_query_find(const char *query, const char *key, size_t *ret_len);

/* Reason phrase of a status code ("Not Found"), "Unknown" for codes it does not know. */
const char *acs_http_status_reason(int status);
