/* SPDX-License-Identifier: MIT */
/*
 * acs-web-image: builds the acs-web image FROM scratch through the Docker Engine API, or
 * writes its build context as a tar file (then `docker build -t acs-web:0.1.0 - < FILE`).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "acs-config.h"
#include "acs-docker-build.h"
#include "acs-log.h"
#include "acs-macro.h"

static void help(void) {
        printf("acs-web-image --binary PATH [OPTIONS...]\n\n"
               "Builds the acs-web image FROM scratch from a static acs-web binary.\n\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "     --binary=PATH        The static acs-web binary (required)\n"
               "     --tag=TAG            Image tag (default: acs-web:%s)\n"
               "     --image-version=V    Value of the org.acs.version label (default: %s)\n"
               "     --docker-socket=PATH Docker Engine socket (default: %s)\n"
               "     --output=FILE        Write the build context tar to FILE instead of building\n",
               ACS_VERSION, ACS_VERSION, ACS_DOCKER_SOCKET);
}

static int write_all(const char *path, const AcsBuf *b) {
        _cleanup_close_ int fd = -1;
        const uint8_t *p = acs_buf_peek(b);
        size_t left = acs_buf_len(b);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return negative_errno();
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += n;
                left -= (size_t) n;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_BINARY, ARG_TAG, ARG_IMAGE_VERSION, ARG_DOCKER_SOCKET, ARG_OUTPUT };
        static const struct option options[] = {
                { "help",          no_argument,       NULL, 'h'               },
                { "version",       no_argument,       NULL, ARG_VERSION       },
                { "binary",        required_argument, NULL, ARG_BINARY        },
                { "tag",           required_argument, NULL, ARG_TAG           },
                { "image-version", required_argument, NULL, ARG_IMAGE_VERSION },
                { "docker-socket", required_argument, NULL, ARG_DOCKER_SOCKET },
                { "output",        required_argument, NULL, ARG_OUTPUT        },
                {}
        };
        const char *binary = NULL, *tag = "acs-web:" ACS_VERSION, *version = ACS_VERSION;
        const char *socket_path = ACS_DOCKER_SOCKET, *output = NULL;
        _cleanup_free_ char *error = NULL;
        AcsBuf tar = {};
        int c, r;

        log_setup_journal();
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("acs-web-image %s\n", ACS_VERSION);
                        return EXIT_SUCCESS;
                case ARG_BINARY:
                        binary = optarg;
                        break;
                case ARG_TAG:
                        tag = optarg;
                        break;
                case ARG_IMAGE_VERSION:
                        version = optarg;
                        break;
                case ARG_DOCKER_SOCKET:
                        socket_path = optarg;
                        break;
                case ARG_OUTPUT:
                        output = optarg;
                        break;
                default:
                        return ACS_EXIT_CONFIG;
                }
        if (!binary || optind < argc) {
                log_error("Usage: acs-web-image --binary PATH [--tag TAG] [--output FILE]; see --help.");
                return ACS_EXIT_CONFIG;
        }

        r = acs_web_image_context(binary, version, &tar);
        if (r < 0) {
                log_error_errno(r, "Failed to make the build context from %s (version %s): %m", binary, version);
                goto out_free_tar;
        }

        if (output) {
                r = write_all(output, &tar);
                if (r < 0)
                        log_error_errno(r, "Failed to write %s: %m", output);
                else
                        log_info("Wrote the acs-web build context (%zu bytes) to %s.", acs_buf_len(&tar), output);
                goto out_free_tar;
        }

        r = acs_docker_build_image(socket_path, tag, &tar, &error);
        if (r < 0)
                log_error_errno(r, "Failed to build %s: %s", tag, strna(error));
        else
                log_info("Built image %s from %s.", tag, binary);

out_free_tar:
        acs_buf_done(&tar);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
