/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-proto.h"
#include "vim-config.h"

static const char *const placement_choices[] = { "spread", "binpack", NULL };
/* In AcsPolicyKind's order. */
static const char *const policy_choices[] = { "acs", "hpa-default", "seed", NULL };
static const char *const store_choices[] = { "embedded", "etcd", NULL };

#define S(f) offsetof(VimSettings, f)
const AcsConfigItem vim_config_table[] = {
        { "Agents", "Listen", ACS_CONFIG_STRING, S(agent_listen) },
        { "Agents", "KeyDirectory", ACS_CONFIG_STRING, S(key_directory) },
        { "Agents", "GracePeriod", ACS_CONFIG_DURATION, S(grace_period), .min = 100 * USEC_PER_MSEC,
          .max = 3600 * USEC_PER_SEC },
        { "Agents", "HandshakeTimeout", ACS_CONFIG_DURATION, S(handshake_timeout), .min = 100 * USEC_PER_MSEC,
          .max = 60 * USEC_PER_SEC },
        { "Agents", "AllowHostAddresses", ACS_CONFIG_BOOL, S(allow_host_addresses) },
        { "Agents", "ContainerPortMin", ACS_CONFIG_UINT, S(container_port_min), .min = 1, .max = 65535 },
        { "Agents", "ContainerPortMax", ACS_CONFIG_UINT, S(container_port_max), .min = 1, .max = 65535 },
        { "Agents", "MaxContainers", ACS_CONFIG_UINT, S(max_containers), .min = 0, .max = ACS_PROTO_CONTAINERS_MAX },
        { "Agents", "MaxWeight", ACS_CONFIG_UINT, S(max_weight), .min = 1, .max = 256 },
        { "Agents", "VmDirectory", ACS_CONFIG_STRING, S(vm_directory) },

        { "Scaling", "Policy", ACS_CONFIG_ENUM, S(policy_kind), .choices = policy_choices },
        { "Scaling", "TargetCpu", ACS_CONFIG_DOUBLE, S(target_cpu), .dmin = 0.05, .dmax = 1 },
        { "Scaling", "TargetInflight", ACS_CONFIG_DOUBLE, S(target_inflight), .dmin = 0, .dmax = 1000 },
        { "Scaling", "Tolerance", ACS_CONFIG_DOUBLE, S(tolerance), .dmin = 0, .dmax = 0.9 },
        { "Scaling", "MinReplicas", ACS_CONFIG_UINT, S(min_replicas), .min = 0, .max = 10000 },
        { "Scaling", "MaxReplicas", ACS_CONFIG_UINT, S(max_replicas), .min = 1, .max = 10000 },
        { "Scaling", "ScaleDownWindow", ACS_CONFIG_DURATION, S(scale_down_window), .min = 0,
          .max = 3600 * USEC_PER_SEC },
        { "Scaling", "Placement", ACS_CONFIG_ENUM, S(placement), .choices = placement_choices },
        { "Scaling", "VmHeadroom", ACS_CONFIG_UINT, S(vm_headroom), .min = 0, .max = 10000 },
        { "Scaling", "VmStandbyDelay", ACS_CONFIG_DURATION, S(vm_standby_delay), .min = 0,
          .max = 24 * 3600 * USEC_PER_SEC },
        { "Scaling", "MinActiveVms", ACS_CONFIG_UINT, S(min_active_vms), .min = 0, .max = 10000 },
        { "Scaling", "ScaleUpLimit", ACS_CONFIG_STRING, S(scale_up_limit) },
        { "Scaling", "ScaleUpPeriod", ACS_CONFIG_DURATION, S(scale_up_period), .min = 0, .max = 3600 * USEC_PER_SEC },
        { "Scaling", "ScaleDownLimit", ACS_CONFIG_STRING, S(scale_down_limit) },
        { "Scaling", "ScaleDownPeriod", ACS_CONFIG_DURATION, S(scale_down_period), .min = 0,
          .max = 3600 * USEC_PER_SEC },
        { "Scaling", "DrainTimeout", ACS_CONFIG_DURATION, S(drain_timeout), .min = 0, .max = 3600 * USEC_PER_SEC },
        { "Scaling", "DryRun", ACS_CONFIG_BOOL, S(dry_run) },
        { "Scaling", "ActivateCommand", ACS_CONFIG_STRING, S(activate_command) },
        { "Scaling", "StandbyCommand", ACS_CONFIG_STRING, S(standby_command) },

        { "Cluster", "Store", ACS_CONFIG_ENUM, S(store), .choices = store_choices },
        ACS_ETCD_CONFIG_ITEMS(VimSettings, etcd),
        { "Cluster", "LeaseTTL", ACS_CONFIG_DURATION, S(lease_ttl), .min = USEC_PER_SEC, .max = 60 * USEC_PER_SEC },
        { "Cluster", "Advertise", ACS_CONFIG_STRING, S(advertise) },

        { "Proxy", "BusAddress", ACS_CONFIG_STRING, S(proxy_bus_address) },
        { "State", "Directory", ACS_CONFIG_STRING, S(state_directory) },

        { "Api", "Listen", ACS_CONFIG_STRING, S(api_listen) },
        { "Api", "Token", ACS_CONFIG_STRING, S(token) },
        { "Api", "TokenFile", ACS_CONFIG_STRING, S(token_file) },
        { "Api", "IdleTimeout", ACS_CONFIG_DURATION, S(idle_timeout), .min = USEC_PER_SEC, .max = 3600 * USEC_PER_SEC },
        { "Api", "RequestTimeout", ACS_CONFIG_DURATION, S(request_timeout), .min = USEC_PER_SEC, .max = 600 * USEC_PER_SEC },
        { "Api", "MaxEventStreams", ACS_CONFIG_UINT, S(max_event_streams), .min = 0, .max = 200 },

        ACS_TLS_CONFIG_ITEMS(VimSettings, tls),

        { "Dashboard", "Directory", ACS_CONFIG_STRING, S(dashboard_directory) },
        { "Dashboard", "ProxyUrl", ACS_CONFIG_STRING, S(proxy_url) },
        { "Dashboard", "LoadCommand", ACS_CONFIG_STRING, S(load_command) },
        { "Dashboard", "MaxLoadUsers", ACS_CONFIG_UINT, S(max_load_users), .min = 1, .max = 1000 },
        { "Dashboard", "MaxLoadSeconds", ACS_CONFIG_UINT, S(max_load_seconds), .min = 1, .max = 3600 },
        {},
};
#undef S

void vim_settings_init(VimSettings *s) {
        AcsPolicy p;

        acs_policy_init(&p);
        *s = (VimSettings) {
                .grace_period = 3 * USEC_PER_SEC,
                .lease_ttl = 3 * USEC_PER_SEC,
                .handshake_timeout = 2 * USEC_PER_SEC,
                .container_port_min = 1024,
                .container_port_max = 65535,
                .max_containers = 64,
                .max_weight = 256,
                .policy_kind = p.kind,
                .target_cpu = p.target_cpu,
                .target_inflight = p.target_inflight,
                .tolerance = p.tolerance,
                .min_replicas = p.min_replicas,
                .max_replicas = p.max_replicas,
                .scale_down_window = p.scale_down_window,
                .placement = p.placement,
                .vm_headroom = p.vm_headroom,
                .vm_standby_delay = p.vm_standby_delay,
                .min_active_vms = 1,
                .drain_timeout = 30 * USEC_PER_SEC,
                .scale_up_period = p.scale_up_limit.period,
                .scale_down_period = p.scale_down_limit.period,
                .idle_timeout = 30 * USEC_PER_SEC,
                .request_timeout = 10 * USEC_PER_SEC,
                .max_event_streams = 32,
                .max_load_users = 50,
                .max_load_seconds = 300,
        };
}

/* Strings are set after loading, when the file left them unset, so that the table's
 * replace-on-assignment semantics never leak a default. */
static int default_string(char **field, const char *value) {
        if (*field)
                return 0;
        *field = strdup(value);
        return *field ? 0 : -ENOMEM;
}

/* systemd's StateDirectory= (the first, if several); by hand, none unless configured: a VIM
 * started for a test must not pick up what another one saved. */
static const char *state_directory_default(void) {
        static char first[PATH_MAX];
        const char *e = getenv("STATE_DIRECTORY");

        if (!e || !e[0])
                return "";
        (void) snprintf(first, sizeof(first), "%.*s", (int) strcspn(e, ":"), e);
        return first;
}

void vim_settings_done(VimSettings *s) {
        acs_config_free(vim_config_table, s);
}

#define TOKEN_FILE_MAX 4096
#define TOKEN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-"

/* The API token from [Api] TokenFile=, or else from the credential "api-token" systemd passes
 * (LoadCredential=api-token:/etc/acs/api-token): a file only its owner may read, so that the
 * token need not sit in vim.conf, which every local user may read. */
static int settings_load_token_file(VimSettings *s, const char *path) {
        _cleanup_free_ char *credential = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        const char *file = s->token_file, *dir = getenv("CREDENTIALS_DIRECTORY");
        char buf[TOKEN_FILE_MAX + 2];
        struct stat st;
        size_t n;

        if ((!file || !file[0]) && dir && asprintf(&credential, "%s/api-token", dir) >= 0 &&
            access(credential, F_OK) == 0)
                file = credential;
        if (!file || !file[0])
                return 0;
        if (s->token && s->token[0])
                return log_error_errno(EINVAL, "%s: [Api] Token= and a token file (%s) both given: use one.",
                                       path ?: "vim.conf", file);
        f = fopen(file, "re");
        if (!f || fstat(fileno(f), &st) < 0)
                return log_error_errno(errno, "Failed to open the API token file %s: %m", file);
        if (!S_ISREG(st.st_mode) || (st.st_mode & 0077) != 0)
                return log_error_errno(EPERM, "API token file %s: must be a regular file readable by its owner "
                                       "only (mode 0600).", file);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        buf[strcspn(buf, "\r\n")] = 0;
        if (n > TOKEN_FILE_MAX || strlen(buf) < 16 || buf[strspn(buf, TOKEN_CHARS)] != 0)
                return log_error_errno(EINVAL, "API token file %s: expected one line of 16..%d characters "
                                       "([A-Za-z0-9._~+/=-]).", file, TOKEN_FILE_MAX);
        free(s->token);
        s->token = strdup(buf);
        explicit_bzero(buf, sizeof(buf));
        return s->token ? 0 : log_oom();
}

int vim_settings_load(VimSettings *s, const char *path, bool missing_ok) {
        AcsConfigError e = {};
        int r;

        r = acs_config_load(path, missing_ok, vim_config_table, s, &e);
        if (r < 0) {
                log_error("%s", e.message ? e.message : "Failed to load configuration.");
                acs_config_error_done(&e);
                return r;
        }

        if (default_string(&s->agent_listen, "127.0.0.1:7070") < 0 ||
            default_string(&s->key_directory, ACS_SYSCONFDIR "/acs/agents.d") < 0 ||
            default_string(&s->vm_directory, ACS_SYSCONFDIR "/acs/vms.d") < 0 ||
            default_string(&s->proxy_bus_address, "") < 0 ||
            default_string(&s->scale_up_limit, "100%") < 0 ||
            default_string(&s->scale_down_limit, "100%") < 0 ||
            default_string(&s->state_directory, state_directory_default()) < 0 ||
            default_string(&s->api_listen, "127.0.0.1:8081") < 0 ||
            default_string(&s->token, "") < 0 ||
            default_string(&s->dashboard_directory, ACS_DATADIR "/dashboard") < 0 ||
            default_string(&s->proxy_url, "http://127.0.0.1:8080/") < 0 ||
            default_string(&s->load_command, ACS_LIBEXECDIR "/acs-load") < 0 ||
            default_string(&s->activate_command, "") < 0 ||
            default_string(&s->standby_command, "") < 0 ||
            default_string(&s->advertise, s->agent_listen) < 0)
                return log_oom();

        if (s->container_port_min > s->container_port_max) {
                log_error("%s: [Agents] ContainerPortMin=%u exceeds ContainerPortMax=%u.", path,
                          s->container_port_min, s->container_port_max);
                return -EINVAL;
        }
        if (s->store == VIM_STORE_ETCD && acs_etcd_settings_verify(&s->etcd, path ?: "vim.conf") < 0)
                return -EINVAL;
        AcsScaleLimit l;
        if (acs_scale_limit_parse(s->scale_up_limit, &l) < 0 || acs_scale_limit_parse(s->scale_down_limit, &l) < 0) {
                log_error("%s: [Scaling] ScaleUpLimit=%s, ScaleDownLimit=%s: expected a number of containers (1..10000) "
                          "or a percentage (1%%..1000%%).", path, s->scale_up_limit, s->scale_down_limit);
                return -EINVAL;
        }
        if (s->min_replicas > s->max_replicas) {
                log_error("%s: [Scaling] MinReplicas=%u exceeds MaxReplicas=%u.", path, s->min_replicas,
                          s->max_replicas);
                return -EINVAL;
        }
        r = settings_load_token_file(s, path);
        if (r < 0)
                return r;
        return acs_tls_settings_verify(&s->tls, path);
}

void vim_settings_to_policy(const VimSettings *s, AcsPolicy *ret) {
        *ret = (AcsPolicy) {
                .kind = (AcsPolicyKind) s->policy_kind,
                .target_cpu = s->target_cpu,
                .target_inflight = s->target_inflight,
                .tolerance = s->tolerance,
                .min_replicas = s->min_replicas,
                .max_replicas = s->max_replicas,
                .scale_down_window = s->scale_down_window,
                .placement = (AcsPlacement) s->placement,
                .vm_headroom = s->vm_headroom,
                .vm_standby_delay = s->vm_standby_delay,
                .dry_run = s->dry_run,
                .scale_up_limit = { .percent = 100, .period = s->scale_up_period },
                .scale_down_limit = { .percent = 100, .period = s->scale_down_period },
        };
        /* Checked at load: a value that does not parse leaves the default. */
        (void) acs_scale_limit_parse(s->scale_up_limit, &ret->scale_up_limit);
        (void) acs_scale_limit_parse(s->scale_down_limit, &ret->scale_down_limit);
}

int vim_parse_listen(const char *s, char **ret_host, uint16_t *ret_port) {
        const char *colon, *host_start = s, *host_end;
        char *end;
        unsigned long port;
        char *host;

        if (s[0] == '[') {
                host_end = strchr(s, ']');
                if (!host_end || host_end[1] != ':')
                        return -EINVAL;
                host_start = s + 1;
                colon = host_end + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                host_end = colon;
        }
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno != 0 || *end || end == colon + 1 || port > 65535)
                return -EINVAL;
        host = strndup(host_start, host_end - host_start);
        if (!host)
                return -ENOMEM;
        *ret_host = host;
        *ret_port = (uint16_t) port;
        return 0;
}
