/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "acs-tls-stream.h"

/* Maps an SSL_read/SSL_write failure to -EAGAIN (noting when a read must wait for the socket to
 * be writable, as in a handshake flight, or a write for it to be readable) or an error. */
static ssize_t stream_ssl_error(AcsTlsStream *s, int ret, bool reading) {
        int e = SSL_get_error(s->ssl, ret);

        switch (e) {
        case SSL_ERROR_WANT_READ:
                if (!reading)
                        s->write_wants_read = true;
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                if (reading)
                        s->read_wants_write = true;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                ERR_clear_error();
                return errno > 0 ? -errno : -ECONNRESET;
        default:
                /* The error queue names a peer's mistake; it is the connection's, not ours. */
                ERR_clear_error();
                return -EPROTO;
        }
}

ssize_t acs_tls_stream_recv(AcsTlsStream *s, void *buf, size_t size) {
        size_t n = 0;
        ssize_t r;
        int ret;

        if (!s->ssl) {
                r = recv(s->fd, buf, size, 0);
                return r < 0 ? (errno == EINTR ? -EAGAIN : -errno) : r;
        }
        s->read_wants_write = false;
        ret = SSL_read_ex(s->ssl, buf, size, &n);
        if (ret > 0)
                return (ssize_t) n;
        return stream_ssl_error(s, ret, true);
}

ssize_t acs_tls_stream_send(AcsTlsStream *s, const void *buf, size_t size) {
        size_t n = 0;
        ssize_t r;
        int ret;

        if (!s->ssl) {
                r = send(s->fd, buf, size, MSG_NOSIGNAL | MSG_DONTWAIT);
                return r < 0 ? (errno == EINTR ? -EAGAIN : -errno) : r;
        }
        s->write_wants_read = false;
        ret = SSL_write_ex(s->ssl, buf, size, &n);
        if (ret > 0)
                return (ssize_t) n;
        r = stream_ssl_error(s, ret, false);
        return r == 0 ? -EPIPE : r;
}

uint32_t acs_tls_stream_events(const AcsTlsStream *s, bool want_read, bool want_write) {
        uint32_t events = 0;

        if (want_read)
                events |= s->read_wants_write ? EPOLLOUT : EPOLLIN;
        if (want_write)
                events |= s->write_wants_read ? EPOLLIN : EPOLLOUT;
        return events;
}

bool acs_tls_stream_can_read(const AcsTlsStream *s, uint32_t revents) {
        return revents & (s->read_wants_write ? EPOLLOUT : EPOLLIN);
}

bool acs_tls_stream_can_write(const AcsTlsStream *s, uint32_t revents) {
        return revents & (s->write_wants_read ? EPOLLIN : EPOLLOUT);
}

void acs_tls_stream_done(AcsTlsStream *s) {
        if (!s->ssl)
                return;
        /* Best effort: a peer gone or a full socket simply gets no close_notify. */
        if (SSL_is_init_finished(s->ssl))
                (void) SSL_shutdown(s->ssl);
        ERR_clear_error();
        SSL_free(s->ssl);
        s->ssl = NULL;
}
