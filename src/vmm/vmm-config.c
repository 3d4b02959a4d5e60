/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "acs-macro.h"
#include "acs-proto.h"
#include "acs-string-table.h"
#include "vmm-config.h"

static const char *const vmm_state_table[_VMM_STATE_MAX + 1] = {
        [VMM_STATE_ACTIVE] = "active",
        [VMM_STATE_STANDBY] = "standby",
        [VMM_STATE_DRAINING] = "draining",
};

/* What the file may say: a VM only enters "draining" at run time. */
static const char *const vmm_file_states[] = { "active", "standby", NULL };
static const char *const vmm_networks[] = { "bridge", "host", NULL };

DEFINE_STRING_TABLE(vmm_state, VmmState, vmm_state_table);

/* "512M", "1G", "65536": bytes with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *value, uint64_t *ret) {
        uint64_t factor = 1;
        char *end = NULL;
        unsigned long long v;

        errno = 0;
        v = strtoull(value, &end, 10);
        if (errno != 0 || end == value || *value == '-')
                return -EINVAL;
        switch (*end) {
        case 'K': case 'k': factor = 1024ULL; end++; break;
        case 'M': case 'm': factor = 1024ULL * 1024; end++; break;
        case 'G': case 'g': factor = 1024ULL * 1024 * 1024; end++; break;
        case 0: break;
        default: return -EINVAL;
        }
        if (*end != 0 || v > UINT64_MAX / factor)
                return -EINVAL;
        *ret = v * factor;
        return 0;
}

const AcsConfigItem vmm_config_table[] = {
        { "VM", "Name", ACS_CONFIG_STRING, offsetof(VmmSettings, name) },
        { "VM", "Address", ACS_CONFIG_STRING, offsetof(VmmSettings, address) },
        { "VM", "Service", ACS_CONFIG_STRING, offsetof(VmmSettings, service) },
        { "VM", "Capacity", ACS_CONFIG_UINT, offsetof(VmmSettings, capacity), .min = 1, .max = 256 },
        { "VM", "MaxContainers", ACS_CONFIG_UINT, offsetof(VmmSettings, capacity), .min = 1, .max = 256 },
        { "VM", "MinContainers", ACS_CONFIG_UINT, offsetof(VmmSettings, min_containers), .min = 0, .max = 256 },
        { "VM", "State", ACS_CONFIG_ENUM, offsetof(VmmSettings, state), .choices = vmm_file_states },
        { "VM", "PortRangeStart", ACS_CONFIG_UINT, offsetof(VmmSettings, port_start), .min = 1, .max = 65535 },
        { "VM", "PortRangeEnd", ACS_CONFIG_UINT, offsetof(VmmSettings, port_end), .min = 1, .max = 65535 },
        { "Docker", "Socket", ACS_CONFIG_STRING, offsetof(VmmSettings, docker_socket) },
        { "Docker", "Image", ACS_CONFIG_STRING, offsetof(VmmSettings, image) },
        { "Docker", "WebBinary", ACS_CONFIG_STRING, offsetof(VmmSettings, web_binary) },
        { "Docker", "Network", ACS_CONFIG_ENUM, offsetof(VmmSettings, network), .choices = vmm_networks },
        { "Docker", "CpuLimit", ACS_CONFIG_DOUBLE, offsetof(VmmSettings, cpu_limit), .dmin = 0.01, .dmax = 64 },
        { "Docker", "MemoryLimit", ACS_CONFIG_STRING, offsetof(VmmSettings, memory_limit_text) },
        { "Docker", "StopTimeout", ACS_CONFIG_DURATION, offsetof(VmmSettings, stop_timeout),
          .min = 0, .max = 300 * USEC_PER_SEC },
        { "Docker", "DrainTime", ACS_CONFIG_DURATION, offsetof(VmmSettings, drain_time),
          .min = 0, .max = 600 * USEC_PER_SEC },
        { "Docker", "ReadyTimeout", ACS_CONFIG_DURATION, offsetof(VmmSettings, ready_timeout),
          .min = USEC_PER_SEC, .max = 600 * USEC_PER_SEC },
        { "Web", "RequestCost", ACS_CONFIG_DURATION, offsetof(VmmSettings, request_cost),
          .min = 0, .max = VMM_REQUEST_COST_MAX },
        { "Web", "ClientCost", ACS_CONFIG_BOOL, offsetof(VmmSettings, client_cost) },
        { "Vim", "Address", ACS_CONFIG_STRV, offsetof(VmmSettings, vim_addresses) },
        { "Vim", "KeyFile", ACS_CONFIG_STRING, offsetof(VmmSettings, key_file) },
        { "Monitor", "Interval", ACS_CONFIG_DURATION, offsetof(VmmSettings, monitor_interval),
          .min = 100 * USEC_PER_MSEC, .max = 60 * USEC_PER_SEC },
        { "Policy", "LocalScaling", ACS_CONFIG_BOOL, offsetof(VmmSettings, local_scaling) },
        { "Policy", "AutonomyGrace", ACS_CONFIG_DURATION, offsetof(VmmSettings, autonomy_grace),
          .min = 0, .max = 3600 * USEC_PER_SEC },
        { "Policy", "TargetCpu", ACS_CONFIG_DOUBLE, offsetof(VmmSettings, target_cpu), .dmin = 0.05, .dmax = 1 },
        { "Policy", "Tolerance", ACS_CONFIG_DOUBLE, offsetof(VmmSettings, tolerance), .dmin = 0, .dmax = 0.5 },
        { "Policy", "ScaleDownWindow", ACS_CONFIG_DURATION, offsetof(VmmSettings, scale_down_window),
          .min = 0, .max = 3600 * USEC_PER_SEC },
        {},
};

static int strdup_to(char **dest, const char *s) {
        *dest = strdup(s);
        return *dest ? 0 : -ENOMEM;
}

int vmm_settings_init(VmmSettings *s) {
        char host[256] = "vm";

        *s = (VmmSettings) {
                .capacity = 4,
                .min_containers = 1,
                .state = VMM_STATE_ACTIVE,
                .port_start = 9100,
                .port_end = 9199,
                .network = VMM_NETWORK_BRIDGE,
                .cpu_limit = 0.5,
                .memory_limit = 128ULL * 1024 * 1024,
                .stop_timeout = 5 * USEC_PER_SEC,
                .drain_time = 2 * USEC_PER_SEC,
                .ready_timeout = 30 * USEC_PER_SEC,
                .request_cost = USEC_INFINITY,
                .monitor_interval = USEC_PER_SEC,
                .local_scaling = true,
                /* Longer than a VIM restart: a VIM that comes back finds nothing changed behind it. */
                .autonomy_grace = 30 * USEC_PER_SEC,
                .target_cpu = 0.6,
                .tolerance = 0.1,
                .scale_down_window = 60 * USEC_PER_SEC,
        };

        /* The default name is the host name, as a VM's agent would naturally call itself. */
        (void) gethostname(host, sizeof(host) - 1);
        if (!acs_proto_vm_name_is_valid(host))
                strcpy(host, "vm");

        if (strdup_to(&s->name, host) < 0 ||
            strdup_to(&s->address, "127.0.0.1") < 0 ||
            strdup_to(&s->service, "web") < 0 ||
            strdup_to(&s->docker_socket, "/var/run/docker.sock") < 0 ||
            strdup_to(&s->image, "acs-web:" ACS_VERSION) < 0 ||
            strdup_to(&s->web_binary, ACS_LIBEXECDIR "/acs-web") < 0 ||
            strdup_to(&s->key_file, ACS_SYSCONFDIR "/acs/vmm.key") < 0) {
                vmm_settings_done(s);
                return -ENOMEM;
        }
        return 0;
}

void vmm_settings_done(VmmSettings *s) {
        acs_config_free(vmm_config_table, s);
}

_printf_(3, 4) static int settings_fail(AcsConfigError *e, const char *path, const char *format, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&what, format, ap) < 0)
                what = NULL;
        va_end(ap);

        *e = (AcsConfigError) {};
        e->file = strdup(path);
        if (asprintf(&e->message, "%s: %s", path, strempty(what)) < 0)
                e->message = NULL;
        return -EINVAL;
}

int vmm_settings_load(VmmSettings *s, const char *path, bool allow_missing, AcsConfigError *ret_error) {
        int r;

        r = acs_config_load(path, allow_missing, vmm_config_table, s, ret_error);
        if (r < 0)
                return r;

        /* Names and sizes are checked here: the values a key table cannot type. */
        if (!acs_proto_vm_name_is_valid(s->name))
                return settings_fail(ret_error, path, "[VM] Name=%s: expected a name of 1..63 letters, digits, '-', '_' or '.', "
                                     "not starting with '-' or '.'", strempty(s->name));
        if (!acs_proto_vm_name_is_valid(s->service))
                return settings_fail(ret_error, path, "[VM] Service=%s: expected a name of 1..63 letters, digits, '-', '_' or '.', "
                                     "not starting with '-' or '.'", strempty(s->service));
        if (s->memory_limit_text) {
                /* Docker refuses limits below 6 MiB. */
                if (parse_size(s->memory_limit_text, &s->memory_limit) < 0 || s->memory_limit < 6ULL * 1024 * 1024)
                        return settings_fail(ret_error, path,
                                             "[Docker] MemoryLimit=%s: expected a size in bytes like 128M or 1G, at least 6M",
                                             s->memory_limit_text);
        }

        /* What single keys cannot say on their own. */
        if (s->min_containers > s->capacity)
                return settings_fail(ret_error, path, "[VM] MinContainers=%u is above Capacity=%u",
                                     s->min_containers, s->capacity);
        if (s->port_start > s->port_end)
                return settings_fail(ret_error, path, "[VM] PortRangeStart=%u is above PortRangeEnd=%u",
                                     s->port_start, s->port_end);
        if (s->port_end - s->port_start + 1 < s->capacity)
                return settings_fail(ret_error, path,
                                     "[VM] PortRangeStart=%u..PortRangeEnd=%u has fewer ports than Capacity=%u",
                                     s->port_start, s->port_end, s->capacity);
        if (!s->address || !*s->address)
                return settings_fail(ret_error, path, "[VM] Address= must not be empty");
        if (!s->image || !*s->image || !strchr(s->image, ':'))
                return settings_fail(ret_error, path, "[Docker] Image=%s: expected a tag like acs-web:%s",
                                     strempty(s->image), ACS_VERSION);
        for (char **a = s->vim_addresses; a && *a; a++)
                if (!strrchr(*a, ':'))
                        return settings_fail(ret_error, path, "[Vim] Address=%s: expected host:port", *a);
        return 0;
}
