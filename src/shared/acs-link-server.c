/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "acs-accept.h"
#include "acs-link-internal.h"
#include "acs-log.h"
#include "acs-ratelimit.h"

#define SERVER_LISTEN_MAX 8
#define SERVER_PENALTIES_MAX 256

/*
 * A peer that failed a handshake with a key is refused for a while, doubling with each failure:
 * a wrong key costs us a few cheap refusals rather than a handshake each time. The key of the
 * refusal is the peer address plus the identity it offered, so that on a shared address (all
 * VMs of a demo on 127.0.0.1) one broken VMM does not lock out the others. Failures before any
 * identity (a stalled handshake, a stray HTTP request, a connection closed to make room) and
 * handshakes that ran out of time refuse nothing: such a refusal would hit every VMM behind
 * that address, for longer than the handshake takes. Those are bounded by the slots instead.
 */
typedef struct Penalty {
        char address[INET6_ADDRSTRLEN];
        char vm[ACS_PROTO_VM_NAME_MAX + 1];
        unsigned failures;
        usec_t last_failure;
        usec_t until;
} Penalty;

struct AcsLinkServer {
        sd_event *event;
        AcsLinkOptions options;
        SSL_CTX *ctx;
        AcsLinkKeyLookup key_lookup;
        void *key_userdata;
        const AcsLinkHandlers *handlers;
        void *userdata;

        sd_event_source *listen[SERVER_LISTEN_MAX];
        size_t n_listen;

        AcsLink *links;
        unsigned n_handshakes;
        unsigned n_connected;
        usec_t slots_logged;            /* the last "handshake slots full" line */
        AcsAcceptGuard accept_guard[SERVER_LISTEN_MAX]; /* out of fds: the listeners pause */

        Penalty penalties[SERVER_PENALTIES_MAX];
};

/* --- failed-handshake back-off */

static Penalty *penalty_find(AcsLinkServer *s, const char *address, const char *vm) {
        for (size_t i = 0; i < ELEMENTSOF(s->penalties); i++) {
                Penalty *p = &s->penalties[i];
                if (p->failures > 0 && streq(p->address, address) && streq(p->vm, vm))
                        return p;
        }
        return NULL;
}

/* How much longer address+vm is refused; 0 when it is not. */
static usec_t penalty_remaining(AcsLinkServer *s, const char *address, const char *vm) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        Penalty *p = penalty_find(s, address, vm);

        return p && p->until > now ? p->until - now : 0;
}

static void penalty_record_failure(AcsLinkServer *s, const char *address, const char *vm) {
        usec_t now = now_usec(CLOCK_MONOTONIC), delay;
        Penalty *p = penalty_find(s, address, vm);

        if (!p) {
                /* A free slot, else the one whose refusal ends first. */
                p = &s->penalties[0];
                for (size_t i = 0; i < ELEMENTSOF(s->penalties) && p->failures > 0; i++)
                        if (s->penalties[i].failures == 0 || s->penalties[i].until < p->until)
                                p = &s->penalties[i];
                *p = (Penalty) {};
                (void) snprintf(p->address, sizeof(p->address), "%s", address);
                (void) snprintf(p->vm, sizeof(p->vm), "%s", vm);
        }

        /* Forget failures long past: a peer that behaved for a while starts over. */
        if (p->failures > 0 && now - p->last_failure > 2 * s->options.backoff_max)
                p->failures = 0;

        p->failures++;
        p->last_failure = now;

        /* The first refusal lasts backoff_initial, each further one twice the one before. */
        delay = s->options.backoff_initial;
        for (unsigned i = 1; i < p->failures && delay < s->options.backoff_max; i++)
                delay *= 2;
        delay = MIN(delay, s->options.backoff_max);
        p->until = now + delay;

        if (log_ratelimit_here(LOG_NOTICE, NULL))
                log_notice("Refusing %s as VM %s for %" PRIu64 " ms after %u failed handshake(s).", address, vm,
                           delay / USEC_PER_MSEC, p->failures);
}

static void penalty_clear(AcsLinkServer *s, const char *address, const char *vm) {
        Penalty *p = penalty_find(s, address, vm);

        if (p)
                *p = (Penalty) {};
}

/* --- links */

static void server_unlink(AcsLinkServer *s, AcsLink *link) {
        if (link->links_prev)
                link->links_prev->links_next = link->links_next;
        else
                s->links = link->links_next;
        if (link->links_next)
                link->links_next->links_prev = link->links_prev;
        link->links_prev = link->links_next = NULL;
}

static void server_link_connected(AcsLink *link) {
        AcsLinkServer *s = link->owner;

        s->n_handshakes--;
        s->n_connected++;
        penalty_clear(s, link->peer_address, link->vm);
        (void) log_struct_errno(LOG_INFO, 0, NULL, link->vm, NULL, "VM %s connected from %s.", link->vm, link->peer);
}

static void server_link_closed(AcsLink *link, int reason) {
        AcsLinkServer *s = link->owner;

        if (link->notified) {
                s->n_connected--;
                if (link->handlers->on_disconnect)
                        link->handlers->on_disconnect(link, reason, link->handlers_userdata);
        } else {
                s->n_handshakes--;
                /* Only a handshake that failed on its key counts (see the top of this file); a
                 * refusal because of the back-off is not a new failure. */
                if (link->vm && link->handshake_error != -EAGAIN && reason != -ETIMEDOUT && reason != -ECONNABORTED)
                        penalty_record_failure(s, link->peer_address, link->vm);
        }
        server_unlink(s, link);
        link_free(link);
        for (size_t i = 0; i < s->n_listen; i++)
                acs_accept_guard_resume(&s->accept_guard[i]);
}

static const LinkOwnerOps server_link_ops = {
        .connected = server_link_connected,
        .closed = server_link_closed,
};

static bool name_is_valid(const unsigned char *identity, size_t len) {
        char name[ACS_PROTO_VM_NAME_MAX + 1];

        if (len >= sizeof(name))
                return false;
        memcpy(name, identity, len);
        name[len] = 0;
        return acs_proto_vm_name_is_valid(name);
}

/* OpenSSL asks for the key of the identity the client offers. Returning 0 fails the handshake. */
static int server_find_psk(SSL *ssl, const unsigned char *identity, size_t identity_len, SSL_SESSION **ret_session) {
        AcsLink *link = SSL_get_app_data(ssl);
        AcsLinkServer *s = link->owner;
        uint8_t key[ACS_PSK_SIZE];
        usec_t remaining;
        int r;

        *ret_session = NULL;
        free(link->vm);
        link->vm = NULL;

        /* Not a VM name: refused before the identity names a key file, a back-off entry or a
         * log line. It keeps no identity, so it costs the honest VMs behind that address nothing. */
        if (identity_len == 0 || identity_len > ACS_PROTO_VM_NAME_MAX || memchr(identity, 0, identity_len) ||
            !name_is_valid(identity, identity_len)) {
                char shown[LOG_UNTRUSTED_MAX + 4];

                (void) log_untrusted((const char *) identity, identity_len, shown);
                link->handshake_error = -EBADR;
                (void) snprintf(link->refused_identity, sizeof(link->refused_identity), "%s", shown);
                return 0;
        }
        link->vm = strndup((const char *) identity, identity_len);
        if (!link->vm) {
                link->handshake_error = -ENOMEM;
                return 0;
        }

        remaining = penalty_remaining(s, link->peer_address, link->vm);
        if (remaining > 0) {
                log_debug("Refusing %s as VM %s for another %" PRIu64 " ms after failed handshakes.",
                          link->peer, link->vm, remaining / USEC_PER_MSEC);
                link->handshake_error = -EAGAIN;
                return 0;
        }

        r = s->key_lookup(link->vm, key, s->key_userdata);
        if (r == -ENOENT) {
                link->handshake_error = -ENOKEY;
                return 0;
        }
        if (r < 0) {
                (void) log_struct_errno(LOG_ERR, r, NULL, link->vm, NULL, "Cannot use the key of VM %s: %s",
                                 link->vm, acs_psk_strerror(r));
                link->handshake_error = -ENOKEY;
                return 0;
        }

        *ret_session = link_tls_psk_session_new(ssl, key);
        OPENSSL_cleanse(key, sizeof(key));
        if (!*ret_session) {
                link->handshake_error = -ENOMEM;
                return 0;
        }
        return 1;
}

/* The oldest connection still in its handshake, from address (NULL: from anywhere). */
static AcsLink *server_oldest_handshake(AcsLinkServer *s, const char *address, unsigned *ret_count) {
        AcsLink *oldest = NULL;
        unsigned n = 0;

        /* The list is newest first. */
        for (AcsLink *l = s->links; l; l = l->links_next) {
                if (l->notified || l->state == LINK_CLOSING || (address && !streq(l->peer_address, address)))
                        continue;
                oldest = l;
                n++;
        }
        *ret_count = n;
        return oldest;
}

/*
 * Handshake slots: ACS_LINK_SERVER_HANDSHAKES_PER_SOURCE per address, ACS_LINK_SERVER_HANDSHAKES_MAX
 * in all. A new connection over either takes the slot of the oldest unfinished handshake (from
 * its own address first): a real VMM finishes in milliseconds, so connections that stall can
 * hold slots only until newer ones come, never lock the real ones out.
 */
static void server_make_room(AcsLinkServer *s, const char *address) {
        AcsLink *victim;
        unsigned n;
        usec_t now;

        victim = server_oldest_handshake(s, address, &n);
        if (n < ACS_LINK_SERVER_HANDSHAKES_PER_SOURCE) {
                victim = server_oldest_handshake(s, NULL, &n);
                if (n < ACS_LINK_SERVER_HANDSHAKES_MAX)
                        return;
        }
        now = now_usec(CLOCK_MONOTONIC);
        if (now >= s->slots_logged + 10 * USEC_PER_SEC) {
                s->slots_logged = now;
                log_warning("Handshake slots full (%u from %s, %u in all): closing the oldest unfinished handshake, "
                            "from %s, for the new one.", n, address, s->n_handshakes, victim->peer);
        }
        link_abort(victim, -ECONNABORTED);
}

static void server_accept_one(AcsLinkServer *s, int fd, const struct sockaddr *sa) {
        char peer[INET6_ADDRSTRLEN + 8], address[INET6_ADDRSTRLEN];
        AcsLink *link;
        int r;

        link_format_peer(sa, peer, sizeof(peer), address, sizeof(address));
        server_make_room(s, address);

        r = link_new(s->event, LINK_ROLE_SERVER, fd, s->ctx, &s->options, s, &server_link_ops, s->handlers,
                     s->userdata, &link);
        if (r < 0) {
                log_error_errno(r, "Failed to set up connection from %s, closing it: %m", peer);
                return;
        }
        (void) snprintf(link->peer, sizeof(link->peer), "%s", peer);
        (void) snprintf(link->peer_address, sizeof(link->peer_address), "%s", address);

        link->links_next = s->links;
        if (s->links)
                s->links->links_prev = link;
        s->links = link;
        s->n_handshakes++;
        log_debug("Connection from %s, starting TLS handshake.", peer);
}

static int server_on_listen(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        AcsLinkServer *s = userdata;

        for (;;) {
                struct sockaddr_storage sa;
                socklen_t len = sizeof(sa);
                int cfd;

                cfd = accept4(fd, (struct sockaddr *) &sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return 0;
                        /* Out of fds the socket stays readable: stop watching it until a link
                         * closes, and keep serving the ones we have. */
                        if (acs_accept_error_is_resource(errno)) {
                                for (size_t i = 0; i < s->n_listen; i++)
                                        if (s->listen[i] == source)
                                                acs_accept_guard_pause(&s->accept_guard[i], errno);
                        } else
                                log_warning_errno(errno, "Failed to accept a connection, ignoring: %m");
                        return 0;
                }
                server_accept_one(s, cfd, (struct sockaddr *) &sa);
        }
}

/* --- the server object */

int acs_link_server_new(
                sd_event *event,
                const AcsLinkOptions *options,
                AcsLinkKeyLookup key_lookup,
                void *key_userdata,
                const AcsLinkHandlers *handlers,
                void *userdata,
                AcsLinkServer **ret) {

        _cleanup_(acs_link_server_freep) AcsLinkServer *s = NULL;
        int r;

        if (!event || !key_lookup || !handlers || !ret)
                return -EINVAL;

        s = calloc(1, sizeof(AcsLinkServer));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        link_options_fill(&s->options, options, LINK_ROLE_SERVER);
        s->key_lookup = key_lookup;
        s->key_userdata = key_userdata;
        s->handlers = handlers;
        s->userdata = userdata;

        r = link_tls_context_new(LINK_ROLE_SERVER, &s->ctx);
        if (r < 0)
                return r;
        SSL_CTX_set_psk_find_session_callback(s->ctx, server_find_psk);

        *ret = TAKE_PTR(s);
        return 0;
}

AcsLinkServer *acs_link_server_free(AcsLinkServer *s) {
        if (!s)
                return NULL;
        while (s->links) {
                AcsLink *link = s->links;
                server_unlink(s, link);
                link_free(link);
        }
        for (size_t i = 0; i < s->n_listen; i++) {
                acs_accept_guard_done(&s->accept_guard[i]);
                sd_event_source_disable_unref(s->listen[i]);
        }
        SSL_CTX_free(s->ctx);
        sd_event_unref(s->event);
        return mfree(s);
}

int acs_link_server_listen_fd(AcsLinkServer *s, int fd) {
        int flags, r;

        if (s->n_listen >= SERVER_LISTEN_MAX)
                return -E2BIG;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

        r = sd_event_add_io(s->event, &s->listen[s->n_listen], fd, EPOLLIN, server_on_listen, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_io_fd_own(s->listen[s->n_listen], true);
        acs_accept_guard_init(&s->accept_guard[s->n_listen], s->listen[s->n_listen], "agent connections");
        s->n_listen++;
        return 0;
}

int acs_link_server_listen(AcsLinkServer *s, const char *address, uint16_t port) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        socklen_t len;
        _cleanup_close_ int fd = -1;
        int r;

        if (inet_pton(AF_INET, address, &sa.in.sin_addr) == 1) {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons(port);
                len = sizeof(sa.in);
        } else if (inet_pton(AF_INET6, address, &sa.in6.sin6_addr) == 1) {
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons(port);
                len = sizeof(sa.in6);
        } else
                return -EINVAL;

        fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int)) < 0)
                return -errno;
        if (bind(fd, &sa.sa, len) < 0)
                return -errno;
        if (listen(fd, SOMAXCONN) < 0)
                return -errno;

        r = acs_link_server_listen_fd(s, fd);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        return 0;
}

int acs_link_server_get_port(AcsLinkServer *s, uint16_t *ret) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);

        if (s->n_listen == 0)
                return -ENOTCONN;
        if (getsockname(sd_event_source_get_io_fd(s->listen[0]), (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        if (sa.ss_family == AF_INET)
                *ret = ntohs(((struct sockaddr_in *) &sa)->sin_port);
        else if (sa.ss_family == AF_INET6)
                *ret = ntohs(((struct sockaddr_in6 *) &sa)->sin6_port);
        else
                return -EAFNOSUPPORT;
        return 0;
}

unsigned acs_link_server_n_links(AcsLinkServer *s) {
        return s->n_connected;
}

int acs_link_key_lookup_directory(const char *vm, uint8_t ret_key[static ACS_PSK_SIZE], void *dir) {
        return acs_psk_read_from_directory(dir, vm, ret_key);
}
