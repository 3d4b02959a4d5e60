/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>

#include "acs-buf.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "load-report.h"
#include "load-run.h"

/* acs-web's answer is a few hundred bytes; anything this large is not what we asked for. */
#define LOAD_BODY_MAX (64U * 1024U)
/* The loop wakes at least this often, to notice a stop signal. */
#define LOAD_POLL_MAX_MS 100
#define LOAD_PERIOD USEC_PER_SEC

typedef struct LoadRun LoadRun;

typedef struct LoadUser {
        LoadRun *run;
        CURL *easy;
        AcsBuf body;
        bool active;            /* one of the users the profile wants now */
        bool busy;              /* its request is in flight */
        usec_t due;             /* when its next request is due */
        usec_t sent_due;        /* when the request in flight was due */
        usec_t sent_at;         /* ... and when it went out */
} LoadUser;

struct LoadRun {
        const LoadOptions *o;
        CURLM *multi;
        LoadUser *users;
        unsigned n_users;       /* allocated: the profile's most */
        unsigned n_active;
        unsigned n_busy;
        usec_t start;
        LoadTally second;       /* the second in progress */
        LoadTally total;
};

void load_tally_done(LoadTally *t) {
        load_samples_done(&t->latency);
        load_counts_clear(&t->vms);
        load_counts_clear(&t->containers);
        *t = (LoadTally) {};
}

static void load_tally_reset(LoadTally *t) {
        t->ok = t->non2xx = t->errors = 0;
        load_samples_clear(&t->latency);
        load_counts_clear(&t->vms);
        load_counts_clear(&t->containers);
}

static size_t user_write(char *data, size_t size, size_t n, void *userdata) {
        LoadUser *u = userdata;

        if (!u->run->o->count_backends)
                return size * n;
        /* A short count makes libcurl fail the transfer: an oversized answer is an error. */
        return acs_buf_append(&u->body, data, size * n) < 0 ? 0 : size * n;
}

static int user_init(LoadUser *u, LoadRun *run) {
        const LoadOptions *o = run->o;
        long timeout_ms = (long) (o->timeout / USEC_PER_MSEC);

        *u = (LoadUser) { .run = run, .body.max = LOAD_BODY_MAX };
        u->easy = curl_easy_init();
        if (!u->easy)
                return -ENOMEM;
        if (curl_easy_setopt(u->easy, CURLOPT_URL, o->url) != CURLE_OK ||
            curl_easy_setopt(u->easy, CURLOPT_WRITEFUNCTION, user_write) != CURLE_OK ||
            curl_easy_setopt(u->easy, CURLOPT_WRITEDATA, u) != CURLE_OK ||
            curl_easy_setopt(u->easy, CURLOPT_PRIVATE, u) != CURLE_OK ||
            curl_easy_setopt(u->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(u->easy, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
            curl_easy_setopt(u->easy, CURLOPT_CONNECTTIMEOUT_MS, MIN(timeout_ms, 5000L)) != CURLE_OK ||
            /* The target is ours, on this machine: never through an http_proxy from the environment. */
            curl_easy_setopt(u->easy, CURLOPT_NOPROXY, "*") != CURLE_OK ||
            curl_easy_setopt(u->easy, CURLOPT_USERAGENT, "acs-load/" ACS_VERSION) != CURLE_OK)
                return -EINVAL;
        return 0;
}

static void user_done(LoadUser *u) {
        if (u->easy) {
                if (u->busy)
                        (void) curl_multi_remove_handle(u->run->multi, u->easy);
                curl_easy_cleanup(u->easy);
        }
        acs_buf_done(&u->body);
}

static int user_send(LoadUser *u, usec_t now) {
        acs_buf_clear(&u->body);
        if (curl_multi_add_handle(u->run->multi, u->easy) != CURLM_OK)
                return -ENOMEM;
        u->sent_due = u->due;
        u->sent_at = now;
        u->busy = true;
        u->run->n_busy++;
        return 0;
}

/* Counts which VM and container answered, from acs-web's {"vm":..,"container":..}, and when
 * each one answered first (sent and answered, since the start): when a new container began to
 * serve. */
static int tally_backend(LoadTally *t, const char *vm, const char *container, usec_t sent, usec_t answered) {
        _cleanup_free_ char *key = NULL;
        int r;

        r = load_counts_add(&t->vms, vm, 1);
        if (r < 0)
                return r;
        if (asprintf(&key, "%s/%s", vm, container) < 0)
                return -ENOMEM;
        return load_counts_add_answer(&t->containers, key, sent, answered);
}

static int user_count_backend(LoadUser *u, usec_t now) {
        usec_t sent = u->sent_at - u->run->start, answered = now - u->run->start;
        struct json_object *doc, *v;
        const char *vm = "unknown", *container = "unknown";
        int r;

        r = acs_buf_append(&u->body, "", 1);
        if (r < 0)
                return r;
        doc = json_tokener_parse((const char *) acs_buf_peek(&u->body));
        if (doc && json_object_object_get_ex(doc, "vm", &v) && json_object_is_type(v, json_type_string))
                vm = json_object_get_string(v);
        if (doc && json_object_object_get_ex(doc, "container", &v) && json_object_is_type(v, json_type_string))
                container = json_object_get_string(v);
        r = tally_backend(&u->run->second, vm, container, sent, answered);
        if (r >= 0)
                r = tally_backend(&u->run->total, vm, container, sent, answered);
        json_object_put(doc);
        return r;
}

static int tally_answer(LoadTally *t, long status, usec_t latency) {
        if (status >= 200 && status < 300)
                t->ok++;
        else
                t->non2xx++;
        return load_samples_add(&t->latency, latency);
}

static int user_finished(LoadUser *u, CURLcode result, usec_t now) {
        LoadRun *run = u->run;
        usec_t latency = now - u->sent_due;
        long status = 0;
        int r = 0;

        (void) curl_multi_remove_handle(run->multi, u->easy);
        u->busy = false;
        run->n_busy--;

        if (result == CURLE_OK) {
                (void) curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &status);
                r = tally_answer(&run->second, status, latency);
                if (r >= 0)
                        r = tally_answer(&run->total, status, latency);
                if (r >= 0 && run->o->count_backends && status >= 200 && status < 300)
                        r = user_count_backend(u, now);
        } else {
                log_debug("Request to %s failed: %s", run->o->url, curl_easy_strerror(result));
                run->second.errors++;
                run->total.errors++;
        }

        /* The next request is due a period after this one was. When this one ran past that, the
         * next goes out at once and carries the wait in its latency, but at most one period of
         * it: a person who waited does not then click several times to catch up. */
        u->due = u->sent_due + LOAD_PERIOD;
        if (u->due + LOAD_PERIOD < now)
                u->due = now - LOAD_PERIOD;
        return r;
}

/* Starts or parks users so that target of them run. New users spread their first requests
 * over one period, so that a step of load does not arrive as a single burst. */
static void run_set_users(LoadRun *run, unsigned target, usec_t now) {
        target = MIN(target, run->n_users);
        if (target > run->n_active) {
                unsigned added = target - run->n_active;
                for (unsigned i = run->n_active; i < target; i++) {
                        run->users[i].active = true;
                        run->users[i].due = now + (usec_t) (i - run->n_active) * LOAD_PERIOD / added;
                }
        } else
                for (unsigned i = target; i < run->n_active; i++)
                        run->users[i].active = false;   /* a request in flight still completes */
        run->n_active = target;
}

static int run_read_completions(LoadRun *run) {
        CURLMsg *m;
        int left, r;

        while ((m = curl_multi_info_read(run->multi, &left))) {
                LoadUser *u = NULL;

                if (m->msg != CURLMSG_DONE)
                        continue;
                (void) curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &u);
                r = user_finished(u, m->data.result, now_usec(CLOCK_MONOTONIC));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* How long to wait for sockets: until the next due request or the next second, at most
 * LOAD_POLL_MAX_MS. */
static int run_poll_timeout_ms(const LoadRun *run, usec_t now, usec_t next_second) {
        usec_t next = next_second;

        for (unsigned i = 0; i < run->n_active; i++)
                if (!run->users[i].busy)
                        next = MIN(next, run->users[i].due);
        if (next <= now)
                return 0;
        return (int) MIN((next - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) LOAD_POLL_MAX_MS);
}

static int run_loop(LoadRun *run, LoadReport *report, uint64_t *ret_aborted) {
        const LoadOptions *o = run->o;
        unsigned duration_s = load_profile_duration(&o->profile), reported = 0;
        int running, r;

        run->start = now_usec(CLOCK_MONOTONIC);
        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                usec_t next_second = run->start + (usec_t) (reported + 1) * USEC_PER_SEC;

                if (now >= next_second && reported < duration_s) {
                        r = load_report_second(report, ++reported, run->n_active, &run->second);
                        if (r < 0)
                                return r;
                        load_tally_reset(&run->second);
                        continue;
                }

                if (*o->stop) {
                        *ret_aborted = run->n_busy;
                        break;
                }
                if (reported >= duration_s) {
                        /* The end: no new requests; those in flight finish (bounded by the timeout). */
                        run_set_users(run, 0, now);
                        if (run->n_busy == 0)
                                break;
                } else
                        run_set_users(run, load_profile_users_at(&o->profile, (double) (now - run->start) / USEC_PER_SEC), now);

                for (unsigned i = 0; i < run->n_active; i++) {
                        LoadUser *u = &run->users[i];
                        if (!u->busy && u->due <= now) {
                                r = user_send(u, now);
                                if (r < 0)
                                        return log_error_errno(r, "Failed to start a request: %m");
                        }
                }

                if (curl_multi_perform(run->multi, &running) != CURLM_OK ||
                    curl_multi_poll(run->multi, NULL, 0, run_poll_timeout_ms(run, now, next_second), NULL) != CURLM_OK ||
                    curl_multi_perform(run->multi, &running) != CURLM_OK)
                        return log_error_errno(EIO, "libcurl multi interface failed.");
                r = run_read_completions(run);
                if (r < 0)
                        return log_error_errno(r, "Failed to record a request: %m");
        }

        /* Answers that came after the last full second (requests still in flight at the end, or
         * the part of a second before a stop) get a row of their own. */
        if (run->second.ok + load_tally_failed(&run->second) > 0)
                return load_report_second(report, reported + 1, 0, &run->second);
        return 0;
}

int load_run(const LoadOptions *o, LoadReport *report) {
        LoadRun run = { .o = o };
        uint64_t aborted = 0;
        int r;

        run.n_users = load_profile_max_users(&o->profile);
        run.multi = curl_multi_init();
        run.users = calloc(MAX(run.n_users, 1U), sizeof(LoadUser));
        if (!run.multi || !run.users) {
                r = log_oom();
                goto finish;
        }
        /* Every user may hold a keep-alive connection; keep them all in the cache. */
        (void) curl_multi_setopt(run.multi, CURLMOPT_MAXCONNECTS, (long) run.n_users + 1);
        for (unsigned i = 0; i < run.n_users; i++) {
                r = user_init(&run.users[i], &run);
                if (r < 0) {
                        log_error_errno(r, "Failed to set up user %u: %m", i);
                        goto finish;
                }
        }

        r = run_loop(&run, report, &aborted);
        if (r < 0)
                goto finish;
        r = load_report_summary(report, o->url, &o->profile, now_usec(CLOCK_MONOTONIC) - run.start, aborted,
                                &run.total);
finish:
        for (unsigned i = 0; run.users && i < run.n_users; i++)
                user_done(&run.users[i]);
        free(run.users);
        if (run.multi)
                curl_multi_cleanup(run.multi);
        load_tally_done(&run.second);
        load_tally_done(&run.total);
        return r;
}
