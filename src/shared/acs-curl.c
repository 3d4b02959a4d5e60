/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "acs-macro.h"
#include "acs-curl.h"
#include "acs-list.h"

#define ACS_HTTP_MAX_BODY_DEFAULT (16U * 1024 * 1024)

struct AcsCurl {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        AcsHttp *requests;              /* every request in flight, to drop them in acs_curl_free() */
};

struct AcsHttp {
        AcsCurl *curl;
        LIST_FIELDS(AcsHttp, requests);
        CURL *easy;
        struct curl_slist *headers;
        AcsBuf body;
        AcsHttpDone on_done;
        AcsHttpData on_data;
        void *userdata;
        void (*destroy)(void *userdata);
        int data_error;                 /* set when on_data or the size limit aborted the transfer */
};

static AcsHttp *http_free(AcsHttp *h) {
        if (!h)
                return NULL;
        if (h->curl) {
                LIST_REMOVE(requests, h->curl->requests, h);
                if (h->easy)
                        (void) curl_multi_remove_handle(h->curl->multi, h->easy);
        }
        if (h->easy)
                curl_easy_cleanup(h->easy);
        curl_slist_free_all(h->headers);
        acs_buf_done(&h->body);
        if (h->destroy)
                h->destroy(h->userdata);
        return mfree(h);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(AcsHttp *, http_free);

AcsHttp *acs_http_cancel(AcsHttp *h) {
        return http_free(h);
}

static int curl_result_to_errno(CURLcode c) {
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        default:
                return -EPROTO;
        }
}

/* Hands finished transfers to their owners. Called after every curl_multi_socket_action(),
 * outside any curl callback, so an owner may start or cancel requests from on_done. */
static void curl_dispatch_done(AcsCurl *g) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(g->multi, &left))) {
                AcsHttp *h = NULL;
                long status = 0;
                int error;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &h) != CURLE_OK || !h)
                        continue;

                (void) curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
                error = h->data_error < 0 ? h->data_error : curl_result_to_errno(msg->data.result);
                /* A unix socket that does not exist is reported as a failed connect; say so. */
                if (error == -ECONNREFUSED && msg->data.result == CURLE_COULDNT_CONNECT) {
                        long oserr = 0;
                        (void) curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &oserr);
                        if (oserr > 0)
                                error = -(int) oserr;
                }

                (void) curl_multi_remove_handle(g->multi, h->easy);
                if (h->on_done)
                        h->on_done(h, error, error < 0 ? 0 : status, &h->body, h->userdata);
                http_free(h);
        }
}

static int curl_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AcsCurl *g = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;

        (void) curl_multi_socket_action(g->multi, fd, action, &running);
        curl_dispatch_done(g);
        return 0;
}

static int curl_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        AcsCurl *g = userdata;
        int running;

        (void) curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        curl_dispatch_done(g);
        return 0;
}

static int curl_on_socket_change(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        AcsCurl *g = userp;
        sd_event_source *io = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        (void) sd_event_source_set_enabled(io, SD_EVENT_OFF);
                        sd_event_source_unref(io);
                        (void) curl_multi_assign(g->multi, fd, NULL);
                }
                return 0;
        }

        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;

        if (io) {
                r = sd_event_source_set_io_events(io, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(io, SD_EVENT_ON);
                return r < 0 ? -1 : 0;
        }

        r = sd_event_add_io(g->event, &io, fd, events, curl_on_io, g);
        if (r < 0)
                return -1;
        (void) sd_event_source_set_description(io, "curl-io");
        if (curl_multi_assign(g->multi, fd, io) != CURLM_OK) {
                sd_event_source_unref(io);
                return -1;
        }
        return 0;
}

static int curl_on_timer_change(CURLM *multi, long timeout_ms, void *userp) {
        AcsCurl *g = userp;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0 ? -1 : 0;

        if (sd_event_source_set_time_relative(g->timer, (usec_t) timeout_ms * USEC_PER_MSEC) < 0 ||
            sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

AcsCurl *acs_curl_new(sd_event *event) {
        _cleanup_(acs_curl_freep) AcsCurl *g = NULL;

        g = calloc(1, sizeof(*g));
        if (!g)
                return NULL;
        g->event = sd_event_ref(event);
        g->multi = curl_multi_init();
        if (!g->multi)
                return NULL;
        if (sd_event_add_time_relative(event, &g->timer, CLOCK_MONOTONIC, 0, 0, curl_on_timer, g) < 0)
                return NULL;
        (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(g->timer, "curl-timer");

        if (curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, curl_on_socket_change) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, curl_on_timer_change) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK)
                return NULL;

        return TAKE_PTR(g);
}

AcsCurl *acs_curl_free(AcsCurl *g) {
        if (!g)
                return NULL;
        while (g->requests)
                http_free(g->requests);
        /* Cleaning the multi handle closes its sockets through CURL_POLL_REMOVE. */
        if (g->multi)
                curl_multi_cleanup(g->multi);
        sd_event_source_disable_unref(g->timer);
        sd_event_unref(g->event);
        return mfree(g);
}

static size_t http_write_callback(char *p, size_t size, size_t nmemb, void *userdata) {
        AcsHttp *h = userdata;
        size_t n = size * nmemb;
        int r;

        if (h->on_data) {
                r = h->on_data(h, p, n, h->userdata);
                if (r < 0) {
                        h->data_error = r;
                        return 0;       /* anything but n aborts the transfer */
                }
                return n;
        }

        r = acs_buf_append(&h->body, p, n);
        if (r < 0) {
                h->data_error = r;
                return 0;
        }
        return n;
}

int acs_http_start(AcsCurl *g, const AcsHttpOptions *o, AcsHttp **ret_http) {
        _cleanup_(http_freep) AcsHttp *h = NULL;
        bool ok = true;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->on_done = o->on_done;
        h->on_data = o->on_data;
        h->userdata = o->userdata;
        h->body.max = o->max_body ?: ACS_HTTP_MAX_BODY_DEFAULT;

        h->easy = curl_easy_init();
        if (!h->easy)
                return -ENOMEM;

        ok = ok && curl_easy_setopt(h->easy, CURLOPT_URL, o->url) == CURLE_OK;
        ok = ok && curl_easy_setopt(h->easy, CURLOPT_PRIVATE, h) == CURLE_OK;
        ok = ok && curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, http_write_callback) == CURLE_OK;
        ok = ok && curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, h) == CURLE_OK;
        ok = ok && curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
        ok = ok && curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
        ok = ok && curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L) == CURLE_OK;
        if (o->unix_socket)
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket) == CURLE_OK;
        if (o->ca_file)
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_CAINFO, o->ca_file) == CURLE_OK;
        if (o->cert_file)
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_SSLCERT, o->cert_file) == CURLE_OK;
        if (o->key_file)
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_SSLKEY, o->key_file) == CURLE_OK;
        if (o->timeout > 0)
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, (long) (o->timeout / USEC_PER_MSEC)) == CURLE_OK;
        if (o->body) {
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) o->body_size) == CURLE_OK;
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_COPYPOSTFIELDS, o->body) == CURLE_OK;
        } else if (o->method && streq(o->method, "POST")) {
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE, 0L) == CURLE_OK;
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, "") == CURLE_OK;
        }
        if (o->method && !streq(o->method, "GET") && !streq(o->method, "POST"))
                ok = ok && curl_easy_setopt(h->easy, CURLOPT_CUSTOMREQUEST, o->method) == CURLE_OK;
        if (!ok)
                return -EINVAL;

        if (o->content_type) {
                _cleanup_free_ char *header = NULL;
                struct curl_slist *l;

                if (asprintf(&header, "Content-Type: %s", o->content_type) < 0)
                        return -ENOMEM;
                l = curl_slist_append(NULL, header);
                if (!l)
                        return -ENOMEM;
                h->headers = l;
                /* Engine API builds can be large: do not wait for a 100-continue. */
                l = curl_slist_append(h->headers, "Expect:");
                if (!l)
                        return -ENOMEM;
                h->headers = l;
                if (curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers) != CURLE_OK)
                        return -EINVAL;
        }

        if (curl_multi_add_handle(g->multi, h->easy) != CURLM_OK)
                return -EIO;

        /* From here on the request owns userdata (not on the failure paths above). */
        h->destroy = o->destroy;
        h->curl = g;
        LIST_PREPEND(requests, g->requests, h);

        if (ret_http)
                *ret_http = h;
        TAKE_PTR(h);
        return 0;
}
