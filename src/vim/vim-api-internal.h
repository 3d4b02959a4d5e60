/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Shared by the HTTP side's files: vim-api.c (connections, limits, event streams, static files)
 * and vim-api-routes.c (the route table and its handlers).
 */

#include <netinet/in.h>

#include "acs-list.h"
#include "acs-tls-stream.h"
#include "vim-api.h"

struct VimApiConnection {
        VimApi *api;
        LIST_FIELDS(VimApiConnection, connections);
        int fd;
        AcsTlsStream stream;    /* the bytes of fd, in clear or through TLS */
        sd_event_source *io;
        AcsHttpRequestParser *parser;
        AcsBuf in, out;
        char peer[INET6_ADDRSTRLEN + 8];
        bool sse;               /* an event stream: only events are written from now on */
        bool busy;              /* an answer is coming later (probe): read no further request */
        bool closing;           /* close once out is written */
        bool keep_alive;
        usec_t request_started; /* monotonic: the first byte of the request being read; 0: none */
        usec_t last_activity;   /* monotonic: accepted, or the last answer written */
        usec_t stalled_since;   /* monotonic: output is queued and none of it was written since */
        VimProbe *probe;        /* POST /api/v1/probe in flight */
};

/* Routes one complete request (vim-api-routes.c). */
void vim_api_handle_request(VimApiConnection *c, const AcsHttpRequest *req);

/* For the handlers (vim-api.c). */
void vim_api_connection_reply(VimApiConnection *c, int status, const char *content_type, const void *body,
                              size_t size, const char *extra_headers);
void vim_api_serve_events(VimApiConnection *c);
void vim_api_serve_static(VimApiConnection *c, const AcsHttpRequest *req, const char *path);
