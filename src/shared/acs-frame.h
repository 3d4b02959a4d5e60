/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Frames of the VMM <-> VIM link: a 4-byte big-endian length, then that many bytes of payload
 * (one JSON object). A zero length and a length over the limit are errors: the stream cannot be
 * resynchronised after either, so the connection is closed.
 *
 * The decoder takes bytes as they arrive, in any split, and keeps at most one frame's payload:
 * its buffer grows with the bytes actually received, never beyond the frame limit, so a peer
 * that announces a large frame and then stalls costs us only what it sent.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acs-buf.h"

#define ACS_FRAME_HEADER_SIZE 4
#define ACS_FRAME_MAX_DEFAULT ((size_t) 1024 * 1024)

typedef struct AcsFrameDecoder {
        size_t max;                             /* largest payload accepted */
        uint8_t header[ACS_FRAME_HEADER_SIZE];
        size_t n_header;                        /* header bytes received so far */
        size_t length;                          /* payload length once the header is complete */
        AcsBuf payload;
        int error;                              /* sticky: once broken, a stream stays broken */
} AcsFrameDecoder;

/* max == 0 selects ACS_FRAME_MAX_DEFAULT. */
void acs_frame_decoder_init(AcsFrameDecoder *d, size_t max);
void acs_frame_decoder_done(AcsFrameDecoder *d);

/*
 * Consumes bytes from data until one frame is complete or the data runs out.
 * Returns 1 when a frame is complete: *ret_consumed bytes were used (call again with the rest),
 * and acs_frame_decoder_payload() gives the payload until the next call.
 * Returns 0 when all of data was consumed and no frame is complete yet.
 * Returns -EBADMSG for a zero length, -EMSGSIZE for a length over the limit, -ENOMEM; the
 * error is sticky (every later call returns it again).
 */
int acs_frame_decoder_feed(AcsFrameDecoder *d, const void *data, size_t size, size_t *ret_consumed);

/* The payload of the frame the last feed() completed, NUL-terminated for convenience (the NUL
 * is not counted in *ret_size). */
const uint8_t *acs_frame_decoder_payload(const AcsFrameDecoder *d, size_t *ret_size);

/* True when no partial frame is buffered (a clean place for the stream to end). */
bool acs_frame_decoder_is_idle(const AcsFrameDecoder *d);

/* Appends header + payload to out. -EMSGSIZE when size is 0 or over max (0 = default). */
int acs_frame_encode(AcsBuf *out, const void *payload, size_t size, size_t max);
