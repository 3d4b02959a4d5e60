/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HTTP requests on libcurl's multi interface, driven by sd-event: curl tells us which sockets
 * to watch and when to wake it (socket and timer callbacks), sd-event does the waiting, so
 * nothing ever blocks the loop. Modelled on systemd's src/shared/curl-util.c.
 *
 * A request either collects its whole body (bounded by max_body) and gets on_done once, or,
 * with on_data set, streams each chunk as it arrives (the Docker /events stream, an etcd watch).
 */

#include <curl/curl.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "acs-buf.h"
#include "acs-macro.h"
#include "acs-time.h"

typedef struct AcsCurl AcsCurl;
typedef struct AcsHttp AcsHttp;

/* error: 0, or a negative errno when no HTTP answer came (-ECONNREFUSED, -ENOENT for a
 * missing unix socket, -ETIMEDOUT, -ENOBUFS for a body over max_body, -EPROTO). status: the
 * HTTP status (0 without an answer). The request is freed right after this returns. */
typedef void (*AcsHttpDone)(AcsHttp *h, int error, long status, AcsBuf *body, void *userdata);
/* A chunk of a streamed body; return a negative errno to abort the request. It runs inside a
 * curl callback, where curl forbids starting or cancelling requests: defer such work. */
typedef int (*AcsHttpData)(AcsHttp *h, const void *p, size_t n, void *userdata);

typedef struct AcsHttpOptions {
        const char *url;
        const char *unix_socket;        /* NULL: TCP */
        const char *ca_file;            /* https: the CA that signs the server; NULL: the system's */
        const char *cert_file;          /* https: client certificate (PEM), with key_file */
        const char *key_file;
        const char *method;             /* NULL: GET (or POST with a body) */
        const void *body;
        size_t body_size;
        const char *content_type;       /* for body */
        usec_t timeout;                 /* 0: none (streams) */
        size_t max_body;                /* 0: 16 MiB */
        AcsHttpDone on_done;
        AcsHttpData on_data;
        void *userdata;
        void (*destroy)(void *userdata); /* called when the request is freed, done or not */
} AcsHttpOptions;

AcsCurl *acs_curl_new(sd_event *event);
/* Drops every request without calling its callbacks. */
AcsCurl *acs_curl_free(AcsCurl *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsCurl *, acs_curl_free);

/* Starts a request; *ret_http (optional) lets the caller cancel it until on_done ran. */
int acs_http_start(AcsCurl *g, const AcsHttpOptions *o, AcsHttp **ret_http);
/* Stops a request without calling its callbacks. Accepts NULL; returns NULL. */
AcsHttp *acs_http_cancel(AcsHttp *h);
