/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "acs-link-internal.h"
#include "acs-log.h"

struct AcsLinkClient {
        sd_event *event;
        AcsLinkOptions options;
        SSL_CTX *ctx;
        char *host;                     /* the address tried now: one of targets */
        uint16_t port;
        char **targets;                 /* "host" strings of every address, in order */
        uint16_t *target_ports;
        size_t n_targets, target;
        char *vm;
        uint8_t key[ACS_PSK_SIZE];
        const AcsLinkHandlers *handlers;
        void *userdata;

        AcsLink *link;                  /* connecting, handshaking or connected */
        sd_event_source *retry;         /* reconnect timer, re-armed */
        unsigned attempts;              /* failed attempts since the last connection */
        usec_t lost_at;                 /* CLOCK_MONOTONIC when an established link last ended */
};

/* OpenSSL asks which external PSK to offer: ours, under our VM name. */
static int client_use_psk(SSL *ssl, const EVP_MD *md, const unsigned char **ret_identity, size_t *ret_identity_len,
                          SSL_SESSION **ret_session) {
        AcsLink *link = SSL_get_app_data(ssl);
        AcsLinkClient *c = link->owner;
        SSL_SESSION *session;

        *ret_session = NULL;
        session = link_tls_psk_session_new(ssl, c->key);
        if (!session)
                return 0;
        /* A second call (after a HelloRetryRequest) must offer a PSK for the same hash. */
        if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(session))) {
                SSL_SESSION_free(session);
                return 1;
        }
        *ret_identity = (const unsigned char *) c->vm;
        *ret_identity_len = strlen(c->vm);
        *ret_session = session;
        return 1;
}

/* Exponential back-off with jitter: a uniformly random delay in [d/2, d], d doubling per
 * failed attempt up to the maximum, so that VMMs cut off together do not return together. */
static usec_t client_next_delay(AcsLinkClient *c) {
        usec_t d = c->options.backoff_initial;
        uint32_t rnd = 0;

        /* With several addresses the delay grows once per round over all of them. */
        for (unsigned i = 0; i < c->attempts / MAX(c->n_targets, 1U) && d < c->options.backoff_max; i++)
                d *= 2;
        d = MIN(d, c->options.backoff_max);
        if (c->lost_at > 0 && now_usec(CLOCK_MONOTONIC) < c->lost_at + ACS_LINK_CLIENT_RETRY_AFTER_LOSS_WINDOW)
                d = MIN(d, ACS_LINK_CLIENT_RETRY_AFTER_LOSS_MAX);
        (void) getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
        return d / 2 + (usec_t) ((double) (d / 2) * ((double) rnd / UINT32_MAX));
}

static void client_schedule_retry(AcsLinkClient *c) {
        usec_t delay = client_next_delay(c);
        int r;

        c->attempts++;
        /* Whatever ended this attempt (refused, reset, a VIM that is not the leader any more),
         * the next one goes to the next address. */
        if (c->n_targets > 1) {
                c->target = (c->target + 1) % c->n_targets;
                c->host = c->targets[c->target];
                c->port = c->target_ports[c->target];
        }
        r = sd_event_source_set_time_relative(c->retry, delay);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->retry, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "Failed to arm the reconnect timer, the link to %s stays down: %m", c->host);
        else
                log_debug("Reconnecting to %s:%u in %" PRIu64 " ms.", c->host, c->port, delay / USEC_PER_MSEC);
}

static void client_link_connected(AcsLink *link) {
        AcsLinkClient *c = link->owner;

        c->attempts = 0;
        (void) log_struct_errno(LOG_INFO, 0, NULL, c->vm, NULL, "Connected to VIM at %s as VM %s.", link->peer, c->vm);
}

static void client_link_closed(AcsLink *link, int reason) {
        AcsLinkClient *c = link->owner;

        if (link->notified) {
                c->lost_at = now_usec(CLOCK_MONOTONIC);
                if (link->handlers->on_disconnect)
                        link->handlers->on_disconnect(link, reason, link->handlers_userdata);
        }
        link_free(link);
        c->link = NULL;
        client_schedule_retry(c);
}

static const LinkOwnerOps client_link_ops = {
        .connected = client_link_connected,
        .closed = client_link_closed,
};

/* Starts one attempt; on failure the caller schedules the next. */
static int client_connect(AcsLinkClient *c) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        char port[8], address[INET6_ADDRSTRLEN];
        _cleanup_close_ int fd = -1;
        AcsLink *link;
        int r;

        (void) snprintf(port, sizeof(port), "%u", c->port);
        /* Blocking, but a VMM normally names the VIM by address, which resolves at once. */
        r = getaddrinfo(c->host, port, &hints, &ai);
        if (r != 0)
                return log_warning_errno(EHOSTUNREACH, "Failed to resolve %s: %s", c->host, gai_strerror(r));

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return log_warning_errno(r, "Failed to create a socket: %m");
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
                r = -errno;
                freeaddrinfo(ai);
                return log_info_errno(r, "Failed to connect to %s:%u: %m", c->host, c->port);
        }

        r = link_new(c->event, LINK_ROLE_CLIENT, TAKE_FD(fd), c->ctx, &c->options, c, &client_link_ops, c->handlers,
                     c->userdata, &link);
        if (r < 0) {
                freeaddrinfo(ai);
                return log_error_errno(r, "Failed to set up the link to %s: %m", c->host);
        }
        link_format_peer(ai->ai_addr, link->peer, sizeof(link->peer), address, sizeof(address));
        freeaddrinfo(ai);
        (void) snprintf(link->peer_address, sizeof(link->peer_address), "%s", address);
        link->vm = strdup(c->vm);
        if (!link->vm) {
                link_free(link);
                return log_oom();
        }
        c->link = link;
        return 0;
}

static int client_on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        AcsLinkClient *c = userdata;

        if (c->link)
                return 0;
        if (client_connect(c) < 0)
                client_schedule_retry(c);
        return 0;
}

int acs_link_client_new(
                sd_event *event,
                const AcsLinkOptions *options,
                const char *host,
                uint16_t port,
                const char *vm,
                const uint8_t key[static ACS_PSK_SIZE],
                const AcsLinkHandlers *handlers,
                void *userdata,
                AcsLinkClient **ret) {

        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        int r;

        if (!event || !host || port == 0 || !acs_proto_vm_name_is_valid(vm) || !key || !handlers || !ret)
                return -EINVAL;

        c = calloc(1, sizeof(AcsLinkClient));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        link_options_fill(&c->options, options, LINK_ROLE_CLIENT);
        c->port = port;
        c->handlers = handlers;
        c->userdata = userdata;
        memcpy(c->key, key, ACS_PSK_SIZE);
        c->vm = strdup(vm);
        if (!c->vm)
                return -ENOMEM;
        r = acs_link_client_add_address(c, host, port);
        if (r < 0)
                return r;

        r = link_tls_context_new(LINK_ROLE_CLIENT, &c->ctx);
        if (r < 0)
                return r;
        SSL_CTX_set_psk_use_session_callback(c->ctx, client_use_psk);

        r = sd_event_add_time_relative(event, &c->retry, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, client_on_retry, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(c->retry, SD_EVENT_OFF);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

AcsLinkClient *acs_link_client_free(AcsLinkClient *c) {
        if (!c)
                return NULL;
        link_free(c->link);
        sd_event_source_disable_unref(c->retry);
        SSL_CTX_free(c->ctx);
        sd_event_unref(c->event);
        OPENSSL_cleanse(c->key, sizeof(c->key));
        for (size_t i = 0; i < c->n_targets; i++)
                free(c->targets[i]);
        free(c->targets);
        free(c->target_ports);
        free(c->vm);
        return mfree(c);
}

int acs_link_client_add_address(AcsLinkClient *c, const char *host, uint16_t port) {
        char **t;
        uint16_t *p;

        if (!host || port == 0)
                return -EINVAL;
        t = reallocarray(c->targets, c->n_targets + 1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        c->targets = t;
        p = reallocarray(c->target_ports, c->n_targets + 1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        c->target_ports = p;
        t[c->n_targets] = strdup(host);
        if (!t[c->n_targets])
                return -ENOMEM;
        p[c->n_targets++] = port;
        c->host = c->targets[c->target];
        c->port = c->target_ports[c->target];
        return 0;
}

int acs_link_client_start(AcsLinkClient *c) {
        int r;

        if (c->link)
                return 0;
        r = sd_event_source_set_time_relative(c->retry, 0);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->retry, SD_EVENT_ONESHOT);
}

AcsLink *acs_link_client_get_link(AcsLinkClient *c) {
        return c->link && c->link->state == LINK_CONNECTED ? c->link : NULL;
}
