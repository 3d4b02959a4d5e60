/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-bus.h>

/* Commands on org.acs.VMM1 (one VM's agent, on that VM's bus). */
int ctl_vmm_status(sd_bus *bus);
int ctl_vmm_scale_to(sd_bus *bus, const char *count);
int ctl_vmm_call_id(sd_bus *bus, const char *method, const char *arg);
