/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Forwarding one exchange: choose a backend, send the request head (hop-by-hop fields removed,
 * X-Forwarded-For/-Proto, Forwarded and Via added, the body re-framed), stream the body, turn the
 * backend's response into the client's, retry once when that is safe, account for it.
 */

#include <stdbool.h>
#include <stdint.h>

#include "proxy-http.h"

typedef struct Client Client;
typedef struct BackendConn BackendConn;

extern const HttpParserOps forward_request_ops;
extern const HttpParserOps forward_response_ops;

/* Chooses a backend and sends the head (request_headers_complete does it; the queue again). */
int forward_dispatch(Client *c, Backend *avoid);

/* The backend connection failed before the exchange finished (connect error, reset, EOF,
 * malformed response, timeout). timeout picks 504 over 502. Frees bc. */
void forward_backend_failed(BackendConn *bc, int error, bool timeout, const char *why);
/* The backend closed cleanly: ends an until-close response, else counts as a failure. */
void forward_backend_eof(BackendConn *bc);
/* The response is complete: account, release the backend connection, go on with the client. */
void forward_finish(Client *c);
/* The client went away or broke mid-exchange: drop the backend side. */
void forward_abort(Client *c);
