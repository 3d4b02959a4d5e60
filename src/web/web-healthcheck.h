/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "acs-time.h"

/* `acs-web --healthcheck`: GET http://address:port/healthz. A FROM scratch image has no shell
 * or curl, so the image's HEALTHCHECK runs the server binary itself in this mode.
 * Returns 0 when the answer is 200, -EBADMSG for another answer, -errno when no answer came. */
int web_healthcheck(const char *address, uint16_t port, usec_t timeout);
