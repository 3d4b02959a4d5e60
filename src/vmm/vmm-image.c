/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-docker-build.h"
#include "vmm-engine.h"

static void image_inspected(VmmDocker *d, int error, long status, json_object *reply, const char *tag, void *userdata);

static void image_finish(VmmEngine *e, int error, const char *message) {
        VmmImageReady done = e->image_done;

        e->image_done = NULL;
        if (done)
                done(e, error, message);
}

static void image_built(VmmDocker *d, int error, long status, json_object *reply, const char *tag, void *userdata) {
        VmmEngine *e = userdata;
        char message[128];
        int r;

        if (error < 0) {
                vmm_engine_failed(e, error);
                image_finish(e, error, "Docker Engine went away during the build");
                return;
        }
        if (status != 200) {
                snprintf(message, sizeof(message), "the Engine refused the build (HTTP %ld)", status);
                image_finish(e, -EPROTO, message);
                return;
        }
        /* The build answers 200 before knowing whether it worked: look at the result. */
        e->image_built = true;
        r = vmm_docker_inspect_image(d, tag, image_inspected, e);
        if (r < 0)
                image_finish(e, r, "cannot inspect the built image");
}

static int image_build(VmmEngine *e) {
        _cleanup_(acs_buf_done) AcsBuf context = {};
        const char *version = strchr(e->settings->image, ':') + 1;
        int r;

        r = acs_web_image_context(e->settings->web_binary, version, &context);
        if (r < 0)
                return log_error_errno(r, "Failed to make the build context of %s from %s: %m", e->settings->image,
                                       e->settings->web_binary);
        log_info("Image %s is missing, building it from %s.", e->settings->image, e->settings->web_binary);
        return vmm_docker_build_image(e->docker, e->settings->image, &context, image_built, e);
}

static void image_inspected(VmmDocker *d, int error, long status, json_object *reply, const char *tag, void *userdata) {
        VmmEngine *e = userdata;
        bool after_build = e->image_built;      /* a second miss is final */
        int r;

        if (error < 0) {
                vmm_engine_failed(e, error);
                image_finish(e, error, "Docker Engine is not answering");
                return;
        }
        if (status == 200) {
                image_finish(e, 0, NULL);
                return;
        }
        if (status != 404 || after_build) {
                image_finish(e, -ENOENT, after_build ? "the build did not produce it" : vmm_docker_error_message(reply));
                return;
        }

        r = image_build(e);
        if (r < 0)
                image_finish(e, r, "it is missing and could not be built");
}

void vmm_image_ensure(VmmEngine *e, VmmImageReady done) {
        int r;

        e->image_done = done;
        e->image_built = false;
        r = vmm_docker_inspect_image(e->docker, e->settings->image, image_inspected, e);
        if (r < 0)
                image_finish(e, r, "cannot ask the Docker Engine");
}
