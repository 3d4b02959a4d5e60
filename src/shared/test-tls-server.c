/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>

#include "acs-config.h"
#include "acs-test.h"
#include "acs-tls-server.h"

typedef struct Settings {
        AcsTlsSettings tls;
} Settings;

static const AcsConfigItem table[] = {
        ACS_TLS_CONFIG_ITEMS(Settings, tls),
        {},
};

static int load(const char *text, Settings *s) {
        AcsConfigError e = {};
        int r;

        *s = (Settings) {};
        r = acs_config_load_string("tls.conf", text, table, s, &e);
        acs_config_error_done(&e);
        return r;
}

TEST(pairs_must_match) {
        Settings s;

        ASSERT_OK(load("[Tls]\n", &s));
        ASSERT_FALSE(acs_tls_settings_enabled(&s.tls));
        ASSERT_OK(acs_tls_settings_verify(&s.tls, "tls.conf"));
        acs_config_free(table, &s);

        ASSERT_OK(load("[Tls]\nCertificate=a.pem\nKey=a.key\nCertificate=b.pem\nKey=b.key\nOcspResponse=a.der\n", &s));
        ASSERT_TRUE(acs_tls_settings_enabled(&s.tls));
        ASSERT_OK(acs_tls_settings_verify(&s.tls, "tls.conf"));
        acs_config_free(table, &s);

        /* A certificate without its key, and more OCSP responses than certificates. */
        ASSERT_OK(load("[Tls]\nCertificate=a.pem\nCertificate=b.pem\nKey=a.key\n", &s));
        ASSERT_EQ(acs_tls_settings_verify(&s.tls, "tls.conf"), -EINVAL);
        acs_config_free(table, &s);
        ASSERT_OK(load("[Tls]\nCertificate=a.pem\nKey=a.key\nOcspResponse=a.der\nOcspResponse=b.der\n", &s));
        ASSERT_EQ(acs_tls_settings_verify(&s.tls, "tls.conf"), -EINVAL);
        acs_config_free(table, &s);
}

TEST(missing_files_refused) {
        static const char *const alpn[] = { "http/1.1", NULL };
        AcsTlsServer *t = NULL;
        Settings s;

        ASSERT_OK(load("[Tls]\nCertificate=/nonexistent/a.pem\nKey=/nonexistent/a.key\n", &s));
        ASSERT_TRUE(acs_tls_server_new(&s.tls, alpn, &t) < 0);
        ASSERT_TRUE(t == NULL);
        acs_config_free(table, &s);
}

ACS_TEST_MAIN()
