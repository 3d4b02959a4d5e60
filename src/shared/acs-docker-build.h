/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Building the acs-web image where no registry is reachable: a tar build context made in
 * memory (a Dockerfile FROM scratch plus the static acs-web binary), posted to the Docker
 * Engine API (POST /build). acs_web_image_context() does no I/O besides reading the binary,
 * so that the VMM can post the context with its own asynchronous client.
 */

#include <stddef.h>
#include <sys/types.h>

#include "acs-buf.h"

#define ACS_DOCKER_SOCKET "/var/run/docker.sock"
#define ACS_WEB_IMAGE_LABEL "org.acs.image"
/* The SHA-256 of the acs-web binary an image was built from, so that an agent finds out that
 * the image under its tag holds another build than its WebBinary= and builds it again. */
#define ACS_WEB_IMAGE_DIGEST_LABEL "org.acs.web-sha256"
#define ACS_SHA256_HEX_SIZE 65

/* Largest binary the context takes: acs-web is a couple of MiB. */
#define ACS_WEB_BINARY_MAX (64u * 1024u * 1024u)

/* Appends one regular file to a ustar archive (mtime 0, owner 0:0, so the same inputs give
 * the same bytes and Docker's build cache recognises them). name at most 100 bytes. */
int acs_tar_append_file(AcsBuf *tar, const char *name, mode_t mode, const void *data, size_t size);
/* Appends the two zero blocks that end an archive. */
int acs_tar_finish(AcsBuf *tar);

/* The Dockerfile of the acs-web image, for the given version ("0.1.0") and the hex SHA-256 of
 * the binary it copies (NULL: no digest label); NULL on bad input. */
char *acs_web_dockerfile(const char *version, const char *binary_sha256);

/* The hex SHA-256 of the acs-web binary at path, as the image's digest label holds it. */
int acs_web_binary_sha256(const char *path, char ret[static ACS_SHA256_HEX_SIZE]);

/*
 * Fills ret_tar (appending to it) with a build context holding "Dockerfile" and "acs-web" read
 * from web_binary_path. version: [A-Za-z0-9.+~_-], at most 64 characters.
 * Returns -EINVAL (bad version), -EFBIG (binary too big), -ENOMEM, or -errno from reading.
 */
int acs_web_image_context(const char *web_binary_path, const char *version, AcsBuf *ret_tar);

/*
 * Blocking: POST /build?t=TAG with the tar as body over the engine's unix socket, reading the
 * JSON progress stream to its end. Returns 0 when the image was built; otherwise -errno and,
 * when ret_error is given, a message for people (the engine's "error", or the transport
 * failure) that the caller frees.
 */
int acs_docker_build_image(const char *docker_socket, const char *tag, const AcsBuf *tar, char **ret_error);
