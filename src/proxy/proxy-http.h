/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The strict HTTP/1.1 layer over llhttp, used for requests from clients and for responses from
 * backends alike. llhttp (built in strict mode, every lenient flag off) tokenizes; the callbacks
 * here collect the head and then refuse what llhttp lets through but RFC 9110/9112 and request
 * smuggling say must not pass: Content-Length with Transfer-Encoding, differing or malformed
 * Content-Length, Transfer-Encoding not ending in chunked, control characters in field values,
 * obs-fold, whitespace before the colon, a missing or repeated Host, versions other than 1.0/1.1.
 * Bodies, chunk boundaries and the end of the message go to the owner's HttpParserOps.
 */

#include <stdbool.h>
#include <stdint.h>

#include <llhttp.h>

#include "acs-buf.h"
#include "proxy-http-syntax.h"

#define HTTP_MAX_FIELDS 100

/* The fields the proxy acts on, recognized once per message. */
typedef enum HttpFieldKind {
        HTTP_FIELD_OTHER,
        HTTP_FIELD_CONNECTION,
        HTTP_FIELD_KEEP_ALIVE,
        HTTP_FIELD_PROXY_CONNECTION,
        HTTP_FIELD_TE,
        HTTP_FIELD_TRANSFER_ENCODING,
        HTTP_FIELD_UPGRADE,
        HTTP_FIELD_CONTENT_LENGTH,
        HTTP_FIELD_PROXY_AUTHENTICATE,
        HTTP_FIELD_PROXY_AUTHORIZATION,
        HTTP_FIELD_HOST,
        HTTP_FIELD_VIA,
        HTTP_FIELD_X_FORWARDED_FOR,
        HTTP_FIELD_X_FORWARDED_PROTO,
        HTTP_FIELD_FORWARDED,
        HTTP_FIELD_COOKIE,
        HTTP_FIELD_EXPECT,
} HttpFieldKind;

typedef struct HttpField {
        uint32_t name, name_len;        /* offsets into HttpHead.buf */
        uint32_t value, value_len;
        uint8_t kind;                   /* HttpFieldKind */
        bool hop_by_hop;                /* not forwarded: hop-by-hop, framing, or named in Connection */
} HttpField;

typedef struct HttpHead {
        char *buf;
        uint32_t len, alloc;
        uint32_t target, target_len;    /* request target, or the response's reason phrase */
        HttpField *fields;
        unsigned n_fields, alloc_fields;
        unsigned n_header_fields;       /* fields after these are trailers */
} HttpHead;

typedef struct HttpParser HttpParser;

typedef struct HttpParserOps {
        /* The head passed every check. Returns 0, 1 (no body follows, e.g. HEAD's response),
         * or HPE_USER after setting hp->status to refuse the message. */
        int (*headers_complete)(HttpParser *hp);
        /* A chunk of size bytes begins (chunked bodies only, not the last chunk). */
        int (*chunk_header)(HttpParser *hp, uint64_t size);
        int (*body)(HttpParser *hp, const char *at, size_t n);
        int (*chunk_complete)(HttpParser *hp);
        /* The whole message, trailers included, has been parsed. Returning HPE_PAUSED stops
         * the parser right after this message (pipelined bytes stay unparsed). */
        int (*message_complete)(HttpParser *hp);
} HttpParserOps;

/* The body callback of an owner that reads no body (the admin endpoint, health probes). */
static inline int http_parser_drop_body(HttpParser *hp, const char *at, size_t n) {
        return 0;
}

#define HTTP_MAX_CHUNK_LINE 4096     /* a chunk-size line, extensions included */

/* Where a chunked body is: our own scan of the chunk-size lines sits in front of llhttp, which
 * refuses the optional whitespace RFC 9112 7.1.1 allows around extensions; llhttp is given
 * each line without its extensions. */
typedef enum HttpChunkState {
        HTTP_CHUNK_OFF,                 /* not in a chunked body (or in its trailers) */
        HTTP_CHUNK_LINE,                /* reading a chunk-size line */
        HTTP_CHUNK_DATA,                /* passing chunk data and its CRLF to llhttp */
} HttpChunkState;

struct HttpParser {
        llhttp_t llhttp;
        HttpHead head;
        const HttpParserOps *ops;
        void *userdata;
        uint32_t max_target;
        uint32_t max_head;
        uint64_t max_body;      /* requests only; 0: no limit */

        /* The refusal, when a check failed: 400, 414, 431, 501, 505 (for a response the
         * owner answers 502 whatever this says). */
        unsigned status;
        const char *reason;

        uint8_t part;           /* which piece the last data callback was filling */

        /* The line scan of the head, ahead of llhttp: it accepts a bare LF after the start
         * line and joins obs-folded lines silently, both of which we refuse. */
        bool scan_armed;        /* a head starts with the next byte */
        bool scan_started;      /* saw the first byte of the start line */
        bool scan_line_start;   /* the next byte begins a line */
        uint8_t scan_prev, scan_prev2;  /* the last two bytes seen */
        bool scan_request_line; /* still on the request line */
        uint8_t scan_spaces;    /* SPs seen on the request line */
        bool in_trailers;
        bool in_message;

        uint8_t chunk_state;    /* HttpChunkState */
        bool paused_for_chunks; /* llhttp stopped at the end of a chunked message's head */
        bool owner_paused;      /* ... and the owner asked for a pause there too */
        bool scan_last_sp;      /* the last request-line byte was SP */
        HttpChunkLine chunk_line;
        uint64_t chunk_left;    /* data bytes plus CRLF still to pass */
        uint64_t body_total;    /* chunk sizes so far */

        /* the head, as the checks understood it */
        bool chunked;
        bool has_content_length;
        uint64_t content_length;
        bool conn_close, conn_keep_alive;
        bool conn_other;        /* Connection names other fields */
        int host_field;         /* index, or -1 */

        /* An absolute-form target (RFC 9112 3.2.2): its authority replaces Host, and its path
         * (and query) go on as the origin-form target. Offsets into head.buf. */
        bool absolute_form;
        uint32_t authority, authority_len;
        uint32_t path, path_len;
};

void http_parser_init(HttpParser *hp, llhttp_type_t type, const HttpParserOps *ops, void *userdata,
                      uint32_t max_target, uint32_t max_head);
void http_parser_done(HttpParser *hp);
/* Requests with a body larger than this (Content-Length, or chunks adding up) are refused with
 * 413; 0: no limit. */
static inline void http_parser_set_max_body(HttpParser *hp, uint64_t max_body) {
        hp->max_body = max_body;
}
/* Frees the head's memory while idle (10,000 idle connections must stay small). */
void http_parser_shrink(HttpParser *hp);

/* Feeds n bytes; returns how many were consumed and the llhttp error (HPE_OK, HPE_PAUSED after
 * a message_complete pause, or a failure with hp->status set to the answer to give). */
llhttp_errno_t http_parser_feed(HttpParser *hp, const char *p, size_t n, size_t *ret_consumed);
/* Resumes after a pause. */
void http_parser_resume(HttpParser *hp);
/* Back to the start state for the next message on a reused connection. */
void http_parser_reset(HttpParser *hp);

static inline const char *http_field_name(const HttpHead *h, unsigned i) {
        return h->buf + h->fields[i].name;
}
static inline const char *http_field_value(const HttpHead *h, unsigned i) {
        return h->buf + h->fields[i].value;
}
bool http_field_is(const HttpHead *h, unsigned i, const char *name);
static inline bool http_field_kind_is(const HttpHead *h, unsigned i, HttpFieldKind kind) {
        return h->fields[i].kind == kind;
}
/* Index of the first header (not trailer) field named name, or -1. */
int http_head_find(const HttpHead *h, const char *name);
/* Should this field be left out when forwarding: hop-by-hop, framing (re-done by the proxy),
 * or named in a Connection header? */
static inline bool http_field_is_hop_by_hop(const HttpHead *h, unsigned i) {
        return h->fields[i].hop_by_hop;
}

/* Appends "name: value\r\n" of field i. */
int http_append_field(AcsBuf *out, const HttpHead *h, unsigned i);
/* Appends the trailers of h, filtered like headers, then the final CRLF. */
int http_append_trailers(AcsBuf *out, const HttpHead *h);

/* Copies the value of cookie `name` out of the Cookie headers; NULL when absent. */
const char *http_head_cookie(const HttpHead *h, const char *name, size_t *ret_len);

const char *http_status_reason(unsigned status);
