/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "acs-docker-build.h"
#include "acs-macro.h"

#define TAR_BLOCK 512
#define BUILD_OUTPUT_MAX (4u * 1024u * 1024u)

/* The POSIX ustar header; every numeric field is octal text. */
typedef struct TarHeader {
        char name[100];
        char mode[8];
        char uid[8];
        char gid[8];
        char size[12];
        char mtime[12];
        char chksum[8];
        char typeflag;
        char linkname[100];
        char magic[6];
        char version[2];
        char uname[32];
        char gname[32];
        char devmajor[8];
        char devminor[8];
        char prefix[155];
        char padding[12];
} TarHeader;

_Static_assert(sizeof(TarHeader) == TAR_BLOCK, "a tar header is one block");

int acs_tar_append_file(AcsBuf *tar, const char *name, mode_t mode, const void *data, size_t size) {
        TarHeader h = {};
        unsigned sum = 0;
        size_t pad;
        int r;

        if (strlen(name) >= sizeof(h.name) || size > 077777777777ULL)
                return -EINVAL;

        memcpy(h.name, name, strlen(name));
        (void) snprintf(h.mode, sizeof(h.mode), "%07o", (unsigned) (mode & 07777));
        (void) snprintf(h.uid, sizeof(h.uid), "%07o", 0);
        (void) snprintf(h.gid, sizeof(h.gid), "%07o", 0);
        (void) snprintf(h.size, sizeof(h.size), "%011llo", (unsigned long long) size);
        (void) snprintf(h.mtime, sizeof(h.mtime), "%011o", 0);
        h.typeflag = '0';
        memcpy(h.magic, "ustar", 6);
        memcpy(h.version, "00", 2);
        memcpy(h.uname, "root", 4);
        memcpy(h.gname, "root", 4);

        /* The checksum is computed with its own field read as eight spaces. */
        memset(h.chksum, ' ', sizeof(h.chksum));
        for (size_t i = 0; i < sizeof(h); i++)
                sum += ((const unsigned char *) &h)[i];
        (void) snprintf(h.chksum, sizeof(h.chksum), "%06o", sum);
        h.chksum[7] = ' ';

        r = acs_buf_append(tar, &h, sizeof(h));
        if (r < 0)
                return r;
        r = acs_buf_append(tar, data, size);
        if (r < 0)
                return r;
        pad = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
        return acs_buf_append(tar, (const char[TAR_BLOCK]) {}, pad);
}

int acs_tar_finish(AcsBuf *tar) {
        return acs_buf_append(tar, (const char[2 * TAR_BLOCK]) {}, 2 * TAR_BLOCK);
}

static bool version_is_valid(const char *v) {
        size_t n = strlen(v);

        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) v[i]) && !strchr(".+~_-", v[i]))
                        return false;
        return true;
}

char *acs_web_dockerfile(const char *version, const char *binary_sha256) {
        _cleanup_free_ char *digest_label = NULL;
        char *s = NULL;

        if (!version_is_valid(version))
                return NULL;
        if (binary_sha256) {
                if (strlen(binary_sha256) != ACS_SHA256_HEX_SIZE - 1 ||
                    strspn(binary_sha256, "0123456789abcdef") != ACS_SHA256_HEX_SIZE - 1)
                        return NULL;
                if (asprintf(&digest_label, " " ACS_WEB_IMAGE_DIGEST_LABEL "=\"%s\"", binary_sha256) < 0)
                        return NULL;
        }
        /* The binary is static, so the image needs nothing else. It has no shell or curl: the
         * health check is the binary itself. Host networking gives it ACS_PORT directly. */
        if (asprintf(&s,
                     "# The acs-web image, written by ACS. Built FROM scratch: no registry needed.\n"
                     "FROM scratch\n"
                     "COPY acs-web /acs-web\n"
                     "LABEL " ACS_WEB_IMAGE_LABEL "=\"acs-web\" org.acs.version=\"%s\"%s\n"
                     "ENV ACS_PORT=9100 ACS_SERVICE=web\n"
                     "USER 65534:65534\n"
                     "HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 "
                     "CMD [\"/acs-web\", \"--healthcheck\"]\n"
                     "STOPSIGNAL SIGTERM\n"
                     "ENTRYPOINT [\"/acs-web\"]\n",
                     version, strempty(digest_label)) < 0)
                return NULL;
        return s;
}

/* Reads a whole regular file of at most max bytes. */
static int read_binary(const char *path, size_t max, AcsBuf *ret) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((size_t) st.st_size > max)
                return -EFBIG;

        for (;;) {
                int r = 0;
                uint8_t *p = acs_buf_reserve(ret, 64 * 1024, &r);
                ssize_t n;

                if (!p)
                        return r == -ENOBUFS ? -EFBIG : r;
                n = read(fd, p, 64 * 1024);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return 0;
                acs_buf_commit(ret, (size_t) n);
        }
}

static int sha256_hex(const void *data, size_t size, char ret[static ACS_SHA256_HEX_SIZE]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        if (!EVP_Digest(data, size, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
                return -EIO;
        for (unsigned i = 0; i < md_len; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

int acs_web_binary_sha256(const char *path, char ret[static ACS_SHA256_HEX_SIZE]) {
        _cleanup_(acs_buf_done) AcsBuf binary = { .max = ACS_WEB_BINARY_MAX + 64 * 1024 };
        int r;

        r = read_binary(path, ACS_WEB_BINARY_MAX, &binary);
        if (r < 0)
                return r;
        return sha256_hex(acs_buf_peek(&binary), acs_buf_len(&binary), ret);
}

int acs_web_image_context(const char *web_binary_path, const char *version, AcsBuf *ret_tar) {
        _cleanup_free_ char *dockerfile = NULL;
        _cleanup_(acs_buf_done) AcsBuf binary = { .max = ACS_WEB_BINARY_MAX + 64 * 1024 };
        char digest[ACS_SHA256_HEX_SIZE];
        int r;

        if (!version_is_valid(version))
                return -EINVAL;
        r = read_binary(web_binary_path, ACS_WEB_BINARY_MAX, &binary);
        if (r < 0)
                return r;
        r = sha256_hex(acs_buf_peek(&binary), acs_buf_len(&binary), digest);
        if (r < 0)
                return r;
        dockerfile = acs_web_dockerfile(version, digest);
        if (!dockerfile)
                return -ENOMEM;

        if (r >= 0)
                r = acs_tar_append_file(ret_tar, "Dockerfile", 0644, dockerfile, strlen(dockerfile));
        if (r >= 0)
                r = acs_tar_append_file(ret_tar, "acs-web", 0755, acs_buf_peek(&binary), acs_buf_len(&binary));
        if (r >= 0)
                r = acs_tar_finish(ret_tar);
        return r;
}

static size_t build_output_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        AcsBuf *out = userdata;

        if (acs_buf_append(out, ptr, size * nmemb) < 0)
                return 0;   /* makes curl fail: the output is out of bounds */
        return size * nmemb;
}

/* The engine answers 200 with a stream of JSON objects ({"stream":…}, {"aux":…}); a failed
 * step is an object with "error". Returns the first error message, or NULL. */
static char *build_output_find_error(const AcsBuf *out) {
        const char *p = (const char *) acs_buf_peek(out), *end = p + acs_buf_len(out);
        char *error = NULL;
        json_tokener *tok;

        tok = json_tokener_new();
        if (!tok)
                return NULL;
        while (p < end && !error) {
                json_object *o, *e;

                while (p < end && isspace((unsigned char) *p))
                        p++;
                if (p >= end)
                        break;
                json_tokener_reset(tok);
                o = json_tokener_parse_ex(tok, p, (int) MIN((size_t) (end - p), (size_t) INT32_MAX));
                if (!o) {
                        error = strdup("Docker sent build output that is not JSON");
                        break;
                }
                p += json_tokener_get_parse_end(tok);
                if ((json_object_object_get_ex(o, "error", &e) || json_object_object_get_ex(o, "message", &e)) &&
                    json_object_is_type(e, json_type_string))
                        error = strdup(json_object_get_string(e));
                json_object_put(o);
        }
        json_tokener_free(tok);
        return error;
}

int acs_docker_build_image(const char *docker_socket, const char *tag, const AcsBuf *tar, char **ret_error) {
        _cleanup_free_ char *escaped_tag = NULL, *url = NULL, *error = NULL;
        AcsBuf out = { .max = BUILD_OUTPUT_MAX };
        struct curl_slist *headers = NULL;
        char curl_error[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;
        CURL *curl;
        int r = 0;

        curl = curl_easy_init();
        if (!curl)
                return -ENOMEM;
        {
                char *e = curl_easy_escape(curl, tag, 0);
                if (e) {
                        escaped_tag = strdup(e);
                        curl_free(e);
                }
        }
        if (!escaped_tag || asprintf(&url, "http://localhost/build?t=%s&rm=1&forcerm=1", escaped_tag) < 0) {
                url = NULL;
                r = -ENOMEM;
                goto out_cleanup;
        }
        headers = curl_slist_append(headers, "Content-Type: application/x-tar");
        if (!headers) {
                r = -ENOMEM;
                goto out_cleanup;
        }

        (void) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, docker_socket ?: ACS_DOCKER_SOCKET);
        (void) curl_easy_setopt(curl, CURLOPT_URL, url);
        (void) curl_easy_setopt(curl, CURLOPT_POST, 1L);
        (void) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, acs_buf_peek(tar));
        (void) curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) acs_buf_len(tar));
        (void) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        (void) curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, build_output_write);
        (void) curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
        (void) curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
        (void) curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);

        cc = curl_easy_perform(curl);
        if (cc != CURLE_OK) {
                r = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
                if (asprintf(&error, "Docker at %s did not answer the build: %s",
                             docker_socket ?: ACS_DOCKER_SOCKET, curl_error[0] ? curl_error : curl_easy_strerror(cc)) < 0)
                        error = NULL;
                goto out_cleanup;
        }
        (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

        error = build_output_find_error(&out);
        if (status != 200 || error) {
                r = -EIO;
                if (!error && asprintf(&error, "Docker answered the build with HTTP %ld", status) < 0)
                        error = NULL;
        }

out_cleanup:
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        acs_buf_done(&out);
        if (ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}
