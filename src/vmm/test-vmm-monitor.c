/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "acs-test.h"
#include "vmm-monitor.h"

static char root[] = "/tmp/acs-test-vmm-monitor-XXXXXX";

static void write_file(const char *rel, const char *text) {
        char path[512], cmd[600];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
        ASSERT_EQ(system(cmd), 0);
        f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        fputs(text, f);
        fclose(f);
}

static void roots(char *proc, char *cg, size_t n) {
        snprintf(proc, n, "%s/proc", root);
        snprintf(cg, n, "%s/cgroup", root);
}

TEST(cgroup_v1_utilization) {
        char proc[300], cg[300];
        VmmCgroup c;
        VmmCgroupSample s;

        write_file("proc/42/cgroup", "12:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n");
        write_file("cgroup/cpu,cpuacct/docker/abc/cpuacct.usage", "1000000000\n");
        write_file("cgroup/memory/docker/abc/memory.usage_in_bytes", "7340032\n");
        roots(proc, cg, sizeof(proc));

        ASSERT_OK(vmm_cgroup_open(&c, proc, cg, 42));
        ASSERT_FALSE(c.unified);
        ASSERT_OK(vmm_cgroup_sample(&c, 10 * USEC_PER_SEC, &s));
        ASSERT_FALSE(s.valid);
        ASSERT_EQ(s.memory, 7340032);

        /* 0.25 s of CPU in 1 s of wall time: a quarter of a CPU. */
        write_file("cgroup/cpu,cpuacct/docker/abc/cpuacct.usage", "1250000000\n");
        ASSERT_OK(vmm_cgroup_sample(&c, 11 * USEC_PER_SEC, &s));
        ASSERT_TRUE(s.valid);
        ASSERT_NEAR(s.cpus, 0.25, 1e-9);
        vmm_cgroup_close(&c);
}

TEST(cgroup_v2_utilization) {
        char proc[300], cg[300];
        VmmCgroup c;
        VmmCgroupSample s;

        write_file("proc/43/cgroup", "0::/system.slice/docker-def.scope\n");
        write_file("cgroup/system.slice/docker-def.scope/cpu.stat", "usage_usec 2000000\nuser_usec 1500000\n");
        write_file("cgroup/system.slice/docker-def.scope/memory.current", "1048576\n");
        roots(proc, cg, sizeof(proc));

        ASSERT_OK(vmm_cgroup_open(&c, proc, cg, 43));
        ASSERT_TRUE(c.unified);
        ASSERT_OK(vmm_cgroup_sample(&c, 5 * USEC_PER_SEC, &s));
        write_file("cgroup/system.slice/docker-def.scope/cpu.stat", "usage_usec 3000000\nuser_usec 1500000\n");
        ASSERT_OK(vmm_cgroup_sample(&c, 7 * USEC_PER_SEC, &s));
        ASSERT_NEAR(s.cpus, 0.5, 1e-9);
        ASSERT_EQ(s.memory, 1048576);
        vmm_cgroup_close(&c);
}

TEST(missing_process_or_cgroup) {
        char proc[300], cg[300];
        VmmCgroup c;

        roots(proc, cg, sizeof(proc));
        ASSERT_EQ(vmm_cgroup_open(&c, proc, cg, 99), -ENOENT);
        ASSERT_EQ(vmm_cgroup_open(&c, proc, cg, 0), -ESRCH);
        write_file("proc/44/cgroup", "3:cpuacct:/docker/gone\n");
        ASSERT_EQ(vmm_cgroup_open(&c, proc, cg, 44), -ENOENT);
        ASSERT_FALSE(vmm_cgroup_is_open(&c));
}

__attribute__((constructor)) static void make_root(void) {
        if (!mkdtemp(root))
                abort();
}

__attribute__((destructor)) static void remove_root(void) {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        (void) !system(cmd);
}

ACS_TEST_MAIN()
