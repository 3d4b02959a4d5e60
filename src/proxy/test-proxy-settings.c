/* SPDX-License-Identifier: MIT */
/* proxy.conf values: addresses, backend lines, defaults, and the refusals with their messages. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "acs-macro.h"
#include "acs-test.h"
#include "proxy-settings.h"

TEST(addresses) {
        struct sockaddr_storage ss;
        socklen_t len;

        ASSERT_OK(proxy_parse_address("127.0.0.1:8080", &ss, &len));
        ASSERT_EQ(ss.ss_family, AF_INET);
        ASSERT_EQ(ntohs(((struct sockaddr_in *) &ss)->sin_port), 8080);
        ASSERT_OK(proxy_parse_address("[::1]:443", &ss, &len));
        ASSERT_EQ(ss.ss_family, AF_INET6);
        ASSERT_OK(proxy_parse_address("*:80", &ss, &len));
        ASSERT_EQ(((struct sockaddr_in *) &ss)->sin_addr.s_addr, htonl(INADDR_ANY));
        ASSERT_TRUE(proxy_parse_address("127.0.0.1", &ss, &len) < 0);
        ASSERT_TRUE(proxy_parse_address("127.0.0.1:0", &ss, &len) < 0);
        ASSERT_TRUE(proxy_parse_address("127.0.0.1:65536", &ss, &len) < 0);
        ASSERT_TRUE(proxy_parse_address("127.0.0.1:80x", &ss, &len) < 0);
        ASSERT_TRUE(proxy_parse_address("localhost:80", &ss, &len) < 0);
        ASSERT_TRUE(proxy_parse_address("::1:80", &ss, &len) < 0);
        ASSERT_TRUE(proxy_parse_address("[::1]80", &ss, &len) < 0);
}

TEST(backend_lines) {
        char *host = NULL;
        uint16_t port;
        unsigned weight;

        ASSERT_OK(proxy_parse_backend_line("127.0.0.1:9001", &host, &port, &weight));
        ASSERT_STREQ(host, "127.0.0.1");
        ASSERT_EQ(port, 9001);
        ASSERT_EQ(weight, 1);
        host = mfree(host);
        ASSERT_OK(proxy_parse_backend_line("[::1]:9002   7", &host, &port, &weight));
        ASSERT_STREQ(host, "[::1]");
        ASSERT_EQ(weight, 7);
        host = mfree(host);
        ASSERT_TRUE(proxy_parse_backend_line("127.0.0.1:9001 0", &host, &port, &weight) < 0);
        ASSERT_TRUE(proxy_parse_backend_line("127.0.0.1:9001 257", &host, &port, &weight) < 0);
        ASSERT_TRUE(proxy_parse_backend_line("127.0.0.1:9001 w", &host, &port, &weight) < 0);
        ASSERT_TRUE(proxy_parse_backend_line("nowhere", &host, &port, &weight) < 0);
}

static int load_text(const char *text, ProxySettings *s) {
        char path[] = "/tmp/test-proxy-settings-XXXXXX";
        int fd = mkstemp(path), r;
        FILE *f = fdopen(fd, "w");

        ASSERT_TRUE(f);
        fputs(text, f);
        fclose(f);
        proxy_settings_init(s);
        r = proxy_settings_load(s, path);
        unlink(path);
        return r;
}

TEST(smallest_config_and_defaults) {
        ProxySettings s;

        ASSERT_OK(load_text("[Proxy]\nListen=127.0.0.1:8080\nSource=static\nBackend=127.0.0.1:9001\n"
                            "Backend=127.0.0.1:9002\nWorkers=1\n", &s));
        ASSERT_STREQ(s.listen, "127.0.0.1:8080");
        ASSERT_STREQ(s.backends[1], "127.0.0.1:9002");
        ASSERT_EQ(s.workers, 1);
        ASSERT_EQ(s.balance, PROXY_BALANCE_P2C);
        ASSERT_EQ(s.source, PROXY_SOURCE_STATIC);
        ASSERT_EQ(s.connect_timeout, 2 * USEC_PER_SEC);
        ASSERT_EQ(s.max_head_size, 16384);
        ASSERT_FALSE(s.access_log);
        proxy_settings_done(&s);

        ASSERT_OK(load_text("[Proxy]\nListen=*:8080\nSource=vim\nBalance=hash\nHashKey=cookie:session\n"
                            "ClientHeadTimeout=500ms\nAdminListen=127.0.0.1:9090\n", &s));
        ASSERT_EQ(s.source, PROXY_SOURCE_VIM);
        ASSERT_EQ(s.client_head_timeout, 500 * USEC_PER_MSEC);
        ASSERT_STREQ(s.hash_key, "cookie:session");
        proxy_settings_done(&s);
}

TEST(refusals) {
        static const char *const bad[] = {
                "[Proxy]\nSource=static\nBackend=127.0.0.1:1\n",                          /* no Listen */
                "[Proxy]\nListen=127.0.0.1:99999\nBackend=127.0.0.1:1\n",
                "[Proxy]\nListen=127.0.0.1:80\nSource=static\n",                           /* no Backend */
                "[Proxy]\nListen=127.0.0.1:80\nBackend=127.0.0.1:1 999\n",
                "[Proxy]\nListen=127.0.0.1:80\nBackend=127.0.0.1:1\nBalance=hash\n",       /* no HashKey */
                "[Proxy]\nListen=127.0.0.1:80\nBackend=127.0.0.1:1\nHashKey=query:x\n",
                "[Proxy]\nListen=127.0.0.1:80\nBackend=127.0.0.1:1\nSource=dns\n",
                "[Proxy]\nListen=127.0.0.1:80\nBackend=127.0.0.1:1\nAdminListen=nowhere\n",
                "[Proxy]\nListen=127.0.0.1:80\nBackend=127.0.0.1:1\nUnknownKey=1\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ProxySettings s;

                if (load_text(bad[i], &s) >= 0)
                        ACS_TEST_FAIL("accepted: %s", bad[i]);
                proxy_settings_done(&s);
        }
}

ACS_TEST_MAIN();
