/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The VMM <-> VIM link: frames of JSON messages (acs-proto.h) over TLS 1.3, authenticated by
 * a pre-shared key per VM; the PSK identity is the VM name. There is no plain-text mode.
 *
 * Key exchange is psk_dhe_ke (PSK plus ephemeral ECDHE, OpenSSL's default for external PSKs),
 * so a key that leaks later does not open recorded traffic; the cipher is
 * TLS_AES_128_GCM_SHA256. No certificates are involved. Being plain TLS 1.3, the server can be
 * reached by hand for debugging:
 *   openssl s_client -tls1_3 -psk_identity vm1 -psk "$(cat vm1.key)" -connect 127.0.0.1:7070
 * and a key made with:  (umask 077; openssl rand -hex 32 > vm1.key)
 *
 * Everything runs non-blocking on the caller's sd-event loop. The server (the VIM) accepts
 * connections, runs the handshake under a deadline, looks the key up by the identity the client
 * offers, and refuses a peer address (and identity) for a growing time after failed handshakes.
 * The client (the VMM) connects, and after any failure or disconnect reconnects forever with
 * exponential back-off and jitter.
 *
 * Each connection is an AcsLink. The handlers see it from on_connect (handshake done, identity
 * proven) to on_disconnect; after on_disconnect returns, the link is freed. Every reason a link
 * closes (bad frame, bad message, wrong key, unknown VM, deadline, peer gone) is logged once by
 * the link layer, with ACS_VM= when the VM is known; the handlers only get the reason code.
 * Handlers may send on and close links, but must not free the server or client they belong to.
 *
 * Protocol rules the link enforces itself, closing the connection when they are broken:
 *   - the server accepts register, metrics, event and ack; the client accepts order and ack;
 *   - on the server, the first message is a register, and the vm of every register and metrics
 *     message equals the PSK identity.
 */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "acs-macro.h"
#include "acs-proto.h"
#include "acs-psk.h"
#include "acs-time.h"

#define ACS_LINK_HANDSHAKE_TIMEOUT_DEFAULT (5 * USEC_PER_SEC)
#define ACS_LINK_OUTPUT_MAX_DEFAULT ((size_t) 4 * 1024 * 1024)
#define ACS_LINK_SERVER_BACKOFF_INITIAL_DEFAULT (500 * USEC_PER_MSEC)
#define ACS_LINK_SERVER_BACKOFF_MAX_DEFAULT (60 * USEC_PER_SEC)
#define ACS_LINK_CLIENT_BACKOFF_INITIAL_DEFAULT (100 * USEC_PER_MSEC)
#define ACS_LINK_CLIENT_BACKOFF_MAX_DEFAULT (10 * USEC_PER_SEC)
/* After an established link ends (a VIM restart, a leader change), the client retries at least
 * this often for the window below: the VIM's GracePeriod= (3 s by default) must see every VMM
 * back before it decides, and a doubled back-off would reach several seconds by then. */
#define ACS_LINK_CLIENT_RETRY_AFTER_LOSS_MAX (1 * USEC_PER_SEC)
#define ACS_LINK_CLIENT_RETRY_AFTER_LOSS_WINDOW (60 * USEC_PER_SEC)
#define ACS_LINK_SERVER_HANDSHAKES_MAX 64       /* connections in handshake at once */
#define ACS_LINK_SERVER_HANDSHAKES_PER_SOURCE 16 /* of them from one address */

typedef struct AcsLink AcsLink;
typedef struct AcsLinkServer AcsLinkServer;
typedef struct AcsLinkClient AcsLinkClient;

/* Reasons a link closed, beyond plain errno values: */
#define ACS_LINK_CLOSED_LOCALLY 0               /* acs_link_close(link, 0) */
/*   -ECONNRESET   the peer closed the connection or reset it
 *   -ETIMEDOUT    handshake deadline passed
 *   -EKEYREJECTED the handshake failed (wrong key, not TLS 1.3, not TLS at all)
 *   -ENOKEY       the server has no key for the offered identity
 *   -EBADMSG      a frame or message was refused (zero length, bad JSON, wrong shape, ...)
 *   -EMSGSIZE     a frame over the size limit
 *   -EPROTO       a valid message that breaks the protocol rules above
 *   -ENOBUFS      the peer does not read: the output queue is full */

typedef struct AcsLinkHandlers {
        /* The handshake completed; vm is the proven identity. */
        void (*on_connect)(AcsLink *link, const char *vm, void *userdata);
        /* One valid message; m is freed after the call. */
        void (*on_message)(AcsLink *link, const AcsMessage *m, void *userdata);
        /* Only after on_connect. reason: ACS_LINK_CLOSED_LOCALLY or a negative errno above.
         * The link is freed when this returns. */
        void (*on_disconnect)(AcsLink *link, int reason, void *userdata);
} AcsLinkHandlers;

/* Zero fields take the defaults above. */
typedef struct AcsLinkOptions {
        usec_t handshake_timeout;
        size_t frame_max;               /* default ACS_FRAME_MAX_DEFAULT */
        size_t output_max;              /* bytes queued for sending, at most */
        usec_t backoff_initial;         /* server: refusal after a failed handshake; client: reconnect */
        usec_t backoff_max;
} AcsLinkOptions;

/* Looks up the key of a VM: 0 and the key, -ENOENT when there is none, or another negative errno. */
typedef int (*AcsLinkKeyLookup)(const char *vm, uint8_t ret_key[static ACS_PSK_SIZE], void *userdata);

/* A lookup reading <dir>/<vm>.key; pass the directory (a const char *) as key_userdata. */
int acs_link_key_lookup_directory(const char *vm, uint8_t ret_key[static ACS_PSK_SIZE], void *dir);

/* --- server (VIM) */

int acs_link_server_new(
                sd_event *event,
                const AcsLinkOptions *options,          /* NULL: defaults */
                AcsLinkKeyLookup key_lookup,
                void *key_userdata,
                const AcsLinkHandlers *handlers,
                void *userdata,
                AcsLinkServer **ret);
/* Frees every link without calling on_disconnect. */
AcsLinkServer *acs_link_server_free(AcsLinkServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsLinkServer *, acs_link_server_free);

/* Serves on a listening socket (e.g. from socket activation); takes fd over on success. */
int acs_link_server_listen_fd(AcsLinkServer *s, int fd);
/* Binds and listens on a numeric IPv4/IPv6 address; port 0 picks a free port. */
int acs_link_server_listen(AcsLinkServer *s, const char *address, uint16_t port);
/* The local port of the (first) listening socket. */
int acs_link_server_get_port(AcsLinkServer *s, uint16_t *ret);
/* Connected links (handshake done). */
unsigned acs_link_server_n_links(AcsLinkServer *s);

/* --- client (VMM) */

int acs_link_client_new(
                sd_event *event,
                const AcsLinkOptions *options,          /* NULL: defaults */
                const char *host,                       /* name or numeric address */
                uint16_t port,
                const char *vm,                         /* the PSK identity */
                const uint8_t key[static ACS_PSK_SIZE],
                const AcsLinkHandlers *handlers,
                void *userdata,
                AcsLinkClient **ret);
AcsLinkClient *acs_link_client_free(AcsLinkClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsLinkClient *, acs_link_client_free);

/* Another address of the server (a standby VIM): after a failed attempt or a lost link, the
 * client tries the next address in order, so it finds whichever one serves. */
int acs_link_client_add_address(AcsLinkClient *c, const char *host, uint16_t port);
/* Starts connecting now; from then on the client reconnects by itself until freed. */
int acs_link_client_start(AcsLinkClient *c);
/* The connected link, or NULL between connections. */
AcsLink *acs_link_client_get_link(AcsLinkClient *c);

/* --- a connected link */

/*
 * Queues m for sending with the next sequence number of this link (m->seq is ignored); the
 * number is returned in *ret_seq when given. Returns -EINVAL for a message the peer would refuse
 * (logged with the reason), -ENOTCONN once the link is closing, -ENOBUFS when the output queue
 * is full (the link is then closed: the peer does not read).
 */
int acs_link_send(AcsLink *link, const AcsMessage *m, uint64_t *ret_seq);
/* Sends an ack of seq with result (0 or -errno) and a message ("" when NULL). */
int acs_link_send_ack(AcsLink *link, uint64_t seq, int result, const char *message);

/* Closes the link; on_disconnect(link, reason) follows from the event loop, not from within
 * this call. reason: ACS_LINK_CLOSED_LOCALLY or a negative errno. */
void acs_link_close(AcsLink *link, int reason);

const char *acs_link_get_vm(const AcsLink *link);
/* "address:port" of the peer, for log lines. */
const char *acs_link_get_peer(const AcsLink *link);
/* The peer's address alone ("192.0.2.7", "2001:db8::7"), as the kernel gave it. */
const char *acs_link_get_peer_address(const AcsLink *link);
void acs_link_set_userdata(AcsLink *link, void *userdata);
void *acs_link_get_userdata(const AcsLink *link);
