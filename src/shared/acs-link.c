/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "acs-link-internal.h"
#include "acs-log.h"
#include "acs-ratelimit.h"

/* One TLS record's worth of plaintext per read. */
#define LINK_READ_SIZE (16 * 1024)

static int link_update_events(AcsLink *link);
static void link_read(AcsLink *link);

const char *acs_link_get_vm(const AcsLink *link) {
        return link->vm;
}

const char *acs_link_get_peer_address(const AcsLink *link) {
        return link->peer_address;
}

const char *acs_link_get_peer(const AcsLink *link) {
        return link->peer;
}

void acs_link_set_userdata(AcsLink *link, void *userdata) {
        link->userdata = userdata;
}

void *acs_link_get_userdata(const AcsLink *link) {
        return link->userdata;
}

/* The text of OpenSSL's first queued error, or fallback when there is none. */
static const char *link_ssl_error(char *buf, size_t size, const char *fallback) {
        unsigned long e = ERR_peek_error();

        if (e == 0)
                return fallback;
        ERR_error_string_n(e, buf, size);
        return buf;
}

/* "VM vm1 (127.0.0.1:4242)" on the VIM and "VIM at 127.0.0.1:7070 (as VM vm1)" on a VMM once
 * connected, else "Connection from/to 127.0.0.1:4242". */
static const char *link_describe(AcsLink *link, char *buf, size_t size) {
        if (link->vm && link->state == LINK_CONNECTED && link->role == LINK_ROLE_SERVER)
                (void) snprintf(buf, size, "VM %s (%s)", link->vm, link->peer);
        else if (link->vm && link->state == LINK_CONNECTED)
                (void) snprintf(buf, size, "VIM at %s (as VM %s)", link->peer, link->vm);
        else
                (void) snprintf(buf, size, "Connection %s %s%s%s", link->role == LINK_ROLE_SERVER ? "from" : "to",
                                link->peer, link->vm ? " as VM " : "", strempty(link->vm));
        return buf;
}

static AcsRateLimit server_handshake_refusals = ACS_RATELIMIT_INIT(ACS_LOG_RATELIMIT_INTERVAL, ACS_LOG_RATELIMIT_BURST);

/* Logs why the link is being closed, once, and schedules the close. Returns reason. */
_printf_(4, 5)
static int link_fail(AcsLink *link, int level, int reason, const char *format, ...) {
        char what[128 + ACS_PROTO_VM_NAME_MAX], text[512];
        va_list ap;

        if (link->state == LINK_CLOSING)
                return reason;
        /* Anyone can make the VIM refuse handshakes, as fast as it can connect: those lines
         * are rate-limited (the connections themselves are bounded by the handshake slots). */
        if (link->role == LINK_ROLE_SERVER && link->state != LINK_CONNECTED &&
            !log_ratelimit_pass(&server_handshake_refusals, level, NULL)) {
                link_abort(link, reason);
                return reason;
        }

        va_start(ap, format);
        (void) vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);

        /* When the peer is gone there is nothing left for us to close. */
        (void) log_struct_errno(level, reason, NULL, link->state == LINK_CONNECTED ? link->vm : NULL, NULL,
                                "%s: %s%s.", link_describe(link, what, sizeof(what)), text,
                                reason == -ECONNRESET || link->state == LINK_CONNECTING ? "" : ", closing the connection");
        link_abort(link, reason);
        return reason;
}

static int link_on_close_later(sd_event_source *s, void *userdata) {
        AcsLink *link = userdata;

        /* Best effort, without waiting: hand over what is queued when we close by choice, and
         * always say goodbye with close_notify, so the peer sees a close rather than a cut. */
        if (link->ssl && SSL_is_init_finished(link->ssl)) {
                size_t written;

                ERR_clear_error();
                if (link->close_reason == ACS_LINK_CLOSED_LOCALLY && acs_buf_len(&link->output) > 0 &&
                    SSL_write_ex(link->ssl, acs_buf_peek(&link->output), acs_buf_len(&link->output), &written))
                        acs_buf_consume(&link->output, written);
                (void) SSL_shutdown(link->ssl);
        }
        ERR_clear_error();

        link->owner_ops->closed(link, link->close_reason);
        return 0;
}

void link_abort(AcsLink *link, int reason) {
        if (link->state == LINK_CLOSING)
                return;
        link->state = LINK_CLOSING;
        link->close_reason = reason;
        (void) sd_event_source_set_enabled(link->io, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(link->deadline, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(link->close_later, SD_EVENT_ONESHOT);
}

void acs_link_close(AcsLink *link, int reason) {
        if (link)
                link_abort(link, reason > 0 ? -reason : reason);
}

/* --- receiving */

/* The rules beyond message shape: direction, register first, the VM named is the VM proven. */
static int link_check_message(AcsLink *link, const AcsMessage *m, char *reason, size_t size) {
        const char *vm = NULL;

        if (link->role == LINK_ROLE_CLIENT) {
                if (m->type != ACS_MESSAGE_ORDER && m->type != ACS_MESSAGE_ACK)
                        goto wrong_direction;
                return 0;
        }

        switch (m->type) {
        case ACS_MESSAGE_REGISTER:
                vm = m->reg.vm;
                break;
        case ACS_MESSAGE_METRICS:
                vm = m->metrics.vm;
                break;
        case ACS_MESSAGE_EVENT:
        case ACS_MESSAGE_ACK:
                break;
        default:
                goto wrong_direction;
        }
        if (!link->registered && m->type != ACS_MESSAGE_REGISTER) {
                (void) snprintf(reason, size, "%s before register", acs_message_type_to_string(m->type));
                return -EPROTO;
        }
        if (vm && !streq(vm, link->vm)) {
                (void) snprintf(reason, size, "%s names VM \"%s\", but the key is VM \"%s\"",
                                acs_message_type_to_string(m->type), vm, link->vm);
                return -EPROTO;
        }
        return 0;

wrong_direction:
        (void) snprintf(reason, size, "%s messages are not accepted by the %s", acs_message_type_to_string(m->type),
                        link->role == LINK_ROLE_SERVER ? "VIM" : "VMM");
        return -EPROTO;
}

static void link_handle_frame(AcsLink *link, const uint8_t *payload, size_t size) {
        _cleanup_(acs_message_freep) AcsMessage *m = NULL;
        char reason[ACS_PROTO_REASON_MAX];
        int r;

        r = acs_message_decode(payload, size, &m, reason);
        if (r == -ENOMEM) {
                (void) link_fail(link, LOG_ERR, r, "out of memory");
                return;
        }
        if (r < 0) {
                (void) link_fail(link, LOG_WARNING, r, "refused message: %s", reason);
                return;
        }
        r = link_check_message(link, m, reason, sizeof(reason));
        if (r < 0) {
                (void) link_fail(link, LOG_WARNING, r, "protocol violation: %s", reason);
                return;
        }

        if (m->type == ACS_MESSAGE_REGISTER)
                link->registered = true;
        if (link->handlers->on_message)
                link->handlers->on_message(link, m, link->handlers_userdata);
}

/* Splits decrypted bytes into frames and handles each, until the link closes. */
static void link_feed(AcsLink *link, const uint8_t *data, size_t size) {
        size_t pos = 0;

        while (pos < size && link->state == LINK_CONNECTED) {
                const uint8_t *payload;
                size_t used = 0, len;
                int r;

                r = acs_frame_decoder_feed(&link->decoder, data + pos, size - pos, &used);
                if (r == -EMSGSIZE) {
                        (void) link_fail(link, LOG_WARNING, r, "frame over the size limit of %zu bytes", link->frame_max);
                        return;
                }
                if (r == -EBADMSG) {
                        (void) link_fail(link, LOG_WARNING, r, "refused frame of length zero");
                        return;
                }
                if (r < 0) {
                        (void) link_fail(link, LOG_ERR, r, "failed to buffer a frame");
                        return;
                }
                pos += used;
                if (r == 0)
                        continue;

                payload = acs_frame_decoder_payload(&link->decoder, &len);
                link_handle_frame(link, payload, len);
        }
}

static void link_read(AcsLink *link) {
        uint8_t buf[LINK_READ_SIZE];
        char e[256];

        link->read_wants_write = false;
        while (link->state == LINK_CONNECTED) {
                size_t n = 0;
                int r;

                ERR_clear_error();
                if (SSL_read_ex(link->ssl, buf, sizeof(buf), &n)) {
                        link_feed(link, buf, n);
                        continue;
                }

                r = SSL_get_error(link->ssl, 0);
                switch (r) {
                case SSL_ERROR_WANT_READ:
                        return;
                case SSL_ERROR_WANT_WRITE:
                        link->read_wants_write = true;
                        return;
                case SSL_ERROR_ZERO_RETURN:
                        (void) link_fail(link, LOG_INFO, -ECONNRESET, "peer closed the connection%s",
                                         acs_frame_decoder_is_idle(&link->decoder) ? "" : " in the middle of a frame");
                        return;
                case SSL_ERROR_SYSCALL:
                        if (errno != 0 && ERR_peek_error() == 0) {
                                int err = errno;
                                (void) link_fail(link, LOG_INFO, -ECONNRESET, "connection lost: %s", strerror(err));
                                return;
                        }
                        __attribute__((fallthrough));
                default:
                        (void) link_fail(link, LOG_WARNING, -ECONNRESET, "connection lost: %s",
                                         link_ssl_error(e, sizeof(e), "peer went away without a TLS close"));
                        return;
                }
        }
}

/* --- sending */

static void link_flush(AcsLink *link) {
        char e[256];

        while (link->state == LINK_CONNECTED && acs_buf_len(&link->output) > 0) {
                size_t written = 0;
                int r;

                ERR_clear_error();
                if (SSL_write_ex(link->ssl, acs_buf_peek(&link->output), acs_buf_len(&link->output), &written)) {
                        acs_buf_consume(&link->output, written);
                        continue;
                }

                r = SSL_get_error(link->ssl, 0);
                if (r == SSL_ERROR_WANT_WRITE || r == SSL_ERROR_WANT_READ)
                        return;
                if (r == SSL_ERROR_SYSCALL && errno != 0 && ERR_peek_error() == 0) {
                        int err = errno;
                        (void) link_fail(link, LOG_INFO, -ECONNRESET, "send failed: %s", strerror(err));
                } else
                        (void) link_fail(link, LOG_WARNING, -ECONNRESET, "send failed: %s",
                                         link_ssl_error(e, sizeof(e), "connection closed"));
                return;
        }
}

int acs_link_send(AcsLink *link, const AcsMessage *m, uint64_t *ret_seq) {
        char reason[ACS_PROTO_REASON_MAX];
        AcsMessage copy;
        int r;

        if (!link || link->state != LINK_CONNECTED)
                return -ENOTCONN;

        copy = *m;
        copy.seq = link->next_seq;
        r = acs_message_encode(&copy, &link->output, link->frame_max, reason);
        if (r == -ENOBUFS)
                return link_fail(link, LOG_WARNING, r, "peer does not read: %zu bytes are queued",
                                 acs_buf_len(&link->output));
        if (r == -EINVAL || r == -EMSGSIZE)
                return log_error_errno(r, "Refusing to send an invalid %s message to VM %s: %s",
                                       strna(acs_message_type_to_string(m->type)), link->vm, reason);
        if (r < 0)
                return log_error_errno(r, "Failed to encode a message for VM %s: %m", link->vm);

        link->next_seq++;
        if (ret_seq)
                *ret_seq = copy.seq;

        link_flush(link);
        (void) link_update_events(link);
        return 0;
}

int link_queue_raw(AcsLink *link, const void *data, size_t size) {
        int r;

        if (link->state != LINK_CONNECTED)
                return -ENOTCONN;
        r = acs_buf_append(&link->output, data, size);
        if (r < 0)
                return r;
        link_flush(link);
        return link_update_events(link);
}

int acs_link_send_ack(AcsLink *link, uint64_t seq, int result, const char *message) {
        AcsMessage m = {
                .type = ACS_MESSAGE_ACK,
                .ack = { .ack = seq, .result = result > 0 ? -result : result, .message = strempty(message) },
        };

        return acs_link_send(link, &m, NULL);
}

/* --- connecting */

static void link_handshake_failed(AcsLink *link, int ssl_error) {
        unsigned long e = ERR_peek_error();
        char buf[256];
        int reason;

        /* The server's PSK lookup already said why (and logged it where useful). */
        if (link->handshake_error == -ENOKEY) {
                (void) link_fail(link, LOG_WARNING, -ENOKEY, "TLS handshake refused: no key for VM \"%s\"", strna(link->vm));
                return;
        }
        if (link->handshake_error == -EBADR) {
                (void) link_fail(link, LOG_WARNING, -EBADR, "TLS handshake refused: identity \"%s\" is not a VM name "
                                 "(1..%d of [A-Za-z0-9._-], not starting with '.' or '-')",
                                 link->refused_identity, ACS_PROTO_VM_NAME_MAX);
                return;
        }
        if (link->handshake_error < 0) {
                (void) link_fail(link, LOG_NOTICE, link->handshake_error, "TLS handshake refused: %s",
                                 link->handshake_error == -EAGAIN ? "recent failed handshakes, backing off"
                                                                  : strerror(-link->handshake_error));
                return;
        }

        reason = -EKEYREJECTED;
        switch (ERR_GET_REASON(e)) {
        case SSL_R_BINDER_DOES_NOT_VERIFY:
        case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
                (void) link_fail(link, LOG_WARNING, reason, "TLS handshake failed: wrong key for VM \"%s\"", strna(link->vm));
                return;
        case SSL_R_HTTP_REQUEST:
                (void) link_fail(link, LOG_WARNING, reason, "TLS handshake failed: peer speaks plain HTTP, not TLS");
                return;
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_UNKNOWN_PROTOCOL:
                (void) link_fail(link, LOG_WARNING, reason, "TLS handshake failed: not TLS 1.3 (%s)",
                                 link_ssl_error(buf, sizeof(buf), "?"));
                return;
        }

        if (link->role == LINK_ROLE_CLIENT)
                switch (ERR_GET_REASON(e)) {
                case SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER:
                        (void) link_fail(link, LOG_WARNING, reason, "TLS handshake refused by the VIM: wrong key for VM \"%s\"?",
                                         link->vm);
                        return;
                case SSL_R_TLSV1_ALERT_INTERNAL_ERROR:
                        (void) link_fail(link, LOG_WARNING, reason,
                                         "TLS handshake refused by the VIM: no key for VM \"%s\", or backing off after failures",
                                         link->vm);
                        return;
                }

        if (ssl_error == SSL_ERROR_ZERO_RETURN || (ssl_error == SSL_ERROR_SYSCALL && e == 0))
                (void) link_fail(link, LOG_WARNING, -ECONNRESET, "TLS handshake failed: peer closed the connection");
        else
                (void) link_fail(link, LOG_WARNING, reason, "TLS handshake failed: %s",
                                 link_ssl_error(buf, sizeof(buf), "unknown error"));
}

static void link_handshake(AcsLink *link) {
        int r;

        ERR_clear_error();
        r = SSL_do_handshake(link->ssl);
        if (r == 1) {
                link->state = LINK_CONNECTED;
                (void) sd_event_source_set_enabled(link->deadline, SD_EVENT_OFF);
                link->owner_ops->connected(link);
                if (link->state != LINK_CONNECTED)
                        return;
                link->notified = true;
                if (link->handlers->on_connect)
                        link->handlers->on_connect(link, link->vm, link->handlers_userdata);
                /* Application data may have arrived with the handshake's last flight. */
                link_read(link);
                link_flush(link);
                return;
        }

        r = SSL_get_error(link->ssl, r);
        if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) {
                link->read_wants_write = r == SSL_ERROR_WANT_WRITE;
                return;
        }
        link_handshake_failed(link, r);
}

static void link_connect_done(AcsLink *link) {
        int error = 0;
        socklen_t len = sizeof(error);

        if (getsockopt(link->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                error = errno;
        if (error != 0) {
                (void) link_fail(link, LOG_INFO, -error, "connect failed: %s", strerror(error));
                return;
        }
        link->state = LINK_HANDSHAKE;
        link_handshake(link);
}

static int link_update_events(AcsLink *link) {
        uint32_t events;

        switch (link->state) {
        case LINK_CONNECTING:
                events = EPOLLOUT;
                break;
        case LINK_HANDSHAKE:
                events = link->read_wants_write ? EPOLLOUT : EPOLLIN;
                break;
        case LINK_CONNECTED:
                events = EPOLLIN;
                if (link->read_wants_write || acs_buf_len(&link->output) > 0)
                        events |= EPOLLOUT;
                break;
        default:
                return 0;
        }
        return sd_event_source_set_io_events(link->io, events);
}

static int link_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AcsLink *link = userdata;

        switch (link->state) {
        case LINK_CONNECTING:
                link_connect_done(link);
                break;
        case LINK_HANDSHAKE:
                link_handshake(link);
                break;
        case LINK_CONNECTED:
                link_read(link);
                link_flush(link);
                break;
        case LINK_CLOSING:
                break;
        }

        if (link->state != LINK_CLOSING && link_update_events(link) < 0)
                (void) link_fail(link, LOG_ERR, -EIO, "failed to update the event source");
        return 0;
}

static int link_on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        AcsLink *link = userdata;

        (void) link_fail(link, LOG_WARNING, -ETIMEDOUT, "%s not completed in time",
                         link->state == LINK_CONNECTING ? "TCP connect" : "TLS handshake");
        return 0;
}

int link_new(sd_event *event, LinkRole role, int fd, SSL_CTX *ctx, const AcsLinkOptions *options,
             void *owner, const LinkOwnerOps *owner_ops, const AcsLinkHandlers *handlers,
             void *handlers_userdata, AcsLink **ret) {
        _cleanup_close_ int fd_close = fd;
        AcsLink *link;
        int r;

        link = calloc(1, sizeof(AcsLink));
        if (!link)
                return -ENOMEM;
        *link = (AcsLink) {
                .role = role,
                .state = role == LINK_ROLE_SERVER ? LINK_HANDSHAKE : LINK_CONNECTING,
                .owner = owner,
                .owner_ops = owner_ops,
                .handlers = handlers,
                .handlers_userdata = handlers_userdata,
                .event = sd_event_ref(event),
                .fd = TAKE_FD(fd_close),
                .frame_max = options->frame_max,
                .output = { .max = options->output_max },
                .next_seq = 1,
        };
        acs_frame_decoder_init(&link->decoder, options->frame_max);

        link->ssl = SSL_new(ctx);
        if (!link->ssl) {
                r = -ENOMEM;
                goto fail;
        }
        SSL_set_app_data(link->ssl, link);
        r = link_tls_attach_fd(link->ssl, link->fd);
        if (r < 0)
                goto fail;
        if (role == LINK_ROLE_SERVER)
                SSL_set_accept_state(link->ssl);
        else
                SSL_set_connect_state(link->ssl);

        r = sd_event_add_io(event, &link->io, link->fd, role == LINK_ROLE_SERVER ? EPOLLIN : EPOLLOUT,
                            link_on_io, link);
        if (r < 0)
                goto fail;
        r = sd_event_add_time_relative(event, &link->deadline, CLOCK_MONOTONIC, options->handshake_timeout,
                                       USEC_PER_MSEC, link_on_deadline, link);
        if (r < 0)
                goto fail;
        r = sd_event_add_defer(event, &link->close_later, link_on_close_later, link);
        if (r < 0)
                goto fail;
        r = sd_event_source_set_enabled(link->close_later, SD_EVENT_OFF);
        if (r < 0)
                goto fail;

        *ret = link;
        return 0;

fail:
        link_free(link);
        return r;
}

AcsLink *link_free(AcsLink *link) {
        if (!link)
                return NULL;
        sd_event_source_disable_unref(link->io);
        sd_event_source_disable_unref(link->deadline);
        sd_event_source_disable_unref(link->close_later);
        SSL_free(link->ssl);
        safe_close(link->fd);
        sd_event_unref(link->event);
        acs_frame_decoder_done(&link->decoder);
        acs_buf_done(&link->output);
        free(link->vm);
        return mfree(link);
}
