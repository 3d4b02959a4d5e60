/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-bus.h>

/* Commands on org.acs.VIM1 (the front host's controller). argv[0] is the command name. */
int ctl_vim_status(sd_bus *bus);
int ctl_vim_vms(sd_bus *bus);
int ctl_vim_backends(sd_bus *bus);
int ctl_vim_policy(sd_bus *bus, int argc, char **argv);
int ctl_vim_scale(sd_bus *bus, const char *count);
int ctl_vim_vm_state(sd_bus *bus, const char *method, const char *vm);
int ctl_vim_drain(sd_bus *bus, const char *container);
int ctl_vim_top(sd_bus *bus, unsigned iterations);
