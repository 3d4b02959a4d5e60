/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "acs-macro.h"
#include "web-healthcheck.h"

int web_healthcheck(const char *address, uint16_t port, usec_t timeout) {
        static const char request[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        struct timeval tv = {
                .tv_sec = (time_t) (timeout / USEC_PER_SEC),
                .tv_usec = (suseconds_t) (timeout % USEC_PER_SEC),
        };
        _cleanup_close_ int fd = -1;
        char answer[64];
        size_t n = 0;
        int major, minor, status;

        if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
                return -EINVAL;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        /* Blocking socket with timeouts: on Linux SO_SNDTIMEO bounds connect() too. */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        if (send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != (ssize_t) sizeof(request) - 1)
                return -EIO;

        /* The status line is all we need: "HTTP/1.1 200 OK". */
        while (n < sizeof(answer) - 1 && !memchr(answer, '\n', n)) {
                ssize_t k = recv(fd, answer + n, sizeof(answer) - 1 - n, 0);
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        answer[n] = 0;
        if (sscanf(answer, "HTTP/%d.%d %d ", &major, &minor, &status) != 3)
                return -EBADMSG;
        return status == 200 ? 0 : -EBADMSG;
}
