/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "acs-link-internal.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-time.h"
#include "acs-tls-server.h"

/* Mozilla's "intermediate" configuration (version 5.7): TLS 1.2 and 1.3, forward secrecy and
 * AEAD only, the client's order of preference. */
#define TLS12_CIPHERS                                                                         \
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                          \
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                          \
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                          \
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:prime256v1:secp384r1"

#define SWAP(a, b) do { __typeof__(a) _t = (a); (a) = (b); (b) = _t; } while (0)

typedef struct TicketKey {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        usec_t created;
        bool valid;
} TicketKey;

typedef struct TlsPair {
        SSL_CTX *ctx;
        unsigned char *ocsp;    /* DER response to staple, or NULL */
        size_t ocsp_size;
} TlsPair;

struct AcsTlsServer {
        /* acs-proxy's workers handshake in parallel while its main thread reloads: the pairs and
         * the ticket keys are read and changed under this lock. */
        pthread_mutex_t lock;
        AcsTlsSettings settings;        /* copies of the paths, for reloads */
        unsigned char *alpn;            /* wire format: length-prefixed names */
        size_t alpn_size;
        TlsPair *pairs;                 /* pairs[0] also answers names no certificate holds */
        size_t n_pairs;
        TicketKey ticket_keys[2];       /* [0] current, [1] previous */
        /* A ticket key encrypts new tickets for this long, then decrypts old ones for as long
         * again: a stolen key opens at most two periods of sessions. */
        usec_t ticket_key_period;
};

bool acs_tls_settings_enabled(const AcsTlsSettings *s) {
        return s && s->certificates && s->certificates[0];
}

static size_t strv_count(char **l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

int acs_tls_settings_verify(const AcsTlsSettings *s, const char *path) {
        size_t n = strv_count(s->certificates);

        if (n != strv_count(s->keys)) {
                log_error("%s: [Tls] has %zu Certificate= and %zu Key=: each certificate needs its key, in the same order.",
                          path, n, strv_count(s->keys));
                return -EINVAL;
        }
        if (n > ACS_TLS_PAIRS_MAX) {
                log_error("%s: [Tls] at most %d Certificate= are supported.", path, ACS_TLS_PAIRS_MAX);
                return -EINVAL;
        }
        if (strv_count(s->ocsp_responses) > n) {
                log_error("%s: [Tls] has more OcspResponse= than Certificate=.", path);
                return -EINVAL;
        }
        return 0;
}

static void pairs_free(TlsPair *pairs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                SSL_CTX_free(pairs[i].ctx);
                free(pairs[i].ocsp);
        }
        free(pairs);
}

static int read_ocsp(const char *path, unsigned char **ret, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ unsigned char *data = malloc(ACS_TLS_OCSP_MAX + 1);
        size_t n;

        if (!f)
                return log_error_errno(errno, "Failed to open the OCSP response %s: %m", path);
        if (!data)
                return log_oom();
        n = fread(data, 1, ACS_TLS_OCSP_MAX + 1, f);
        if (ferror(f) || n == 0 || n > ACS_TLS_OCSP_MAX)
                return log_error_errno(EINVAL, "%s: expected a DER OCSP response of 1..%u bytes.", path,
                                       ACS_TLS_OCSP_MAX);
        *ret = TAKE_PTR(data);
        *ret_size = n;
        return 0;
}

static AcsTlsServer *server_of(SSL *ssl) {
        return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

/* SNI: the first pair whose certificate holds the name; pairs[0] for any other name or none. */
static int on_servername(SSL *ssl, int *alert, void *userdata) {
        AcsTlsServer *t = server_of(ssl);
        const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

        int ret = SSL_TLSEXT_ERR_OK;

        if (!t || !name)
                return SSL_TLSEXT_ERR_OK;
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n_pairs; i++)
                if (X509_check_host(SSL_CTX_get0_certificate(t->pairs[i].ctx), name, 0, 0, NULL) == 1) {
                        if (SSL_get_SSL_CTX(ssl) != t->pairs[i].ctx && !SSL_set_SSL_CTX(ssl, t->pairs[i].ctx))
                                ret = SSL_TLSEXT_ERR_ALERT_FATAL;
                        break;
                }
        pthread_mutex_unlock(&t->lock);
        return ret;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned inlen, void *userdata) {
        AcsTlsServer *t = server_of(ssl);
        unsigned char *selected = NULL;

        /* The server's order of preference; a client offering none of ours goes on without ALPN. */
        if (!t || SSL_select_next_proto(&selected, outlen, t->alpn, (unsigned) t->alpn_size, in, inlen) !=
                          OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_NOACK;
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
}

static int on_ocsp_status(SSL *ssl, void *userdata) {
        AcsTlsServer *t = server_of(ssl);
        SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
        unsigned char *copy = NULL;
        size_t size = 0;

        if (!t)
                return SSL_TLSEXT_ERR_NOACK;
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n_pairs; i++)
                if (t->pairs[i].ctx == ctx && t->pairs[i].ocsp) {
                        size = t->pairs[i].ocsp_size;
                        copy = OPENSSL_memdup(t->pairs[i].ocsp, size);
                        break;
                }
        pthread_mutex_unlock(&t->lock);
        if (!copy)
                return SSL_TLSEXT_ERR_NOACK;
        if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long) size)) {
                OPENSSL_free(copy);
                return SSL_TLSEXT_ERR_NOACK;
        }
        return SSL_TLSEXT_ERR_OK;
}

static int ticket_key_new(TicketKey *k) {
        if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
            RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
                return -EIO;
        k->created = now_usec(CLOCK_MONOTONIC);
        k->valid = true;
        return 0;
}

static int ticket_key_use(const TicketKey *k, unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                          int enc) {
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *) k->hmac, sizeof(k->hmac)),
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
                OSSL_PARAM_construct_end(),
        };

        if (!EVP_MAC_CTX_set_params(hctx, params))
                return -1;
        if (enc)
                return EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) ? 1 : -1;
        return EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) ? 1 : -1;
}

/* Replaces the current key once it is older than the period. Checked on every use, not only
 * when a ticket is issued: a TLS 1.2 ticket is renewed only if its key is found to be the
 * previous one, and with no new session for a while the old key would still be current. */
static int ticket_keys_rotate_locked(AcsTlsServer *t, usec_t now) {
        TicketKey next;

        if (t->ticket_keys[0].valid && now - t->ticket_keys[0].created < t->ticket_key_period)
                return 0;
        if (ticket_key_new(&next) < 0)
                return -EIO;
        t->ticket_keys[1] = t->ticket_keys[0];
        t->ticket_keys[0] = next;
        explicit_bzero(&next, sizeof(next));
        return 0;
}

/* Session tickets: issued under the current key, which is replaced every ticket_key_period;
 * a ticket under the previous key still resumes, and is then renewed under the current one. */
static int ticket_key_locked(AcsTlsServer *t, unsigned char key_name[16], unsigned char *iv,
                             EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        r = ticket_keys_rotate_locked(t, now);
        if (enc) {
                if (r < 0 || RAND_bytes(iv, 16) != 1)
                        return 0; /* no ticket this time; the session itself goes on */
                memcpy(key_name, t->ticket_keys[0].name, 16);
                return ticket_key_use(&t->ticket_keys[0], iv, cctx, hctx, 1);
        }
        for (size_t i = 0; i < ELEMENTSOF(t->ticket_keys); i++) {
                const TicketKey *k = &t->ticket_keys[i];

                if (!k->valid || memcmp(key_name, k->name, 16) != 0 || now - k->created >= 2 * t->ticket_key_period)
                        continue;
                if (ticket_key_use(k, iv, cctx, hctx, 0) < 0)
                        return -1;
                return i == 0 ? 1 : 2;
        }
        return 0; /* unknown or expired key: a full handshake */
}

static int on_ticket_key(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc) {
        AcsTlsServer *t = server_of(ssl);
        int r;

        if (!t)
                return -1;
        pthread_mutex_lock(&t->lock);
        r = ticket_key_locked(t, key_name, iv, cctx, hctx, enc);
        pthread_mutex_unlock(&t->lock);
        return r;
}

static int context_settings(AcsTlsServer *t, SSL_CTX *ctx) {
        if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
            !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
            !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) ||
            !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) ||
            !SSL_CTX_set_dh_auto(ctx, 1))
                return -EIO;
        /* No renegotiation (a client-driven CPU cost); a peer that closes without close_notify
         * simply ends its stream (HTTP frames its own messages). */
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
        SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_app_data(ctx, t);
        SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
        SSL_CTX_set_tlsext_status_cb(ctx, on_ocsp_status);
        if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key))
                return -EIO;
        if (t->alpn)
                SSL_CTX_set_alpn_select_cb(ctx, on_alpn, t);
        return 0;
}

/* OpenSSL's reason for the last failure; a file that cannot be opened leaves only a system error. */
static const char *tls_error(void) {
        const char *why = ERR_reason_error_string(ERR_peek_last_error());

        ERR_clear_error();
        return why ?: "cannot be read";
}

static int pair_load(AcsTlsServer *t, size_t i, TlsPair *ret) {
        const char *cert = t->settings.certificates[i], *key = t->settings.keys[i];
        const char *ocsp = i < strv_count(t->settings.ocsp_responses) ? t->settings.ocsp_responses[i] : NULL;
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        int r;

        if (!ctx)
                return log_oom();
        *ret = (TlsPair) { .ctx = ctx };
        /* Said plainly: OpenSSL names a missing or unreadable file only as "system lib". */
        if (access(cert, R_OK) < 0)
                return log_error_errno(errno, "Failed to read the certificate %s: %m", cert);
        if (access(key, R_OK) < 0)
                return log_error_errno(errno, "Failed to read the key %s: %m", key);
        r = context_settings(t, ctx);
        if (r < 0)
                return log_error_errno(r, "Failed to set up a TLS context for %s.", cert);
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
                return log_error_errno(EINVAL, "Failed to load the certificate %s (PEM): %s", cert, tls_error());
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
                return log_error_errno(EINVAL, "Failed to load the key %s for %s: %s", key, cert, tls_error());
        if (ocsp && *ocsp) {
                r = read_ocsp(ocsp, &ret->ocsp, &ret->ocsp_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int pairs_load(AcsTlsServer *t, TlsPair **ret, size_t *ret_n) {
        size_t n = strv_count(t->settings.certificates);
        TlsPair *pairs = calloc(MAX(n, 1u), sizeof(TlsPair));
        int r;

        if (!pairs)
                return log_oom();
        for (size_t i = 0; i < n; i++) {
                r = pair_load(t, i, &pairs[i]);
                if (r < 0) {
                        ERR_clear_error();
                        pairs_free(pairs, i + 1);
                        return r;
                }
        }
        *ret = pairs;
        *ret_n = n;
        return 0;
}

static int strv_copy(char **from, char ***ret) {
        size_t n = strv_count(from);
        char **l = calloc(n + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(l[i] = strdup(from[i]))) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
        *ret = l;
        return 0;
}

static int alpn_encode(const char *const *alpn, unsigned char **ret, size_t *ret_size) {
        size_t size = 0, o = 0;
        unsigned char *w;

        for (size_t i = 0; alpn && alpn[i]; i++)
                size += 1 + strlen(alpn[i]);
        if (size == 0)
                return 0;
        w = malloc(size);
        if (!w)
                return -ENOMEM;
        for (size_t i = 0; alpn[i]; i++) {
                size_t l = strlen(alpn[i]);

                w[o++] = (unsigned char) l;
                memcpy(w + o, alpn[i], l);
                o += l;
        }
        *ret = w;
        *ret_size = size;
        return 0;
}

int acs_tls_server_new(const AcsTlsSettings *s, const char *const *alpn, AcsTlsServer **ret) {
        AcsTlsServer *t = calloc(1, sizeof(AcsTlsServer));
        int r;

        if (!t)
                return log_oom();
        pthread_mutex_init(&t->lock, NULL);
        t->ticket_key_period = s->ticket_key_period ?: ACS_TLS_TICKET_KEY_PERIOD_DEFAULT;
        if (strv_copy(s->certificates, &t->settings.certificates) < 0 ||
            strv_copy(s->keys, &t->settings.keys) < 0 ||
            strv_copy(s->ocsp_responses, &t->settings.ocsp_responses) < 0 ||
            alpn_encode(alpn, &t->alpn, &t->alpn_size) < 0) {
                acs_tls_server_free(t);
                return log_oom();
        }
        r = pairs_load(t, &t->pairs, &t->n_pairs);
        if (r < 0) {
                acs_tls_server_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

int acs_tls_server_reload(AcsTlsServer *t) {
        TlsPair *pairs;
        size_t n;
        int r;

        r = pairs_load(t, &pairs, &n);
        if (r < 0)
                return log_warning_errno(r, "Keeping the certificates in force.");
        pthread_mutex_lock(&t->lock);
        SWAP(t->pairs, pairs);
        SWAP(t->n_pairs, n);
        pthread_mutex_unlock(&t->lock);
        /* Each connection holds a reference on its SSL_CTX: freeing ours here does not pull a
         * certificate from under a handshake or a session. */
        pairs_free(pairs, n);
        n = t->n_pairs;
        log_info("TLS: %zu certificate%s loaded.", n, n == 1 ? "" : "s");
        return 0;
}

AcsTlsServer *acs_tls_server_free(AcsTlsServer *t) {
        if (!t)
                return NULL;
        pairs_free(t->pairs, t->n_pairs);
        strv_freep(&t->settings.certificates);
        strv_freep(&t->settings.keys);
        strv_freep(&t->settings.ocsp_responses);
        free(t->alpn);
        explicit_bzero(t->ticket_keys, sizeof(t->ticket_keys));
        pthread_mutex_destroy(&t->lock);
        return mfree(t);
}

SSL *acs_tls_server_new_ssl(AcsTlsServer *t, int fd) {
        SSL *ssl = NULL;

        pthread_mutex_lock(&t->lock);
        if (t->n_pairs > 0)
                ssl = SSL_new(t->pairs[0].ctx);
        pthread_mutex_unlock(&t->lock);
        if (!ssl)
                return NULL;
        /* The socket BIO that sends with MSG_NOSIGNAL: a reset peer never raises SIGPIPE. */
        if (link_tls_attach_fd(ssl, fd) < 0) {
                SSL_free(ssl);
                return NULL;
        }
        SSL_set_accept_state(ssl);
        return ssl;
}
