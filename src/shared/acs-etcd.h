/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A small client of etcd's v3 JSON gateway (etcd 3.4: POST /v3/kv/range, /v3/kv/txn,
 * /v3/lease/grant|keepalive|revoke, and the streamed /v3/watch), on AcsCurl inside sd-event.
 *
 * Keys and values travel base64-encoded in JSON; callers here use plain names below the
 * configured prefix ("backends" is "/acs/backends" with the default prefix).
 *
 * Every call goes to the endpoint that answered last; when it gives no answer (refused, reset,
 * timed out) or a 5xx, the call moves on to the next endpoint, each tried once. A watch
 * resumes after the last revision it delivered, on the next endpoint, whenever its stream ends.
 */

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "acs-config.h"
#include "acs-curl.h"
#include "acs-macro.h"

#define ACS_ETCD_PREFIX_DEFAULT "/acs/"
#define ACS_ETCD_ENDPOINTS_MAX 16
#define ACS_ETCD_VALUE_MAX (1024U * 1024U)

typedef struct AcsEtcdSettings {
        char **endpoints;               /* "http://127.0.0.1:2379", "https://10.0.0.1:2379" */
        char *prefix;                   /* NULL: ACS_ETCD_PREFIX_DEFAULT */
        char *ca_file;
        char *cert_file;
        char *key_file;
} AcsEtcdSettings;

/* The [Cluster] keys every etcd user shares, for a config table whose struct has an
 * AcsEtcdSettings member named field. */
#define ACS_ETCD_CONFIG_ITEMS(type, field)                                                       \
        { "Cluster", "Endpoints", ACS_CONFIG_STRV, offsetof(type, field.endpoints) },           \
        { "Cluster", "Prefix", ACS_CONFIG_STRING, offsetof(type, field.prefix) },               \
        { "Cluster", "CAFile", ACS_CONFIG_STRING, offsetof(type, field.ca_file) },              \
        { "Cluster", "CertFile", ACS_CONFIG_STRING, offsetof(type, field.cert_file) },          \
        { "Cluster", "KeyFile", ACS_CONFIG_STRING, offsetof(type, field.key_file) }

/* Checks what the table cannot: at least one endpoint, each an http:// or https:// URL, at
 * most ACS_ETCD_ENDPOINTS_MAX, a prefix starting with '/', CertFile= with KeyFile=. Logs the
 * reason naming path and returns -EINVAL. */
int acs_etcd_settings_verify(const AcsEtcdSettings *s, const char *path);

typedef struct AcsEtcd AcsEtcd;
typedef struct AcsEtcdCall AcsEtcdCall;
typedef struct AcsEtcdWatch AcsEtcdWatch;

/* error: 0 with reply the gateway's JSON answer; -EREMOTEIO when etcd refused the request
 * (reply then holds its "message"); another negative errno when no endpoint answered. The
 * call is freed right after this returns. */
typedef void (*AcsEtcdReply)(AcsEtcd *etcd, int error, json_object *reply, void *userdata);

/* A new value of a watched key (value NULL: the key was deleted) at revision. Runs inside a
 * curl callback: it must not start or cancel etcd calls itself (defer such work). */
typedef void (*AcsEtcdWatchEvent)(AcsEtcdWatch *w, const char *value, size_t size, int64_t revision,
                                  void *userdata);

/* curl must outlive the client. */
int acs_etcd_new(sd_event *event, AcsCurl *curl, const AcsEtcdSettings *s, AcsEtcd **ret);
/* Drops every call and watch without calling back. */
AcsEtcd *acs_etcd_free(AcsEtcd *etcd);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsEtcd *, acs_etcd_free);

/* The endpoint that answered last. */
const char *acs_etcd_endpoint(AcsEtcd *etcd);
/* prefix + name, base64-encoded for a request. */
char *acs_etcd_key64(AcsEtcd *etcd, const char *name);

/* POSTs request (not consumed) to path ("/v3/kv/range"). timeout 0: one second. */
int acs_etcd_call(AcsEtcd *etcd, const char *path, json_object *request, usec_t timeout,
                  AcsEtcdReply cb, void *userdata, AcsEtcdCall **ret_call);
AcsEtcdCall *acs_etcd_call_cancel(AcsEtcdCall *c);

/* Watches prefix + name: first its current value (if any), then every change. */
int acs_etcd_watch_new(AcsEtcd *etcd, const char *name, AcsEtcdWatchEvent cb, void *userdata,
                       AcsEtcdWatch **ret);
AcsEtcdWatch *acs_etcd_watch_free(AcsEtcdWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsEtcdWatch *, acs_etcd_watch_free);

/* base64 as the gateway wants it. Return NULL when out of memory (or, decoding, on bad input). */
char *acs_base64_encode(const void *p, size_t n);
char *acs_base64_decode(const char *s, size_t *ret_size);

/* An int64 of a gateway answer: the gateway writes them as JSON strings ("revision": "12").
 * Returns 0 when the field is missing. */
int64_t acs_etcd_json_int64(json_object *o, const char *field);
/* The first kv of a range answer: its decoded value (NULL when the key does not exist). */
char *acs_etcd_range_value(json_object *reply, size_t *ret_size, int64_t *ret_mod_revision);
