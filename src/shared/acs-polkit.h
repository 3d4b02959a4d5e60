/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Authorizing a D-Bus method call with polkit, without blocking the event loop.
 *
 * A method handler that changes state calls acs_polkit_check_async() and returns its result.
 * The check runs as systemd's bus-polkit.c explains: a caller with uid 0 is allowed at once;
 * anyone else is asked about with an asynchronous CheckAuthorization call to
 * org.freedesktop.PolicyKit1. Only when the answer says yes does `authorized` run, and only
 * then may it change anything; it replies to the call itself (or returns a negative errno /
 * sets ret_error, which become the error reply). A "no", or no polkit on the bus at all, is
 * answered with org.freedesktop.DBus.Error.AccessDenied and a sentence that names the action
 * and says what to do.
 *
 * Unlike systemd we do not re-dispatch the method call: the continuation is a callback,
 * which keeps the handler's "check before change" order plain to see.
 */

#include <systemd/sd-bus.h>

typedef int (*AcsPolkitAuthorized)(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

/* Returns 1 (the call will be answered later) or a negative errno; hand it back from the
 * method handler. what describes the change for the denial message ("scale containers"). */
int acs_polkit_check_async(sd_bus_message *m, const char *action, const char *what, AcsPolkitAuthorized authorized,
                           void *userdata, sd_bus_error *ret_error);
