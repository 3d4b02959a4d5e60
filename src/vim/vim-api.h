/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The HTTP API and dashboard on one port: GET /api/v1/state, GET /api/v1/events (Server-Sent
 * Events), GET /metrics, POST /api/v1/probe, POST and DELETE /api/v1/load, the token-protected
 * mutations, and the dashboard's static files.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "acs-accept.h"
#include "acs-buf.h"
#include "acs-http-request.h"
#include "acs-time.h"
#include "acs-tls-server.h"
#include "vim-load-runner.h"

typedef struct VimManager VimManager;
typedef struct VimApiConnection VimApiConnection;
typedef struct VimProbe VimProbe;

#define VIM_API_LOG_REPLAY 100

typedef struct VimApi {
        VimManager *manager;
        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *tick;          /* the state event every second */
        AcsTlsServer *tls;              /* NULL: clear-text HTTP */
        AcsAcceptGuard accept_guard;    /* EMFILE: the listener pauses */
        VimApiConnection *connections;  /* list */
        unsigned n_connections;
        unsigned n_event_streams;
        usec_t cap_logged;              /* the last "connection limit reached" line */

        char *log_ring[VIM_API_LOG_REPLAY]; /* the last log events, as JSON */
        size_t log_head, log_n;

        VimLoadRunner load;             /* acs-load started from the API */
} VimApi;

int vim_api_start(VimManager *m, int fd);
VimApi *vim_api_free(VimApi *api);

/* --- vim-api-state.c */
json_object *vim_api_state_json(VimManager *m);
int vim_api_metrics_text(VimManager *m, AcsBuf *out);

/* --- vim-api-probe.c: POST /api/v1/probe */
/* Starts one GET through the proxy; the answer goes to c when it completes. */
int vim_api_probe_start(VimApi *api, VimApiConnection *c);
/* Ends the probe of a connection that goes away. */
void vim_api_probe_forget(VimApiConnection *c);
/* The connection's probe in flight (at most one: it reads no further request meanwhile). */
VimProbe **vim_api_connection_probe(VimApiConnection *c);

/* --- vim-api.c, for the helpers above */
void vim_api_connection_reply_json(VimApiConnection *c, int status, json_object *body);
void vim_api_connection_reply_error(VimApiConnection *c, int status, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
