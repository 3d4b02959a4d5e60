/* SPDX-License-Identifier: MIT */
/*
 * A small, fast HTTP/1.1 backend for benchmarks and load tests: keep-alive, llhttp, epoll, one
 * thread. Every request gets 200 with a small body naming the backend; "?cost_ms=N" burns N ms
 * of CPU first (a busy loop, like a real request's work); "/healthz" answers 200 "ok".
 *
 *   bench-backend PORT [NAME]
 *
 * It prints "ready" once listening, and the number of requests it answered on SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

typedef struct Conn {
        int fd;
        llhttp_t parser;
        char target[256];
        size_t target_len;
        char *out;
        size_t out_len, out_alloc;
        int keep_alive;
} Conn;

static const char *name = "backend";
static unsigned long long served;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        stop = 1;
}

static void burn(unsigned ms) {
        struct timespec a, b;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        do
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        while ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) < (long long) ms * 1000000LL);
}

static int out_append(Conn *c, const char *p, size_t n) {
        if (c->out_len + n > c->out_alloc) {
                size_t want = (c->out_len + n) * 2;
                char *q = realloc(c->out, want);
                if (!q)
                        return -1;
                c->out = q;
                c->out_alloc = want;
        }
        memcpy(c->out + c->out_len, p, n);
        c->out_len += n;
        return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
        Conn *c = p->data;
        size_t k = n < sizeof(c->target) - 1 - c->target_len ? n : sizeof(c->target) - 1 - c->target_len;

        memcpy(c->target + c->target_len, at, k);
        c->target_len += k;
        c->target[c->target_len] = 0;
        return 0;
}

static int on_message_complete(llhttp_t *p) {
        Conn *c = p->data;
        char head[256], body[160];
        const char *cost = strstr(c->target, "cost_ms=");
        int hn, bn;

        if (cost)
                burn((unsigned) atoi(cost + 8));
        if (strncmp(c->target, "/healthz", 8) == 0)
                bn = snprintf(body, sizeof(body), "ok\n");
        else
                bn = snprintf(body, sizeof(body), "{\"backend\":\"%s\",\"request\":%llu}\n", name, served + 1);
        c->keep_alive = llhttp_should_keep_alive(p);
        hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Backend: %s\r\nContent-Length: %d\r\n%s\r\n",
                      name, bn, c->keep_alive ? "" : "Connection: close\r\n");
        c->target_len = 0;
        served++;
        if (out_append(c, head, (size_t) hn) < 0 || out_append(c, body, (size_t) bn) < 0)
                return -1;
        return 0;
}

static const llhttp_settings_t settings = {
        .on_url = on_url,
        .on_message_complete = on_message_complete,
};

static void conn_close(int ep, Conn *c) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c->out);
        free(c);
}

int main(int argc, char *argv[]) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct epoll_event ev, events[256];
        int lfd, ep, one = 1;

        if (argc < 2) {
                fprintf(stderr, "usage: %s PORT [NAME]\n", argv[0]);
                return 2;
        }
        sa.sin_port = htons((uint16_t) atoi(argv[1]));
        if (argc > 2)
                name = argv[2];
        signal(SIGPIPE, SIG_IGN);
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);

        lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
                perror("bind/listen");
                return 1;
        }
        ep = epoll_create1(EPOLL_CLOEXEC);
        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = NULL };
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        printf("ready\n");
        fflush(stdout);

        while (!stop) {
                int n = epoll_wait(ep, events, 256, 200);

                for (int i = 0; i < n; i++) {
                        Conn *c = events[i].data.ptr;
                        char buf[16384];
                        ssize_t r;

                        if (!c) {
                                int fd;
                                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                                        c = calloc(1, sizeof(Conn));
                                        c->fd = fd;
                                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                                        llhttp_init(&c->parser, HTTP_REQUEST, &settings);
                                        c->parser.data = c;
                                        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = c };
                                        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                                }
                                continue;
                        }
                        r = read(c->fd, buf, sizeof(buf));
                        if (r <= 0) {
                                if (r < 0 && errno == EAGAIN)
                                        continue;
                                conn_close(ep, c);
                                continue;
                        }
                        if (llhttp_execute(&c->parser, buf, (size_t) r) != HPE_OK) {
                                conn_close(ep, c);
                                continue;
                        }
                        /* Small responses: one write nearly always takes them whole. */
                        for (size_t off = 0; off < c->out_len;) {
                                ssize_t w = write(c->fd, c->out + off, c->out_len - off);
                                if (w < 0) {
                                        if (errno == EAGAIN)
                                                continue;
                                        break;
                                }
                                off += (size_t) w;
                        }
                        c->out_len = 0;
                        if (!c->keep_alive)
                                conn_close(ep, c);
                }
        }
        printf("served %llu\n", served);
        return 0;
}
