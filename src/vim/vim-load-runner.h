/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * POST /api/v1/load: acs-load against the front proxy for a bounded time, as a child process
 * watched on the event loop. One run at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "acs-time.h"

typedef struct VimSettings VimSettings;

typedef struct VimLoadRunner {
        sd_event *event;
        const VimSettings *settings;    /* LoadCommand=, ProxyUrl= */
        pid_t pid;                      /* 0: no run */
        sd_event_source *child;
        unsigned users;
        usec_t end;                     /* realtime */
} VimLoadRunner;

void vim_load_runner_init(VimLoadRunner *r, sd_event *event, const VimSettings *settings);
/* Stops a run and forgets it. */
void vim_load_runner_done(VimLoadRunner *r);

/* Starts a run; on failure returns a negative errno with a reason a person can read in error. */
int vim_load_runner_start(VimLoadRunner *r, unsigned users, unsigned duration_s, char *error, size_t error_size);
/* Asks the run to end (SIGINT: acs-load prints its summary); 0 when none was going. */
int vim_load_runner_stop(VimLoadRunner *r);

static inline bool vim_load_runner_is_running(const VimLoadRunner *r) {
        return r->pid > 0;
}
