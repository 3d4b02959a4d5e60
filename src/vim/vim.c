/* SPDX-License-Identifier: MIT */
/*
 * acs-vim: the control plane. Accepts the VMMs' agents, keeps the cluster model, decides
 * scaling and placement, feeds the proxy its backends over D-Bus and serves the API.
 */
#include <stdlib.h>

#include "acs-config.h"
#include "acs-daemon.h"
#include "acs-log.h"
#include "vim-manager.h"
#include "vim-state.h"

static const AcsDaemonInfo vim_daemon = {
        .name = "acs-vim",
        .description = "The ACS control plane: agents, scaling, placement, org.acs.VIM1 and the HTTP API.\n",
        .default_config = VIM_CONFIG_FILE,
};

int main(int argc, char *argv[]) {
        _cleanup_(acs_daemon_freep) AcsDaemon *d = NULL;
        _cleanup_(vim_manager_freep) VimManager *m = NULL;
        int r;

        r = acs_daemon_new(&vim_daemon, argc, argv, &d);
        if (r <= 0)
                return acs_daemon_exit_status(r);

        r = vim_manager_new(d->event, &d->options, &m);
        if (r < 0)
                return r == -EINVAL || r == -ENOENT || r == -EBADMSG ? ACS_EXIT_CONFIG : EXIT_FAILURE;
        r = vim_manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        acs_daemon_set_reload(d, vim_manager_reload, m);
        acs_daemon_notify_ready("Waiting for VMMs to register before taking org.acs.VIM1.");
        r = acs_daemon_run(d);
        log_info("Stopped.");
        return r;
}
