/* SPDX-License-Identifier: MIT */
/*
 * The etcd client from the command line, for the tests:
 *     etcd-client watch NAME ENDPOINT...       prints "REVISION VALUE" per change, flushed
 *     etcd-client put NAME VALUE ENDPOINT...   writes through the gateway, prints the revision
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-etcd.h"
#include "acs-log.h"

static int exit_code = 1;

static void on_change(AcsEtcdWatch *w, const char *value, size_t size, int64_t revision, void *userdata) {
        if (value)
                printf("%lld %.*s\n", (long long) revision, (int) size, value);
        else
                printf("%lld (deleted)\n", (long long) revision);
        fflush(stdout);
}

static void on_put(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        json_object *header = NULL;

        if (error < 0)
                log_error_errno(error, "put failed: %m");
        else if (json_object_object_get_ex(reply, "header", &header)) {
                printf("%lld\n", (long long) acs_etcd_json_int64(header, "revision"));
                exit_code = 0;
        }
        (void) sd_event_exit(userdata, 0);
}

static int put(AcsEtcd *etcd, sd_event *event, const char *name, const char *value) {
        _cleanup_free_ char *key64 = acs_etcd_key64(etcd, name), *value64 = acs_base64_encode(value, strlen(value));
        json_object *req = json_object_new_object();
        int r;

        if (!key64 || !value64 || !req)
                return log_oom();
        json_object_object_add(req, "key", json_object_new_string(key64));
        json_object_object_add(req, "value", json_object_new_string(value64));
        r = acs_etcd_call(etcd, "/v3/kv/put", req, 0, on_put, event, NULL);
        json_object_put(req);
        return r;
}

int main(int argc, char **argv) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(acs_curl_freep) AcsCurl *curl = NULL;
        _cleanup_(acs_etcd_freep) AcsEtcd *etcd = NULL;
        AcsEtcdSettings s = {};
        bool watch;
        int r;

        if (argc < 4 || (!streq(argv[1], "watch") && !streq(argv[1], "put")) ||
            (streq(argv[1], "put") && argc < 5)) {
                fprintf(stderr, "usage: etcd-client watch NAME ENDPOINT... | put NAME VALUE ENDPOINT...\n");
                return 2;
        }
        watch = streq(argv[1], "watch");
        s.endpoints = argv + (watch ? 3 : 4);
        if (sd_event_default(&event) < 0 || !(curl = acs_curl_new(event)))
                return log_oom();
        (void) sd_event_set_signal_exit(event, true);
        r = acs_etcd_new(event, curl, &s, &etcd);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the etcd client: %m");
        if (watch) {
                r = acs_etcd_watch_new(etcd, argv[2], on_change, NULL, NULL);
                exit_code = 0;
        } else
                r = put(etcd, event, argv[2], argv[3]);
        if (r < 0)
                return log_error_errno(r, "Failed to start: %m");
        r = sd_event_loop(event);
        return r < 0 ? 1 : exit_code;
}
