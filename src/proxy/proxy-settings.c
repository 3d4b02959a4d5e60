/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "proxy-settings.h"

static const char *const source_names[] = { "static", "vim", "vmm", "etcd", NULL };
static const char *const balance_names[] = { "p2c", "roundrobin", "leastconn", "hash", NULL };

#define P(key, type, field, ...) { "Proxy", key, type, offsetof(ProxySettings, field), __VA_ARGS__ }
#define H2(key, type, field, ...) { "Http2", key, type, offsetof(ProxySettings, field), __VA_ARGS__ }
#define SEC(n) ((int64_t) (n) * (int64_t) USEC_PER_SEC)

const AcsConfigItem proxy_settings_table[] = {
        P("Listen", ACS_CONFIG_STRING, listen),
        P("AdminListen", ACS_CONFIG_STRING, admin_listen),
        P("Source", ACS_CONFIG_ENUM, source, .choices = source_names),
        P("Backend", ACS_CONFIG_STRV, backends),
        P("BusAddress", ACS_CONFIG_STRING, bus_address),
        P("Workers", ACS_CONFIG_UINT, workers, .min = 0, .max = 64),
        P("Balance", ACS_CONFIG_ENUM, balance, .choices = balance_names),
        P("HashKey", ACS_CONFIG_STRING, hash_key),
        P("ConnectTimeout", ACS_CONFIG_DURATION, connect_timeout, .min = 1000, .max = SEC(3600)),
        P("ResponseTimeout", ACS_CONFIG_DURATION, response_timeout, .min = 1000, .max = SEC(3600)),
        P("ClientHeadTimeout", ACS_CONFIG_DURATION, client_head_timeout, .min = 1000, .max = SEC(3600)),
        P("ClientBodyTimeout", ACS_CONFIG_DURATION, client_body_timeout, .min = 1000, .max = SEC(3600)),
        P("ClientBodyMinRate", ACS_CONFIG_UINT, client_body_min_rate, .min = 0, .max = 1 << 30),
        P("IdleTimeout", ACS_CONFIG_DURATION, idle_timeout, .min = 1000, .max = SEC(3600)),
        P("MaxUrlSize", ACS_CONFIG_UINT, max_url_size, .min = 64, .max = 1 << 20),
        P("MaxHeadSize", ACS_CONFIG_UINT, max_head_size, .min = 256, .max = 1 << 20),
        P("MaxBodySize", ACS_CONFIG_INT, max_body_size, .min = 0, .max = INT64_C(1) << 50),
        P("MaxConnections", ACS_CONFIG_UINT, max_connections, .min = 0, .max = 1 << 20),
        P("MaxConnectionsPerClient", ACS_CONFIG_UINT, max_conns_per_client, .min = 0, .max = 1 << 20),
        P("MaxConnectionsPerBackend", ACS_CONFIG_UINT, max_conns_per_backend, .min = 0, .max = 1 << 20),
        P("QueueSize", ACS_CONFIG_UINT, queue_size, .min = 0, .max = 1 << 20),
        P("QueueTimeout", ACS_CONFIG_DURATION, queue_timeout, .min = 1000, .max = SEC(3600)),
        P("HealthCheckInterval", ACS_CONFIG_DURATION, health_interval, .min = 0, .max = SEC(3600)),
        P("HealthCheckRise", ACS_CONFIG_UINT, health_rise, .min = 1, .max = 100),
        P("HealthCheckFall", ACS_CONFIG_UINT, health_fall, .min = 1, .max = 100),
        P("SlowStart", ACS_CONFIG_DURATION, slow_start, .min = 0, .max = SEC(3600)),
        P("EjectAfterFailures", ACS_CONFIG_UINT, eject_failures, .min = 1, .max = 1000),
        P("EjectTime", ACS_CONFIG_DURATION, eject_time, .min = 1000, .max = SEC(3600)),
        P("AccessLog", ACS_CONFIG_BOOL, access_log),
        P("RetryOn503", ACS_CONFIG_BOOL, retry_on_503),
        ACS_ETCD_CONFIG_ITEMS(ProxySettings, etcd),
        ACS_TLS_CONFIG_ITEMS(ProxySettings, tls),
        H2("Enabled", ACS_CONFIG_BOOL, h2_enabled),
        H2("PriorKnowledge", ACS_CONFIG_BOOL, h2_prior_knowledge),
        H2("MaxConcurrentStreams", ACS_CONFIG_UINT, h2_max_concurrent_streams, .min = 1, .max = 10000),
        H2("MaxHeaderListSize", ACS_CONFIG_UINT, h2_max_header_list_size, .min = 1024, .max = 1 << 20),
        H2("InitialWindowSize", ACS_CONFIG_UINT, h2_initial_window_size, .min = 65535, .max = 16 << 20),
        H2("MaxResetsPerSecond", ACS_CONFIG_UINT, h2_max_resets_per_second, .min = 1, .max = 1 << 20),
        {},
};

void proxy_settings_init(ProxySettings *s) {
        *s = (ProxySettings) {
                .source = PROXY_SOURCE_STATIC,
                .balance = PROXY_BALANCE_P2C,
                .connect_timeout = 2 * USEC_PER_SEC,
                .response_timeout = 60 * USEC_PER_SEC,
                .client_head_timeout = 10 * USEC_PER_SEC,
                .client_body_timeout = 60 * USEC_PER_SEC,
                .client_body_min_rate = 500,    /* as Apache's mod_reqtimeout */
                .idle_timeout = 60 * USEC_PER_SEC,
                .max_url_size = 8192,
                .max_head_size = 16384,
                .max_body_size = INT64_C(64) << 20,
                .queue_size = 1024,
                .queue_timeout = 5 * USEC_PER_SEC,
                .health_interval = 0,
                .health_rise = 2,
                .health_fall = 3,
                .slow_start = 0,
                .eject_failures = 3,
                .eject_time = 1 * USEC_PER_SEC,
                .h2_enabled = true,
                .h2_max_concurrent_streams = 100,
                .h2_max_header_list_size = 16384,
                .h2_initial_window_size = 65535,
                .h2_max_resets_per_second = 100,
        };
}

void proxy_settings_done(ProxySettings *s) {
        acs_config_free(proxy_settings_table, s);
}

int proxy_settings_load(ProxySettings *s, const char *path) {
        AcsConfigError e = {};
        struct sockaddr_storage ss;
        socklen_t len;
        int r;

        r = acs_config_load(path, false, proxy_settings_table, s, &e);
        if (r < 0) {
                log_error("%s", e.message ? e.message : "Failed to load configuration.");
                acs_config_error_done(&e);
                return r;
        }
        /* Values whose shape the generic table cannot check. */
        if (!s->listen) {
                log_error("%s: [Proxy] Listen= is required.", path);
                return -EINVAL;
        }
        if (proxy_parse_address(s->listen, &ss, &len) < 0) {
                log_error("%s: [Proxy] Listen=%s: expected an address like 127.0.0.1:8080", path, s->listen);
                return -EINVAL;
        }
        if (s->admin_listen && *s->admin_listen && proxy_parse_address(s->admin_listen, &ss, &len) < 0) {
                log_error("%s: [Proxy] AdminListen=%s: expected an address like 127.0.0.1:9090", path, s->admin_listen);
                return -EINVAL;
        }
        if (s->admin_listen && !*s->admin_listen)
                s->admin_listen = mfree(s->admin_listen);
        for (char **b = s->backends; b && *b; b++) {
                _cleanup_free_ char *host = NULL;
                uint16_t port;
                unsigned weight;

                if (proxy_parse_backend_line(*b, &host, &port, &weight) < 0) {
                        log_error("%s: [Proxy] Backend=%s: expected a backend like 127.0.0.1:9001, "
                                  "optionally followed by a weight 1..256", path, *b);
                        return -EINVAL;
                }
        }
        if (s->hash_key && !((startswith(s->hash_key, "header:") || startswith(s->hash_key, "cookie:")) &&
                             strlen(s->hash_key) > strlen("header:"))) {
                log_error("%s: [Proxy] HashKey=%s: expected header:NAME or cookie:NAME", path, s->hash_key);
                return -EINVAL;
        }
        if (s->source == PROXY_SOURCE_STATIC && !s->backends) {
                log_error("%s: [Proxy] Source=static needs at least one Backend= line.", path);
                return -EINVAL;
        }
        if (acs_tls_settings_verify(&s->tls, path) < 0)
                return -EINVAL;
        if (s->source == PROXY_SOURCE_ETCD && acs_etcd_settings_verify(&s->etcd, path) < 0)
                return -EINVAL;
        if (s->balance == PROXY_BALANCE_HASH && !s->hash_key) {
                log_error("%s: [Proxy] Balance=hash needs HashKey=header:NAME or cookie:NAME.", path);
                return -EINVAL;
        }
        return 0;
}

int proxy_parse_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len) {
        _cleanup_free_ char *host = NULL;
        const char *colon, *hs, *he;
        char *end = NULL;
        unsigned long port;

        if (s[0] == '[') {
                he = strchr(s, ']');
                if (!he || he[1] != ':')
                        return -EINVAL;
                hs = s + 1;
                colon = he + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                hs = s;
                he = colon;
        }
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno != 0 || !end || *end || end == colon + 1 || port == 0 || port > 65535)
                return -EINVAL;
        host = strndup(hs, he - hs);
        if (!host)
                return -ENOMEM;

        memset(ret, 0, sizeof(*ret));
        if (streq(host, "*") || streq(host, "")) {
                struct sockaddr_in *in = (struct sockaddr_in *) ret;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                in->sin_addr.s_addr = htonl(INADDR_ANY);
                *ret_len = sizeof(*in);
                return 0;
        }
        if (s[0] != '[') {
                struct sockaddr_in *in = (struct sockaddr_in *) ret;
                if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
                        return -EINVAL;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                *ret_len = sizeof(*in);
                return 0;
        }
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ret;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
                return -EINVAL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *ret_len = sizeof(*in6);
        return 0;
}

int proxy_parse_backend_line(const char *s, char **ret_host, uint16_t *ret_port, unsigned *ret_weight) {
        _cleanup_free_ char *addr = NULL;
        struct sockaddr_storage ss;
        socklen_t len;
        const char *sp;
        unsigned long weight = 1;
        char *end = NULL, *host;
        size_t n;

        n = strcspn(s, " \t");
        addr = strndup(s, n);
        if (!addr)
                return -ENOMEM;
        if (proxy_parse_address(addr, &ss, &len) < 0 || ss.ss_family == AF_UNSPEC)
                return -EINVAL;
        sp = s + n;
        while (*sp == ' ' || *sp == '\t')
                sp++;
        if (*sp) {
                errno = 0;
                weight = strtoul(sp, &end, 10);
                if (errno != 0 || !end || *end || weight < 1 || weight > 256)
                        return -EINVAL;
        }
        host = strndup(addr, strrchr(addr, ':') - addr);
        if (!host)
                return -ENOMEM;
        *ret_host = host;
        *ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                                   : ((struct sockaddr_in *) &ss)->sin_port);
        *ret_weight = (unsigned) weight;
        return 0;
}
