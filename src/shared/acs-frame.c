/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "acs-frame.h"

#define FRAME_KEEP_ALLOC ((size_t) 64 * 1024)

void acs_frame_decoder_init(AcsFrameDecoder *d, size_t max) {
        if (max == 0)
                max = ACS_FRAME_MAX_DEFAULT;
        /* One byte more than the payload, for the NUL the payload getter promises. */
        *d = (AcsFrameDecoder) {
                .max = max,
                .payload = { .max = max + 1 },
        };
}

void acs_frame_decoder_done(AcsFrameDecoder *d) {
        acs_buf_done(&d->payload);
        d->n_header = 0;
        d->length = 0;
}

/* A complete frame (payload plus its NUL) is held from the previous feed(). */
static bool frame_decoder_has_frame(const AcsFrameDecoder *d) {
        return d->n_header == ACS_FRAME_HEADER_SIZE && acs_buf_len(&d->payload) == d->length + 1;
}

bool acs_frame_decoder_is_idle(const AcsFrameDecoder *d) {
        return d->n_header == 0 || frame_decoder_has_frame(d);
}

static int frame_decoder_fail(AcsFrameDecoder *d, int error) {
        d->error = error;
        acs_buf_done(&d->payload);
        return error;
}

int acs_frame_decoder_feed(AcsFrameDecoder *d, const void *data, size_t size, size_t *ret_consumed) {
        const uint8_t *p = data;
        size_t used = 0;
        int r;

        if (d->error < 0)
                return d->error;

        /* The previous call completed a frame: start the next one. */
        if (frame_decoder_has_frame(d)) {
                /* Keep a small buffer for the next frame, give a large one back. */
                if (d->payload.alloc > FRAME_KEEP_ALLOC)
                        acs_buf_done(&d->payload);
                else
                        acs_buf_clear(&d->payload);
                d->n_header = 0;
                d->length = 0;
        }

        if (d->n_header < ACS_FRAME_HEADER_SIZE) {
                size_t n = MIN(size, ACS_FRAME_HEADER_SIZE - d->n_header);

                memcpy(d->header + d->n_header, p, n);
                d->n_header += n;
                used += n;
                if (d->n_header < ACS_FRAME_HEADER_SIZE) {
                        *ret_consumed = used;
                        return 0;
                }

                d->length = (size_t) d->header[0] << 24 | (size_t) d->header[1] << 16 |
                            (size_t) d->header[2] << 8 | (size_t) d->header[3];
                if (d->length == 0)
                        return frame_decoder_fail(d, -EBADMSG);
                if (d->length > d->max)
                        return frame_decoder_fail(d, -EMSGSIZE);
        }

        /* Take what belongs to this frame; the buffer grows only with bytes actually received. */
        size_t have = acs_buf_len(&d->payload);
        size_t n = MIN(size - used, d->length - have);
        if (n > 0) {
                r = acs_buf_append(&d->payload, p + used, n);
                if (r < 0)
                        return frame_decoder_fail(d, r);
                used += n;
        }

        *ret_consumed = used;
        if (acs_buf_len(&d->payload) < d->length)
                return 0;

        r = acs_buf_append(&d->payload, "", 1);
        if (r < 0)
                return frame_decoder_fail(d, r);
        return 1;
}

const uint8_t *acs_frame_decoder_payload(const AcsFrameDecoder *d, size_t *ret_size) {
        if (ret_size)
                *ret_size = d->length;
        return acs_buf_peek(&d->payload);
}

int acs_frame_encode(AcsBuf *out, const void *payload, size_t size, size_t max) {
        uint8_t *w;
        int r = 0;

        if (max == 0)
                max = ACS_FRAME_MAX_DEFAULT;
        if (size == 0 || size > max || size > UINT32_MAX)
                return -EMSGSIZE;

        /* Reserve the whole frame first: half a frame left behind would corrupt the stream. */
        w = acs_buf_reserve(out, ACS_FRAME_HEADER_SIZE + size, &r);
        if (!w)
                return r;
        w[0] = (uint8_t) (size >> 24);
        w[1] = (uint8_t) (size >> 16);
        w[2] = (uint8_t) (size >> 8);
        w[3] = (uint8_t) size;
        memcpy(w + ACS_FRAME_HEADER_SIZE, payload, size);
        acs_buf_commit(out, ACS_FRAME_HEADER_SIZE + size);
        return 0;
}
