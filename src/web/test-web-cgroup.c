/* SPDX-License-Identifier: MIT */
/* The cost model from fake cgroup trees: v1 (host and container views), v2, none. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "acs-test.h"
#include "web-cgroup.h"
#include "web-cost.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Writes root/rel with the given contents, creating the directories on the way. */
static void write_file(const char *root, const char *rel, const char *contents) {
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                (void) mkdir(path, 0755);
                *p = '/';
        }
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs(contents, f);
        fclose(f);
}

static char *make_root(void) {
        char *t = strdup("/tmp/test-web-cgroup-XXXXXX");

        ASSERT_TRUE(t && mkdtemp(t));
        return t;
}

static void remove_root(char *root) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        ASSERT_EQ(system(cmd), 0);
        free(root);
}

/* Checks what the code finds under root, then removes root. cpus 0 = no limit; id NULL = none. */
static void assert_cgroup(char *root, double cpus, WebCgroupVersion version, const char *id) {
        WebCgroupVersion v = WEB_CGROUP_NONE;
        double found = 0;
        char found_id[65];

        ASSERT_EQ(web_cgroup_cpu_limit(root, &found, &v), cpus > 0);
        ASSERT_NEAR(found, cpus, 1e-9);
        ASSERT_EQ(v, version);
        ASSERT_EQ(web_cgroup_container_id(root, found_id, sizeof(found_id)), !!id);
        if (id)
                ASSERT_STREQ(found_id, id);
        remove_root(root);
}

TEST(v1_host_view) {
        char *root = make_root();

        write_file(root, "proc/self/cgroup",
                   "12:pids:/docker/" ID "\n"
                   "4:cpu,cpuacct:/docker/" ID "\n"
                   "0::/docker/" ID "\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/docker/" ID "/cpu.cfs_quota_us", "50000\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/docker/" ID "/cpu.cfs_period_us", "100000\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        assert_cgroup(root, 0.5, WEB_CGROUP_V1, ID);
}

TEST(v1_container_view_mount_root_is_own_cgroup) {
        char *root = make_root();

        /* Inside the container /sys/fs/cgroup/cpu,cpuacct is our cgroup; /docker/<id> is not below it. */
        write_file(root, "proc/self/cgroup", "4:cpu,cpuacct:/docker/" ID "\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        assert_cgroup(root, 1.5, WEB_CGROUP_V1, ID);
}

TEST(v1_separate_cpu_mount_and_parent_limit) {
        char *root = make_root();

        /* cpu mounted alone (as on this build host); the limit sits on a parent cgroup. */
        write_file(root, "proc/self/cgroup", "1:cpu:/slice/job\n2:cpuacct:/slice/job\n");
        write_file(root, "sys/fs/cgroup/cpu/slice/job/cpu.cfs_quota_us", "-1\n");
        write_file(root, "sys/fs/cgroup/cpu/slice/job/cpu.cfs_period_us", "100000\n");
        write_file(root, "sys/fs/cgroup/cpu/slice/cpu.cfs_quota_us", "200000\n");
        write_file(root, "sys/fs/cgroup/cpu/slice/cpu.cfs_period_us", "100000\n");
        write_file(root, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
        assert_cgroup(root, 2.0, WEB_CGROUP_V1, NULL);
}

TEST(v2_cpu_max) {
        char *root = make_root();

        write_file(root, "proc/self/cgroup", "0::/system.slice/docker-" ID ".scope\n");
        write_file(root, "sys/fs/cgroup/system.slice/docker-" ID ".scope/cpu.max", "25000 100000\n");
        write_file(root, "sys/fs/cgroup/system.slice/cpu.max", "max 100000\n");
        assert_cgroup(root, 0.25, WEB_CGROUP_V2, ID);
}

TEST(v2_unlimited_and_private_namespace) {
        char *root = make_root();

        /* Private cgroup namespace: "0::/", no limit; the id is only in mountinfo. */
        write_file(root, "proc/self/cgroup", "0::/\n");
        write_file(root, "sys/fs/cgroup/cpu.max", "max 100000\n");
        write_file(root, "proc/self/mountinfo",
                   "612 590 254:1 /var/lib/docker/containers/" ID "/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n");
        assert_cgroup(root, 0, WEB_CGROUP_NONE, ID);
}

TEST(cost_model) {
        char *root = make_root(), id[65];
        WebCost c;

        ASSERT_NEAR(web_cost_ms_for_cpus(0.5), 250, 1e-9);
        ASSERT_NEAR(web_cost_ms_for_cpus(2), 1000, 1e-9);

        /* No cgroup files at all: ACS_WEB_CPU, else one CPU. */
        ASSERT_TRUE(web_cgroup_cpu_limit(root, &(double) { 0 }, NULL) < 0);
        ASSERT_EQ(web_cgroup_container_id(root, id, sizeof(id)), 0);
        ASSERT_OK(web_cost_resolve(root, NULL, NULL, 10000, &c));
        ASSERT_NEAR(c.cpus, 1.0, 1e-9);
        ASSERT_NEAR(c.cost_ms, 500, 1e-9);
        ASSERT_STREQ(c.source, "default");
        ASSERT_FALSE(c.fixed);

        ASSERT_OK(web_cost_resolve(root, "0.5", NULL, 10000, &c));
        ASSERT_NEAR(c.cost_ms, 250, 1e-9);
        ASSERT_STREQ(c.source, "ACS_WEB_CPU");

        ASSERT_OK(web_cost_resolve(root, "0.5", "40", 10000, &c));
        ASSERT_NEAR(c.cost_ms, 40, 1e-9);
        ASSERT_TRUE(c.fixed);

        ASSERT_EQ(web_cost_resolve(root, "zero", NULL, 10000, &c), -EINVAL);
        ASSERT_EQ(web_cost_resolve(root, "0", NULL, 10000, &c), -EINVAL);
        ASSERT_EQ(web_cost_resolve(root, NULL, "20000", 10000, &c), -EINVAL);

        /* A cgroup limit wins over ACS_WEB_CPU. */
        write_file(root, "proc/self/cgroup", "4:cpu,cpuacct:/\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n");
        write_file(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        ASSERT_OK(web_cost_resolve(root, "4", NULL, 10000, &c));
        ASSERT_NEAR(c.cpus, 0.5, 1e-9);
        ASSERT_NEAR(c.cost_ms, 250, 1e-9);
        ASSERT_STREQ(c.source, "cgroup v1");
        remove_root(root);
}

TEST(request_cost_bounds) {
        double v = -1;

        ASSERT_OK(web_cost_parse_ms("250", 3, 10000, &v));
        ASSERT_NEAR(v, 250, 1e-9);
        ASSERT_OK(web_cost_parse_ms("12.5&x=1", 4, 10000, &v));
        ASSERT_NEAR(v, 12.5, 1e-9);
        ASSERT_OK(web_cost_parse_ms("0", 1, 10000, &v));
        ASSERT_OK(web_cost_parse_ms("10000", 5, 10000, &v));
        ASSERT_EQ(web_cost_parse_ms("10001", 5, 10000, &v), -EINVAL);
        ASSERT_EQ(web_cost_parse_ms("-1", 2, 10000, &v), -EINVAL);
        ASSERT_EQ(web_cost_parse_ms("abc", 3, 10000, &v), -EINVAL);
        ASSERT_EQ(web_cost_parse_ms("nan", 3, 10000, &v), -EINVAL);
        ASSERT_EQ(web_cost_parse_ms("", 0, 10000, &v), -EINVAL);
}

TEST(burn_uses_thread_cpu_time) {
        usec_t before = now_usec(CLOCK_THREAD_CPUTIME_ID), used;

        used = web_burn_cpu(30 * USEC_PER_MSEC, NULL);
        ASSERT_TRUE(used >= 30 * USEC_PER_MSEC);
        ASSERT_TRUE(used < 60 * USEC_PER_MSEC);
        ASSERT_TRUE(now_usec(CLOCK_THREAD_CPUTIME_ID) - before >= 30 * USEC_PER_MSEC);
        ASSERT_EQ(web_burn_cpu(0, NULL), 0);
        /* A cancelled burn stops at its next check. */
        {
                atomic_bool cancel = true;
                ASSERT_TRUE(web_burn_cpu(10 * USEC_PER_SEC, &cancel) < 5 * USEC_PER_MSEC);
        }
}

ACS_TEST_MAIN()
