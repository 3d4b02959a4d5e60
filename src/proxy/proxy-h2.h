/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HTTP/2 to clients (nghttp2). A connection that chose "h2" by ALPN, or opened with the client
 * preface on the plain listener ([Http2] PriorKnowledge=), carries an H2Session. Each request
 * stream becomes a Client of its own, an "exchange-only" one without a socket: its request is
 * written as HTTP/1.1 into its input buffer and parsed there by the same strict parser, and it
 * then takes the same forwarding path (backend choice, queue, retries, limits, timeouts,
 * counters) as a request read from an HTTP/1.1 connection. The response goes out as HEADERS and
 * DATA frames, its body taken from the stream's output buffer as the flow-control windows allow.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acs-time.h"
#include "proxy-http.h"

typedef struct Client Client;
typedef struct H2Session H2Session;

/* Why a connection was ended, for /metrics. */
typedef enum H2Refusal {
        H2_REFUSED_RAPID_RESET,         /* MaxResetsPerSecond= */
        H2_REFUSED_FLOOD,               /* PING/SETTINGS acks piling up, CONTINUATION, ENHANCE_YOUR_CALM */
        H2_REFUSED_PROTOCOL,            /* any other connection error */
        _H2_REFUSED_MAX,
} H2Refusal;

/* Do these first bytes of a connection start the HTTP/2 client preface? */
bool h2_is_preface(const uint8_t *p, size_t n);

/* The connection c speaks HTTP/2 from now on. */
int h2_session_start(Client *c);
/* Ends every stream and frees the session (the connection is closing). */
H2Session *h2_session_free(H2Session *h2);
/* Bytes read from the connection. Negative: the connection must close now. */
int h2_session_recv(Client *c, const uint8_t *p, size_t n);
/* Moves frames nghttp2 has ready into c->out, up to a bound. False when the session is over and
 * nothing is left to send. */
bool h2_session_fill(Client *c);
/* Whether the connection wants to read more, or has frames to send. */
bool h2_session_want_read(const Client *c);
bool h2_session_want_write(const Client *c);
/* Idle timeout and shutdown of the connection. */
void h2_session_check_deadline(Client *c, usec_t now, bool stopping);

/* ---- a stream's side (c is the stream's Client) ---- */

/* Sends what the stream has ready; -ECONNRESET when the stream (or its connection) is gone. */
int h2_stream_flush(Client *c);
/* The response head from the backend, as HEADERS; the body follows from c->out. */
int h2_stream_response_head(Client *c, const HttpParser *hp);
/* A locally made answer (502, 503, 400 ...). */
void h2_stream_reply(Client *c, unsigned status);
/* The request body in c->in was taken by the parser: open the windows by that much. */
void h2_stream_consumed(Client *c);
/* The stream's Client closes: reset the stream when it is still open, unlink it. */
void h2_stream_closed(Client *c);
