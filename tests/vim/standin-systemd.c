/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for systemd's manager in the VM-tier tests, with faults to inject: owns
 * org.freedesktop.systemd1 on a private bus and answers StartUnit, StopUnit and Subscribe the
 * way PID 1 does (a job path at once, JobRemoved(id, job, unit, result) when the job ends).
 * A started unit runs its command (a simulated VMM); a stopped one is sent SIGTERM and its job
 * ends once the process is gone. GetUnit and the unit's ActiveState (with PropertiesChanged) are
 * there too: a command that ends by itself leaves its unit "failed".
 *
 *   standin-systemd --bus-address=ADDR [--unit=NAME=COMMAND]... [--unit-path=DIR]
 *                   [--fail=NAME]... [--refuse=NAME]...
 *
 * --unit-path: a unit not given with --unit is loaded, when first asked for, from DIR/NAME, a
 * unit file whose ExecStart= is its command (what tools/demo.sh writes for systemd).
 * --fail: the unit's start job ends with result "failed"; --refuse: StartUnit answers
 * org.freedesktop.systemd1.NoSuchUnit. Every call is logged on stdout, one line each.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "acs-bus.h"

#define MAX_UNITS 16

typedef struct Unit {
        const char *name, *command;
        bool fail, refuse;
        pid_t pid;
        sd_event_source *child;
        uint32_t stop_job;      /* a stop job waiting for the process to end */
        const char *active_state;
} Unit;

static Unit units[MAX_UNITS];
static unsigned n_units;
static uint32_t next_job = 1;
static sd_bus *bus;
static sd_event *event;
static const char *unit_path_dir;

static Unit *unit_find(const char *name, bool add) {
        for (unsigned i = 0; i < n_units; i++)
                if (strcmp(units[i].name, name) == 0)
                        return &units[i];
        if (!add || n_units == MAX_UNITS)
                return NULL;
        units[n_units].name = name;
        return &units[n_units++];
}

/* The ExecStart= of DIR/NAME, as a unit the stand-in knows from then on; NULL if there is none. */
static Unit *unit_load(const char *name) {
        char path[4096], line[4096];
        FILE *f;
        Unit *u = unit_find(name, false);

        if (u || !unit_path_dir || strchr(name, '/'))
                return u;
        snprintf(path, sizeof(path), "%s/%s", unit_path_dir, name);
        f = fopen(path, "re");
        if (!f)
                return NULL;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "ExecStart=", 10) == 0) {
                        line[strcspn(line, "\n")] = 0;
                        u = unit_find(strdup(name), true);
                        if (u)
                                u->command = strdup(line + 10);
                        break;
                }
        fclose(f);
        return u;
}

static void job_removed(uint32_t id, const char *unit, const char *result) {
        char path[64];

        snprintf(path, sizeof(path), "/org/freedesktop/systemd1/job/%u", id);
        printf("JobRemoved %u %s %s\n", id, unit, result);
        fflush(stdout);
        (void) sd_bus_emit_signal(bus, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                  "JobRemoved", "uoss", id, path, unit, result);
}

static void unit_path(const Unit *u, char *buf, size_t size) {
        snprintf(buf, size, "/org/freedesktop/systemd1/unit/%u", (unsigned) (u - units));
}

static void unit_set_state(Unit *u, const char *state) {
        char path[64];

        u->active_state = state;
        unit_path(u, path, sizeof(path));
        (void) sd_bus_emit_properties_changed(bus, path, "org.freedesktop.systemd1.Unit", "ActiveState", NULL);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Unit *u = userdata;

        /* A main process that ends by itself fails the unit, as Restart=no would. */
        unit_set_state(u, u->stop_job || (si->si_code == CLD_EXITED && si->si_status == 0) ? "inactive" : "failed");
        u->pid = 0;
        u->child = sd_event_source_unref(u->child);
        if (u->stop_job) {
                job_removed(u->stop_job, u->name, "done");
                u->stop_job = 0;
        }
        return 0;
}

static int unit_start(Unit *u, uint32_t job) {
        pid_t pid;

        if (u->fail || !u->command) {
                job_removed(job, u->name, "failed");
                return 0;
        }
        if (u->pid == 0) {
                pid = fork();
                if (pid < 0)
                        return -errno;
                if (pid == 0) {
                        sigset_t none;
                        char *line;

                        /* the mask sd-event needs here would keep SIGTERM from the command */
                        sigemptyset(&none);
                        sigprocmask(SIG_SETMASK, &none, NULL);
                        /* and the command ends with us, however we end */
                        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                        /* exec: SIGTERM reaches the command itself, not a shell around it */
                        if (asprintf(&line, "exec %s", u->command) < 0)
                                _exit(127);
                        execl("/bin/sh", "sh", "-c", line, (char *) NULL);
                        _exit(127);
                }
                u->pid = pid;
                (void) sd_event_add_child(event, &u->child, pid, WEXITED, on_child, u);
                u->active_state = "active";
        }
        job_removed(job, u->name, "done");
        return 0;
}

static int method_unit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        bool start = strcmp(sd_bus_message_get_member(m), "StartUnit") == 0;
        const char *name, *mode;
        char path[64];
        uint32_t job = next_job++;
        Unit *u;
        int r;

        r = sd_bus_message_read(m, "ss", &name, &mode);
        if (r < 0)
                return r;
        printf("%s %s %s\n", start ? "StartUnit" : "StopUnit", name, mode);
        fflush(stdout);
        u = unit_load(name);
        if (!u || (start && u->refuse))
                return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit", "Unit %s not found.", name);
        snprintf(path, sizeof(path), "/org/freedesktop/systemd1/job/%u", job);
        r = sd_bus_reply_method_return(m, "o", path);
        if (r < 0)
                return r;
        /* The reply goes first, the job's end after, as with PID 1. */
        if (start)
                return unit_start(u, job);
        if (u->pid == 0)
                job_removed(job, u->name, "done");
        else {
                u->stop_job = job;
                (void) kill(u->pid, SIGTERM);
        }
        return 0;
}

static int method_get_unit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name;
        char path[64];
        Unit *u;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        u = unit_load(name);
        if (!u)
                return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit", "Unit %s not loaded.", name);
        unit_path(u, path, sizeof(path));
        return sd_bus_reply_method_return(m, "o", path);
}

static int unit_find_by_path(sd_bus *b, const char *path, const char *interface, void *userdata, void **found,
                             sd_bus_error *error) {
        const char *prefix = "/org/freedesktop/systemd1/unit/";
        unsigned i;

        if (strncmp(path, prefix, strlen(prefix)) != 0 || sscanf(path + strlen(prefix), "%u", &i) != 1 ||
            i >= n_units)
                return 0;
        *found = &units[i];
        return 1;
}

static int property_active_state(sd_bus *b, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Unit *u = userdata;

        return sd_bus_message_append(reply, "s", u->active_state ? u->active_state : "inactive");
}

static const sd_bus_vtable unit_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("ActiveState", "s", property_active_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

static int method_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("StartUnit", "ss", "o", method_unit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("StopUnit", "ss", "o", method_unit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Subscribe", "", "", method_subscribe, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetUnit", "s", "o", method_get_unit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("JobRemoved", "uoss", 0),
        SD_BUS_VTABLE_END,
};

static int parse_args(int argc, char **argv, const char **ret_address) {
        static const struct option options[] = {
                { "bus-address", required_argument, NULL, 'b' },
                { "unit", required_argument, NULL, 'u' },
                { "fail", required_argument, NULL, 'f' },
                { "refuse", required_argument, NULL, 'r' },
                { "unit-path", required_argument, NULL, 'p' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                char *eq;
                Unit *u;

                if (c == 'b') {
                        *ret_address = optarg;
                        continue;
                }
                if (c == 'p') {
                        unit_path_dir = optarg;
                        continue;
                }
                if (c != 'u' && c != 'f' && c != 'r')
                        return -EINVAL;
                eq = c == 'u' ? strchr(optarg, '=') : NULL;
                if (eq)
                        *eq = 0;
                u = unit_find(optarg, true);
                if (!u)
                        return -E2BIG;
                u->command = eq ? eq + 1 : u->command;
                u->fail |= c == 'f';
                u->refuse |= c == 'r';
        }
        return *ret_address ? 0 : -EINVAL;
}

int main(int argc, char **argv) {
        const char *address = NULL;
        sigset_t mask;
        int r;

        if (parse_args(argc, argv, &address) < 0) {
                fprintf(stderr, "usage: standin-systemd --bus-address=ADDR [--unit=NAME=COMMAND] [--unit-path=DIR] [--fail=NAME] [--refuse=NAME]\n");
                return 2;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = acs_bus_open(address, &bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                             manager_vtable, NULL);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(bus, NULL, "/org/freedesktop/systemd1/unit", "org.freedesktop.systemd1.Unit",
                                               unit_vtable, unit_find_by_path, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, 0);
        if (r < 0) {
                fprintf(stderr, "standin-systemd: %s\n", strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);
        r = sd_event_loop(event);
        for (unsigned i = 0; i < n_units; i++)
                if (units[i].pid > 0)
                        (void) kill(units[i].pid, SIGTERM);
        return r < 0 ? 1 : 0;
}
