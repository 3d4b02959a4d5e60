/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for the backend controller (acs-vim or acs-vmm) in the proxy tests: owns
 * org.acs.VIM1 (or org.acs.VMM1 with --vmm) on the given bus and serves GetBackends() from a
 * file, one backend per line: "ADDRESS PORT WEIGHT STATE [VM [CONTAINER]]". On SIGHUP it
 * re-reads the file, increases the generation and emits BackendsChanged(generation).
 *
 *   fake-controller --bus-address=ADDR --file=PATH [--vmm]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct FakeBackend {
        char address[64], state[16], vm[32], container[80];
        unsigned port, weight;
} FakeBackend;

static const char *arg_bus_address;
static const char *arg_file;
static const char *arg_name = "org.acs.VIM1";
static const char *arg_path = "/org/acs/VIM1";
static FakeBackend *backends;
static unsigned n_backends, alloc_backends;
static uint64_t generation = 1;

static int load_file(void) {
        FILE *f = fopen(arg_file, "re");
        char line[256];

        if (!f)
                return -errno;
        n_backends = 0;
        while (fgets(line, sizeof(line), f)) {
                FakeBackend *b;

                if (n_backends == alloc_backends) {
                        FakeBackend *p = realloc(backends, (alloc_backends * 2 + 64) * sizeof(FakeBackend));
                        if (!p) {
                                fclose(f);
                                return -ENOMEM;
                        }
                        backends = p;
                        alloc_backends = alloc_backends * 2 + 64;
                }
                b = &backends[n_backends];
                *b = (FakeBackend) {};
                if (sscanf(line, "%63s %u %u %15s %31s %79s", b->address, &b->port, &b->weight, b->state,
                           b->vm, b->container) >= 4)
                        n_backends++;
        }
        fclose(f);
        return 0;
}

static int method_get_backends(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "t", generation);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(squsss)");
        for (unsigned i = 0; r >= 0 && i < n_backends; i++)
                r = sd_bus_message_append(reply, "(squsss)", backends[i].address, (uint16_t) backends[i].port,
                                          (uint32_t) backends[i].weight, backends[i].state, backends[i].vm,
                                          backends[i].container);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("GetBackends", "", "ta(squsss)", method_get_backends, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("BackendsChanged", "t", 0),
        SD_BUS_VTABLE_END,
};

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        sd_bus *bus = userdata;

        if (load_file() < 0)
                fprintf(stderr, "cannot read %s\n", arg_file);
        generation++;
        (void) sd_bus_emit_signal(bus, arg_path, arg_name, "BackendsChanged", "t", generation);
        printf("generation %llu, %u backends\n", (unsigned long long) generation, n_backends);
        fflush(stdout);
        return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bus-address", required_argument, NULL, 'a' },
                { "file",        required_argument, NULL, 'f' },
                { "vmm",         no_argument,       NULL, 'v' },
                {}
        };
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        sigset_t mask;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'a':
                        arg_bus_address = optarg;
                        break;
                case 'f':
                        arg_file = optarg;
                        break;
                case 'v':
                        arg_name = "org.acs.VMM1";
                        arg_path = "/org/acs/VMM1";
                        break;
                default:
                        return 2;
                }
        if (!arg_bus_address || !arg_file) {
                fprintf(stderr, "usage: %s --bus-address=ADDR --file=PATH [--vmm]\n", argv[0]);
                return 2;
        }
        if (load_file() < 0) {
                fprintf(stderr, "cannot read %s\n", arg_file);
                return 1;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, arg_bus_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, 0);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, arg_path, arg_name, vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, arg_name, 0);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGHUP, on_sighup, bus);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, NULL);
        if (r < 0) {
                fprintf(stderr, "setup failed: %s\n", strerror(-r));
                return 1;
        }
        printf("ready, generation %llu, %u backends\n", (unsigned long long) generation, n_backends);
        fflush(stdout);
        r = sd_event_loop(event);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        return r < 0 ? 1 : 0;
}
