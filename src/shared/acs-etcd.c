/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-etcd.h"
#include "acs-list.h"
#include "acs-json-stream.h"
#include "acs-log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

#define ETCD_CALL_TIMEOUT_DEFAULT USEC_PER_SEC
#define ETCD_WATCH_RETRY_USEC (100 * USEC_PER_MSEC)

struct AcsEtcd {
        sd_event *event;
        AcsCurl *curl;
        char **endpoints;
        size_t n_endpoints;
        size_t current;                 /* the endpoint that answered last */
        char *prefix;
        char *ca_file, *cert_file, *key_file;
        AcsEtcdCall *calls;
        AcsEtcdWatch *watches;
};

struct AcsEtcdCall {
        AcsEtcd *etcd;
        LIST_FIELDS(AcsEtcdCall, calls);
        char *path;
        char *body;
        usec_t timeout;
        size_t tries;                   /* endpoints tried so far */
        AcsHttp *http;
        AcsEtcdReply cb;
        void *userdata;
};

struct AcsEtcdWatch {
        AcsEtcd *etcd;
        LIST_FIELDS(AcsEtcdWatch, watches);
        char *name;
        char *key64;
        int64_t revision;               /* the last revision seen; the stream resumes after it */
        AcsEtcdCall *range;
        AcsHttp *stream;
        AcsJsonStream *parser;
        sd_event_source *retry;
        AcsEtcdWatchEvent cb;
        void *userdata;
};

char *acs_base64_encode(const void *p, size_t n) {
        char *s;

        if (n > INT32_MAX / 2)
                return NULL;
        s = malloc(4 * ((n + 2) / 3) + 1);
        if (!s)
                return NULL;
        (void) EVP_EncodeBlock((unsigned char *) s, p, (int) n);
        return s;
}

char *acs_base64_decode(const char *s, size_t *ret_size) {
        size_t len = strlen(s), pad = 0;
        _cleanup_free_ char *out = NULL;
        int n;

        if (len % 4 != 0 || len > INT32_MAX / 2)
                return NULL;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return NULL;
        n = EVP_DecodeBlock((unsigned char *) out, (const unsigned char *) s, (int) len);
        if (n < 0)
                return NULL;
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        if (len > 0 && s[len - 1] == '=')
                pad++;
        if (len > 1 && s[len - 2] == '=')
                pad++;
        n -= (int) pad;
        out[n] = '\0';
        if (ret_size)
                *ret_size = (size_t) n;
        return TAKE_PTR(out);
}

int64_t acs_etcd_json_int64(json_object *o, const char *field) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, field, &v))
                return 0;
        /* json-c reads "12" as 12 too; anything else is 0. */
        return json_object_get_int64(v);
}

char *acs_etcd_range_value(json_object *reply, size_t *ret_size, int64_t *ret_mod_revision) {
        json_object *kvs, *kv, *value;

        if (!json_object_object_get_ex(reply, "kvs", &kvs) || !json_object_is_type(kvs, json_type_array) ||
            json_object_array_length(kvs) < 1)
                return NULL;
        kv = json_object_array_get_idx(kvs, 0);
        if (ret_mod_revision)
                *ret_mod_revision = acs_etcd_json_int64(kv, "mod_revision");
        if (!json_object_object_get_ex(kv, "value", &value))
                return strdup("");      /* an empty value is left out */
        if (!json_object_is_type(value, json_type_string))
                return NULL;
        return acs_base64_decode(json_object_get_string(value), ret_size);
}

int acs_etcd_settings_verify(const AcsEtcdSettings *s, const char *path) {
        size_t n = 0;

        for (char **e = s->endpoints; e && *e; e++, n++)
                if (!startswith(*e, "http://") && !startswith(*e, "https://")) {
                        log_error("%s: [Cluster] Endpoints=%s: expected a URL like http://127.0.0.1:2379", path, *e);
                        return -EINVAL;
                }
        if (n == 0) {
                log_error("%s: [Cluster] needs at least one Endpoints= URL of an etcd member.", path);
                return -EINVAL;
        }
        if (n > ACS_ETCD_ENDPOINTS_MAX) {
                log_error("%s: [Cluster] at most %d Endpoints= are supported.", path, ACS_ETCD_ENDPOINTS_MAX);
                return -EINVAL;
        }
        if (s->prefix && s->prefix[0] != '/') {
                log_error("%s: [Cluster] Prefix=%s: expected a key prefix starting with /", path, s->prefix);
                return -EINVAL;
        }
        if (!s->cert_file != !s->key_file) {
                log_error("%s: [Cluster] CertFile= and KeyFile= go together.", path);
                return -EINVAL;
        }
        return 0;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

int acs_etcd_new(sd_event *event, AcsCurl *curl, const AcsEtcdSettings *s, AcsEtcd **ret) {
        _cleanup_(acs_etcd_freep) AcsEtcd *etcd = NULL;
        bool oom = false;
        size_t n = 0;

        while (s->endpoints && s->endpoints[n])
                n++;
        if (n == 0)
                return -EINVAL;
        etcd = calloc(1, sizeof(*etcd));
        if (!etcd)
                return -ENOMEM;
        etcd->event = sd_event_ref(event);
        etcd->curl = curl;
        etcd->endpoints = calloc(n + 1, sizeof(char *));
        if (!etcd->endpoints)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                etcd->endpoints[i] = strdup_or_null(s->endpoints[i], &oom);
                /* "http://host:2379/" and "http://host:2379" alike */
                if (etcd->endpoints[i] && etcd->endpoints[i][0] && etcd->endpoints[i][strlen(etcd->endpoints[i]) - 1] == '/')
                        etcd->endpoints[i][strlen(etcd->endpoints[i]) - 1] = '\0';
        }
        etcd->n_endpoints = n;
        etcd->prefix = strdup_or_null(s->prefix ?: ACS_ETCD_PREFIX_DEFAULT, &oom);
        etcd->ca_file = strdup_or_null(s->ca_file, &oom);
        etcd->cert_file = strdup_or_null(s->cert_file, &oom);
        etcd->key_file = strdup_or_null(s->key_file, &oom);
        if (oom)
                return -ENOMEM;
        *ret = TAKE_PTR(etcd);
        return 0;
}

AcsEtcd *acs_etcd_free(AcsEtcd *etcd) {
        if (!etcd)
                return NULL;
        while (etcd->watches)
                acs_etcd_watch_free(etcd->watches);
        while (etcd->calls)
                acs_etcd_call_cancel(etcd->calls);
        strv_freep(&etcd->endpoints);
        free(etcd->prefix);
        free(etcd->ca_file);
        free(etcd->cert_file);
        free(etcd->key_file);
        sd_event_unref(etcd->event);
        return mfree(etcd);
}

const char *acs_etcd_endpoint(AcsEtcd *etcd) {
        return etcd->endpoints[etcd->current];
}

char *acs_etcd_key64(AcsEtcd *etcd, const char *name) {
        _cleanup_free_ char *key = NULL;

        if (asprintf(&key, "%s%s", etcd->prefix, name) < 0)
                return NULL;
        return acs_base64_encode(key, strlen(key));
}

static void etcd_http_options(AcsEtcd *etcd, const char *path, AcsHttpOptions *o, char **ret_url) {
        if (asprintf(ret_url, "%s%s", etcd->endpoints[etcd->current], path) < 0)
                *ret_url = NULL;
        *o = (AcsHttpOptions) {
                .url = *ret_url,
                .method = "POST",
                .content_type = "application/json",
                .ca_file = etcd->ca_file,
                .cert_file = etcd->cert_file,
                .key_file = etcd->key_file,
                .max_body = ACS_ETCD_VALUE_MAX * 2,
        };
}

/* ---- calls */

AcsEtcdCall *acs_etcd_call_cancel(AcsEtcdCall *c) {
        if (!c)
                return NULL;
        LIST_REMOVE(calls, c->etcd->calls, c);
        acs_http_cancel(c->http);
        free(c->path);
        free(c->body);
        return mfree(c);
}

static int etcd_call_send(AcsEtcdCall *c);

/* Decides whether an answer is final; returns 1 to try the next endpoint instead. */
static int etcd_call_result(int error, long status, AcsBuf *body, json_object **ret_reply) {
        _cleanup_free_ char *text = NULL;
        json_object *reply;

        *ret_reply = NULL;
        if (error < 0 || status >= 500)
                return 1;
        text = acs_buf_steal_string(body);
        if (!text)
                return -ENOMEM;
        reply = json_tokener_parse(text);
        if (!reply || !json_object_is_type(reply, json_type_object)) {
                json_object_put(reply);
                return -EBADMSG;
        }
        *ret_reply = reply;
        return status == 200 && !json_object_object_get_ex(reply, "error", NULL) ? 0 : -EREMOTEIO;
}

static void etcd_call_on_done(AcsHttp *h, int error, long status, AcsBuf *body, void *userdata) {
        AcsEtcdCall *c = userdata;
        AcsEtcd *etcd = c->etcd;
        json_object *reply = NULL;
        int r;

        c->http = NULL;
        r = etcd_call_result(error, status, body, &reply);
        if (r > 0) {
                if (++c->tries < etcd->n_endpoints) {
                        log_debug("etcd %s gave no answer to %s (%s), trying the next endpoint.",
                                  acs_etcd_endpoint(etcd), c->path, error < 0 ? strerror(-error) : "5xx");
                        etcd->current = (etcd->current + 1) % etcd->n_endpoints;
                        r = etcd_call_send(c);
                        if (r >= 0)
                                return;
                }
                r = error < 0 ? error : -EIO;
        }
        if (c->cb)
                c->cb(etcd, r, reply, c->userdata);
        json_object_put(reply);
        acs_etcd_call_cancel(c);
}

static int etcd_call_send(AcsEtcdCall *c) {
        _cleanup_free_ char *url = NULL;
        AcsHttpOptions o;

        etcd_http_options(c->etcd, c->path, &o, &url);
        if (!url)
                return -ENOMEM;
        o.body = c->body;
        o.body_size = strlen(c->body);
        o.timeout = c->timeout;
        o.on_done = etcd_call_on_done;
        o.userdata = c;
        return acs_http_start(c->etcd->curl, &o, &c->http);
}

int acs_etcd_call(AcsEtcd *etcd, const char *path, json_object *request, usec_t timeout,
                  AcsEtcdReply cb, void *userdata, AcsEtcdCall **ret_call) {
        AcsEtcdCall *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->etcd = etcd;
        LIST_PREPEND(calls, etcd->calls, c);
        c->path = strdup(path);
        c->body = strdup(json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN));
        if (!c->path || !c->body) {
                acs_etcd_call_cancel(c);
                return -ENOMEM;
        }
        c->timeout = timeout ?: ETCD_CALL_TIMEOUT_DEFAULT;
        c->cb = cb;
        c->userdata = userdata;
        r = etcd_call_send(c);
        if (r < 0) {
                acs_etcd_call_cancel(c);
                return r;
        }
        if (ret_call)
                *ret_call = c;
        return 0;
}

/* ---- watches */

static int watch_start(AcsEtcdWatch *w);

static int watch_open_stream(AcsEtcdWatch *w);

static int watch_on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        AcsEtcdWatch *w = userdata;
        int r;

        /* Resume right after the last revision seen, so no change in between is lost; read the
         * current value first only when there is none (start, or compacted past us). */
        if (w->revision > 0) {
                w->stream = acs_http_cancel(w->stream);
                r = watch_open_stream(w);
        } else
                r = watch_start(w);
        if (r < 0) {
                log_warning_errno(r, "Failed to watch %s%s, retrying: %m", w->etcd->prefix, w->name);
                (void) sd_event_source_set_time_relative(w->retry, ETCD_WATCH_RETRY_USEC * 10);
                (void) sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT);
        }
        return 0;
}

static void watch_schedule_retry(AcsEtcdWatch *w, usec_t delay) {
        (void) sd_event_source_set_time_relative(w->retry, delay);
        (void) sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT);
}

static void watch_deliver_kv(AcsEtcdWatch *w, json_object *kv, bool deleted) {
        int64_t revision = acs_etcd_json_int64(kv, "mod_revision");
        _cleanup_free_ char *value = NULL;
        json_object *v;
        size_t size = 0;

        if (revision <= w->revision)
                return;         /* seen already, before a resumed stream */
        w->revision = revision;
        if (!deleted && json_object_object_get_ex(kv, "value", &v) && json_object_is_type(v, json_type_string)) {
                value = acs_base64_decode(json_object_get_string(v), &size);
                if (!value) {
                        log_warning("etcd sent an undecodable value for %s%s, ignoring it.", w->etcd->prefix, w->name);
                        return;
                }
        } else if (!deleted)
                value = strdup("");
        w->cb(w, deleted ? NULL : value, size, revision, w->userdata);
}

/* One object of the watch stream: {"result": {"header": ..., "events": [...]}} */
static int watch_on_document(json_object *doc, void *userdata) {
        AcsEtcdWatch *w = userdata;
        json_object *result, *events, *type;
        size_t n;

        if (!json_object_object_get_ex(doc, "result", &result))
                return -EREMOTEIO;      /* {"error": ...}: start over */
        if (acs_etcd_json_int64(result, "compact_revision") > 0 ||
            json_object_object_get_ex(result, "canceled", NULL)) {
                w->revision = 0;        /* compacted past us: read the current value again */
                return -ESTALE;
        }
        if (!json_object_object_get_ex(result, "events", &events) || !json_object_is_type(events, json_type_array))
                return 0;
        n = json_object_array_length(events);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(events, i), *kv;
                bool deleted;

                if (!json_object_object_get_ex(e, "kv", &kv))
                        continue;
                deleted = json_object_object_get_ex(e, "type", &type) &&
                          streq(json_object_get_string(type), "DELETE");
                watch_deliver_kv(w, kv, deleted);
        }
        return 0;
}

static int watch_on_data(AcsHttp *h, const void *p, size_t n, void *userdata) {
        AcsEtcdWatch *w = userdata;

        return acs_json_stream_feed(w->parser, p, n, watch_on_document, w);
}

static void watch_on_stream_done(AcsHttp *h, int error, long status, AcsBuf *body, void *userdata) {
        AcsEtcdWatch *w = userdata;
        AcsEtcd *etcd = w->etcd;

        w->stream = NULL;
        log_info("Watch of %s%s on %s ended (%s), resuming on the next endpoint.", etcd->prefix, w->name,
                 acs_etcd_endpoint(etcd), error < 0 ? strerror(-error) : "closed");
        etcd->current = (etcd->current + 1) % etcd->n_endpoints;
        watch_schedule_retry(w, ETCD_WATCH_RETRY_USEC);
}

static int watch_open_stream(AcsEtcdWatch *w) {
        _cleanup_(json_object_putp) json_object *req = NULL, *create = NULL;
        _cleanup_free_ char *url = NULL;
        AcsHttpOptions o;
        const char *body;

        acs_json_stream_free(w->parser);
        w->parser = acs_json_stream_new();
        create = json_object_new_object();
        req = json_object_new_object();
        if (!w->parser || !create || !req)
                return -ENOMEM;
        if (json_object_object_add(create, "key", json_object_new_string(w->key64)) < 0 ||
            json_object_object_add(create, "start_revision", json_object_new_int64(w->revision + 1)) < 0 ||
            json_object_object_add(req, "create_request", json_object_get(create)) < 0)
                return -ENOMEM;
        body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
        etcd_http_options(w->etcd, "/v3/watch", &o, &url);
        if (!url)
                return -ENOMEM;
        o.body = body;
        o.body_size = strlen(body);
        o.on_data = watch_on_data;
        o.on_done = watch_on_stream_done;
        o.userdata = w;
        return acs_http_start(w->etcd->curl, &o, &w->stream);
}

static void watch_on_range(AcsEtcd *etcd, int error, json_object *reply, void *userdata) {
        AcsEtcdWatch *w = userdata;
        _cleanup_free_ char *value = NULL;
        json_object *header = NULL;
        int64_t mod_revision = 0;
        size_t size = 0;
        int r;

        w->range = NULL;
        if (error < 0) {
                log_warning_errno(error, "Failed to read %s%s from etcd, retrying: %m", etcd->prefix, w->name);
                watch_schedule_retry(w, ETCD_WATCH_RETRY_USEC * 5);
                return;
        }
        value = acs_etcd_range_value(reply, &size, &mod_revision);
        if (value && mod_revision > w->revision) {
                w->revision = mod_revision;
                w->cb(w, value, size, mod_revision, w->userdata);
        }
        /* Resume after what the cluster had when it answered, not after the key's own change. */
        if (json_object_object_get_ex(reply, "header", &header))
                w->revision = MAX(w->revision, acs_etcd_json_int64(header, "revision"));
        r = watch_open_stream(w);
        if (r < 0) {
                log_warning_errno(r, "Failed to open the watch of %s%s, retrying: %m", etcd->prefix, w->name);
                watch_schedule_retry(w, ETCD_WATCH_RETRY_USEC * 5);
        }
}

static int watch_start(AcsEtcdWatch *w) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object();

        if (!req || json_object_object_add(req, "key", json_object_new_string(w->key64)) < 0)
                return -ENOMEM;
        w->range = acs_etcd_call_cancel(w->range);
        w->stream = acs_http_cancel(w->stream);
        return acs_etcd_call(w->etcd, "/v3/kv/range", req, 0, watch_on_range, w, &w->range);
}

int acs_etcd_watch_new(AcsEtcd *etcd, const char *name, AcsEtcdWatchEvent cb, void *userdata,
                       AcsEtcdWatch **ret) {
        _cleanup_(acs_etcd_watch_freep) AcsEtcdWatch *w = NULL;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->etcd = etcd;
        LIST_PREPEND(watches, etcd->watches, w);
        w->cb = cb;
        w->userdata = userdata;
        w->name = strdup(name);
        w->key64 = acs_etcd_key64(etcd, name);
        if (!w->name || !w->key64)
                return -ENOMEM;
        r = sd_event_add_time_relative(etcd->event, &w->retry, CLOCK_MONOTONIC, 0, 0, watch_on_retry, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(w->retry, SD_EVENT_OFF);
        (void) sd_event_source_set_description(w->retry, "etcd-watch-retry");
        r = watch_start(w);
        if (r < 0)
                return r;
        if (ret)
                *ret = w;
        TAKE_PTR(w);
        return 0;
}

AcsEtcdWatch *acs_etcd_watch_free(AcsEtcdWatch *w) {
        if (!w)
                return NULL;
        LIST_REMOVE(watches, w->etcd->watches, w);
        acs_etcd_call_cancel(w->range);
        acs_http_cancel(w->stream);
        acs_json_stream_free(w->parser);
        sd_event_source_disable_unref(w->retry);
        free(w->name);
        free(w->key64);
        return mfree(w);
}
