/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The admin listener (AdminListen=, or the socket-activated "admin"): GET /metrics in the
 * Prometheus text format, GET /healthz. Served from the main thread, one request per connection.
 */

typedef struct Manager Manager;
typedef struct Admin Admin;

int admin_new(Manager *m, Admin **ret);
Admin *admin_free(Admin *a);

/* The Prometheus text of the proxy's counters (also used by tests). */
char *proxy_metrics_text(Manager *m);
