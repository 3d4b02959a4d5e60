/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "acs-buf.h"
#include "acs-http-request.h"
#include "acs-macro.h"

const AcsHttpLimits acs_http_limits_default = {
        .max_target = 8 * 1024,
        .max_header_bytes = 16 * 1024,
        .max_headers = 64,
        .max_body = 1024 * 1024,
};

typedef enum HeaderState {
        HEADER_NONE,    /* no header line open */
        HEADER_NAME,    /* inside a header name */
        HEADER_VALUE,   /* inside a header value */
} HeaderState;

typedef struct HeaderOffsets {
        size_t name, value;
} HeaderOffsets;

struct AcsHttpRequestParser {
        llhttp_t llhttp;
        AcsHttpLimits limits;

        /* Strings of the current request, each NUL-terminated, found by offset while the buffer
         * may still move, and by pointer once the headers are complete. */
        AcsBuf text;
        AcsBuf body;
        HeaderOffsets *offsets;
        AcsHttpHeader *headers;
        size_t n_headers, n_allocated;
        size_t target_len, header_bytes;
        HeaderState header_state;
        bool headers_complete;
        bool in_request;
        bool paused;    /* llhttp was paused at the end of the request handed out */

        AcsHttpRequest request;

        int error;      /* negative errno once the request was refused */
        int error_status;
        const char *error_reason;
};

/* Records why the request is refused; returned from a callback it stops llhttp with HPE_USER. */
static int parser_refuse(AcsHttpRequestParser *p, int error, int status, const char *reason) {
        if (p->error == 0) {
                p->error = error;
                p->error_status = status;
                p->error_reason = reason;
        }
        return HPE_USER;
}

static AcsHttpRequestParser *parser_of(llhttp_t *l) {
        return l->data;
}

static int text_append(AcsHttpRequestParser *p, const char *at, size_t len) {
        int r = acs_buf_append(&p->text, at, len);

        /* The limits are checked before appending, so -ENOBUFS only says they add up wrong. */
        if (r == -ENOBUFS)
                return parser_refuse(p, -EMSGSIZE, 431, "Request header fields too large");
        if (r < 0)
                return parser_refuse(p, -ENOMEM, 500, "Out of memory");
        return 0;
}

static int text_terminate(AcsHttpRequestParser *p) {
        return text_append(p, "", 1);
}

static int on_message_begin(llhttp_t *l) {
        AcsHttpRequestParser *p = parser_of(l);

        acs_buf_clear(&p->text);
        acs_buf_clear(&p->body);
        p->n_headers = 0;
        p->target_len = p->header_bytes = 0;
        p->header_state = HEADER_NONE;
        p->headers_complete = false;
        p->in_request = true;
        p->request = (AcsHttpRequest) {};
        return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t len) {
        AcsHttpRequestParser *p = parser_of(l);

        if (len > p->limits.max_target - p->target_len)
                return parser_refuse(p, -EMSGSIZE, 414, "URI too long");
        p->target_len += len;
        return text_append(p, at, len);
}

static int on_url_complete(llhttp_t *l) {
        return text_terminate(parser_of(l));
}

/* RFC 9110 "token": the only characters a field name may have. llhttp 8 lets blanks through
 * ("Bad Header: x"), which a proxy in front of us may read differently: refuse them here. */
static bool header_name_is_token(const char *name, size_t len) {
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) name[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (c != 0 && strchr("!#$%&'*+-.^_`|~", c))))
                        return false;
        }
        return true;
}

/* Ends the open header line: NUL after the name, an empty value when none came, and the value
 * stripped of trailing blanks. */
static int header_close(AcsHttpRequestParser *p) {
        HeaderOffsets *o;
        size_t name_len;
        int r;

        if (p->header_state == HEADER_NONE)
                return 0;
        o = &p->offsets[p->n_headers];
        /* The name ends where the text does, or at the NUL before the value. */
        name_len = (p->header_state == HEADER_NAME ? p->text.end : o->value - 1) - o->name;
        if (!header_name_is_token((const char *) p->text.data + o->name, name_len))
                return parser_refuse(p, -EBADMSG, 400, "Invalid header field name");
        if (p->header_state == HEADER_NAME) {
                r = text_terminate(p);
                if (r != 0)
                        return r;
                o->value = p->text.end;
        }
        while (p->text.end > o->value &&
               (p->text.data[p->text.end - 1] == ' ' || p->text.data[p->text.end - 1] == '\t'))
                p->text.end--;
        r = text_terminate(p);
        if (r != 0)
                return r;
        p->n_headers++;
        p->header_state = HEADER_NONE;
        return 0;
}

static int header_count_bytes(AcsHttpRequestParser *p, size_t len) {
        if (len > p->limits.max_header_bytes - p->header_bytes)
                return parser_refuse(p, -EMSGSIZE, 431, "Request header fields too large");
        p->header_bytes += len;
        return 0;
}

static int header_open(AcsHttpRequestParser *p) {
        if (p->n_headers >= p->limits.max_headers)
                return parser_refuse(p, -EMSGSIZE, 431, "Too many request header fields");
        if (p->n_headers >= p->n_allocated) {
                size_t n = MIN(MAX(p->n_allocated * 2, (size_t) 16), p->limits.max_headers);
                HeaderOffsets *o = reallocarray(p->offsets, n, sizeof(HeaderOffsets));
                AcsHttpHeader *h;

                if (!o)
                        return parser_refuse(p, -ENOMEM, 500, "Out of memory");
                p->offsets = o;
                h = reallocarray(p->headers, n, sizeof(AcsHttpHeader));
                if (!h)
                        return parser_refuse(p, -ENOMEM, 500, "Out of memory");
                p->headers = h;
                p->n_allocated = n;
        }
        p->offsets[p->n_headers].name = p->text.end;
        p->header_state = HEADER_NAME;
        return 0;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len) {
        AcsHttpRequestParser *p = parser_of(l);
        int r;

        r = header_count_bytes(p, len);
        if (r != 0 || p->headers_complete)
                return r;   /* trailer fields count against the limit but are not kept */

        if (p->header_state != HEADER_NAME) {
                r = header_close(p);
                if (r != 0)
                        return r;
                r = header_open(p);
                if (r != 0)
                        return r;
        }
        return text_append(p, at, len);
}

static int on_header_value(llhttp_t *l, const char *at, size_t len) {
        AcsHttpRequestParser *p = parser_of(l);
        int r;

        r = header_count_bytes(p, len);
        if (r != 0 || p->headers_complete)
                return r;

        if (p->header_state == HEADER_NAME) {
                r = text_terminate(p);
                if (r != 0)
                        return r;
                p->offsets[p->n_headers].value = p->text.end;
                p->header_state = HEADER_VALUE;
        }
        return text_append(p, at, len);
}

static int on_headers_complete(llhttp_t *l) {
        AcsHttpRequestParser *p = parser_of(l);
        size_t target, path, query, path_len;
        const char *t;
        int r;

        r = header_close(p);
        if (r != 0)
                return r;

        if (l->http_major != 1 || l->http_minor > 1)
                return parser_refuse(p, -EPROTONOSUPPORT, 505, "HTTP version not supported");
        if ((l->flags & F_CONTENT_LENGTH) && l->content_length > p->limits.max_body)
                return parser_refuse(p, -EMSGSIZE, 413, "Request body too large");

        /* The target is the first string; an empty one (never sent by llhttp) reads as "". */
        if (p->target_len == 0) {
                r = text_terminate(p);
                if (r != 0)
                        return r;
        }
        target = 0;
        t = (const char *) p->text.data + target;
        path_len = strcspn(t, "?");
        query = t[path_len] == '?' ? target + path_len + 1 : target + path_len;

        /* A copy of the path, so that callers compare it as a plain string. t points into the
         * buffer the copy is appended to, which may move: copy from a stable copy. */
        path = p->text.end;
        r = text_append(p, strndupa(t, path_len), path_len);
        if (r != 0)
                return r;
        r = text_terminate(p);
        if (r != 0)
                return r;

        /* No more strings are added to the text buffer for this request: pointers are stable. */
        t = (const char *) p->text.data;
        for (size_t i = 0; i < p->n_headers; i++)
                p->headers[i] = (AcsHttpHeader) {
                        .name = t + p->offsets[i].name,
                        .value = t + p->offsets[i].value,
                };
        p->request = (AcsHttpRequest) {
                .method = llhttp_method_name(l->method),
                .target = t + target,
                .path = t + path,
                .query = t + query,
                .http_major = l->http_major,
                .http_minor = l->http_minor,
                .headers = p->headers,
                .n_headers = p->n_headers,
        };
        p->headers_complete = true;
        return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t len) {
        AcsHttpRequestParser *p = parser_of(l);

        if (len > p->limits.max_body - acs_buf_len(&p->body))
                return parser_refuse(p, -EMSGSIZE, 413, "Request body too large");
        if (acs_buf_append(&p->body, at, len) < 0)
                return parser_refuse(p, -ENOMEM, 500, "Out of memory");
        return 0;
}

static int on_message_complete(llhttp_t *l) {
        AcsHttpRequestParser *p = parser_of(l);
        uint8_t *end;
        int r = 0;

        /* NUL after the body without counting it, so text bodies can be used as strings. */
        end = acs_buf_reserve(&p->body, 1, &r);
        if (!end)
                return parser_refuse(p, -ENOMEM, 500, "Out of memory");
        *end = 0;

        p->request.body = acs_buf_peek(&p->body);
        p->request.body_size = acs_buf_len(&p->body);
        /* An upgrade (or CONNECT) is not something we speak: answer it, then close. */
        p->request.keep_alive = llhttp_should_keep_alive(l) && !l->upgrade;
        p->in_request = false;
        p->paused = true;
        return HPE_PAUSED;  /* hand this request out before parsing the next one */
}

static const llhttp_settings_t parser_settings = {
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_url_complete = on_url_complete,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

AcsHttpRequestParser *acs_http_request_parser_new(const AcsHttpLimits *limits) {
        AcsHttpRequestParser *p;

        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->limits = limits ? *limits : acs_http_limits_default;
        /* The target twice (as sent and its path), the header bytes, and a NUL per string. */
        p->text.max = 2 * p->limits.max_target + p->limits.max_header_bytes + 2 * p->limits.max_headers + 16;
        p->body.max = p->limits.max_body + 1;
        acs_http_request_parser_reset(p);
        return p;
}

AcsHttpRequestParser *acs_http_request_parser_free(AcsHttpRequestParser *p) {
        if (!p)
                return NULL;
        acs_buf_done(&p->text);
        acs_buf_done(&p->body);
        free(p->offsets);
        free(p->headers);
        return mfree(p);
}

void acs_http_request_parser_reset(AcsHttpRequestParser *p) {
        llhttp_init(&p->llhttp, HTTP_REQUEST, &parser_settings);
        p->llhttp.data = p;
        acs_buf_clear(&p->text);
        acs_buf_clear(&p->body);
        p->n_headers = 0;
        p->header_state = HEADER_NONE;
        p->headers_complete = p->in_request = p->paused = false;
        p->request = (AcsHttpRequest) {};
        p->error = p->error_status = 0;
        p->error_reason = NULL;
}

/* Turns an llhttp error into our refusal, unless a callback already said why. */
static int parser_fail(AcsHttpRequestParser *p, llhttp_errno_t e) {
        if (e == HPE_INVALID_VERSION)
                (void) parser_refuse(p, -EPROTONOSUPPORT, 505, "HTTP version not supported");
        else
                (void) parser_refuse(p, -EBADMSG, 400, llhttp_get_error_reason(&p->llhttp) ?: "Bad request");
        return p->error;
}

int acs_http_request_parser_feed(AcsHttpRequestParser *p, const void *data, size_t size,
                                 size_t *ret_consumed, const AcsHttpRequest **ret_request) {
        llhttp_errno_t e;

        *ret_consumed = 0;
        *ret_request = NULL;
        if (p->error != 0)
                return p->error;
        if (p->paused) {
                llhttp_resume(&p->llhttp);
                p->paused = false;
        }
        if (size == 0)
                return 0;

        e = llhttp_execute(&p->llhttp, data, size);
        switch (e) {
        case HPE_OK:
                *ret_consumed = size;
                return 0;
        case HPE_PAUSED:
        case HPE_PAUSED_UPGRADE:
                if (!p->paused)
                        break;
                *ret_consumed = (size_t) (llhttp_get_error_pos(&p->llhttp) - (const char *) data);
                *ret_request = &p->request;
                return 1;
        default:
                break;
        }
        *ret_consumed = size;
        return parser_fail(p, e);
}

int acs_http_request_parser_finish(AcsHttpRequestParser *p, const AcsHttpRequest **ret_request) {
        llhttp_errno_t e;

        *ret_request = NULL;
        if (p->error != 0)
                return p->error;
        /* Between requests (also right after one was handed out) an EOF is a clean end. */
        if (!p->in_request)
                return 0;
        e = llhttp_finish(&p->llhttp);
        if (e == HPE_PAUSED && p->paused) {
                *ret_request = &p->request;
                return 1;
        }
        if (e != HPE_OK)
                return parser_fail(p, e);
        return 0;
}

bool acs_http_request_parser_in_request(const AcsHttpRequestParser *p) {
        return p->in_request;
}

int acs_http_request_parser_error_status(const AcsHttpRequestParser *p) {
        return p->error_status;
}

const char *acs_http_request_parser_error_reason(const AcsHttpRequestParser *p) {
        return p->error_reason;
}

const char *acs_http_request_header(const AcsHttpRequest *r, const char *name) {
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        return r->headers[i].value;
        return NULL;
}

const char *acs_http_query_find(const char *query, const char *key, size_t *ret_len) {
        size_t key_len = strlen(key);

        for (const char *q = query; q && *q; ) {
                size_t len = strcspn(q, "&");

                if (len >= key_len && strneq(q, key, key_len) && (len == key_len || q[key_len] == '=')) {
                        const char *v = q + key_len + (len > key_len);
                        *ret_len = len - (size_t) (v - q);
                        return v;
                }
                q += len;
                if (*q == '&')
                        q++;
        }
        return NULL;
}

const char *acs_http_status_reason(int status) {
        static const struct {
                int status;
                const char *reason;
        } table[] = {
                { 100, "Continue" },
                { 200, "OK" },
                { 201, "Created" },
                { 202, "Accepted" },
                { 204, "No Content" },
                { 301, "Moved Permanently" },
                { 302, "Found" },
                { 304, "Not Modified" },
                { 400, "Bad Request" },
                { 401, "Unauthorized" },
                { 403, "Forbidden" },
                { 404, "Not Found" },
                { 405, "Method Not Allowed" },
                { 408, "Request Timeout" },
                { 409, "Conflict" },
                { 413, "Content Too Large" },
                { 414, "URI Too Long" },
                { 415, "Unsupported Media Type" },
                { 422, "Unprocessable Content" },
                { 429, "Too Many Requests" },
                { 431, "Request Header Fields Too Large" },
                { 500, "Internal Server Error" },
                { 502, "Bad Gateway" },
                { 503, "Service Unavailable" },
                { 504, "Gateway Timeout" },
                { 505, "HTTP Version Not Supported" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].status == status)
                        return table[i].reason;
        return "Unknown";
}
