/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One client connection of acs-web: non-blocking, edge-triggered in the server's epoll set.
 * Requests are read and answered in order, one at a time: while a request's cost is burned on
 * a worker the connection reads nothing more (pipelined requests wait in the socket), so each
 * connection holds at most one job and a bounded output buffer.
 */

#include <stdbool.h>
#include <stdint.h>

#include "acs-buf.h"
#include "acs-list.h"
#include "acs-http-request.h"
#include "acs-time.h"
#include "web-server.h"
#include "web-workers.h"

struct WebConnection {
        WebServer *server;
        int fd;
        AcsHttpRequestParser *parser;
        AcsBuf in;                      /* read, not yet parsed */
        AcsBuf out;                     /* answers not yet written */
        bool drained;                   /* the last read emptied the socket; wait for an edge */

        WebJob job;
        bool busy;                      /* job is with the workers */
        bool head;                      /* the busy request is a HEAD */
        bool keep_alive;                /* the busy request allows another one after it */
        uint64_t request_number;

        bool want_close;                /* close once out is written (and no job is running) */
        bool lingering;                 /* our side is shut down; reading what the client still sends */
        usec_t linger_deadline;
        usec_t last_activity;
        usec_t request_started;         /* first byte of the request being read; 0 between requests */

        LIST_FIELDS(WebConnection, connections);        /* in server->connections */
};

/* Takes over fd (closed on failure too), adds it to the epoll set and to the server's list. */
int web_connection_new(WebServer *s, int fd, WebConnection **ret);
/* Unhooks the connection from the server and closes it. Never call while busy. */
WebConnection *web_connection_free(WebConnection *c);

/* The socket is readable or writable (edge-triggered). The connection may be freed. */
void web_connection_dispatch(WebConnection *c, uint32_t events);
/* The worker finished c->job: answer, then go on with the next request. May free c. */
void web_connection_job_done(WebConnection *c);
/* SIGTERM: an idle connection is closed now, a busy one after its answer. May free c. */
void web_connection_drain(WebConnection *c);
/* Closes the connection when it waited too long for a request (408 if one had begun). */
void web_connection_check_timeout(WebConnection *c, usec_t now);
