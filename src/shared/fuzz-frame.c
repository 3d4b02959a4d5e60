/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for what a peer controls on the link: a byte stream cut into frames, each decoded
 * as a protocol message. Whatever the decoder accepts must encode again and decode to the same
 * message, since the link encodes with the same rules it decodes with.
 *
 * Built with clang, this is a libFuzzer target. Built otherwise (gcc), a main() runs it over a
 * built-in corpus plus deterministic mutations of it, and over any files named on the command
 * line, so that `meson test` exercises it under the sanitizers.
 */

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acs-frame.h"
#include "acs-proto.h"

static unsigned n_accepted, n_refused;

static void check_round_trip(const AcsMessage *m) {
        char reason[ACS_PROTO_REASON_MAX];
        _cleanup_free_ char *a = NULL, *b = NULL;
        AcsMessage *again = NULL;
        AcsBuf out = {};

        if (acs_message_encode(m, &out, 0, reason) < 0 ||
            acs_message_decode(acs_buf_peek(&out) + ACS_FRAME_HEADER_SIZE, acs_buf_len(&out) - ACS_FRAME_HEADER_SIZE,
                               &again, reason) < 0 ||
            acs_message_to_json(m, &a) < 0 || acs_message_to_json(again, &b) < 0 || strcmp(a, b) != 0) {
                fprintf(stderr, "accepted message does not round-trip: %s\n", reason);
                abort();
        }
        acs_message_free(again);
        acs_buf_done(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AcsFrameDecoder d;
        size_t piece, pos;

        if (size < 1)
                return 0;
        /* The first byte picks how the stream arrives: in pieces of 1..256 bytes. */
        piece = (size_t) data[0] + 1;
        data++, size--;

        acs_frame_decoder_init(&d, 64 * 1024);
        for (pos = 0; pos < size;) {
                size_t chunk = MIN(piece, size - pos), used = 0;
                const uint8_t *payload;
                char reason[ACS_PROTO_REASON_MAX];
                AcsMessage *m = NULL;
                int r;

                r = acs_frame_decoder_feed(&d, data + pos, chunk, &used);
                if (r < 0)
                        break;
                pos += used;
                if (r == 0)
                        continue;

                payload = acs_frame_decoder_payload(&d, &chunk);
                if (acs_message_decode(payload, chunk, &m, reason) >= 0) {
                        check_round_trip(m);
                        acs_message_free(m);
                        n_accepted++;
                } else if (n_refused++, reason[0] == '\0') {
                        fprintf(stderr, "refusal without a reason\n");
                        abort();
                }
        }
        acs_frame_decoder_done(&d);
        return 0;
}

#ifndef ACS_LIBFUZZER

#define ID1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *const corpus[] = {
        "{\"v\":1,\"type\":\"register\",\"seq\":1,\"vm\":\"vm1\",\"address\":\"127.0.0.1\",\"capacity\":4,\"min\":1,"
        "\"state\":\"active\",\"containers\":[{\"id\":\"" ID1 "\",\"address\":\"127.0.0.1\",\"port\":9101,"
        "\"state\":\"ready\",\"cpu\":0.5,\"cpu_limit\":1.0,\"mem\":1048576,\"in_flight\":2}]}",
        "{\"v\":1,\"type\":\"metrics\",\"seq\":2,\"vm\":\"vm1\",\"cpu\":1.25e0,\"containers\":[]}",
        "{\"v\":1,\"type\":\"event\",\"seq\":3,\"event\":\"container-died\",\"container\":\"" ID1 "\",\"message\":\"exit \\u00e9 \\ud83d\\ude00\"}",
        "{\"v\":1,\"type\":\"order\",\"seq\":4,\"order\":\"drain\",\"count\":0,\"container\":\"" ID1 "\"}",
        "{\"v\":1,\"type\":\"ack\",\"seq\":5,\"ack\":4,\"result\":-28,\"message\":\"full\"}",
        "{\"v\":1,\"v\":1,\"type\":\"ack\",\"seq\":5,\"ack\":4,\"result\":0,\"message\":\"\"}",
        "{\"v\":1,\"type\":\"metrics\",\"seq\":2,\"vm\":\"vm1\",\"cpu\":NaN,\"containers\":[]}",
        "{\"v\":1,\"type\":\"ack\",\"seq\":99999999999999999999,\"ack\":4,\"result\":0,\"message\":\"\"}",
};

/* A small deterministic generator, so that every run tests the same inputs. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rng(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t) (rng_state >> 16);
}

/* Builds [split byte] + frames of every corpus entry, then mutates it. */
static size_t make_input(uint8_t *buf, size_t size, unsigned round) {
        AcsBuf b = { .max = size };
        size_t len;

        (void) acs_buf_append(&b, &(uint8_t) { (uint8_t) rng() }, 1);
        for (size_t i = 0; i < ELEMENTSOF(corpus); i++)
                if (round == 0 || rng() % 3 == 0)
                        (void) acs_frame_encode(&b, corpus[i], strlen(corpus[i]), 0);
        len = acs_buf_len(&b);
        memcpy(buf, acs_buf_peek(&b), len);
        acs_buf_done(&b);

        if (round > 0 && len > 1) {
                unsigned n = 1 + rng() % 8;
                for (unsigned k = 0; k < n && len > 1; k++) {
                        size_t at = 1 + rng() % (len - 1);
                        switch (rng() % 4) {
                        case 0: buf[at] ^= (uint8_t) (1u << (rng() % 8)); break;   /* flip a bit */
                        case 1: buf[at] = (uint8_t) rng(); break;                 /* replace a byte */
                        case 2: buf[at] = (uint8_t) "{}[]\",:\\0-eE.\x80\xff"[rng() % 16]; break;
                        case 3: len = at; break;                                  /* truncate */
                        }
                }
        }
        return len;
}

static int run_file(const char *path) {
        static uint8_t buf[1024 * 1024];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "%s: %m\n", path);
                return 1;
        }
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n < 0)
                return 1;
        (void) LLVMFuzzerTestOneInput(buf, (size_t) n);
        return 0;
}

int main(int argc, char **argv) {
        static uint8_t buf[16 * 1024];
        unsigned rounds = 50000;

        if (argc > 1) {
                int failed = 0;
                for (int i = 1; i < argc; i++)
                        failed |= run_file(argv[i]);
                return failed;
        }

        for (unsigned round = 0; round < rounds; round++)
                (void) LLVMFuzzerTestOneInput(buf, make_input(buf, sizeof(buf), round));
        fprintf(stderr, "%u inputs ran: %u messages accepted (and round-tripped), %u refused\n", rounds,
                n_accepted, n_refused);
        return 0;
}

#endif
