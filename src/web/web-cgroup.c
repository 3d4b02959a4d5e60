/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acs-macro.h"
#include "web-cgroup.h"

#define CGROUP_MOUNT "/sys/fs/cgroup"

/* Reads a whole small file as a NUL-terminated string; returns its length or -errno. */
static int read_small_file(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = -1;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        while (n + 1 < size) {
                ssize_t k = read(fd, buf + n, size - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        return (int) n;
}

static bool is_directory(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* True when the comma-separated list holds item. */
static bool list_contains(const char *list, size_t len, const char *item) {
        size_t l = strlen(item);

        for (const char *p = list, *end = list + len; p < end; ) {
                const char *comma = memchr(p, ',', (size_t) (end - p));
                size_t n = comma ? (size_t) (comma - p) : (size_t) (end - p);

                if (n == l && strneq(p, item, l))
                        return true;
                p += n + 1;
        }
        return false;
}

/* The limit of one v1 cgroup directory in CPUs, or 0 when it has none. */
static double cpu_limit_v1(const char *dir) {
        char path[PATH_MAX], buf[64];
        long long quota, period;

        (void) snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
        if (read_small_file(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%lld", &quota) != 1 || quota <= 0)
                return 0;
        (void) snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
        if (read_small_file(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%lld", &period) != 1 || period <= 0)
                return 0;
        return (double) quota / (double) period;
}

/* The limit of one v2 cgroup directory: cpu.max is "max 100000" or "50000 100000". */
static double cpu_limit_v2(const char *dir) {
        char path[PATH_MAX], buf[64];
        long long quota, period;

        (void) snprintf(path, sizeof(path), "%s/cpu.max", dir);
        if (read_small_file(path, buf, sizeof(buf)) < 0 ||
            sscanf(buf, "%lld %lld", &quota, &period) != 2 || quota <= 0 || period <= 0)
                return 0;
        return (double) quota / (double) period;
}

/* The tightest limit from mount/cgroup_path up to mount; when mount/cgroup_path does not exist
 * (the mount root is our own cgroup, as in a container), only mount itself counts. */
static double cpu_limit_walk(const char *mount, const char *cgroup_path, double (*limit_of)(const char *dir)) {
        char dir[PATH_MAX];
        size_t mount_len = strlen(mount);
        double best = 0;

        if (!is_directory(mount))
                return 0;
        if (snprintf(dir, sizeof(dir), "%s%s", mount, cgroup_path) >= (int) sizeof(dir) || !is_directory(dir))
                (void) snprintf(dir, sizeof(dir), "%s", mount);

        for (;;) {
                double l = limit_of(dir);
                char *slash;

                if (l > 0 && (best == 0 || l < best))
                        best = l;
                if (strlen(dir) <= mount_len)
                        break;
                slash = strrchr(dir + mount_len, '/');
                if (!slash)
                        break;
                *slash = 0;
        }
        return best;
}

int web_cgroup_cpu_limit(const char *root, double *ret_cpus, WebCgroupVersion *ret_version) {
        char path[PATH_MAX], mount[PATH_MAX], buf[4096];
        const char *v2_path = NULL;
        double l;
        int r;

        (void) snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
        r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;

        /* Lines are "id:controllers:path"; v1 hierarchies name their controllers, v2 has "0::". */
        for (char *line = buf, *next; line && *line; line = next) {
                char *c1, *c2;

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                c1 = strchr(line, ':');
                c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                if (c2 == c1 + 1) {
                        if (strneq(line, "0:", 2))
                                v2_path = c2 + 1;
                        continue;
                }
                if (!list_contains(c1 + 1, (size_t) (c2 - c1 - 1), "cpu"))
                        continue;

                /* Debian mounts "cpu,cpuacct" (with a "cpu" symlink); some hosts mount "cpu" alone. */
                *c2 = 0;
                (void) snprintf(mount, sizeof(mount), "%s" CGROUP_MOUNT "/%s", root, c1 + 1);
                if (!is_directory(mount))
                        (void) snprintf(mount, sizeof(mount), "%s" CGROUP_MOUNT "/cpu", root);
                l = cpu_limit_walk(mount, c2 + 1, cpu_limit_v1);
                if (l > 0) {
                        *ret_cpus = l;
                        if (ret_version)
                                *ret_version = WEB_CGROUP_V1;
                        return 1;
                }
        }

        if (v2_path) {
                (void) snprintf(mount, sizeof(mount), "%s" CGROUP_MOUNT, root);
                l = cpu_limit_walk(mount, v2_path, cpu_limit_v2);
                if (l > 0) {
                        *ret_cpus = l;
                        if (ret_version)
                                *ret_version = WEB_CGROUP_V2;
                        return 1;
                }
        }

        if (ret_version)
                *ret_version = WEB_CGROUP_NONE;
        return 0;
}

/* Looks for 64 hex digits right after marker in text; copies them out. */
static bool find_id_after(const char *text, const char *marker, char *ret_id, size_t size) {
        size_t ml = strlen(marker);

        if (size < 65)
                return false;
        for (const char *p = strstr(text, marker); p; p = strstr(p + 1, marker)) {
                const char *id = p + ml;
                size_t n = 0;

                while (n < 64 && isxdigit((unsigned char) id[n]) && !isupper((unsigned char) id[n]))
                        n++;
                if (n == 64 && !isxdigit((unsigned char) id[64])) {
                        memcpy(ret_id, id, 64);
                        ret_id[64] = 0;
                        return true;
                }
        }
        return false;
}

int web_cgroup_container_id(const char *root, char *ret_id, size_t size) {
        static const char *const markers[] = { "/docker/", "docker-", "/containers/" };
        static const char *const files[] = { "/proc/self/cgroup", "/proc/self/mountinfo" };
        char path[PATH_MAX], buf[16384];

        for (size_t f = 0; f < ELEMENTSOF(files); f++) {
                (void) snprintf(path, sizeof(path), "%s%s", root, files[f]);
                if (read_small_file(path, buf, sizeof(buf)) < 0)
                        continue;
                for (size_t m = 0; m < ELEMENTSOF(markers); m++)
                        if (find_id_after(buf, markers[m], ret_id, size))
                                return 1;
        }
        return 0;
}

const char *web_cgroup_version_to_string(WebCgroupVersion v) {
        switch (v) {
        case WEB_CGROUP_V1:
                return "cgroup v1";
        case WEB_CGROUP_V2:
                return "cgroup v2";
        default:
                return "no cgroup limit";
        }
}
