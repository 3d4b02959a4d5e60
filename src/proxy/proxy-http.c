/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acs-macro.h"
#include "proxy-http-syntax.h"
#include "proxy-http.h"

enum {
        PART_NONE,
        PART_TARGET,
        PART_FIELD,
        PART_VALUE,
};

static HttpParser *parser_of(llhttp_t *p) {
        return (HttpParser *) p;  /* llhttp is the first member */
}

static int refuse(HttpParser *hp, unsigned status, const char *reason) {
        if (hp->status == 0) {
                hp->status = status;
                hp->reason = reason;
        }
        llhttp_set_error_reason(&hp->llhttp, reason);
        return HPE_USER;
}

/* Appends to the head buffer, refusing with 431 past the head limit. */
static int head_append(HttpParser *hp, const char *at, size_t n) {
        HttpHead *h = &hp->head;

        if ((size_t) h->len + n + 1 > hp->max_head)
                return refuse(hp, 431, "request head too large");
        if (h->len + n + 1 > h->alloc) {
                uint32_t want = MAX(h->alloc * 2, MAX((uint32_t) 512, h->len + (uint32_t) n + 1));
                char *p = realloc(h->buf, MIN(want, hp->max_head + 1));
                if (!p)
                        return refuse(hp, 503, "out of memory");
                h->buf = p;
                h->alloc = MIN(want, hp->max_head + 1);
        }
        memcpy(h->buf + h->len, at, n);
        h->len += (uint32_t) n;
        return 0;
}


static void scan_arm(HttpParser *hp) {
        hp->scan_armed = true;
        hp->scan_started = false;
        hp->scan_line_start = true;
        hp->scan_prev = hp->scan_prev2 = 0;
        hp->scan_request_line = hp->llhttp.type == HTTP_REQUEST;
        hp->scan_spaces = 0;
        hp->scan_last_sp = false;
}

static int on_message_begin(llhttp_t *p) {
        HttpParser *hp = parser_of(p);

        hp->head.len = 0;
        hp->head.n_fields = hp->head.n_header_fields = 0;
        hp->head.target = hp->head.target_len = 0;
        hp->part = PART_NONE;
        hp->in_trailers = false;
        hp->in_message = true;
        hp->chunked = hp->has_content_length = false;
        hp->content_length = 0;
        hp->conn_close = hp->conn_keep_alive = hp->conn_other = false;
        hp->host_field = -1;
        hp->absolute_form = false;
        hp->chunk_state = HTTP_CHUNK_OFF;
        hp->body_total = 0;
        return 0;
}

static int on_target(llhttp_t *p, const char *at, size_t n) {
        HttpParser *hp = parser_of(p);

        if (hp->part != PART_TARGET) {
                hp->part = PART_TARGET;
                hp->head.target = hp->head.len;
        }
        if (hp->llhttp.type == HTTP_REQUEST && hp->head.target_len + n > hp->max_target)
                return refuse(hp, 414, "request target too long");
        hp->head.target_len += (uint32_t) n;
        return head_append(hp, at, n);
}

static int on_field(llhttp_t *p, const char *at, size_t n) {
        HttpParser *hp = parser_of(p);
        HttpHead *h = &hp->head;

        if (hp->part != PART_FIELD) {
                hp->part = PART_FIELD;
                if (h->n_fields >= HTTP_MAX_FIELDS)
                        return refuse(hp, 431, "too many header fields");
                if (h->n_fields >= h->alloc_fields) {
                        unsigned want = MAX(16u, h->alloc_fields * 2);
                        HttpField *f = realloc(h->fields, want * sizeof(HttpField));
                        if (!f)
                                return refuse(hp, 503, "out of memory");
                        h->fields = f;
                        h->alloc_fields = want;
                }
                h->fields[h->n_fields++] = (HttpField) { .name = h->len };
        }
        h->fields[h->n_fields - 1].name_len += (uint32_t) n;
        return head_append(hp, at, n);
}

static int on_value(llhttp_t *p, const char *at, size_t n) {
        HttpParser *hp = parser_of(p);
        HttpHead *h = &hp->head;

        if (hp->part != PART_VALUE) {
                hp->part = PART_VALUE;
                h->fields[h->n_fields - 1].value = h->len;
        }
        h->fields[h->n_fields - 1].value_len += (uint32_t) n;
        return head_append(hp, at, n);
}

/* Each piece ends with a NUL, so names and values are C strings too. */
static int part_end(HttpParser *hp) {
        hp->part = PART_NONE;
        return head_append(hp, "", 1);
}

static int on_target_complete(llhttp_t *p) {
        return part_end(parser_of(p));
}

static int on_field_complete(llhttp_t *p) {
        return part_end(parser_of(p));
}

static int on_value_complete(llhttp_t *p) {
        HttpParser *hp = parser_of(p);
        HttpField *f = &hp->head.fields[hp->head.n_fields - 1];

        if (hp->part != PART_VALUE) /* an empty value: no data callback came */
                f->value = hp->head.len;
        return part_end(hp);
}

/* RFC 9110 5.6.2 token characters. */
static const bool tchar[256] = {
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
        ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
        ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
        ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
        ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

/* Bytes a field value must not hold: controls other than HTAB, and DEL (RFC 9110 5.5). */
static const bool value_ctl[256] = {
        [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
        [0x08] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1,
        [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
        [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1,
        [0x7f] = 1,
};

static const struct {
        const char *name;
        uint32_t len;
        uint8_t kind;
} known_fields[] = {
#define KNOWN(n, k) { n, sizeof(n) - 1, k }
        KNOWN("host", HTTP_FIELD_HOST),
        KNOWN("connection", HTTP_FIELD_CONNECTION),
        KNOWN("content-length", HTTP_FIELD_CONTENT_LENGTH),
        KNOWN("transfer-encoding", HTTP_FIELD_TRANSFER_ENCODING),
        KNOWN("keep-alive", HTTP_FIELD_KEEP_ALIVE),
        KNOWN("proxy-connection", HTTP_FIELD_PROXY_CONNECTION),
        KNOWN("te", HTTP_FIELD_TE),
        KNOWN("upgrade", HTTP_FIELD_UPGRADE),
        KNOWN("proxy-authenticate", HTTP_FIELD_PROXY_AUTHENTICATE),
        KNOWN("proxy-authorization", HTTP_FIELD_PROXY_AUTHORIZATION),
        KNOWN("via", HTTP_FIELD_VIA),
        KNOWN("x-forwarded-for", HTTP_FIELD_X_FORWARDED_FOR),
        KNOWN("x-forwarded-proto", HTTP_FIELD_X_FORWARDED_PROTO),
        KNOWN("forwarded", HTTP_FIELD_FORWARDED),
        KNOWN("cookie", HTTP_FIELD_COOKIE),
        KNOWN("expect", HTTP_FIELD_EXPECT),
#undef KNOWN
};

/* The length rules out nearly every entry before any comparison of characters. */
static uint8_t field_kind(const char *name, uint32_t n) {
        for (size_t i = 0; i < ELEMENTSOF(known_fields); i++)
                if (known_fields[i].len == n && strncasecmp(name, known_fields[i].name, n) == 0)
                        return known_fields[i].kind;
        return HTTP_FIELD_OTHER;
}

static bool field_kind_hop_by_hop(uint8_t kind) {
        switch (kind) {
        case HTTP_FIELD_CONNECTION:
        case HTTP_FIELD_KEEP_ALIVE:
        case HTTP_FIELD_PROXY_CONNECTION:
        case HTTP_FIELD_TE:
        case HTTP_FIELD_TRANSFER_ENCODING:
        case HTTP_FIELD_UPGRADE:
        case HTTP_FIELD_CONTENT_LENGTH:
        case HTTP_FIELD_PROXY_AUTHENTICATE:
        case HTTP_FIELD_PROXY_AUTHORIZATION:
                return true;
        default:
                return false;
        }
}

static bool token_eq(const char *s, size_t n, const char *token) {
        return strlen(token) == n && strncasecmp(s, token, n) == 0;
}

/* Calls f on each comma-separated, OWS-trimmed element of a field value; stops on nonzero. */
static int for_each_element(const char *v, size_t n, int (*f)(const char *s, size_t n, void *u), void *u) {
        size_t i = 0;

        while (i <= n) {
                size_t start, end;
                int r;

                while (i < n && (v[i] == ' ' || v[i] == '\t'))
                        i++;
                start = i;
                while (i < n && v[i] != ',')
                        i++;
                end = i;
                while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
                        end--;
                if (end > start) {
                        r = f(v + start, end - start, u);
                        if (r != 0)
                                return r;
                }
                i++;
        }
        return 0;
}

typedef struct TransferCodings {
        unsigned n;
        bool last_chunked;
        bool chunked_twice;
        bool other;
} TransferCodings;

static int te_element(const char *s, size_t n, void *u) {
        TransferCodings *tc = u;
        bool chunked = token_eq(s, n, "chunked");

        if (chunked && tc->last_chunked)
                tc->chunked_twice = true;
        if (!chunked)
                tc->other = true;
        if (chunked && tc->n > 0 && tc->last_chunked == false && tc->other)
                tc->other = true;
        tc->last_chunked = chunked;
        tc->n++;
        return 0;
}

static int connection_element(const char *s, size_t n, void *u) {
        HttpParser *hp = u;

        if (token_eq(s, n, "close"))
                hp->conn_close = true;
        else if (token_eq(s, n, "keep-alive"))
                hp->conn_keep_alive = true;
        else if (!token_eq(s, n, "upgrade"))
                hp->conn_other = true;
        return 0;
}

typedef struct ConnectionMatch {
        const char *name;
        size_t len;
        bool found;
} ConnectionMatch;

static int connection_names(const char *s, size_t n, void *u) {
        ConnectionMatch *m = u;

        if (n == m->len && strncasecmp(s, m->name, n) == 0) {
                m->found = true;
                return 1;
        }
        return 0;
}

/* Fields named in a Connection header are hop-by-hop too (RFC 9110 7.6.1). */
static void mark_connection_named(HttpHead *h) {
        for (unsigned i = 0; i < h->n_fields; i++) {
                ConnectionMatch m = { http_field_name(h, i), h->fields[i].name_len };

                if (h->fields[i].hop_by_hop)
                        continue;
                for (unsigned c = 0; c < h->n_fields && !m.found; c++)
                        if (h->fields[c].kind == HTTP_FIELD_CONNECTION)
                                (void) for_each_element(http_field_value(h, c), h->fields[c].value_len,
                                                        connection_names, &m);
                h->fields[i].hop_by_hop = m.found;
        }
}

static int parse_content_length(const char *v, size_t n, uint64_t *ret) {
        uint64_t x = 0;

        if (n == 0 || n > 18)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -EINVAL;
                x = x * 10 + (uint64_t) (v[i] - '0');
        }
        *ret = x;
        return 0;
}

/* Checks names and values of fields [from, n_fields) and trims the values' trailing OWS. */
static int check_fields(HttpParser *hp, unsigned from) {
        HttpHead *h = &hp->head;

        for (unsigned i = from; i < h->n_fields; i++) {
                HttpField *f = &h->fields[i];
                const char *name = h->buf + f->name, *value = h->buf + f->value;

                if (f->name_len == 0)
                        return refuse(hp, 400, "empty field name");
                for (uint32_t k = 0; k < f->name_len; k++)
                        if (!tchar[(unsigned char) name[k]])
                                return refuse(hp, 400, "invalid character in field name");
                f->kind = field_kind(name, f->name_len);
                f->hop_by_hop = field_kind_hop_by_hop(f->kind);
                while (f->value_len > 0 && (value[f->value_len - 1] == ' ' || value[f->value_len - 1] == '\t'))
                        f->value_len--;
                for (uint32_t k = 0; k < f->value_len; k++)
                        if (value_ctl[(unsigned char) value[k]])
                                return refuse(hp, 400, value[k] == '\r' || value[k] == '\n'
                                                  ? "obs-fold or bare line break in field value"
                                                  : "control character in field value");
                ((char *) value)[f->value_len] = 0;
        }
        return 0;
}

/* The request line and Host (RFC 9112 3.2, RFC 9110 7.2), and the body's size. */
static int check_request(HttpParser *hp, unsigned n_host) {
        HttpHead *h = &hp->head;
        HttpTarget t;
        const char *why;

        if (n_host > 1)
                return refuse(hp, 400, "more than one Host field");
        if (n_host == 0 && hp->llhttp.http_minor == 1)
                return refuse(hp, 400, "HTTP/1.1 request without Host");
        if (n_host == 1 && !http_host_valid(http_field_value(h, (unsigned) hp->host_field),
                                            h->fields[hp->host_field].value_len))
                return refuse(hp, 400, "invalid Host");
        why = http_target_check(h->buf + h->target, h->target_len, hp->llhttp.method, &t);
        if (why)
                return refuse(hp, 400, why);
        if (t.absolute) {
                /* The target's authority is the Host sent on; the received one is dropped. */
                hp->absolute_form = true;
                hp->authority = h->target + (uint32_t) t.authority;
                hp->authority_len = (uint32_t) t.authority_len;
                hp->path = h->target + (uint32_t) t.path;
                hp->path_len = (uint32_t) t.path_len;
        }
        if (hp->max_body > 0 && hp->content_length > hp->max_body)
                return refuse(hp, 413, "body larger than MaxBodySize=");
        return 0;
}

/* The framing and connection checks of RFC 9112 section 6 on the whole head. */
static int check_head(HttpParser *hp) {
        HttpHead *h = &hp->head;
        TransferCodings tc = {};
        unsigned n_host = 0, n_cl = 0;
        bool request = hp->llhttp.type == HTTP_REQUEST;
        int r;

        if (hp->llhttp.http_major != 1 || hp->llhttp.http_minor > 1)
                return refuse(hp, 505, "unsupported HTTP version");

        r = check_fields(hp, 0);
        if (r != 0)
                return r;

        for (unsigned i = 0; i < h->n_fields; i++) {
                const char *v = http_field_value(h, i);
                uint32_t vn = h->fields[i].value_len;

                switch (h->fields[i].kind) {
                case HTTP_FIELD_CONTENT_LENGTH: {
                        uint64_t cl;

                        if (parse_content_length(v, vn, &cl) < 0)
                                return refuse(hp, 400, "malformed Content-Length");
                        if (n_cl++ > 0 && cl != hp->content_length)
                                return refuse(hp, 400, "differing Content-Length values");
                        hp->content_length = cl;
                        hp->has_content_length = true;
                        break;
                }
                case HTTP_FIELD_TRANSFER_ENCODING:
                        (void) for_each_element(v, vn, te_element, &tc);
                        if (vn == 0)
                                return refuse(hp, 400, "empty Transfer-Encoding");
                        break;
                case HTTP_FIELD_CONNECTION:
                        (void) for_each_element(v, vn, connection_element, hp);
                        break;
                case HTTP_FIELD_HOST:
                        n_host++;
                        hp->host_field = (int) i;
                        break;
                default:
                        break;
                }
        }
        if (hp->conn_other)
                mark_connection_named(h);

        if (tc.n > 0) {
                /* RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing. */
                if (hp->llhttp.http_minor == 0)
                        return refuse(hp, 400, "Transfer-Encoding in an HTTP/1.0 message");
                if (hp->has_content_length)
                        return refuse(hp, 400, "Content-Length with Transfer-Encoding");
                if (!tc.last_chunked || tc.chunked_twice)
                        return refuse(hp, 400, "Transfer-Encoding does not end in chunked");
                if (tc.other)
                        return refuse(hp, 501, "unsupported transfer coding");
                hp->chunked = true;
        }
        if (request) {
                r = check_request(hp, n_host);
                if (r != 0)
                        return r;
        }
        /* llhttp must agree with us on the framing, or the two could desynchronize. */
        if (hp->chunked != !!(hp->llhttp.flags & F_CHUNKED) ||
            hp->has_content_length != !!(hp->llhttp.flags & F_CONTENT_LENGTH))
                return refuse(hp, 400, "ambiguous message framing");
        return 0;
}

/* Does llhttp read a chunked body after this head? */
static bool body_is_chunked(HttpParser *hp, int r) {
        unsigned status = hp->llhttp.status_code;

        if (!hp->chunked || (r != 0 && r != HPE_PAUSED))
                return false;
        return hp->llhttp.type == HTTP_REQUEST || (status >= 200 && status != 204 && status != 304);
}

static int on_headers_complete(llhttp_t *p) {
        HttpParser *hp = parser_of(p);
        int r;

        hp->head.n_header_fields = hp->head.n_fields;
        r = check_head(hp);
        if (r != 0)
                return r;
        hp->part = PART_NONE;
        r = hp->ops->headers_complete(hp);
        if (!body_is_chunked(hp, r))
                return r;
        /* Stop llhttp here: the chunk-size lines go through our scan first. */
        hp->chunk_state = HTTP_CHUNK_LINE;
        http_chunk_line_start(&hp->chunk_line);
        hp->owner_paused = r == HPE_PAUSED;
        hp->paused_for_chunks = true;
        return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *p) {
        HttpParser *hp = parser_of(p);

        if (hp->llhttp.content_length == 0) {
                hp->in_trailers = true;
                hp->part = PART_NONE;
                return 0;
        }
        hp->body_total += hp->llhttp.content_length;
        if (hp->llhttp.type == HTTP_REQUEST && hp->max_body > 0 && hp->body_total > hp->max_body)
                return refuse(hp, 413, "body larger than MaxBodySize=");
        return hp->ops->chunk_header ? hp->ops->chunk_header(hp, hp->llhttp.content_length) : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
        HttpParser *hp = parser_of(p);
        return hp->ops->body(hp, at, n);
}

static int on_chunk_complete(llhttp_t *p) {
        HttpParser *hp = parser_of(p);

        if (hp->in_trailers || !hp->ops->chunk_complete)
                return 0;
        return hp->ops->chunk_complete(hp);
}

static int on_message_complete(llhttp_t *p) {
        HttpParser *hp = parser_of(p);
        int r;

        if (hp->in_trailers) {
                r = check_fields(hp, hp->head.n_header_fields);
                if (r != 0)
                        return r;
        }
        hp->in_message = false;
        hp->chunk_state = HTTP_CHUNK_OFF;
        scan_arm(hp);
        return hp->ops->message_complete(hp);
}

static const llhttp_settings_t http_settings = {
        .on_message_begin = on_message_begin,
        .on_url = on_target,
        .on_status = on_target,
        .on_header_field = on_field,
        .on_header_value = on_value,
        .on_url_complete = on_target_complete,
        .on_status_complete = on_target_complete,
        .on_header_field_complete = on_field_complete,
        .on_header_value_complete = on_value_complete,
        .on_headers_complete = on_headers_complete,
        .on_chunk_header = on_chunk_header,
        .on_body = on_body,
        .on_chunk_complete = on_chunk_complete,
        .on_message_complete = on_message_complete,
};

void http_parser_init(HttpParser *hp, llhttp_type_t type, const HttpParserOps *ops, void *userdata,
                      uint32_t max_target, uint32_t max_head) {
        *hp = (HttpParser) {
                .ops = ops,
                .userdata = userdata,
                .max_target = max_target,
                .max_head = max_head,
                .host_field = -1,
        };
        llhttp_init(&hp->llhttp, type, &http_settings);
        scan_arm(hp);
        /* All of these are off by default; say so, since they are what smuggling relies on. */
        llhttp_set_lenient_headers(&hp->llhttp, 0);
        llhttp_set_lenient_chunked_length(&hp->llhttp, 0);
        llhttp_set_lenient_keep_alive(&hp->llhttp, 0);
        llhttp_set_lenient_transfer_encoding(&hp->llhttp, 0);
}

void http_parser_done(HttpParser *hp) {
        hp->head.buf = mfree(hp->head.buf);
        hp->head.fields = mfree(hp->head.fields);
        hp->head.alloc = hp->head.alloc_fields = 0;
        hp->head.len = hp->head.n_fields = 0;
}

void http_parser_shrink(HttpParser *hp) {
        if (!hp->in_message)
                http_parser_done(hp);
}

/* RFC 9112 3: method SP request-target SP HTTP-version, exactly one SP each time; an HTTP/0.9
 * line ("GET /") has one. Called on the bytes [q, end) of the request line, lf set at its end. */
static int scan_request_line(HttpParser *hp, const char *q, const char *end, const char *lf) {
        for (const char *k = q; k < end; k++) {
                const char *sp = memchr(k, ' ', (size_t) (end - k));

                if (!sp) {
                        hp->scan_last_sp = false;
                        break;
                }
                if ((sp == k && (hp->scan_last_sp || k > q)) || ++hp->scan_spaces > 2)
                        return refuse(hp, 400, "malformed request line");
                hp->scan_last_sp = sp + 1 == end;
                k = sp;
        }
        if (!lf)
                return 0;
        hp->scan_request_line = false;
        return hp->scan_spaces == 2 ? 0 : refuse(hp, 400, "malformed request line");
}

/* Checks the line structure of the head bytes in p (the head ends at the first empty line):
 * every LF preceded by CR, no line starting with whitespace (obs-fold). Bare CR and the rest
 * llhttp refuses itself. Jumps from LF to LF with memchr(); the last two bytes of earlier
 * buffers stand in for what lies before p. */
static int scan_head(HttpParser *hp, const char *p, size_t n) {
        const char *end = p + n, *q = p;

#define BEFORE(x, k) ((x) - (k) >= p ? (x)[-(k)] : (x) - (k) == p - 1 ? (char) hp->scan_prev : (char) hp->scan_prev2)

        while (q < end) {
                const char *lf = memchr(q, '\n', (size_t) (end - q));
                const char *line_end = lf ? lf : end;

                /* A line that begins with whitespace continues the previous one. */
                if (q < end && hp->scan_line_start && hp->scan_started && (*q == ' ' || *q == '\t'))
                        return refuse(hp, 400, "obs-fold in the head");
                if (!hp->scan_started)
                        for (const char *k = q; k < line_end; k++)
                                if (*k != '\r') {
                                        hp->scan_started = true;
                                        break;
                                }
                if (hp->scan_started && hp->scan_request_line && scan_request_line(hp, q, line_end, lf) != 0)
                        return HPE_USER;
                if (!lf) {
                        hp->scan_line_start = false;
                        break;
                }
                if (BEFORE(lf, 1) != '\r')
                        return refuse(hp, 400, "bare LF in the head");
                if (hp->scan_started && BEFORE(lf, 2) == '\n') {
                        hp->scan_armed = false;         /* the empty line ends the head */
                        return 0;
                }
                hp->scan_line_start = true;
                q = lf + 1;
        }
#undef BEFORE
        hp->scan_prev2 = n >= 2 ? (uint8_t) end[-2] : hp->scan_prev;
        hp->scan_prev = (uint8_t) end[-1];
        return 0;
}

/* Runs llhttp on p; *ret_used is how far it got. */
static llhttp_errno_t execute(HttpParser *hp, const char *p, size_t n, size_t *ret_used) {
        llhttp_errno_t e = llhttp_execute(&hp->llhttp, p, n);
        const char *pos;

        if (e == HPE_OK) {
                *ret_used = n;
                return e;
        }
        pos = llhttp_get_error_pos(&hp->llhttp);
        *ret_used = pos ? (size_t) (pos - p) : 0;
        return e;
}

/* A chunk-size line: scanned here, then given to llhttp as "SIZE\r\n", its extensions dropped. */
static llhttp_errno_t feed_chunk_line(HttpParser *hp, const char *p, size_t n, size_t *ret_used) {
        const char *why = NULL;
        char line[24];
        size_t k = 0, unused;
        uint64_t size;
        int r;

        *ret_used = 0;
        r = http_chunk_line_scan(&hp->chunk_line, p, n, HTTP_MAX_CHUNK_LINE, ret_used, &why);
        if (r < 0)
                return refuse(hp, 400, why);
        if (r == 0)
                return HPE_OK;
        size = hp->chunk_line.size;
        do {
                line[k++] = "0123456789abcdef"[size & 15];
                size >>= 4;
        } while (size > 0);
        for (size_t i = 0; i < k / 2; i++) {
                char t = line[i];
                line[i] = line[k - 1 - i];
                line[k - 1 - i] = t;
        }
        line[k++] = '\r';
        line[k++] = '\n';
        hp->chunk_state = hp->chunk_line.size == 0 ? HTTP_CHUNK_OFF : HTTP_CHUNK_DATA;
        hp->chunk_left = hp->chunk_line.size + 2;       /* the data and its CRLF */
        return execute(hp, line, k, &unused);
}

/* One step of feeding: a chunk-size line to our scan, or bytes to llhttp (at most the rest of
 * the chunk's data while in one). */
static llhttp_errno_t feed_step(HttpParser *hp, const char *p, size_t n, size_t *ret_used) {
        llhttp_errno_t e;

        if (hp->chunk_state == HTTP_CHUNK_LINE)
                return feed_chunk_line(hp, p, n, ret_used);
        if (hp->chunk_state != HTTP_CHUNK_DATA)
                return execute(hp, p, n, ret_used);
        e = execute(hp, p, (size_t) MIN((uint64_t) n, hp->chunk_left), ret_used);
        hp->chunk_left -= *ret_used;
        if (hp->chunk_left == 0 && hp->chunk_state == HTTP_CHUNK_DATA) {
                hp->chunk_state = HTTP_CHUNK_LINE;
                http_chunk_line_start(&hp->chunk_line);
        }
        return e;
}

llhttp_errno_t http_parser_feed(HttpParser *hp, const char *p, size_t n, size_t *ret_consumed) {
        llhttp_errno_t e = HPE_OK;
        size_t done = 0;

        if (hp->scan_armed && n > 0 && scan_head(hp, p, n) != 0) {
                *ret_consumed = 0;
                return HPE_USER;
        }
        while (done < n) {
                size_t used = 0;

                e = feed_step(hp, p + done, n - done, &used);
                done += used;
                if (e == HPE_PAUSED && hp->paused_for_chunks) {
                        /* Our own stop at the end of a chunked head: go on, unless the owner
                         * wanted the pause too (it resumes). */
                        hp->paused_for_chunks = false;
                        if (hp->owner_paused)
                                break;
                        llhttp_resume(&hp->llhttp);
                        e = HPE_OK;
                        continue;
                }
                if (e != HPE_OK)
                        break;
        }
        *ret_consumed = done;
        if (e == HPE_OK || e == HPE_PAUSED)
                return e;
        if (hp->status == 0) {
                hp->status = e == HPE_INVALID_VERSION ? 505 : 400;
                hp->reason = llhttp_get_error_reason(&hp->llhttp);
        }
        return e;
}

void http_parser_resume(HttpParser *hp) {
        llhttp_resume(&hp->llhttp);
}

void http_parser_reset(HttpParser *hp) {
        llhttp_reset(&hp->llhttp);
        hp->status = 0;
        hp->reason = NULL;
        hp->in_message = false;
        hp->chunk_state = HTTP_CHUNK_OFF;
        hp->paused_for_chunks = hp->owner_paused = false;
        scan_arm(hp);
}

bool http_field_is(const HttpHead *h, unsigned i, const char *name) {
        return strlen(name) == h->fields[i].name_len && strcasecmp(http_field_name(h, i), name) == 0;
}

int http_head_find(const HttpHead *h, const char *name) {
        for (unsigned i = 0; i < h->n_header_fields; i++)
                if (http_field_is(h, i, name))
                        return (int) i;
        return -1;
}

int http_append_field(AcsBuf *out, const HttpHead *h, unsigned i) {
        const HttpField *f = &h->fields[i];
        size_t n = f->name_len + 2 + f->value_len + 2;
        int r = 0;
        uint8_t *w = acs_buf_reserve(out, n, &r);

        if (!w)
                return r;
        memcpy(w, h->buf + f->name, f->name_len);
        w += f->name_len;
        *w++ = ':';
        *w++ = ' ';
        memcpy(w, h->buf + f->value, f->value_len);
        w += f->value_len;
        *w++ = '\r';
        *w++ = '\n';
        acs_buf_commit(out, n);
        return 0;
}

int http_append_trailers(AcsBuf *out, const HttpHead *h) {
        int r;

        for (unsigned i = h->n_header_fields; i < h->n_fields; i++) {
                if (h->fields[i].hop_by_hop || h->fields[i].kind == HTTP_FIELD_HOST)
                        continue;
                r = http_append_field(out, h, i);
                if (r < 0)
                        return r;
        }
        return acs_buf_append(out, "\r\n", 2);
}

const char *http_head_cookie(const HttpHead *h, const char *name, size_t *ret_len) {
        size_t nl = strlen(name);

        for (unsigned i = 0; i < h->n_header_fields; i++) {
                const char *v, *end;

                if (h->fields[i].kind != HTTP_FIELD_COOKIE)
                        continue;
                v = http_field_value(h, i);
                end = v + h->fields[i].value_len;
                while (v < end) {
                        const char *semi = memchr(v, ';', (size_t) (end - v));
                        const char *stop = semi ? semi : end;

                        while (v < stop && *v == ' ')
                                v++;
                        if ((size_t) (stop - v) > nl && strncmp(v, name, nl) == 0 && v[nl] == '=') {
                                *ret_len = (size_t) (stop - v - (ptrdiff_t) nl - 1);
                                return v + nl + 1;
                        }
                        v = stop + 1;
                }
        }
        return NULL;
}

const char *http_status_reason(unsigned status) {
        switch (status) {
        case 400: return "Bad Request";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Error";
        }
}
