/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "acs-test.h"
#include "vmm-config.h"

static int load(const char *text, VmmSettings *s, AcsConfigError *e) {
        char path[] = "/tmp/acs-test-vmm-config-XXXXXX";
        int fd, r;
        FILE *f;

        fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        f = fdopen(fd, "w");
        fputs(text, f);
        fclose(f);
        ASSERT_OK(vmm_settings_init(s));
        r = vmm_settings_load(s, path, false, e);
        unlink(path);
        return r;
}

TEST(defaults_and_values) {
        VmmSettings s;
        AcsConfigError e = {};

        ASSERT_OK(load("[VM]\nName=vm7\nAddress=127.0.0.2\nMaxContainers=8\nMinContainers=2\nState=standby\n"
                       "PortRangeStart=17500\nPortRangeEnd=17519\n"
                       "[Docker]\nNetwork=host\nCpuLimit=0.25\nMemoryLimit=64M\nStopTimeout=2s\n"
                       "[Monitor]\nInterval=500ms\n",
                       &s, &e));
        ASSERT_STREQ(s.name, "vm7");
        ASSERT_STREQ(s.address, "127.0.0.2");
        ASSERT_EQ(s.capacity, 8);
        ASSERT_EQ(s.min_containers, 2);
        ASSERT_EQ(s.state, VMM_STATE_STANDBY);
        ASSERT_EQ(s.network, VMM_NETWORK_HOST);
        ASSERT_NEAR(s.cpu_limit, 0.25, 1e-9);
        ASSERT_EQ(s.memory_limit, 64ULL * 1024 * 1024);
        ASSERT_EQ(s.stop_timeout, 2 * USEC_PER_SEC);
        ASSERT_EQ(s.monitor_interval, 500 * USEC_PER_MSEC);
        ASSERT_STREQ(s.image, "acs-web:" ACS_VERSION);
        ASSERT_STREQ(s.docker_socket, "/var/run/docker.sock");
        vmm_settings_done(&s);
}

static void expect_error(const char *text, const char *needle) {
        VmmSettings s;
        AcsConfigError e = {};

        ASSERT_TRUE(load(text, &s, &e) < 0);
        fprintf(stderr, "   got: %s\n", e.message);
        ASSERT_TRUE(e.message && strstr(e.message, needle));
        acs_config_error_done(&e);
        vmm_settings_done(&s);
}

TEST(errors_say_where_and_what) {
        expect_error("[VM]\nCapacity=0\n", ":2: [VM] Capacity=0: expected an integer in 1..256");
        expect_error("[VM]\nName=bad name\n", ": [VM] Name=bad name: expected a name");
        expect_error("[VM]\nCapacity=2\nMinContainers=3\n", "MinContainers=3 is above Capacity=2");
        expect_error("[VM]\nPortRangeStart=9000\nPortRangeEnd=9001\nCapacity=4\n", "has fewer ports than Capacity=4");
        expect_error("[Docker]\nMemoryLimit=1K\n", "[Docker] MemoryLimit=1K: expected a size");
        expect_error("[Docker]\nNetwork=overlay\n", "expected one of: bridge, host");
        expect_error("[Docker]\nPrivileged=yes\n", "unknown key Privileged in section [Docker]");
        expect_error("[VM]\nState=draining\n", "expected one of: active, standby");
        expect_error("[Vim]\nAddress=nohostport\n", "[Vim] Address=nohostport: expected host:port");
}

ACS_TEST_MAIN()
