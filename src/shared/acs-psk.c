/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "acs-macro.h"
#include "acs-proto.h"
#include "acs-psk.h"

/* Reads the whole (small) file into buf; a file larger than the buffer is malformed anyway. */
static int read_key_text(int fd, char *buf, size_t size, size_t *ret_len) {
        size_t len = 0;

        for (;;) {
                ssize_t n = read(fd, buf + len, size - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len == size)
                        return -EBADMSG;
        }
        *ret_len = len;
        return 0;
}

int acs_psk_read_file(const char *path, uint8_t ret_key[static ACS_PSK_SIZE]) {
        _cleanup_close_ int fd = -1;
        char text[ACS_PSK_HEX_SIZE + 2];
        uint8_t key[ACS_PSK_SIZE];
        struct stat st;
        size_t len = 0;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if (st.st_mode & (S_IRWXG | S_IRWXO))
                return -EPERM;

        r = read_key_text(fd, text, sizeof(text), &len);
        if (r < 0)
                goto out;
        if (len == ACS_PSK_HEX_SIZE + 1 && text[ACS_PSK_HEX_SIZE] == '\n')
                len--;
        if (len != ACS_PSK_HEX_SIZE) {
                r = -EBADMSG;
                goto out;
        }
        for (size_t i = 0; i < ACS_PSK_SIZE; i++) {
                int hi = acs_hex_value(text[2 * i]), lo = acs_hex_value(text[2 * i + 1]);

                if (hi < 0 || lo < 0) {
                        r = -EBADMSG;
                        goto out;
                }
                key[i] = (uint8_t) (hi << 4 | lo);
        }
        memcpy(ret_key, key, ACS_PSK_SIZE);
        r = 0;
out:
        OPENSSL_cleanse(text, sizeof(text));
        OPENSSL_cleanse(key, sizeof(key));
        return r;
}

int acs_psk_write_file(const char *path, const uint8_t key[static ACS_PSK_SIZE]) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        char text[ACS_PSK_HEX_SIZE + 1];
        ssize_t n;
        int r = 0;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        /* mkostemp creates the file with mode 0600. */
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;

        for (size_t i = 0; i < ACS_PSK_SIZE; i++)
                (void) snprintf(text + 2 * i, 3, "%02x", key[i]);
        text[ACS_PSK_HEX_SIZE] = '\n';

        n = write(fd, text, sizeof(text));
        OPENSSL_cleanse(text, sizeof(text));
        if (n != (ssize_t) sizeof(text))
                r = n < 0 ? -errno : -EIO;
        else if (fsync(fd) < 0 || rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int acs_psk_generate(uint8_t ret_key[static ACS_PSK_SIZE]) {
        ssize_t n = getrandom(ret_key, ACS_PSK_SIZE, 0);

        if (n < 0)
                return -errno;
        return n == ACS_PSK_SIZE ? 0 : -EIO;
}

int acs_psk_read_from_directory(const char *dir, const char *vm, uint8_t ret_key[static ACS_PSK_SIZE]) {
        _cleanup_free_ char *path = NULL;

        if (!acs_proto_vm_name_is_valid(vm))
                return -EINVAL;
        if (asprintf(&path, "%s/%s.key", dir, vm) < 0)
                return -ENOMEM;
        return acs_psk_read_file(path, ret_key);
}

const char *acs_psk_strerror(int r) {
        switch (r) {
        case -EPERM:
                return "key file is accessible by group or others (it must be mode 0600)";
        case -EBADMSG:
                return "key file must be a regular file holding exactly 64 hex digits";
        case -EINVAL:
                return "not a valid VM name";
        default:
                return strerror(r < 0 ? -r : r);
        }
}
