/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of the HTTP request reader: any bytes, cut into any chunks, must give requests
 * within the limits or a 4xx refusal, never a crash or a read out of bounds.
 *
 * Built with -fsanitize=fuzzer (clang) it is a libFuzzer target. Built as a plain program
 * (as meson does, in the sanitizer build too) it runs the same function over mutations of a
 * few seed requests, so `meson test` exercises it on every build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-http-request.h"

static void check_request(const AcsHttpRequest *r, const AcsHttpLimits *l) {
        if (!r->method || !r->target || !r->path || !r->query || !r->body)
                abort();
        if (strlen(r->target) > l->max_target || r->n_headers > l->max_headers || r->body_size > l->max_body)
                abort();
        for (size_t i = 0; i < r->n_headers; i++)
                if (!r->headers[i].name || !r->headers[i].value)
                        abort();
        (void) acs_http_request_header(r, "content-length");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const AcsHttpLimits limits = {
                .max_target = 64,
                .max_header_bytes = 256,
                .max_headers = 8,
                .max_body = 128,
        };
        AcsHttpRequestParser *p = acs_http_request_parser_new(&limits);
        /* The first byte picks the chunk size, so splits land everywhere. */
        size_t chunk = size > 0 ? (size_t) data[0] % 17 + 1 : 1, off = 0;
        const AcsHttpRequest *r;
        int k;

        if (!p)
                return 0;
        while (off < size) {
                size_t n = chunk < size - off ? chunk : size - off, consumed = 0;

                k = acs_http_request_parser_feed(p, data + off, n, &consumed, &r);
                if (consumed > n)
                        abort();
                if (k < 0) {
                        int status = acs_http_request_parser_error_status(p);
                        if (status < 400 || status > 505 || !acs_http_request_parser_error_reason(p))
                                abort();
                        break;
                }
                if (k > 0)
                        check_request(r, &limits);
                else if (consumed != n)
                        abort();
                off += consumed;
        }
        if (acs_http_request_parser_finish(p, &r) > 0)
                check_request(r, &limits);
        acs_http_request_parser_free(p);
        return 0;
}

#ifndef ACS_LIBFUZZER
static const char *const seeds[] = {
        "GET /?cost_ms=5 HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
        "POST /api/v1/scale HTTP/1.1\r\nContent-Length: 14\r\nAuthorization: Bearer t\r\n\r\n{\"replicas\":3}",
        "PUT /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: x\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
};

int main(void) {
        uint8_t buf[512];
        unsigned seed = 1;

        /* Deterministic mutations: flip, insert and drop bytes of each seed. */
        for (unsigned round = 0; round < 100000; round++) {
                const char *s = seeds[round % (sizeof(seeds) / sizeof(seeds[0]))];
                size_t size = strlen(s);

                memcpy(buf, s, size);
                for (unsigned m = 0; m < 1 + round % 4; m++) {
                        size_t at;

                        seed = seed * 1103515245u + 12345u;
                        at = (seed >> 8) % (size + 1);
                        switch ((seed >> 4) % 3) {
                        case 0:
                                if (at < size)
                                        buf[at] = (uint8_t) (seed >> 16);
                                break;
                        case 1:
                                if (size < sizeof(buf)) {
                                        memmove(buf + at + 1, buf + at, size - at);
                                        buf[at] = (uint8_t) (seed >> 16);
                                        size++;
                                }
                                break;
                        default:
                                if (at < size) {
                                        memmove(buf + at, buf + at + 1, size - at - 1);
                                        size--;
                                }
                        }
                }
                (void) LLVMFuzzerTestOneInput(buf, size);
        }
        fprintf(stderr, "100000 inputs parsed\n");
        return 0;
}
#endif
