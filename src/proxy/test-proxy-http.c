/* SPDX-License-Identifier: MIT */
/* The strict HTTP layer on its own: the verdict on a message must not depend on how its bytes
 * are split across reads (the head scan and llhttp both carry state across buffers), and
 * mutated messages must never crash it (run under the sanitizers). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "acs-macro.h"
#include "acs-test.h"
#include "proxy-http.h"

typedef struct Outcome {
        unsigned heads, completes, status;
        size_t body;
        bool failed;
} Outcome;

static int t_headers_complete(HttpParser *hp) {
        ((Outcome *) hp->userdata)->heads++;
        return 0;
}

static int t_body(HttpParser *hp, const char *at, size_t n) {
        ((Outcome *) hp->userdata)->body += n;
        return 0;
}

static int t_message_complete(HttpParser *hp) {
        ((Outcome *) hp->userdata)->completes++;
        return HPE_PAUSED;
}

static const HttpParserOps ops = {
        .headers_complete = t_headers_complete,
        .body = t_body,
        .message_complete = t_message_complete,
};

/* Feeds msg in pieces cut at the given positions (sorted, within msg). */
static Outcome run(llhttp_type_t type, const char *msg, size_t len, const size_t *cuts, size_t n_cuts) {
        Outcome o = {};
        HttpParser hp;
        size_t pos = 0;

        http_parser_init(&hp, type, &ops, &o, 1024, 4096);
        for (size_t k = 0; k <= n_cuts && !o.failed; k++) {
                size_t end = k < n_cuts ? cuts[k] : len;

                while (pos < end) {
                        size_t consumed;
                        llhttp_errno_t e = http_parser_feed(&hp, msg + pos, end - pos, &consumed);

                        pos += consumed;
                        if (e == HPE_PAUSED) {
                                http_parser_resume(&hp);
                                continue;
                        }
                        if (e != HPE_OK) {
                                o.failed = true;
                                o.status = hp.status;
                                break;
                        }
                }
        }
        http_parser_done(&hp);
        return o;
}

static const char *const requests[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "\r\nGET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-F: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
        "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a=\"x;y\\\"\" ;b\r\nhello\r\n0 ;z\r\n"
        "T: v\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET http://b:8/p HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\r\n\r\n",
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n0\r\n\r\n",
};

static const char *const responses[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\nContent-Length: 0\r\n\r\n",
};

static void check_split_invariance(llhttp_type_t type, const char *const *msgs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(msgs[i]);
                Outcome whole = run(type, msgs[i], len, NULL, 0);

                for (size_t a = 1; a < len; a++) {
                        Outcome one = run(type, msgs[i], len, &a, 1);

                        if (one.failed != whole.failed || one.status != whole.status ||
                            one.completes != whole.completes || one.body != whole.body)
                                ACS_TEST_FAIL("message %zu cut at %zu: failed %d/%d status %u/%u completes %u/%u",
                                              i, a, one.failed, whole.failed, one.status, whole.status,
                                              one.completes, whole.completes);
                        /* Every other byte on its own too. */
                        if (a == 1) {
                                size_t cuts[512], k = 0;
                                for (size_t c = 1; c < len && k < ELEMENTSOF(cuts); c++)
                                        cuts[k++] = c;
                                one = run(type, msgs[i], len, cuts, k);
                                ASSERT_EQ(one.failed, whole.failed);
                                ASSERT_EQ(one.status, whole.status);
                                ASSERT_EQ(one.completes, whole.completes);
                        }
                }
        }
}

TEST(requests_split_anywhere) {
        check_split_invariance(HTTP_REQUEST, requests, ELEMENTSOF(requests));
}

TEST(responses_split_anywhere) {
        check_split_invariance(HTTP_RESPONSE, responses, ELEMENTSOF(responses));
}

TEST(verdicts) {
        Outcome o;

        o = run(HTTP_REQUEST, requests[1], strlen(requests[1]), NULL, 0);
        ASSERT_FALSE(o.failed);
        ASSERT_EQ(o.completes, 2);
        o = run(HTTP_REQUEST, requests[3], strlen(requests[3]), NULL, 0);
        ASSERT_EQ(o.body, 5);
        for (size_t i = 5; i <= 11; i++) {
                o = run(HTTP_REQUEST, requests[i], strlen(requests[i]), NULL, 0);
                ASSERT_TRUE(o.failed);
                ASSERT_EQ(o.status, 400);
                ASSERT_EQ(o.heads, 0);  /* refused before anything was handed on */
        }
        o = run(HTTP_REQUEST, requests[12], strlen(requests[12]), NULL, 0);
        ASSERT_EQ(o.status, 505);
        o = run(HTTP_RESPONSE, responses[1], strlen(responses[1]), NULL, 0);
        ASSERT_FALSE(o.failed);
        ASSERT_EQ(o.heads, 2);
        ASSERT_EQ(o.body, 2);
        /* RFC 9112 7.1.1: whitespace around extensions, quoted values. */
        o = run(HTTP_REQUEST, requests[13], strlen(requests[13]), NULL, 0);
        ASSERT_FALSE(o.failed);
        ASSERT_EQ(o.completes, 2);
        ASSERT_EQ(o.body, 5);
        for (size_t i = 14; i <= 16; i += 2) {
                o = run(HTTP_REQUEST, requests[i], strlen(requests[i]), NULL, 0);
                ASSERT_EQ(o.status, 400);
                ASSERT_EQ(o.heads, 0);
        }
        o = run(HTTP_REQUEST, requests[15], strlen(requests[15]), NULL, 0);
        ASSERT_FALSE(o.failed);
        o = run(HTTP_REQUEST, requests[17], strlen(requests[17]), NULL, 0);
        ASSERT_EQ(o.status, 400);
        ASSERT_EQ(o.body, 0);
}

TEST(host_and_target_syntax) {
        static const char *const good_hosts[] = { "a", "a.test:80", "[::1]:8080", "192.0.2.1", "ex%41mple", "a:", "" };
        static const char *const bad_hosts[] = { "a, b", "u@a", "a b", "a:8o", "a:80:81", "[::1", "a/b", "a:123456" };
        HttpTarget t;

        for (size_t i = 0; i < ELEMENTSOF(good_hosts); i++)
                ASSERT_TRUE(http_host_valid(good_hosts[i], strlen(good_hosts[i])));
        for (size_t i = 0; i < ELEMENTSOF(bad_hosts); i++)
                ASSERT_FALSE(http_host_valid(bad_hosts[i], strlen(bad_hosts[i])));
        ASSERT_TRUE(http_target_check("*", 1, HTTP_OPTIONS, &t) == NULL);
        ASSERT_TRUE(http_target_check("*", 1, HTTP_GET, &t) != NULL);
        ASSERT_TRUE(http_target_check("/a#b", 4, HTTP_GET, &t) != NULL);
        ASSERT_TRUE(http_target_check("http://h:1/p?q", 14, HTTP_GET, &t) == NULL);
        ASSERT_TRUE(t.absolute);
        ASSERT_EQ(t.authority, 7);
        ASSERT_EQ(t.authority_len, 3);
        ASSERT_EQ(t.path_len, 4);
        ASSERT_TRUE(http_target_check("http://u@h/", 11, HTTP_GET, &t) != NULL);
}

TEST(chunk_line_bounded) {
        char line[HTTP_MAX_CHUNK_LINE + 8];
        const char *why = NULL;
        HttpChunkLine l;
        size_t used;

        memset(line, 'e', sizeof(line));
        memcpy(line, "5;", 2);
        http_chunk_line_start(&l);
        ASSERT_EQ(http_chunk_line_scan(&l, line, sizeof(line), HTTP_MAX_CHUNK_LINE, &used, &why), -E2BIG);
        http_chunk_line_start(&l);
        ASSERT_EQ(http_chunk_line_scan(&l, "1f ; x = \"a\" \r", 14, HTTP_MAX_CHUNK_LINE, &used, &why), 0);
        ASSERT_EQ(http_chunk_line_scan(&l, "\nrest", 5, HTTP_MAX_CHUNK_LINE, &used, &why), 1);
        ASSERT_EQ(used, 1);
        ASSERT_EQ(l.size, 0x1f);
        http_chunk_line_start(&l);
        ASSERT_EQ(http_chunk_line_scan(&l, "11111111111111111\r\n", 19, HTTP_MAX_CHUNK_LINE, &used, &why), -EBADMSG);
}

/* xorshift: a fixed sequence, so a failure reproduces. */
static uint64_t rnd(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

TEST(mutations_do_not_crash) {
        static const char alphabet[] = "\r\n :;,\t\x00\x7f" "0123456789abcdefABCDEF-chunked";
        uint64_t s = 0x9e3779b97f4a7c15ULL;
        char buf[512];

        for (unsigned iter = 0; iter < 20000; iter++) {
                llhttp_type_t type;
                Outcome whole, split;
                const char *seed = requests[rnd(&s) % ELEMENTSOF(requests)];
                size_t len = strlen(seed), cut;

                memcpy(buf, seed, len);
                for (unsigned m = 0, n = 1 + rnd(&s) % 4; m < n; m++) {
                        size_t at = rnd(&s) % len;
                        switch (rnd(&s) % 3) {
                        case 0:
                                buf[at] = alphabet[rnd(&s) % (sizeof(alphabet) - 1)];
                                break;
                        case 1:
                                if (len < sizeof(buf) - 1) {
                                        memmove(buf + at + 1, buf + at, len - at);
                                        buf[at] = alphabet[rnd(&s) % (sizeof(alphabet) - 1)];
                                        len++;
                                }
                                break;
                        default:
                                if (len > 1) {
                                        memmove(buf + at, buf + at + 1, len - at - 1);
                                        len--;
                                }
                        }
                }
                cut = 1 + rnd(&s) % len;
                type = rnd(&s) % 2 ? HTTP_REQUEST : HTTP_RESPONSE;
                whole = run(type, buf, len, NULL, 0);
                split = run(type, buf, len, cut < len ? &cut : NULL, cut < len ? 1 : 0);
                /* Garbage gets a verdict too, the same however it arrives, and a refusal is an
                 * error status a client can be sent. (Which one may still differ: a malformed
                 * HTTP-version cut in two reads as 505 where whole it reads as 400.) */
                ASSERT_EQ(split.failed, whole.failed);
                ASSERT_EQ(split.completes, whole.completes);
                if (whole.failed) {
                        ASSERT_TRUE(whole.status >= 400 && whole.status <= 505);
                        ASSERT_TRUE(split.status >= 400 && split.status <= 505);
                }
        }
}

ACS_TEST_MAIN();
