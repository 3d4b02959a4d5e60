/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * acs-web's server: one epoll loop that accepts, reads, parses and answers, and a small pool
 * of workers that burn the CPU cost of "/" requests. SIGTERM (or SIGINT) closes the listening
 * socket, turns /readyz to 503, lets in-flight requests finish and returns once they did, or
 * once the grace time ran out.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "acs-time.h"
#include "web-cost.h"
#include "web-workers.h"

typedef struct WebSettings {
        char listen_address[64];
        uint16_t port;
        char vm[128];
        char service[128];
        char container[128];
        WebCost cost;
        bool client_cost;               /* ?cost_ms= is honoured (ACS_WEB_CLIENT_COST=1); else ignored */
        double max_cost_ms;             /* bound of ?cost_ms= when honoured */
        unsigned n_workers;
        unsigned max_connections;
        usec_t grace;                   /* after SIGTERM, time for in-flight requests */
        usec_t idle_timeout;            /* keep-alive connection without a request */
        usec_t request_timeout;         /* a request that does not arrive completely, from its first byte */
} WebSettings;

/* Room for the escaped identity: three fields of up to 127 bytes, 6 bytes each at worst. */
#define WEB_IDENTITY_MAX 2400

typedef struct WebConnection WebConnection;

typedef struct WebServer {
        WebSettings settings;
        int epoll_fd;
        int listen_fd;
        int signal_fd;
        WebWorkers *workers;

        WebConnection *connections;     /* every open connection, for timeouts and draining */
        unsigned n_connections;
        bool accepting;                 /* listen_fd is in the epoll set with EPOLLIN */

        bool draining;                  /* SIGTERM seen: finish what is in flight, then exit */
        usec_t drain_deadline;

        uint64_t n_requests;            /* "/" requests started, the "request" of the answer */
        uint64_t n_in_flight;           /* requests whose cost is being burned */
        char *identity_json;            /* "\"vm\":…,\"container\":…,\"service\":…" escaped once */
        size_t identity_json_len;       /* < WEB_IDENTITY_MAX */
        char date[40];                  /* the Date header's value, formatted once a second */
        time_t date_time;
} WebServer;

int web_server_new(const WebSettings *settings, WebServer **ret);
WebServer *web_server_free(WebServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(WebServer *, web_server_free);

/* Runs until stopped; returns 0 when every in-flight request finished, -ETIMEDOUT when the
 * grace time ran out first, <0 on a setup error. */
int web_server_run(WebServer *s);

/* Called by connections when they close, so the server may accept again. */
void web_server_connection_closed(WebServer *s, WebConnection *c);
