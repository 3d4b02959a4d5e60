/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the link's connection object (acs-link.c) shares with its two owners, the server
 * (acs-link-server.c) and the client (acs-link-client.c). Not for use outside the link.
 */

#include <netinet/in.h>
#include <openssl/ssl.h>

#include "acs-frame.h"
#include "acs-link.h"
#include "acs-log.h"

typedef enum LinkRole {
        LINK_ROLE_SERVER,
        LINK_ROLE_CLIENT,
} LinkRole;

typedef enum LinkState {
        LINK_CONNECTING,        /* client: TCP connect in progress */
        LINK_HANDSHAKE,
        LINK_CONNECTED,
        LINK_CLOSING,           /* waiting for the deferred close */
} LinkState;

/* How a link reports to its owner. The owner frees the link in closed(). */
typedef struct LinkOwnerOps {
        void (*connected)(AcsLink *link);
        void (*closed)(AcsLink *link, int reason);
} LinkOwnerOps;

struct AcsLink {
        LinkRole role;
        LinkState state;
        void *owner;                    /* AcsLinkServer or AcsLinkClient */
        const LinkOwnerOps *owner_ops;
        const AcsLinkHandlers *handlers;
        void *handlers_userdata;
        void *userdata;                 /* acs_link_set_userdata() */

        sd_event *event;
        sd_event_source *io;
        sd_event_source *deadline;
        sd_event_source *close_later;
        int fd;
        SSL *ssl;
        bool read_wants_write;          /* SSL_read asked for EPOLLOUT */

        char *vm;                       /* PSK identity: offered (server, during handshake) or own (client) */
        char peer[INET6_ADDRSTRLEN + 8];        /* "address:port" */
        char peer_address[INET6_ADDRSTRLEN];    /* address only, for the failed-handshake back-off */
        int handshake_error;            /* set by the server's PSK lookup: -ENOKEY, -EAGAIN, ... */
        char refused_identity[LOG_UNTRUSTED_MAX + 4]; /* -EBADR: what was offered, fit for a log line */

        AcsFrameDecoder decoder;
        AcsBuf output;
        size_t frame_max;
        uint64_t next_seq;
        bool registered;                /* server: a register was received */
        bool notified;                  /* on_connect was called */
        int close_reason;

        AcsLink *links_prev, *links_next;       /* server's list */
};

/* Takes fd over (also on failure). The link starts in LINK_HANDSHAKE (server) or
 * LINK_CONNECTING (client), with the handshake deadline armed. */
int link_new(sd_event *event, LinkRole role, int fd, SSL_CTX *ctx, const AcsLinkOptions *options,
             void *owner, const LinkOwnerOps *owner_ops, const AcsLinkHandlers *handlers,
             void *handlers_userdata, AcsLink **ret);
/* Frees the link without callbacks. */
AcsLink *link_free(AcsLink *link);
/* Logs nothing; schedules the close with reason. */
void link_abort(AcsLink *link, int reason);

/* Queues bytes as they are, bypassing message encoding: lets tests play a broken peer. */
int link_queue_raw(AcsLink *link, const void *data, size_t size);

/* SSL_CTX for TLS 1.3 with external PSKs only, for either role. */
int link_tls_context_new(LinkRole role, SSL_CTX **ret);
/* Makes ssl talk over fd (not closing it), sending with MSG_NOSIGNAL. */
int link_tls_attach_fd(SSL *ssl, int fd);
/* Fills a session carrying the external PSK, for the PSK callbacks. */
SSL_SESSION *link_tls_psk_session_new(SSL *ssl, const uint8_t key[static ACS_PSK_SIZE]);

/* Formats "address:port" and the bare address of a socket address. */
void link_format_peer(const struct sockaddr *sa, char *peer, size_t peer_size, char *address, size_t address_size);

/* Copies options (NULL: none), filling zero fields with the role's defaults. */
void link_options_fill(AcsLinkOptions *ret, const AcsLinkOptions *options, LinkRole role);
