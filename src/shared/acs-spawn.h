/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <spawn.h>

/*
 * Spawn attributes for a child of an sd-event daemon. The daemon blocks the signals it handles
 * (SIGTERM, SIGINT, SIGCHLD) so sd-event can read them from a signalfd; a child inherits that
 * mask and would ignore a SIGTERM sent to stop it. Give children an empty mask and default
 * dispositions. Returns 0 or a positive errno, as posix_spawn does.
 */
static inline int acs_spawnattr_init_clean(posix_spawnattr_t *attr) {
        sigset_t empty, all;
        int r;

        r = posix_spawnattr_init(attr);
        if (r != 0)
                return r;
        sigemptyset(&empty);
        sigfillset(&all);
        r = posix_spawnattr_setsigmask(attr, &empty);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(attr, &all);
        if (r == 0)
                r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (r != 0)
                (void) posix_spawnattr_destroy(attr);
        return r;
}
