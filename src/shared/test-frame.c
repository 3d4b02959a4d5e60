/* SPDX-License-Identifier: MIT */
#include "acs-frame.h"
#include "acs-test.h"

static const char *const payloads[] = {
        "{\"v\":1}",
        "x",
        "{\"v\":1,\"type\":\"ack\",\"seq\":7,\"ack\":3,\"result\":0,\"message\":\"ok\"}",
};

static void encode_all(AcsBuf *out) {
        for (size_t i = 0; i < ELEMENTSOF(payloads); i++)
                ASSERT_OK(acs_frame_encode(out, payloads[i], strlen(payloads[i]), 0));
}

/* Feeds data in pieces of the given sizes (cycling) and checks the frames come out in order. */
static void decode_in_pieces(const uint8_t *data, size_t size, size_t first_piece, size_t piece) {
        AcsFrameDecoder d;
        size_t pos = 0, n_frames = 0, want = first_piece;

        acs_frame_decoder_init(&d, 0);
        while (pos < size) {
                size_t chunk = MIN(want, size - pos), off = 0;

                while (off < chunk) {
                        size_t used = 0;
                        int r = acs_frame_decoder_feed(&d, data + pos + off, chunk - off, &used);

                        ASSERT_OK(r);
                        ASSERT_TRUE(used <= chunk - off);
                        off += used;
                        if (r == 1) {
                                size_t len;
                                const uint8_t *p = acs_frame_decoder_payload(&d, &len);

                                ASSERT_TRUE(n_frames < ELEMENTSOF(payloads));
                                ASSERT_EQ(len, strlen(payloads[n_frames]));
                                ASSERT_TRUE(memcmp(p, payloads[n_frames], len) == 0);
                                ASSERT_EQ(p[len], 0);
                                n_frames++;
                        } else
                                ASSERT_EQ(off, chunk);
                }
                pos += chunk;
                want = piece;
        }
        ASSERT_EQ(n_frames, ELEMENTSOF(payloads));
        ASSERT_TRUE(acs_frame_decoder_is_idle(&d));
        acs_frame_decoder_done(&d);
}

TEST(split_at_every_byte) {
        AcsBuf b = {};

        encode_all(&b);
        /* Two pieces, split at every position. */
        for (size_t split = 0; split <= acs_buf_len(&b); split++)
                decode_in_pieces(acs_buf_peek(&b), acs_buf_len(&b), split == 0 ? acs_buf_len(&b) : split,
                                 acs_buf_len(&b));
        /* Every piece size, from one byte at a time to everything at once. */
        for (size_t piece = 1; piece <= acs_buf_len(&b); piece++)
                decode_in_pieces(acs_buf_peek(&b), acs_buf_len(&b), piece, piece);
        acs_buf_done(&b);
}

TEST(many_frames_in_one_read) {
        AcsBuf b = {};
        AcsFrameDecoder d;
        size_t pos = 0, n = 0;
        char text[32];

        for (unsigned i = 0; i < 1000; i++) {
                int l = snprintf(text, sizeof(text), "{\"i\":%u}", i);
                ASSERT_OK(acs_frame_encode(&b, text, (size_t) l, 0));
        }

        acs_frame_decoder_init(&d, 0);
        while (pos < acs_buf_len(&b)) {
                size_t used;
                int r = acs_frame_decoder_feed(&d, acs_buf_peek(&b) + pos, acs_buf_len(&b) - pos, &used);

                ASSERT_EQ(r, 1);
                pos += used;
                snprintf(text, sizeof(text), "{\"i\":%zu}", n++);
                ASSERT_STREQ((const char *) acs_frame_decoder_payload(&d, NULL), text);
        }
        ASSERT_EQ(n, 1000);
        acs_frame_decoder_done(&d);
        acs_buf_done(&b);
}

TEST(zero_length_is_an_error) {
        static const uint8_t zero[] = { 0, 0, 0, 0, '{', '}' };
        AcsFrameDecoder d;
        size_t used;

        acs_frame_decoder_init(&d, 0);
        ASSERT_EQ(acs_frame_decoder_feed(&d, zero, sizeof(zero), &used), -EBADMSG);
        /* Sticky: the stream cannot be resynchronised. */
        ASSERT_EQ(acs_frame_decoder_feed(&d, "\0\0\0\1x", 5, &used), -EBADMSG);
        acs_frame_decoder_done(&d);
}

TEST(over_size_is_an_error_before_any_allocation) {
        static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'x' };
        static const uint8_t just_over[] = { 0, 0, 0x04, 0x01 };  /* 1025 */
        AcsFrameDecoder d;
        size_t used;

        acs_frame_decoder_init(&d, 0);
        ASSERT_EQ(acs_frame_decoder_feed(&d, huge, sizeof(huge), &used), -EMSGSIZE);
        ASSERT_TRUE(d.payload.data == NULL);
        acs_frame_decoder_done(&d);

        acs_frame_decoder_init(&d, 1024);
        ASSERT_EQ(acs_frame_decoder_feed(&d, just_over, sizeof(just_over), &used), -EMSGSIZE);
        ASSERT_TRUE(d.payload.data == NULL);
        acs_frame_decoder_done(&d);
}

TEST(limit_is_inclusive_and_memory_follows_the_data) {
        static const uint8_t header[] = { 0, 0, 0x04, 0x00 };  /* exactly 1024 */
        uint8_t body[1024];
        AcsFrameDecoder d;
        size_t used;

        memset(body, 'a', sizeof(body));
        acs_frame_decoder_init(&d, 1024);
        ASSERT_EQ(acs_frame_decoder_feed(&d, header, sizeof(header), &used), 0);
        ASSERT_EQ(acs_frame_decoder_feed(&d, body, 10, &used), 0);
        /* A peer announcing a large frame and sending little costs little. */
        ASSERT_TRUE(d.payload.alloc < 1024);
        ASSERT_EQ(acs_frame_decoder_feed(&d, body + 10, sizeof(body) - 10, &used), 1);
        ASSERT_EQ(used, sizeof(body) - 10);
        ASSERT_TRUE(d.payload.alloc <= 1025);
        acs_frame_decoder_done(&d);
}

TEST(encoder_refuses_empty_and_over_size) {
        AcsBuf b = {};
        char big[2048] = {};

        ASSERT_EQ(acs_frame_encode(&b, "", 0, 0), -EMSGSIZE);
        ASSERT_EQ(acs_frame_encode(&b, big, sizeof(big), 1024), -EMSGSIZE);
        ASSERT_EQ(acs_buf_len(&b), 0);
        ASSERT_OK(acs_frame_encode(&b, big, 1024, 1024));
        ASSERT_EQ(acs_buf_len(&b), 1028);
        ASSERT_EQ(acs_buf_peek(&b)[2], 0x04);
        acs_buf_done(&b);

        /* An output buffer at its limit refuses the whole frame, leaving nothing behind. */
        b.max = 100;
        ASSERT_OK(acs_frame_encode(&b, big, 90, 0));
        ASSERT_EQ(acs_frame_encode(&b, big, 10, 0), -ENOBUFS);
        ASSERT_EQ(acs_buf_len(&b), 94);
        acs_buf_done(&b);
}

ACS_TEST_MAIN();
