/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-client.h"
#include "proxy-manager.h"
#include "proxy-worker.h"

#define ACCEPT_BATCH 64

/* A listening socket bound to address; with reuseport each worker has its own and the kernel
 * spreads new connections over them. */
int proxy_listen_socket(const char *address, bool reuseport, int *ret_fd) {
        struct sockaddr_storage ss;
        socklen_t len;
        _cleanup_close_ int fd = -1;
        int one = 1, r;

        r = proxy_parse_address(address, &ss, &len);
        if (r < 0)
                return log_error_errno(r, "Invalid listen address %s.", address);
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create a socket for %s: %m", address);
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
                return log_error_errno(errno, "Failed to set SO_REUSEPORT on %s: %m", address);
        if (bind(fd, (struct sockaddr *) &ss, len) < 0)
                return log_error_errno(errno, "Failed to bind %s: %m", address);
        if (listen(fd, 4096) < 0)
                return log_error_errno(errno, "Failed to listen on %s: %m", address);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static void refuse_over_limit(int fd) {
        static const char reply[] = "HTTP/1.1 429 Too Many Requests\r\n"
                                    "Content-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";

        /* Best effort on a fresh socket: the send buffer is empty, this fits. */
        (void) send(fd, reply, sizeof(reply) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        safe_close(fd);
}

/* MaxConnections= shared evenly by the workers, which each accept on their own. */
static unsigned worker_connection_limit(Worker *w) {
        Manager *m = w->manager;

        if (m->settings.max_connections == 0)
                return UINT_MAX;
        unsigned n = MAX(m->n_workers, 1u);

        return MAX((m->settings.max_connections + n - 1) / n, 1u);
}

static int worker_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        unsigned limit = worker_connection_limit(w);

        worker_update_now(w);
        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_storage peer;
                socklen_t len = sizeof(peer);
                Client *c;
                int cfd, one = 1, r;

                if (w->n_clients >= limit) {
                        acs_accept_guard_pause_at_limit(&w->accept_guard, w->manager->settings.max_connections);
                        return 0;
                }
                cfd = accept4(fd, (struct sockaddr *) &peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return 0;
                        /* Out of fds: the connection stays queued and the socket readable, so
                         * stop watching it until a client leaves, and keep serving the others. */
                        if (acs_accept_error_is_resource(errno))
                                acs_accept_guard_pause(&w->accept_guard, errno);
                        else
                                log_warning_errno(errno, "Failed to accept a connection, ignoring: %m");
                        return 0;
                }
                (void) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                r = client_new(w, cfd, &peer, &c);
                if (r == -EUSERS) {
                        refuse_over_limit(cfd);
                        continue;
                }
                if (r < 0) {
                        log_warning_errno(r, "Failed to set up a client connection, ignoring: %m");
                        safe_close(cfd);
                }
        }
        return 0;
}

int worker_listen(Worker *w) {
        Manager *m = w->manager;
        int r;

        if (m->http_fd >= 0) {
                /* Socket activation: every worker waits on the one inherited socket. */
                w->listen_fd = m->http_fd;
                w->owns_listen_fd = false;
        } else {
                r = proxy_listen_socket(m->settings.listen, true, &w->listen_fd);
                if (r < 0)
                        return r;
                w->owns_listen_fd = true;
        }
        r = sd_event_add_io(w->event, &w->listen_source, w->listen_fd, EPOLLIN, worker_on_accept, w);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the listening socket: %m");
        acs_accept_guard_init(&w->accept_guard, w->listen_source, "client connections");
        return 0;
}
