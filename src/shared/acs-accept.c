/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "acs-accept.h"
#include "acs-log.h"
#include "acs-macro.h"

#define ACCEPT_LOG_INTERVAL (10 * USEC_PER_SEC)

void acs_accept_guard_init(AcsAcceptGuard *g, sd_event_source *listen, const char *what) {
        *g = (AcsAcceptGuard) { .listen = listen, .what = what };
}

void acs_accept_guard_done(AcsAcceptGuard *g) {
        g->timer = sd_event_source_disable_unref(g->timer);
        g->listen = NULL;
        g->paused = false;
}

bool acs_accept_error_is_resource(int error) {
        return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

static int guard_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        acs_accept_guard_resume(userdata);
        return 0;
}

/* Whether a pause should be logged now: once, then at most every ACCEPT_LOG_INTERVAL. */
static bool guard_should_log(AcsAcceptGuard *g) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        g->n_pauses++;
        if (g->last_logged != 0 && g->last_logged + ACCEPT_LOG_INTERVAL > now)
                return false;
        g->last_logged = now;
        return true;
}

static void guard_pause(AcsAcceptGuard *g) {
        int r;

        if (g->timer)
                r = sd_event_source_set_time_relative(g->timer, ACS_ACCEPT_PAUSE);
        else
                r = sd_event_add_time_relative(sd_event_source_get_event(g->listen), &g->timer, CLOCK_MONOTONIC,
                                               ACS_ACCEPT_PAUSE, 10 * USEC_PER_MSEC, guard_on_timer, g);
        if (r < 0)
                return; /* without a timer, better spin than stop accepting for good */
        (void) sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
        (void) sd_event_source_set_enabled(g->listen, SD_EVENT_OFF);
        g->paused = true;
}

void acs_accept_guard_pause(AcsAcceptGuard *g, int error) {
        if (g->paused || !g->listen)
                return;
        if (guard_should_log(g))
                (void) log_warning_errno(error, "Cannot accept %s (%m): pausing until one closes (%llu pauses so far).",
                                         g->what, g->n_pauses);
        guard_pause(g);
}

void acs_accept_guard_pause_at_limit(AcsAcceptGuard *g, unsigned limit) {
        if (g->paused || !g->listen)
                return;
        if (guard_should_log(g))
                log_warning("Connection limit of %u %s reached: not accepting more until one closes (%llu pauses so far).",
                            limit, g->what, g->n_pauses);
        guard_pause(g);
}

void acs_accept_guard_resume(AcsAcceptGuard *g) {
        if (!g->paused)
                return;
        g->paused = false;
        if (g->timer)
                (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
        if (g->listen)
                (void) sd_event_source_set_enabled(g->listen, SD_EVENT_ON);
}
