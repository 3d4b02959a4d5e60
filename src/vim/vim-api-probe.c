/* SPDX-License-Identifier: MIT */
/*
 * POST /api/v1/probe sends one GET through the front proxy and says which VM and container
 * answered, on the event loop: a non-blocking socket with a deadline.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-api.h"
#include "vim-manager.h"
#include "vim-policy.h"

#define PROBE_TIMEOUT (3 * USEC_PER_SEC)
#define PROBE_RESPONSE_MAX ((size_t) 64 * 1024)

struct VimProbe {
        VimApiConnection *connection;   /* NULL once the client went away */
        int fd;
        sd_event_source *io, *timer;
        AcsBuf request, response;
        usec_t started;
};

static VimProbe *probe_free(VimProbe *p) {
        if (!p)
                return NULL;
        if (p->connection)
                *vim_api_connection_probe(p->connection) = NULL;
        sd_event_source_disable_unref(p->io);
        sd_event_source_disable_unref(p->timer);
        safe_close(p->fd);
        acs_buf_done(&p->request);
        acs_buf_done(&p->response);
        return mfree(p);
}

void vim_api_probe_forget(VimApiConnection *c) {
        probe_free(*vim_api_connection_probe(c));
}

/* Splits "http://host:port/path" (host numeric or a name resolvable without waiting). */
static int parse_url(const char *url, struct sockaddr_in *ret, char *host, size_t host_size, const char **ret_path) {
        const char *rest = startswith(url, "http://"), *slash, *colon;
        unsigned long port = 80;
        size_t l;

        if (!rest)
                return -EINVAL;
        slash = strchr(rest, '/');
        l = slash ? (size_t) (slash - rest) : strlen(rest);
        if (l == 0 || l >= host_size)
                return -EINVAL;
        memcpy(host, rest, l);
        host[l] = 0;
        colon = strchr(host, ':');
        if (colon) {
                char *end;

                port = strtoul(colon + 1, &end, 10);
                if (*end || port == 0 || port > 65535)
                        return -EINVAL;
        }
        *ret = (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        {
                char name[256];

                (void) snprintf(name, sizeof(name), "%.*s", colon ? (int) (colon - host) : (int) l, host);
                if (streq(name, "localhost"))
                        (void) snprintf(name, sizeof(name), "127.0.0.1");
                if (inet_pton(AF_INET, name, &ret->sin_addr) != 1)
                        return -EINVAL;
        }
        *ret_path = slash ?: "/";
        return 0;
}

static void probe_finish(VimProbe *p, int error) {
        VimApiConnection *c = p->connection;
        _cleanup_(vim_json_putp) json_object *o = NULL, *body = NULL;
        const char *data = (const char *) acs_buf_peek(&p->response), *sep;
        double latency_ms = (double) (now_usec(CLOCK_MONOTONIC) - p->started) / USEC_PER_MSEC;
        int status = 0;

        if (!c)
                goto out;
        if (error < 0) {
                vim_api_connection_reply_error(c, 502, "Probe of the proxy failed: %s", strerror(-error));
                goto out;
        }
        if (sscanf(data, "HTTP/1.%*d %d", &status) != 1) {
                vim_api_connection_reply_error(c, 502, "Probe of the proxy failed: not an HTTP response");
                goto out;
        }
        sep = strstr(data, "\r\n\r\n");
        if (sep)
                body = json_tokener_parse(sep + 4);

        o = json_object_new_object();
        if (!o) {
                vim_api_connection_reply_error(c, 500, "Out of memory.");
                goto out;
        }
        (void) json_object_object_add(o, "status", json_object_new_int(status));
        {
                json_object *vm = NULL, *container = NULL;

                if (body && json_object_is_type(body, json_type_object)) {
                        (void) json_object_object_get_ex(body, "vm", &vm);
                        (void) json_object_object_get_ex(body, "container", &container);
                }
                (void) json_object_object_add(o, "vm", vm ? json_object_get(vm) : NULL);
                (void) json_object_object_add(o, "container", container ? json_object_get(container) : NULL);
        }
        (void) json_object_object_add(o, "latency_ms", vim_json_double(latency_ms, 3));
        (void) json_object_object_add(o, "body", body ? json_object_get(body) : NULL);
        vim_api_connection_reply_json(c, 200, o);
out:
        probe_free(p);
}

static int probe_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VimProbe *p = userdata;

        if (acs_buf_len(&p->request) > 0 && (revents & EPOLLOUT)) {
                ssize_t n = send(fd, acs_buf_peek(&p->request), acs_buf_len(&p->request), MSG_NOSIGNAL);

                if (n < 0 && errno != EAGAIN) {
                        probe_finish(p, negative_errno());
                        return 0;
                }
                if (n > 0)
                        acs_buf_consume(&p->request, (size_t) n);
                if (acs_buf_len(&p->request) == 0)
                        (void) sd_event_source_set_io_events(s, EPOLLIN);
                return 0;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                int err = 0;
                uint8_t *b = acs_buf_reserve(&p->response, 4096, &err);
                ssize_t n;

                if (!b) {
                        probe_finish(p, err);
                        return 0;
                }
                n = recv(fd, b, 4096, 0);
                if (n < 0 && errno != EAGAIN) {
                        probe_finish(p, negative_errno());
                        return 0;
                }
                if (n > 0)
                        acs_buf_commit(&p->response, (size_t) n);
                if (n == 0) {
                        /* NUL-terminate for the parse; the response ends at EOF (Connection: close). */
                        if (acs_buf_append(&p->response, "", 1) < 0) {
                                probe_finish(p, -ENOBUFS);
                                return 0;
                        }
                        probe_finish(p, 0);
                }
        }
        return 0;
}

static int probe_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        probe_finish(userdata, -ETIMEDOUT);
        return 0;
}

int vim_api_probe_start(VimApi *api, VimApiConnection *c) {
        VimManager *m = api->manager;
        struct sockaddr_in sa;
        char host[256];
        const char *path;
        VimProbe *p;
        int r;

        if (*vim_api_connection_probe(c))
                return -EBUSY;
        r = parse_url(m->settings.proxy_url, &sa, host, sizeof(host), &path);
        if (r < 0)
                return r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->connection = c;
        p->started = now_usec(CLOCK_MONOTONIC);
        p->response.max = PROBE_RESPONSE_MAX;
        *vim_api_connection_probe(c) = p;

        p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->fd < 0) {
                r = negative_errno();
                goto fail;
        }
        if (connect(p->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                r = negative_errno();
                goto fail;
        }
        r = acs_buf_printf(&p->request, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: acs-vim-probe\r\nConnection: close\r\n\r\n",
                           path, host);
        if (r < 0)
                goto fail;
        r = sd_event_add_io(m->event, &p->io, p->fd, EPOLLOUT | EPOLLIN, probe_on_io, p);
        if (r < 0)
                goto fail;
        r = sd_event_add_time_relative(m->event, &p->timer, CLOCK_MONOTONIC, PROBE_TIMEOUT, 0, probe_on_timeout, p);
        if (r < 0)
                goto fail;
        return 0;
fail:
        probe_free(p);
        return r;
}
