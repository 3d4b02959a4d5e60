/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "acs-link-internal.h"

/* TLS_AES_128_GCM_SHA256, the one suite both ends offer. */
static const unsigned char link_cipher_id[] = { 0x13, 0x01 };

/*
 * A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own socket BIO write()s, and a peer
 * that resets the connection would then kill the daemon with SIGPIPE.
 */
static int link_bio_write(BIO *bio, const char *data, size_t size, size_t *ret_written) {
        ssize_t n;

        BIO_clear_retry_flags(bio);
        n = send(BIO_get_fd(bio, NULL), data, size, MSG_NOSIGNAL);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        BIO_set_retry_write(bio);
                return 0;
        }
        *ret_written = (size_t) n;
        return 1;
}

static int link_bio_read(BIO *bio, char *data, size_t size, size_t *ret_read) {
        ssize_t n;

        BIO_clear_retry_flags(bio);
        n = recv(BIO_get_fd(bio, NULL), data, size, 0);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        BIO_set_retry_read(bio);
                return 0;
        }
        if (n == 0)
                BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
        *ret_read = (size_t) n;
        return n > 0;
}

static BIO_METHOD *bio_method = NULL;

static void link_bio_method_init(void) {
        const BIO_METHOD *base;
        BIO_METHOD *method;

        /* Inherit fd handling (ctrl, create, destroy) from the socket BIO; replace only I/O. */
        base = BIO_s_socket();
        method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "acs-link-socket");
        if (!method)
                return;
        if (!BIO_meth_set_write_ex(method, link_bio_write) ||
            !BIO_meth_set_read_ex(method, link_bio_read) ||
            !BIO_meth_set_ctrl(method, BIO_meth_get_ctrl(base)) ||
            !BIO_meth_set_create(method, BIO_meth_get_create(base)) ||
            !BIO_meth_set_destroy(method, BIO_meth_get_destroy(base))) {
                BIO_meth_free(method);
                return;
        }
        bio_method = method;
}

/* Made once per process: the proxy's worker threads accept TLS clients at the same time, and a
 * lazily set static would be a data race (two methods made, one lost). */
static BIO_METHOD *link_bio_method(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        (void) pthread_once(&once, link_bio_method_init);
        return bio_method;
}

int link_tls_attach_fd(SSL *ssl, int fd) {
        BIO_METHOD *method = link_bio_method();
        BIO *bio;

        if (!method)
                return -ENOMEM;
        bio = BIO_new(method);
        if (!bio)
                return -ENOMEM;
        BIO_set_fd(bio, fd, BIO_NOCLOSE);
        SSL_set_bio(ssl, bio, bio);
        return 0;
}

int link_tls_context_new(LinkRole role, SSL_CTX **ret) {
        SSL_CTX *ctx;

        ctx = SSL_CTX_new(role == LINK_ROLE_SERVER ? TLS_server_method() : TLS_client_method());
        if (!ctx)
                return -ENOMEM;

        /* TLS 1.3 only, one AEAD suite, no resumption tickets, no early data: every connection
         * proves the PSK afresh, and psk_dhe_ke (OpenSSL's default) adds an ECDHE share. */
        if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
            !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
            !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") ||
            !SSL_CTX_set_num_tickets(ctx, 0)) {
                SSL_CTX_free(ctx);
                return -EIO;
        }
        /* A peer that closes without close_notify is just gone: frames carry their own length,
         * so a cut-off frame is still noticed (and named) by the frame decoder. */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

        *ret = ctx;
        return 0;
}

SSL_SESSION *link_tls_psk_session_new(SSL *ssl, const uint8_t key[static ACS_PSK_SIZE]) {
        const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, link_cipher_id);
        SSL_SESSION *session;

        if (!cipher)
                return NULL;
        session = SSL_SESSION_new();
        if (!session)
                return NULL;
        if (!SSL_SESSION_set1_master_key(session, key, ACS_PSK_SIZE) ||
            !SSL_SESSION_set_cipher(session, cipher) ||
            !SSL_SESSION_set_protocol_version(session, TLS1_3_VERSION)) {
                SSL_SESSION_free(session);
                return NULL;
        }
        return session;
}

void link_format_peer(const struct sockaddr *sa, char *peer, size_t peer_size, char *address, size_t address_size) {
        char a[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;

        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
                (void) inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
                port = ntohs(in->sin_port);
                (void) snprintf(peer, peer_size, "%s:%u", a, port);
        } else if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
                (void) inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
                port = ntohs(in6->sin6_port);
                (void) snprintf(peer, peer_size, "[%s]:%u", a, port);
        } else
                (void) snprintf(peer, peer_size, "?");
        (void) snprintf(address, address_size, "%s", a);
}

void link_options_fill(AcsLinkOptions *ret, const AcsLinkOptions *options, LinkRole role) {
        *ret = options ? *options : (AcsLinkOptions) {};
        if (ret->handshake_timeout == 0)
                ret->handshake_timeout = ACS_LINK_HANDSHAKE_TIMEOUT_DEFAULT;
        if (ret->frame_max == 0)
                ret->frame_max = ACS_FRAME_MAX_DEFAULT;
        if (ret->output_max == 0)
                ret->output_max = ACS_LINK_OUTPUT_MAX_DEFAULT;
        /* The output queue must hold at least one largest frame. */
        ret->output_max = MAX(ret->output_max, ret->frame_max + ACS_FRAME_HEADER_SIZE);
        if (ret->backoff_initial == 0)
                ret->backoff_initial = role == LINK_ROLE_SERVER ? ACS_LINK_SERVER_BACKOFF_INITIAL_DEFAULT
                                                                : ACS_LINK_CLIENT_BACKOFF_INITIAL_DEFAULT;
        if (ret->backoff_max == 0)
                ret->backoff_max = role == LINK_ROLE_SERVER ? ACS_LINK_SERVER_BACKOFF_MAX_DEFAULT
                                                            : ACS_LINK_CLIENT_BACKOFF_MAX_DEFAULT;
        ret->backoff_max = MAX(ret->backoff_max, ret->backoff_initial);
}
