/* SPDX-License-Identifier: MIT */
/*
 * acs-vmm: the VM agent. Runs this VM's web-server containers, measures them, reports to the
 * VIM and owns org.acs.VMM1.
 */
#include <stdlib.h>

#include "acs-config.h"
#include "acs-daemon.h"
#include "acs-log.h"
#include "vmm-config.h"
#include "vmm-manager.h"

static const AcsDaemonInfo vmm_daemon = {
        .name = "acs-vmm",
        .description = "The ACS VM agent: runs this VM's web-server containers, measures them, and\n"
                       "reports to the VIM. Owns org.acs.VMM1 on D-Bus.\n",
        .default_config = VMM_CONFIG_FILE,
        .stopping_status = "Stopping; containers keep running.",
};

int main(int argc, char *argv[]) {
        _cleanup_(acs_daemon_freep) AcsDaemon *d = NULL;
        _cleanup_(vmm_manager_freep) VmmManager *m = NULL;
        int r;

        r = acs_daemon_new(&vmm_daemon, argc, argv, &d);
        if (r <= 0)
                return acs_daemon_exit_status(r);

        r = vmm_manager_new_from_config(d->event, d->options.config, &m);
        if (r < 0)
                return r == -EBADMSG ? ACS_EXIT_CONFIG : EXIT_FAILURE;
        r = vmm_manager_connect_bus(m, d->options.bus_address);
        if (r < 0)
                return EXIT_FAILURE;
        r = vmm_manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        log_info("acs-vmm %s serving VM %s (capacity %u, min %u, %s).", ACS_VERSION, m->settings.name,
                 m->settings.capacity, m->settings.min_containers, vmm_state_to_string(m->state));
        acs_daemon_set_reload(d, vmm_manager_reload, m);
        acs_daemon_notify_ready(NULL);
        return acs_daemon_run(d);
}
