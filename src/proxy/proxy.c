/* SPDX-License-Identifier: MIT */
/* acs-proxy: the ACS data plane, an HTTP/1.1 reverse proxy and load balancer. */
#include <stdlib.h>

#include "acs-config.h"
#include "acs-daemon.h"
#include "proxy-manager.h"

static const AcsDaemonInfo proxy_daemon = {
        .name = "acs-proxy",
        .description = "HTTP/1.1 reverse proxy and load balancer of Auto Cloud Scaler.\n",
        .default_config = PROXY_CONFIG_FILE,
        .stopping_status = "Finishing requests in flight.",
        .own_watchdog = true,
};

int main(int argc, char *argv[]) {
        _cleanup_(acs_daemon_freep) AcsDaemon *d = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        r = acs_daemon_new(&proxy_daemon, argc, argv, &d);
        if (r <= 0)
                return acs_daemon_exit_status(r);

        r = manager_new(d->event, &d->options, &m);
        if (r < 0)
                return EXIT_FAILURE;
        r = manager_load(m, d->options.config ?: PROXY_CONFIG_FILE);
        if (r < 0)
                return ACS_EXIT_CONFIG;
        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;
        acs_daemon_set_reload(d, manager_reload, m);

        /* Stopping and joining the workers is manager_free()'s. */
        return acs_daemon_run(d);
}
