/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-spawn.h"
#include "vim-config.h"
#include "vim-load-runner.h"

extern char **environ;

void vim_load_runner_init(VimLoadRunner *r, sd_event *event, const VimSettings *settings) {
        *r = (VimLoadRunner) { .event = event, .settings = settings };
}

void vim_load_runner_done(VimLoadRunner *r) {
        (void) vim_load_runner_stop(r);
        r->child = sd_event_source_disable_unref(r->child);
        r->pid = 0;
}

static int load_on_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        VimLoadRunner *r = userdata;

        log_event(LOG_INFO, "load", NULL, NULL, "Load run of %u users ended: %s %d.", r->users,
                  si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
        r->pid = 0;
        r->child = sd_event_source_disable_unref(r->child);
        return 0;
}

int vim_load_runner_start(VimLoadRunner *lr, unsigned users, unsigned duration_s, char *error, size_t error_size) {
        const VimSettings *s = lr->settings;
        char users_s[16], duration_str[16];
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        pid_t pid;
        int r;

        if (lr->pid > 0) {
                (void) snprintf(error, error_size, "A load run is already going; DELETE /api/v1/load first.");
                return -EBUSY;
        }
        (void) snprintf(users_s, sizeof(users_s), "%u", users);
        (void) snprintf(duration_str, sizeof(duration_str), "%u", duration_s);

        r = acs_spawnattr_init_clean(&attr);
        if (r != 0) {
                (void) snprintf(error, error_size, "Failed to prepare %s: %s", s->load_command, strerror(r));
                return -r;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawn(&pid, s->load_command, &fa, &attr,
                        (char *[]) { s->load_command, (char *) "--url", s->proxy_url,
                                     (char *) "--users", users_s, (char *) "--duration", duration_str, NULL },
                        environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0) {
                (void) snprintf(error, error_size, "Failed to start %s: %s", s->load_command, strerror(r));
                return -r;
        }
        r = sd_event_add_child(lr->event, &lr->child, pid, WEXITED, load_on_exit, lr);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                (void) snprintf(error, error_size, "Failed to watch the load run: %s", strerror(-r));
                return r;
        }
        lr->pid = pid;
        lr->users = users;
        lr->end = now_usec(CLOCK_REALTIME) + duration_s * USEC_PER_SEC;
        log_event(LOG_INFO, "load", NULL, NULL, "Load run started: %u users for %u s against %s.", users, duration_s,
                  s->proxy_url);
        return 0;
}

int vim_load_runner_stop(VimLoadRunner *lr) {
        if (lr->pid <= 0)
                return 0;
        /* acs-load ends on SIGINT with its summary; the child source reaps it. */
        if (kill(lr->pid, SIGINT) < 0)
                return negative_errno();
        log_event(LOG_INFO, "load", NULL, NULL, "Load run of %u users stopped.", lr->users);
        return 1;
}
