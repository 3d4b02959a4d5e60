/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-docker.h"
#include "vmm-image.h"
#include "vmm-manager.h"

#include "acs-docker-build.h"

static void image_inspected(VmmDocker *d, int error, long status, json_object *reply, const char *tag, void *userdata);

static void image_finish(VmmManager *m, int error, const char *message) {
        VmmImageReady done = m->image_done;

        m->image_done = NULL;
        if (done)
                done(m, error, message);
}

static void image_built(VmmDocker *d, int error, long status, json_object *reply, const char *tag, void *userdata) {
        VmmManager *m = userdata;
        char message[128];
        int r;

        if (error < 0) {
                vmm_manager_docker_failed(m, error);
                image_finish(m, error, "Docker Engine went away during the build");
                return;
        }
        if (status != 200) {
                snprintf(message, sizeof(message), "the Engine refused the build (HTTP %ld)", status);
                image_finish(m, -EPROTO, message);
                return;
        }
        /* The build answers 200 before knowing whether it worked: look at the result. */
        m->image_built = true;
        r = vmm_docker_inspect_image(d, tag, image_inspected, m);
        if (r < 0)
                image_finish(m, r, "cannot inspect the built image");
}

static int image_build(VmmManager *m) {
        _cleanup_(acs_buf_done) AcsBuf context = {};
        const char *version = strchr(m->settings.image, ':') + 1;
        int r;

        r = acs_web_image_context(m->settings.web_binary, version, &context);
        if (r < 0)
                return log_error_errno(r, "Failed to make the build context of %s from %s: %m", m->settings.image,
                                       m->settings.web_binary);
        log_info("Image %s is missing, building it from %s.", m->settings.image, m->settings.web_binary);
        return vmm_docker_build_image(m->docker, m->settings.image, &context, image_built, m);
}

static void image_inspected(VmmDocker *d, int error, long status, json_object *reply, const char *tag, void *userdata) {
        VmmManager *m = userdata;
        bool after_build = m->image_built;      /* a second miss is final */
        int r;

        if (error < 0) {
                vmm_manager_docker_failed(m, error);
                image_finish(m, error, "Docker Engine is not answering");
                return;
        }
        if (status == 200) {
                image_finish(m, 0, NULL);
                return;
        }
        if (status != 404 || after_build) {
                image_finish(m, -ENOENT, after_build ? "the build did not produce it" : vmm_docker_error_message(reply));
                return;
        }

        r = image_build(m);
        if (r < 0)
                image_finish(m, r, "it is missing and could not be built");
}

void vmm_image_ensure(VmmManager *m, VmmImageReady done) {
        int r;

        m->image_done = done;
        m->image_built = false;
        r = vmm_docker_inspect_image(m->docker, m->settings.image, image_inspected, m);
        if (r < 0)
                image_finish(m, r, "cannot ask the Docker Engine");
}
