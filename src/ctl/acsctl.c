/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "acs-options.h"
#include "ctl-bus.h"
#include "ctl-list.h"
#include "ctl-vim.h"
#include "ctl-vmm.h"

static const char *arg_bus_address = NULL;
static bool arg_vmm = false;
static unsigned arg_iterations = 0;

static void help(void) {
        printf("acsctl [OPTIONS] COMMAND ...\n\n"
               "Looks at and steers Auto Cloud Scaler over D-Bus: org.acs.VIM1 on the front host,\n"
               "or with --vmm org.acs.VMM1 of one VM.\n\n"
               "Commands (VIM):\n"
               "  status                  VMs, backends and policy\n"
               "  vms                     one line per VM\n"
               "  backends                the proxy's backend set\n"
               "  top                     VMs, refreshed every second (--count N to stop)\n"
               "  policy [KEY=VALUE ...]  show the scaling policy, or change keys of it\n"
               "  scale N                 run N containers\n"
               "  drain CONTAINER         stop new requests to a container, then remove it\n"
               "  activate VM | standby VM\n"
               "  power-on VM | power-off VM  boot or stop a VM through its provider (systemd, libvirt)\n"
               "  load ARGS ...           run acs-load (simulated users) with ARGS\n"
               "  list-vms                VM names, one a line (for scripts)\n"
               "  list-containers         container ids in the backend set, one a line\n\n"
               "Commands (--vmm):\n"
               "  status | scale N | add | remove CONTAINER | drain CONTAINER | state active|standby\n"
               "  list-containers\n\n"
               "Options:\n"
               "  -h --help               show this help\n"
               "     --version            show the version\n"
               "     --bus=system|user    which bus (default: system)\n"
               "     --bus-address=ADDR   the bus at ADDR (a VM's bus in the demo: see /run/acs-demo/env)\n"
               "     --vmm                talk to the VM agent instead of the VIM\n"
               "     --count=N            with top: stop after N refreshes\n"
               "     --log-level=LEVEL    debug, info, notice, warning, err\n");
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_VMM = _ACS_ARG_COMMON_END, ARG_COUNT };
        static const struct option options[] = {
                ACS_COMMON_OPTIONS,
                { "vmm", no_argument, NULL, ARG_VMM },
                { "count", required_argument, NULL, ARG_COUNT },
                {},
        };
        int c, r;

        /* "+": stop at the first command word, so `acsctl load --users 5` passes --users on. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VMM:
                        arg_vmm = true;
                        break;
                case ARG_COUNT:
                        arg_iterations = (unsigned) strtoul(optarg, NULL, 10);
                        if (arg_iterations == 0)
                                return log_error_errno(EINVAL, "--count= takes a positive number.");
                        break;
                default:
                        r = acs_options_common(c, optarg, "acsctl", &arg_bus_address);
                        if (r < 0 || r == ACS_OPTION_DONE)
                                return r;
                        if (r == ACS_OPTION_UNKNOWN)
                                return -EINVAL;
                }
        return 1;
}

static int need_args(int argc, int n, const char *usage) {
        if (argc != n)
                return log_error_errno(EINVAL, "Usage: acsctl %s%s", arg_vmm ? "--vmm " : "", usage);
        return 0;
}

static int run_load(char **argv) {
        /* acs-load lives next to acsctl, in the build tree as in the package. */
        char self[4096], path[4200];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (n > 0) {
                char *slash;

                self[n] = 0;
                slash = strrchr(self, '/');
                if (slash) {
                        *slash = 0;
                        (void) snprintf(path, sizeof(path), "%s/../load/acs-load", self);
                        if (access(path, X_OK) == 0)
                                execv(path, argv);
                        (void) snprintf(path, sizeof(path), "%s/acs-load", self);
                        if (access(path, X_OK) == 0)
                                execv(path, argv);
                }
        }
        execvp("acs-load", argv);
        return log_error_errno(errno, "Failed to run acs-load: %m");
}

static int dispatch(sd_bus *bus, int argc, char **argv) {
        const char *verb = argv[0];
        int r;

        if (arg_vmm) {
                if (streq(verb, "status"))
                        return need_args(argc, 1, "status") ?: ctl_vmm_status(bus);
                if (streq(verb, "scale"))
                        return need_args(argc, 2, "scale N") ?: ctl_vmm_scale_to(bus, argv[1]);
                if (streq(verb, "add"))
                        return need_args(argc, 1, "add") ?: ctl_vmm_call_id(bus, "AddContainer", NULL);
                if (streq(verb, "remove"))
                        return need_args(argc, 2, "remove CONTAINER") ?: ctl_vmm_call_id(bus, "RemoveContainer", argv[1]);
                if (streq(verb, "drain"))
                        return need_args(argc, 2, "drain CONTAINER") ?: ctl_vmm_call_id(bus, "Drain", argv[1]);
                if (streq(verb, "state"))
                        return need_args(argc, 2, "state active|standby") ?: ctl_vmm_call_id(bus, "SetState", argv[1]);
                if (streq(verb, "list-containers"))
                        return need_args(argc, 1, "list-containers") ?: ctl_list_containers(bus, true);
        } else {
                if (streq(verb, "status"))
                        return need_args(argc, 1, "status") ?: ctl_vim_status(bus);
                if (streq(verb, "vms"))
                        return need_args(argc, 1, "vms") ?: ctl_vim_vms(bus);
                if (streq(verb, "backends"))
                        return need_args(argc, 1, "backends") ?: ctl_vim_backends(bus);
                if (streq(verb, "top"))
                        return need_args(argc, 1, "top") ?: ctl_vim_top(bus, arg_iterations);
                if (streq(verb, "policy"))
                        return ctl_vim_policy(bus, argc, argv);
                if (streq(verb, "scale"))
                        return need_args(argc, 2, "scale N") ?: ctl_vim_scale(bus, argv[1]);
                if (streq(verb, "drain"))
                        return need_args(argc, 2, "drain CONTAINER") ?: ctl_vim_drain(bus, argv[1]);
                if (streq(verb, "activate"))
                        return need_args(argc, 2, "activate VM") ?: ctl_vim_vm_state(bus, "Activate", argv[1]);
                if (streq(verb, "standby"))
                        return need_args(argc, 2, "standby VM") ?: ctl_vim_vm_state(bus, "Standby", argv[1]);
                if (streq(verb, "list-vms"))
                        return need_args(argc, 1, "list-vms") ?: ctl_list_vms(bus);
                if (streq(verb, "list-containers"))
                        return need_args(argc, 1, "list-containers") ?: ctl_list_containers(bus, false);
                if (streq(verb, "power-on"))
                        return need_args(argc, 2, "power-on VM") ?: ctl_vim_vm_state(bus, "PowerOn", argv[1]);
                if (streq(verb, "power-off"))
                        return need_args(argc, 2, "power-off VM") ?: ctl_vim_vm_state(bus, "PowerOff", argv[1]);
        }
        r = log_error_errno(EINVAL, "Unknown command \"%s\"%s; see acsctl --help.", verb, arg_vmm ? " for --vmm" : "");
        return r;
}

int main(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        log_setup_journal();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (optind >= argc) {
                help();
                return EXIT_FAILURE;
        }
        if (streq(argv[optind], "load"))
                return run_load(argv + optind) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = ctl_bus_open(arg_bus_address, &bus);
        if (r < 0)
                return EXIT_FAILURE;
        r = dispatch(bus, argc - optind, argv + optind);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
