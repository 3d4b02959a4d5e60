/* SPDX-License-Identifier: MIT */
#include "acs-http-request.h"
#include "acs-macro.h"
#include "acs-test.h"

#define _cleanup_parser_ _cleanup_(acs_http_request_parser_freep)

/* Feeds the whole string in one call; returns the feed result and the request. */
static int feed_all(AcsHttpRequestParser *p, const char *s, size_t *ret_consumed, const AcsHttpRequest **ret) {
        return acs_http_request_parser_feed(p, s, strlen(s), ret_consumed, ret);
}

/* Expects the string to be refused with that status. */
static void assert_refused(const AcsHttpLimits *limits, const char *s, int status) {
        _cleanup_parser_ AcsHttpRequestParser *p = acs_http_request_parser_new(limits);
        const AcsHttpRequest *r;
        size_t n;
        int k;

        ASSERT_TRUE(p);
        k = feed_all(p, s, &n, &r);
        ASSERT_TRUE(k < 0);
        ASSERT_TRUE(r == NULL);
        ASSERT_EQ(acs_http_request_parser_error_status(p), status);
        ASSERT_TRUE(acs_http_request_parser_error_reason(p) != NULL);
        /* The error sticks until reset. */
        ASSERT_EQ(feed_all(p, "GET / HTTP/1.1\r\n\r\n", &n, &r), k);
        acs_http_request_parser_reset(p);
        ASSERT_EQ(feed_all(p, "GET / HTTP/1.1\r\n\r\n", &n, &r), 1);
}

TEST(simple_get) {
        _cleanup_parser_ AcsHttpRequestParser *p = acs_http_request_parser_new(NULL);
        const char *s = "GET /api/v1/state?cost_ms=25&x HTTP/1.1\r\n"
                        "Host: 127.0.0.1:9100\r\n"
                        "X-Thing:   padded value  \r\n"
                        "Empty:\r\n"
                        "\r\n";
        const AcsHttpRequest *r;
        size_t n, len;
        const char *v;

        ASSERT_EQ(feed_all(p, s, &n, &r), 1);
        ASSERT_EQ(n, strlen(s));
        ASSERT_STREQ(r->method, "GET");
        ASSERT_STREQ(r->target, "/api/v1/state?cost_ms=25&x");
        ASSERT_STREQ(r->path, "/api/v1/state");
        ASSERT_STREQ(r->query, "cost_ms=25&x");
        ASSERT_EQ(r->http_major, 1);
        ASSERT_EQ(r->http_minor, 1);
        ASSERT_EQ(r->n_headers, 3);
        ASSERT_STREQ(acs_http_request_header(r, "host"), "127.0.0.1:9100");
        ASSERT_STREQ(acs_http_request_header(r, "X-THING"), "padded value");
        ASSERT_STREQ(acs_http_request_header(r, "empty"), "");
        ASSERT_TRUE(acs_http_request_header(r, "missing") == NULL);
        ASSERT_EQ(r->body_size, 0);
        ASSERT_TRUE(r->keep_alive);
        ASSERT_FALSE(acs_http_request_parser_in_request(p));

        v = acs_http_query_find(r->query, "cost_ms", &len);
        ASSERT_TRUE(v && len == 2 && strneq(v, "25", 2));
        v = acs_http_query_find(r->query, "x", &len);
        ASSERT_TRUE(v && len == 0);
        ASSERT_TRUE(acs_http_query_find(r->query, "cost", &len) == NULL);
        ASSERT_TRUE(acs_http_query_find("", "x", &len) == NULL);
}

TEST(keep_alive_decision) {
        _cleanup_parser_ AcsHttpRequestParser *p = acs_http_request_parser_new(NULL);
        const AcsHttpRequest *r;
        size_t n;

        ASSERT_EQ(feed_all(p, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &n, &r), 1);
        ASSERT_FALSE(r->keep_alive);

        acs_http_request_parser_reset(p);
        ASSERT_EQ(feed_all(p, "GET / HTTP/1.0\r\n\r\n", &n, &r), 1);
        ASSERT_FALSE(r->keep_alive);
        ASSERT_EQ(r->http_minor, 0);

        acs_http_request_parser_reset(p);
        ASSERT_EQ(feed_all(p, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &n, &r), 1);
        ASSERT_TRUE(r->keep_alive);

        acs_http_request_parser_reset(p);
        ASSERT_EQ(feed_all(p, "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", &n, &r), 1);
        ASSERT_FALSE(r->keep_alive);
}

TEST(pipelined_requests_come_one_by_one) {
        _cleanup_parser_ AcsHttpRequestParser *p = acs_http_request_parser_new(NULL);
        static const char s[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                                "POST /two HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                                "GET /three HTTP/1.1\r\n\r\nGET /fo";
        size_t size = sizeof(s) - 1, off = 0, n;
        const AcsHttpRequest *r;

        ASSERT_EQ(acs_http_request_parser_feed(p, s + off, size - off, &n, &r), 1);
        ASSERT_STREQ(r->path, "/one");
        ASSERT_EQ(n, strlen("GET /one HTTP/1.1\r\nHost: a\r\n\r\n"));
        off += n;

        ASSERT_EQ(acs_http_request_parser_feed(p, s + off, size - off, &n, &r), 1);
        ASSERT_STREQ(r->method, "POST");
        ASSERT_STREQ(r->path, "/two");
        ASSERT_EQ(r->body_size, 5);
        ASSERT_STREQ((const char *) r->body, "hello");
        off += n;

        ASSERT_EQ(acs_http_request_parser_feed(p, s + off, size - off, &n, &r), 1);
        ASSERT_STREQ(r->path, "/three");
        ASSERT_EQ(r->n_headers, 0);
        off += n;

        /* Half a request: consumed, nothing complete, and the parser knows it is inside one. */
        ASSERT_EQ(size - off, strlen("GET /fo"));
        ASSERT_EQ(acs_http_request_parser_feed(p, s + off, size - off, &n, &r), 0);
        ASSERT_EQ(n, size - off);
        ASSERT_TRUE(acs_http_request_parser_in_request(p));
        ASSERT_EQ(feed_all(p, "ur HTTP/1.1\r\n\r\n", &n, &r), 1);
        ASSERT_STREQ(r->path, "/four");

        /* EOF between requests is clean; EOF inside one is not. */
        ASSERT_EQ(acs_http_request_parser_finish(p, &r), 0);
        acs_http_request_parser_reset(p);
        ASSERT_EQ(feed_all(p, "GET / HTTP/1.1\r\nHo", &n, &r), 0);
        ASSERT_TRUE(acs_http_request_parser_finish(p, &r) < 0);
}

TEST(byte_by_byte) {
        _cleanup_parser_ AcsHttpRequestParser *p = acs_http_request_parser_new(NULL);
        const char *s = "PUT /api/v1/policy?dry=1 HTTP/1.1\r\n"
                        "Authorization: Bearer secret\r\n"
                        "Transfer-Encoding: chunked\r\n"
                        "\r\n"
                        "4\r\n{\"a\"\r\n"
                        "3\r\n:1}\r\n"
                        "0\r\n"
                        "X-Trailer: ignored\r\n"
                        "\r\n";
        const AcsHttpRequest *r = NULL;
        size_t n, i;
        int k = 0;

        for (i = 0; s[i]; i++) {
                k = acs_http_request_parser_feed(p, s + i, 1, &n, &r);
                ASSERT_OK(k);
                ASSERT_EQ(n, 1);
                if (k == 1)
                        break;
        }
        ASSERT_EQ(k, 1);
        ASSERT_EQ(i + 1, strlen(s));
        ASSERT_STREQ(r->method, "PUT");
        ASSERT_STREQ(r->query, "dry=1");
        ASSERT_STREQ(acs_http_request_header(r, "authorization"), "Bearer secret");
        ASSERT_TRUE(acs_http_request_header(r, "X-Trailer") == NULL);
        ASSERT_STREQ((const char *) r->body, "{\"a\":1}");
        ASSERT_EQ(r->body_size, 7);
}

TEST(bad_requests_are_400) {
        assert_refused(NULL, "GARBAGE\r\n\r\n", 400);
        assert_refused(NULL, "GET / HTTX/1.1\r\n\r\n", 400);
        assert_refused(NULL, "GET / HTTP/1.1\r\nBad\001Header: x\r\n\r\n", 400);
        assert_refused(NULL, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400);
        assert_refused(NULL, "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
        assert_refused(NULL, "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400);
        assert_refused(NULL, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
        assert_refused(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
}

TEST(version_is_505) {
        assert_refused(NULL, "GET / HTTP/2.0\r\n\r\n", 505);
        assert_refused(NULL, "GET / HTTP/3.1\r\n\r\n", 505);
}

TEST(limits) {
        AcsHttpLimits l = {
                .max_target = 32,
                .max_header_bytes = 64,
                .max_headers = 3,
                .max_body = 10,
        };
        _cleanup_parser_ AcsHttpRequestParser *p = acs_http_request_parser_new(&l);
        const AcsHttpRequest *r;
        size_t n;

        /* Exactly at each limit passes. */
        ASSERT_EQ(feed_all(p, "POST /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"  /* 32 bytes */
                              "A: 1\r\nB: 2\r\nContent-Length: 10\r\n\r\n0123456789", &n, &r), 1);
        ASSERT_EQ(strlen(r->target), 32);
        ASSERT_EQ(r->body_size, 10);

        assert_refused(&l, "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", 414);
        assert_refused(&l, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431);
        assert_refused(&l, "GET / HTTP/1.1\r\nCookie: 0123456789012345678901234567890123456789"
                           "012345678901234567890123456789\r\n\r\n", 431);
        assert_refused(&l, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413);
        assert_refused(&l, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n", 413);
        assert_refused(&l, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "1\r\n0\r\n0\r\nT: 0123456789012345678901234567890123456789"
                           "012345678901234567890123456789\r\n\r\n", 431);
}

TEST(status_reasons) {
        ASSERT_STREQ(acs_http_status_reason(200), "OK");
        ASSERT_STREQ(acs_http_status_reason(431), "Request Header Fields Too Large");
        ASSERT_STREQ(acs_http_status_reason(599), "Unknown");
}

ACS_TEST_MAIN()
