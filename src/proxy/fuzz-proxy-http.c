/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the strict HTTP layer: the first byte picks request or response, whether
 * a body limit applies, and where the input is cut in two reads; the rest is the message. */
#include <stddef.h>
#include <stdint.h>

#include "proxy-http.h"

static int f_headers_complete(HttpParser *hp) {
        return 0;
}

static int f_chunk_header(HttpParser *hp, uint64_t size) {
        return 0;
}

static int f_body(HttpParser *hp, const char *at, size_t n) {
        return 0;
}

static int f_chunk_complete(HttpParser *hp) {
        return 0;
}

static int f_message_complete(HttpParser *hp) {
        return HPE_PAUSED;
}

static const HttpParserOps fuzz_ops = {
        .headers_complete = f_headers_complete,
        .chunk_header = f_chunk_header,
        .body = f_body,
        .chunk_complete = f_chunk_complete,
        .message_complete = f_message_complete,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        HttpParser hp;
        size_t pos = 1, cut;

        if (size < 2)
                return 0;
        cut = 1 + data[0] % (size - 1);
        http_parser_init(&hp, data[0] & 0x80 ? HTTP_RESPONSE : HTTP_REQUEST, &fuzz_ops, NULL, 1024, 8192);
        if (data[0] & 0x40)
                http_parser_set_max_body(&hp, 4096);
        for (int piece = 0; piece < 2 && pos < size; piece++) {
                size_t end = piece == 0 ? cut + 1 : size;

                while (pos < end) {
                        size_t consumed;
                        llhttp_errno_t e = http_parser_feed(&hp, (const char *) data + pos, end - pos, &consumed);

                        pos += consumed;
                        if (e == HPE_PAUSED)
                                http_parser_resume(&hp);
                        else if (e != HPE_OK)
                                goto out;
                }
        }
out:
        http_parser_done(&hp);
        return 0;
}
