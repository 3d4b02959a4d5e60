/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-macro.h"
#include "vmm-monitor.h"

/* Finds the line of /proc/PID/cgroup for a v1 controller ("cpuacct") or, with controller NULL,
 * the v2 line "0::/path". Returns the path part, which the caller frees. */
static int cgroup_path_of(FILE *f, const char *controller, char **ret_path) {
        _cleanup_free_ char *line = NULL;
        size_t size = 0;

        rewind(f);
        while (getline(&line, &size, f) > 0) {
                char *controllers, *path;

                line[strcspn(line, "\n")] = 0;
                controllers = strchr(line, ':');
                if (!controllers)
                        continue;
                controllers++;
                path = strchr(controllers, ':');
                if (!path)
                        continue;
                *path++ = 0;

                if (!controller) {
                        if (*controllers != 0 || !startswith(line, "0:"))
                                continue;
                } else {
                        bool found = false;
                        for (char *save = NULL, *c = strtok_r(controllers, ",", &save); c;
                             c = strtok_r(NULL, ",", &save))
                                if (streq(c, controller))
                                        found = true;
                        if (!found)
                                continue;
                }
                *ret_path = strdup(path);
                return *ret_path ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

static int open_counter(const char *cgroup_root, const char *hierarchy, const char *path, const char *file) {
        _cleanup_free_ char *p = NULL;
        int fd;

        if (asprintf(&p, "%s%s%s%s/%s", cgroup_root, hierarchy ? "/" : "", strempty(hierarchy), path, file) < 0)
                return -ENOMEM;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

/* v1 mounts cpuacct alone or together with cpu ("cpu,cpuacct"); try both names. */
static int open_v1_cpu(const char *cgroup_root, const char *path) {
        int fd = open_counter(cgroup_root, "cpuacct", path, "cpuacct.usage");
        if (fd == -ENOENT)
                fd = open_counter(cgroup_root, "cpu,cpuacct", path, "cpuacct.usage");
        return fd;
}

int vmm_cgroup_open(VmmCgroup *c, const char *proc_root, const char *cgroup_root, pid_t pid) {
        _cleanup_free_ char *cpu_path = NULL, *mem_path = NULL, *unified_path = NULL, *p = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        *c = VMM_CGROUP_NULL;
        if (pid <= 0)
                return -ESRCH;
        if (asprintf(&p, "%s/%d/cgroup", proc_root, (int) pid) < 0)
                return -ENOMEM;
        f = fopen(p, "re");
        if (!f)
                return -errno;

        r = cgroup_path_of(f, "cpuacct", &cpu_path);
        if (r >= 0) {
                r = open_v1_cpu(cgroup_root, cpu_path);
                if (r < 0)
                        return r;
                c->cpu_fd = r;
                if (cgroup_path_of(f, "memory", &mem_path) >= 0)
                        c->mem_fd = open_counter(cgroup_root, "memory", mem_path, "memory.usage_in_bytes");
        } else {
                r = cgroup_path_of(f, NULL, &unified_path);
                if (r < 0)
                        return r;
                r = open_counter(cgroup_root, NULL, unified_path, "cpu.stat");
                if (r < 0)
                        return r;
                c->cpu_fd = r;
                c->unified = true;
                c->mem_fd = open_counter(cgroup_root, NULL, unified_path, "memory.current");
        }
        if (c->mem_fd < 0)
                c->mem_fd = -1;
        return 0;
}

void vmm_cgroup_close(VmmCgroup *c) {
        safe_close(c->cpu_fd);
        safe_close(c->mem_fd);
        *c = VMM_CGROUP_NULL;
}

static int read_counter_text(int fd, char *buf, size_t size) {
        ssize_t n = pread(fd, buf, size - 1, 0);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -ENODATA;        /* the cgroup is gone */
        buf[n] = 0;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end = NULL;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int read_cpu_ns(VmmCgroup *c, uint64_t *ret) {
        char buf[512];
        const char *u;
        int r;

        r = read_counter_text(c->cpu_fd, buf, sizeof(buf));
        if (r < 0)
                return r;
        if (!c->unified)
                return parse_u64(buf, ret);

        /* cpu.stat starts with "usage_usec N". */
        u = startswith(buf, "usage_usec ");
        if (!u) {
                u = strstr(buf, "\nusage_usec ");
                if (!u)
                        return -EINVAL;
                u += strlen("\nusage_usec ");
        }
        r = parse_u64(u, ret);
        if (r < 0)
                return r;
        *ret *= NSEC_PER_USEC;
        return 0;
}

int vmm_cgroup_sample(VmmCgroup *c, usec_t now, VmmCgroupSample *ret) {
        VmmCgroupSample s = {};
        uint64_t cpu_ns;
        int r;

        if (c->cpu_fd < 0)
                return -EBADF;
        r = read_cpu_ns(c, &cpu_ns);
        if (r < 0)
                return r;
        if (c->mem_fd >= 0) {
                char buf[64];
                if (read_counter_text(c->mem_fd, buf, sizeof(buf)) >= 0)
                        (void) parse_u64(buf, &s.memory);
        }

        if (c->last_usec > 0 && now > c->last_usec && cpu_ns >= c->last_cpu_ns) {
                s.cpus = (double) (cpu_ns - c->last_cpu_ns) / (double) ((now - c->last_usec) * NSEC_PER_USEC);
                s.valid = true;
        }
        c->last_cpu_ns = cpu_ns;
        c->last_usec = now;
        *ret = s;
        return 0;
}
