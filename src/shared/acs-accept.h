/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What a listener does when accept() fails for want of file descriptors (EMFILE, ENFILE) or of
 * kernel memory (ENOBUFS, ENOMEM): the pending connection stays queued and the socket stays
 * readable, so a listener that only logs and returns spins on the event loop. Like HAProxy, it
 * stops watching the socket instead, and watches it again as soon as its owner closes a
 * connection (acs_accept_guard_resume()) or after a short pause, whichever comes first. One
 * warning per pause, at most one every ten seconds.
 */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "acs-time.h"

typedef struct AcsAcceptGuard {
        sd_event_source *listen;        /* borrowed: the owner's io source of the listening socket */
        sd_event_source *timer;         /* owned */
        const char *what;               /* "API connections", for the log line */
        bool paused;
        usec_t last_logged;
        unsigned long long n_pauses;
} AcsAcceptGuard;

/* The pause before the socket is watched again when no connection closed meanwhile. */
#define ACS_ACCEPT_PAUSE (100 * USEC_PER_MSEC)

void acs_accept_guard_init(AcsAcceptGuard *g, sd_event_source *listen, const char *what);
void acs_accept_guard_done(AcsAcceptGuard *g);

/* Whether accept() failed for want of resources (errno value, positive). */
bool acs_accept_error_is_resource(int error);
/* Stops watching the socket after such an error (errno value, positive). */
void acs_accept_guard_pause(AcsAcceptGuard *g, int error);
/* Stops watching it because the owner's connection limit is reached: new connections wait in
 * the kernel's backlog instead of being accepted and dropped. */
void acs_accept_guard_pause_at_limit(AcsAcceptGuard *g, unsigned limit);
/* Watches it again: call it whenever a connection closes. */
void acs_accept_guard_resume(AcsAcceptGuard *g);
