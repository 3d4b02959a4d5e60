/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

/* One VM name a line: the VIM's VMs. */
int ctl_list_vms(sd_bus *bus);

/* One container id a line: the VIM's backend set, or with vmm the VM agent's containers. */
int ctl_list_containers(sd_bus *bus, bool vmm);
