/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Our container image, acs-web:<version>. A VM needs nothing but Docker and the package: when
 * the image is missing, it is built through the Engine API from the packaged static acs-web
 * binary ([Docker] WebBinary=), FROM scratch, in memory.
 */

typedef struct VmmManager VmmManager;

/* error: 0 when the image is there, else a negative errno and a message for the log. */
typedef void (*VmmImageReady)(VmmManager *m, int error, const char *message);

/* Inspects the image and builds it when missing; calls done once, from the event loop. */
void vmm_image_ensure(VmmManager *m, VmmImageReady done);
