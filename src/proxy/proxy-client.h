/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A client connection: reads requests (one at a time, pipelined ones wait in the input buffer
 * so that responses go out in order), hands each to the forwarding code, and writes responses.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>


#include "acs-buf.h"
#include "acs-time.h"
#include "acs-tls-stream.h"
#include "proxy-http.h"
#include "acs-list.h"
#include "proxy-worker.h"

typedef struct Worker Worker;
typedef struct Backend Backend;
typedef struct BackendConn BackendConn;
typedef struct H2Session H2Session;

typedef enum ClientState {
        CLIENT_IDLE,            /* between requests (keep-alive idle timeout) */
        CLIENT_HEAD,            /* reading a request head (the whole-head deadline runs) */
        CLIENT_FORWARD,         /* request dispatched: body and/or response flowing */
        CLIENT_CLOSING,         /* flushing the last bytes, then closing */
        CLIENT_LINGER,          /* written side shut, draining what the peer still sends */
        CLIENT_H2,              /* an HTTP/2 connection: its streams are the exchanges */
        CLIENT_DEAD,            /* closed, freed by the worker's cleanup */
} ClientState;

typedef enum ResponseFraming {
        FRAMING_NONE,           /* no body (HEAD, 1xx, 204, 304) */
        FRAMING_LENGTH,         /* Content-Length, copied */
        FRAMING_CHUNKED,        /* chunked in, chunked out (re-framed) */
        FRAMING_DECHUNK,        /* chunked in, raw out until close (HTTP/1.0 client) */
        FRAMING_EOF_CHUNKED,    /* until backend close in, chunked out */
        FRAMING_EOF,            /* until backend close in, until close out (HTTP/1.0 client) */
} ResponseFraming;

typedef struct Client {
        Worker *worker;
        LIST_FIELDS(struct Client, clients);

        int fd;
        AcsTlsStream stream;    /* fd's bytes, in clear or through TLS ([Tls]) */
        WorkerPoll poll;
        char peer[INET6_ADDRSTRLEN];
        bool peer_v6;
        bool tls;               /* came over TLS: X-Forwarded-Proto and Forwarded say https */
        unsigned addr_slot;

        AcsBuf in, out;
        HttpParser parser;
        ClientState state;
        usec_t deadline;        /* for the current state; USEC_INFINITY = none */
        bool peer_eof;

        /* the exchange in progress */
        Backend *backend;
        BackendConn *bconn;
        AcsBuf replay;          /* the head as sent, for one retry */
        bool replayable;
        bool retried;
        bool request_complete;
        bool response_started;  /* bytes of the final response went to the client */
        bool response_complete;
        bool keep_alive;
        bool http10;
        bool head_method;
        bool counted;           /* in_flight was raised for this exchange */
        bool queued;            /* waiting for room at a backend (parser paused) */
        unsigned n_requests;    /* answered on this connection */
        LIST_FIELDS(struct Client, queue);
        uint8_t framing;        /* ResponseFraming */
        unsigned status;
        usec_t started;
        uint64_t body_bytes;    /* of this request, read so far (for ClientBodyMinRate=) */
        const char *hash_key;
        size_t hash_key_len;

        /* HTTP/2 (proxy-h2.h). On a connection: its session. On a stream's Client (no socket
         * of its own): the connection's session, the stream, and what flows through it. */
        H2Session *h2;
        H2Session *h2_parent;
        LIST_FIELDS(struct Client, h2_streams);
        LIST_FIELDS(struct Client, h2_flush);   /* on the worker's list of connections to write */
        bool h2_flush_queued;
        int32_t stream_id;      /* 0: the stream is closed already */
        bool h2_chunked;        /* the request body goes to the parser as chunks */
        bool h2_headers_sent;
        uint64_t h2_unconsumed; /* DATA bytes taken into in, not yet given back to the windows */
        AcsBuf h2_trailers;     /* the response's trailer fields, "Name: value\r\n" lines */
} Client;

/* Takes over an accepted socket; -EUSERS when its address is over its connection limit. */
int client_new(Worker *w, int fd, const struct sockaddr_storage *peer, Client **ret);
/* The Client of a new HTTP/2 stream of connection conn; NULL when out of memory. */
Client *client_new_stream(Client *conn, int32_t stream_id);
Client *client_free(Client *c);
/* Closes now (the exchange, if any, is aborted); the memory goes at the worker's cleanup. */
void client_close(Client *c);
/* The exchange is over: wait for the next request, or close when not keep-alive. */
void client_exchange_done(Client *c);

/* Parses what is buffered and dispatches; called again when the exchange finished. */
void client_process(Client *c);
/* Writes out; closes the connection when CLOSING and everything went out. Returns -ECONNRESET
 * after freeing c. */
int client_flush(Client *c);
/* Recomputes which events the connection waits for. */
void client_update_events(Client *c);
/* Answers a locally generated response and closes when close_after. */
void client_reply_error(Client *c, unsigned status, bool close_after);
/* Waits for room at a backend (every one is at MaxConnectionsPerBackend=). */
void client_queue_push(Client *c);
/* Room at a backend: dispatch the oldest waiting requests of the worker. */
void client_queue_run(Worker *w);
/* Arms ClientBodyTimeout= while the request body is incomplete, disarms it after. */
void client_body_deadline(Client *c);
/* Called by the worker tick. */
void client_check_deadline(Client *c, usec_t now);
