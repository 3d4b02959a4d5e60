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
        return vmm_docker_build_image(e->docker, e->settings->image, &context, image_built, e);
}

/* Whether the image under the tag holds another acs-web than WebBinary=: its digest label
 * differs, or it has none (built by hand or by an older ACS). A binary that cannot be read
 * (an image shipped without one) keeps the image as it is. */
static bool image_is_stale(VmmEngine *e, json_object *reply) {
        char digest[ACS_SHA256_HEX_SIZE];
        json_object *config, *labels, *label;
        const char *have = NULL;

        if (acs_web_binary_sha256(e->settings->web_binary, digest) < 0)
                return false;
        if (json_object_object_get_ex(reply, "Config", &config) &&
            json_object_object_get_ex(config, "Labels", &labels) &&
            json_object_object_get_ex(labels, ACS_WEB_IMAGE_DIGEST_LABEL, &label) &&
            json_object_is_type(label, json_type_string))
                have = json_object_get_string(label);
        if (streq_ptr(have, digest))
                return false;
        log_notice("Image %s holds another acs-web than %s (sha256 %s, not %s), building it again.",
                   e->settings->image, e->settings->web_binary, have ? have : "unknown", digest);
        return true;
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
        if (status == 200 && (after_build || !image_is_stale(e, reply))) {
                image_finish(e, 0, NULL);
                return;
        }
        if ((status != 404 && status != 200) || after_build) {
                image_finish(e, -ENOENT, after_build ? "the build did not produce it" : vmm_docker_error_message(reply));
                return;
        }

        if (status == 404)
                log_info("Image %s is missing, building it from %s.", e->settings->image, e->settings->web_binary);
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
