/* SPDX-License-Identifier: MIT */
/* The build context of the acs-web image, checked with GNU tar. (Posting it to a real engine
 * is tests/web/test-web-docker.py.) */
#include <fcntl.h>
#include <limits.h>

#include "acs-docker-build.h"
#include "acs-test.h"

static char tmpdir_template[] = "/tmp/test-docker-build-XXXXXX";

static void remove_tmpdir(void) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir_template);
        (void) system(cmd);
}

/* A scratch directory made on first use and removed at exit. */
static const char *tmpdir(void) {
        static bool made;

        if (!made) {
                ASSERT_TRUE(mkdtemp(tmpdir_template));
                atexit(remove_tmpdir);
                made = true;
        }
        return tmpdir_template;
}

static void write_file(const char *path, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, data, size), (ssize_t) size);
        close(fd);
}

/* Runs a shell command and returns its first line of output. */
static char *run(const char *cmd) {
        char line[4096] = "";
        FILE *f = popen(cmd, "r");

        ASSERT_TRUE(f);
        if (!fgets(line, sizeof(line), f))
                line[0] = 0;
        ASSERT_EQ(pclose(f), 0);
        line[strcspn(line, "\n")] = 0;
        return strdup(line);
}

TEST(context_is_a_tar_that_gnu_tar_reads) {
        char binary[PATH_MAX], tarpath[PATH_MAX], cmd[3 * PATH_MAX];
        static uint8_t blob[70001];   /* not a multiple of the block size */
        AcsBuf tar = {};
        char *s;

        for (size_t i = 0; i < sizeof(blob); i++)
                blob[i] = (uint8_t) (i * 7 + 3);
        snprintf(binary, sizeof(binary), "%s/acs-web-binary", tmpdir());
        write_file(binary, blob, sizeof(blob));

        ASSERT_OK(acs_web_image_context(binary, "0.1.0", &tar));
        ASSERT_EQ(acs_buf_len(&tar) % 512, 0);
        snprintf(tarpath, sizeof(tarpath), "%s/context.tar", tmpdir());
        write_file(tarpath, acs_buf_peek(&tar), acs_buf_len(&tar));

        snprintf(cmd, sizeof(cmd), "tar -tf '%s' | tr '\\n' ' '", tarpath);
        s = run(cmd);
        ASSERT_STREQ(s, "Dockerfile acs-web ");
        free(s);

        /* Modes and sizes as written; tar verifies every header checksum on the way. */
        snprintf(cmd, sizeof(cmd), "tar -tvf '%s' acs-web | awk '{print $1, $3}'", tarpath);
        s = run(cmd);
        ASSERT_STREQ(s, "-rwxr-xr-x 70001");
        free(s);

        snprintf(cmd, sizeof(cmd), "tar -xOf '%s' acs-web | cmp - '%s' && echo same", tarpath, binary);
        s = run(cmd);
        ASSERT_STREQ(s, "same");
        free(s);

        snprintf(cmd, sizeof(cmd), "tar -xOf '%s' Dockerfile | grep -c "
                 "-e '^FROM scratch$' -e '^COPY acs-web /acs-web$' -e 'org.acs.image=\"acs-web\" org.acs.version=\"0.1.0\"' "
                 "-e '^HEALTHCHECK .*CMD \\[\"/acs-web\", \"--healthcheck\"\\]$' -e '^USER 65534:65534$' "
                 "-e '^ENTRYPOINT \\[\"/acs-web\"\\]$'", tarpath);
        s = run(cmd);
        ASSERT_STREQ(s, "6");
        free(s);

        /* The image names the binary it holds by its SHA-256, as sha256sum computes it. */
        snprintf(cmd, sizeof(cmd), "tar -xOf '%s' Dockerfile | grep -o 'org.acs.web-sha256=\"[0-9a-f]*\"' | "
                 "grep -c \"$(sha256sum '%s' | cut -d' ' -f1)\"", tarpath, binary);
        s = run(cmd);
        ASSERT_STREQ(s, "1");
        free(s);
        {
                char digest[ACS_SHA256_HEX_SIZE];
                ASSERT_OK(acs_web_binary_sha256(binary, digest));
                snprintf(cmd, sizeof(cmd), "sha256sum '%s' | cut -d' ' -f1", binary);
                s = run(cmd);
                ASSERT_STREQ(s, digest);
                free(s);
        }

        /* The same inputs give the same bytes (Docker's build cache relies on it). */
        {
                AcsBuf again = {};
                ASSERT_OK(acs_web_image_context(binary, "0.1.0", &again));
                ASSERT_EQ(acs_buf_len(&again), acs_buf_len(&tar));
                ASSERT_TRUE(memcmp(acs_buf_peek(&again), acs_buf_peek(&tar), acs_buf_len(&tar)) == 0);
                acs_buf_done(&again);
        }
        acs_buf_done(&tar);
}

TEST(bad_inputs) {
        char binary[PATH_MAX];
        AcsBuf tar = {};

        snprintf(binary, sizeof(binary), "%s/acs-web-binary", tmpdir());
        write_file(binary, "x", 1);
        ASSERT_EQ(acs_web_image_context(binary, "0.1.0\"\nRUN x", &tar), -EINVAL);
        ASSERT_EQ(acs_web_image_context(binary, "", &tar), -EINVAL);
        ASSERT_EQ(acs_web_image_context("/nonexistent/acs-web", "0.1.0", &tar), -ENOENT);
        ASSERT_EQ(acs_web_image_context(tmpdir(), "0.1.0", &tar), -EINVAL);
        ASSERT_TRUE(acs_web_dockerfile("1.0 beta", NULL) == NULL);
        acs_buf_done(&tar);

        {
                char long_name[120];
                memset(long_name, 'a', sizeof(long_name) - 1);
                long_name[sizeof(long_name) - 1] = 0;
                ASSERT_EQ(acs_tar_append_file(&tar, long_name, 0644, "", 0), -EINVAL);
        }
}

TEST(build_without_engine_says_why) {
        char sock[PATH_MAX], *error = NULL;
        AcsBuf tar = {};

        snprintf(sock, sizeof(sock), "%s/no-docker.sock", tmpdir());
        ASSERT_OK(acs_tar_finish(&tar));
        ASSERT_TRUE(acs_docker_build_image(sock, "acs-web:test", &tar, &error) < 0);
        ASSERT_TRUE(error && strstr(error, sock));
        free(error);
        acs_buf_done(&tar);
}

ACS_TEST_MAIN()
