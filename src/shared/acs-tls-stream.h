/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A server connection's byte stream, in clear or through TLS, for code written against
 * recv()/send() on a non-blocking socket in an event loop. The TLS handshake runs inside the
 * first reads; a read may need the socket writable and a write readable, which
 * acs_tls_stream_events() folds into the epoll events to wait for.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>

typedef struct AcsTlsStream {
        int fd;                 /* not owned */
        SSL *ssl;               /* NULL: clear text; owned */
        bool read_wants_write;
        bool write_wants_read;
} AcsTlsStream;

/* Bytes read (> 0), 0 at the end of the stream, -EAGAIN to wait, another negative errno when the
 * connection failed (-EPROTO for TLS: a failed handshake or a bad record). */
ssize_t acs_tls_stream_recv(AcsTlsStream *s, void *buf, size_t size);

/* Bytes written (> 0), -EAGAIN to wait, another negative errno when the connection failed. */
ssize_t acs_tls_stream_send(AcsTlsStream *s, const void *buf, size_t size);

/* The epoll events to wait for, given whether the caller wants to read and to write. */
uint32_t acs_tls_stream_events(const AcsTlsStream *s, bool want_read, bool want_write);

/* Whether revents lets a read, or a write, go on. */
bool acs_tls_stream_can_read(const AcsTlsStream *s, uint32_t revents);
bool acs_tls_stream_can_write(const AcsTlsStream *s, uint32_t revents);

/* Sends close_notify when it can (never waits) and frees the SSL; the fd stays open. */
void acs_tls_stream_done(AcsTlsStream *s);
