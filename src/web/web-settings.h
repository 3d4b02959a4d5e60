/* SPDX-License-Identifier: MIT */
#pragma once

#include "web-server.h"

/*
 * acs-web is configured by its container's environment (the VMM sets it when it creates the
 * container); command-line options given by hand override it:
 *   ACS_PORT                 listening port (9100)
 *   ACS_WEB_LISTEN           listening IPv4 address (0.0.0.0)
 *   ACS_VM, ACS_SERVICE      named in every answer ("local", "web")
 *   ACS_CONTAINER            container name in answers (default: the Docker id from our cgroup,
 *                            else the host name)
 *   ACS_WEB_CPU              CPU limit when the cgroup has none (1)
 *   ACS_WEB_COST_MS          CPU time per request, overriding the cost model
 *   ACS_WEB_CLIENT_COST      honour a client's ?cost_ms= (no: it is ignored)
 *   ACS_WEB_MAX_COST_MS      upper bound of ACS_WEB_COST_MS and of ?cost_ms= (10000)
 *   ACS_WEB_WORKERS          threads burning request costs (4)
 *   ACS_WEB_MAX_CONNECTIONS  open connections at most (10000)
 *   ACS_WEB_GRACE_S          seconds to finish in-flight requests after SIGTERM (8)
 *   ACS_WEB_REQUEST_TIMEOUT_S seconds a request may take to arrive, from its first byte (10)
 * root is "/" except in tests (where /proc and /sys/fs/cgroup are read from).
 * Returns -EINVAL after logging which variable is wrong.
 */
int web_settings_from_environment(const char *root, WebSettings *ret);

/* Parses a port 1..65535. */
int web_parse_port(const char *s, uint16_t *ret);
