/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <sys/stat.h>

#include "acs-config.h"
#include "acs-test.h"

typedef struct Settings {
        char *listen;
        char **backends;
        bool dry_run;
        int64_t min_replicas;
        unsigned workers;
        double target;
        usec_t window;
        int placement;
        unsigned port;
} Settings;

static int parse_port(const AcsConfigItem *item, const char *value, void *dest, const char **ret_expected) {
        char *end = NULL;
        unsigned long v = strtoul(value, &end, 10);

        if (!end || end == value || *end || v == 0 || v > 65535) {
                *ret_expected = "a TCP port (1..65535)";
                return -EINVAL;
        }
        *(unsigned *) dest = (unsigned) v;
        return 0;
}

static const char *const placements[] = { "spread", "binpack", NULL };

static const AcsConfigItem table[] = {
        { "Proxy", "Listen", ACS_CONFIG_STRING, offsetof(Settings, listen) },
        { "Proxy", "Backend", ACS_CONFIG_STRV, offsetof(Settings, backends) },
        { "Proxy", "Workers", ACS_CONFIG_UINT, offsetof(Settings, workers), .min = 1, .max = 64 },
        { "Scaling", "DryRun", ACS_CONFIG_BOOL, offsetof(Settings, dry_run) },
        { "Scaling", "MinReplicas", ACS_CONFIG_INT, offsetof(Settings, min_replicas), .min = 0, .max = 1000 },
        { "Scaling", "TargetCpu", ACS_CONFIG_DOUBLE, offsetof(Settings, target), .dmin = 0.05, .dmax = 1 },
        { "Scaling", "ScaleDownWindow", ACS_CONFIG_DURATION, offsetof(Settings, window),
          .min = 0, .max = 3600 * USEC_PER_SEC },
        { "Scaling", "Placement", ACS_CONFIG_ENUM, offsetof(Settings, placement), .choices = placements },
        { "Proxy", "Port", ACS_CONFIG_CUSTOM, offsetof(Settings, port), .parse = parse_port },
        {},
};

static int load(const char *text, Settings *s, AcsConfigError *e) {
        *s = (Settings) { .workers = 2, .target = 0.6, .window = 60 * USEC_PER_SEC };
        return acs_config_load_string("test.conf", text, table, s, e);
}

TEST(typed_values) {
        Settings s;
        AcsConfigError e;

        ASSERT_OK(load("# comment\n"
                       "[Proxy]\n"
                       "Listen=127.0.0.1:8080\n"
                       "Backend=127.0.0.1:9001\n"
                       "Backend=127.0.0.1:9002\n"
                       "Workers=4\n"
                       "Port=8080\n"
                       "[Scaling]\n"
                       "DryRun=yes\n"
                       "MinReplicas=2\n"
                       "TargetCpu=0.5\n"
                       "ScaleDownWindow=90s\n"
                       "Placement=binpack\n",
                       &s, &e));
        ASSERT_STREQ(s.listen, "127.0.0.1:8080");
        ASSERT_STREQ(s.backends[0], "127.0.0.1:9001");
        ASSERT_STREQ(s.backends[1], "127.0.0.1:9002");
        ASSERT_TRUE(s.backends[2] == NULL);
        ASSERT_EQ(s.workers, 4);
        ASSERT_EQ(s.port, 8080);
        ASSERT_TRUE(s.dry_run);
        ASSERT_EQ(s.min_replicas, 2);
        ASSERT_NEAR(s.target, 0.5, 1e-9);
        ASSERT_EQ(s.window, 90 * USEC_PER_SEC);
        ASSERT_EQ(s.placement, 1);
        acs_config_free(table, &s);
        ASSERT_TRUE(s.listen == NULL && s.backends == NULL);
}

TEST(defaults_hold) {
        Settings s;
        AcsConfigError e;

        ASSERT_OK(load("", &s, &e));
        ASSERT_EQ(s.workers, 2);
        ASSERT_EQ(s.window, 60 * USEC_PER_SEC);
        ASSERT_TRUE(s.listen == NULL);
}

static void expect_error(const char *text, unsigned line, const char *message) {
        Settings s;
        AcsConfigError e;

        ASSERT_TRUE(load(text, &s, &e) < 0);
        ASSERT_EQ(e.line, line);
        fprintf(stderr, "   got: %s\n", e.message);
        ASSERT_STREQ(e.message, message);
        acs_config_error_done(&e);
        acs_config_free(table, &s);
}

TEST(errors_name_file_line_key_and_expectation) {
        expect_error("[Proxy]\nWorkers=0\n", 2, "test.conf:2: [Proxy] Workers=0: expected an integer in 1..64");
        expect_error("[Proxy]\nWorkers=many\n", 2, "test.conf:2: [Proxy] Workers=many: expected an integer in 1..64");
        expect_error("[Proxy]\nWorkers=99999999999999999999999\n", 2,
                     "test.conf:2: [Proxy] Workers=99999999999999999999999: expected an integer in 1..64");
        expect_error("[Scaling]\n\nTargetCpu=1.7\n", 3, "test.conf:3: [Scaling] TargetCpu=1.7: expected a number in 0.05..1");
        expect_error("[Scaling]\nTargetCpu=nan\n", 2, "test.conf:2: [Scaling] TargetCpu=nan: expected a number in 0.05..1");
        expect_error("[Scaling]\nDryRun=perhaps\n", 2, "test.conf:2: [Scaling] DryRun=perhaps: expected a boolean (yes or no)");
        expect_error("[Scaling]\nPlacement=random\n", 2,
                     "test.conf:2: [Scaling] Placement=random: expected one of: spread, binpack");
        expect_error("[Scaling]\nScaleDownWindow=soon\n", 2,
                     "test.conf:2: [Scaling] ScaleDownWindow=soon: expected a duration (e.g. 500ms, 5s, 1min) in 0s..3600s");
        expect_error("[Proxy]\nPort=0\n", 2, "test.conf:2: [Proxy] Port=0: expected a TCP port (1..65535)");
        expect_error("[Proxy]\nListen=a\nColour=blue\n", 3, "test.conf:3: unknown key Colour in section [Proxy]");
        expect_error("[Proxy]\n[Nonsense]\nA=b\n", 3, "test.conf:3: unknown section [Nonsense]");
        expect_error("[Proxy]\nthis line has no equals sign\n", 2,
                     "test.conf:2: syntax error: expected [Section], Key=Value or a comment");
}

TEST(dropins_apply_in_lexical_order) {
        char dir[] = "/tmp/acs-test-config-XXXXXX";
        char path[256], dropdir[300], f[400];
        Settings s = { .workers = 1 };
        AcsConfigError e;
        FILE *fp;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/proxy.conf", dir);
        snprintf(dropdir, sizeof(dropdir), "%s.d", path);
        ASSERT_EQ(mkdir(dropdir, 0755), 0);

        fp = fopen(path, "we");
        fputs("[Proxy]\nWorkers=2\nListen=main\n", fp);
        fclose(fp);
        snprintf(f, sizeof(f), "%s/20-second.conf", dropdir);
        fp = fopen(f, "we");
        fputs("[Proxy]\nWorkers=20\n", fp);
        fclose(fp);
        snprintf(f, sizeof(f), "%s/10-first.conf", dropdir);
        fp = fopen(f, "we");
        fputs("[Proxy]\nWorkers=10\nListen=dropin\n", fp);
        fclose(fp);
        snprintf(f, sizeof(f), "%s/30-ignored.txt", dropdir);
        fp = fopen(f, "we");
        fputs("garbage\n", fp);
        fclose(fp);

        ASSERT_OK(acs_config_load(path, false, table, &s, &e));
        ASSERT_EQ(s.workers, 20);
        ASSERT_STREQ(s.listen, "dropin");
        acs_config_free(table, &s);

        /* An error in a drop-in names the drop-in. */
        snprintf(f, sizeof(f), "%s/40-bad.conf", dropdir);
        fp = fopen(f, "we");
        fputs("[Proxy]\n\n\nWorkers=-3\n", fp);
        fclose(fp);
        ASSERT_TRUE(acs_config_load(path, false, table, &s, &e) < 0);
        ASSERT_STREQ(e.file, f);
        ASSERT_EQ(e.line, 4);
        acs_config_error_done(&e);
        acs_config_free(table, &s);

        /* A missing main file: an error unless allowed. */
        snprintf(f, sizeof(f), "%s/absent.conf", dir);
        ASSERT_EQ(acs_config_load(f, false, table, &s, &e), -ENOENT);
        ASSERT_TRUE(strstr(e.message, "cannot open") != NULL);
        acs_config_error_done(&e);
        ASSERT_OK(acs_config_load(f, true, table, &s, &e));

        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ASSERT_EQ(system(cmd), 0);
}

ACS_TEST_MAIN()
