/* SPDX-License-Identifier: MIT */
/* The policy by name (SetPolicy, PUT /api/v1/policy) and the listen addresses of vim.conf. */
#include <stdlib.h>

#include "acs-macro.h"
#include "acs-test.h"
#include "vim-config.h"
#include "vim-policy.h"

static int apply(AcsPolicy *p, const char *json, char *error, size_t size) {
        return vim_policy_apply_json(p, json, strlen(json), error, size);
}

TEST(policy_json_partial_update) {
        AcsPolicy p;
        char error[256];

        acs_policy_init(&p);
        ASSERT_OK(apply(&p, "{\"target_cpu\":0.5,\"placement\":\"binpack\",\"scale_down_window_s\":30,"
                            "\"dry_run\":true,\"max_replicas\":20}", error, sizeof(error)));
        ASSERT_NEAR(p.target_cpu, 0.5, 1e-9);
        ASSERT_EQ(p.placement, ACS_PLACEMENT_BINPACK);
        ASSERT_EQ(p.scale_down_window, 30 * USEC_PER_SEC);
        ASSERT_TRUE(p.dry_run);
        ASSERT_EQ(p.max_replicas, 20);
        ASSERT_EQ(p.min_replicas, 1); /* untouched */
}

TEST(policy_kind_by_name) {
        AcsPolicy p;
        char error[256];
        size_t i;

        acs_policy_init(&p);
        ASSERT_OK(apply(&p, "{\"policy\":\"hpa-default\"}", error, sizeof(error)));
        ASSERT_EQ(p.kind, ACS_POLICY_HPA_DEFAULT);
        ASSERT_OK(vim_policy_set_string(&p, "policy", "seed"));
        ASSERT_EQ(p.kind, ACS_POLICY_SEED);
        ASSERT_EQ(vim_policy_set_string(&p, "policy", "kubernetes"), -EINVAL);
        ASSERT_EQ(p.kind, ACS_POLICY_SEED);
        for (i = 0; i < vim_policy_n_keys(); i++)
                if (streq(vim_policy_key(i), "policy"))
                        break;
        ASSERT_EQ(vim_policy_key_kind("policy"), VIM_POLICY_CHOICE);
        ASSERT_STREQ(vim_policy_get_string(&p, i), "seed");
        ASSERT_TRUE(vim_policy_get_string(&p, 1) == NULL); /* target_cpu is a number */
}

TEST(policy_json_refusals_change_nothing) {
        static const struct {
                const char *json, *error;
        } cases[] = {
                { "{\"target_cpu\":2}", "target_cpu must be in 0.05..1" },
                { "{\"nope\":1}", "unknown policy key \"nope\"" },
                { "{\"placement\":\"random\"}", "policy key \"placement\": wrong type or value" },
                { "{\"dry_run\":1}", "policy key \"dry_run\": wrong type or value" },
                { "{\"policy\":\"hpa\"}", "policy key \"policy\": wrong type or value" },
                { "{\"policy\":2}", "policy key \"policy\": wrong type or value" },
                { "{\"min_replicas\":1.5}", "policy key \"min_replicas\": wrong type or value" },
                { "{\"min_replicas\":-1}", "policy key \"min_replicas\": wrong type or value" },
                { "{\"min_replicas\":30}", "min_replicas must not exceed max_replicas" },
                { "[1,2]", "expected a JSON object of policy fields" },
                { "{\"target_cpu\":0.5} x", "expected a JSON object of policy fields" },
                { "", "expected a JSON object of policy fields" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                AcsPolicy p, before;
                char error[256] = "";

                acs_policy_init(&p);
                before = p;
                ASSERT_EQ(apply(&p, cases[i].json, error, sizeof(error)), -EINVAL);
                ASSERT_STREQ(error, cases[i].error);
                ASSERT_TRUE(memcmp(&p, &before, sizeof(p)) == 0);
        }
}

TEST(policy_to_json_reads_as_written) {
        _cleanup_(vim_json_putp) json_object *o = NULL;
        AcsPolicy p;

        acs_policy_init(&p);
        o = vim_policy_to_json(&p);
        ASSERT_TRUE(o != NULL);
        ASSERT_STREQ(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                     "{\"policy\":\"acs\",\"target_cpu\":0.6,\"target_inflight\":1.0,\"tolerance\":0.1,\"min_replicas\":1,"
                     "\"max_replicas\":12,\"scale_down_window_s\":60,\"placement\":\"spread\",\"vm_headroom\":1,"
                     "\"vm_standby_delay_s\":30,\"dry_run\":false}");
}

TEST(json_double_keeps_a_decimal_point) {
        static const struct {
                double v;
                int decimals;
                const char *text;
        } cases[] = {
                { 0.6, 4, "0.6" }, { 2, 3, "2.0" }, { 0.12345, 3, "0.123" }, { 1795643869.38249, 3, "1795643869.382" },
                { 0, 2, "0.0" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(vim_json_putp) json_object *o = vim_json_double(cases[i].v, cases[i].decimals);

                ASSERT_STREQ(json_object_to_json_string(o), cases[i].text);
        }
}

TEST(listen_addresses) {
        static const struct {
                const char *s, *host;
                int port; /* -1: refused */
        } cases[] = {
                { "127.0.0.1:7070", "127.0.0.1", 7070 }, { "[::1]:8081", "::1", 8081 }, { "0.0.0.0:0", "0.0.0.0", 0 },
                { "127.0.0.1", NULL, -1 },               { "127.0.0.1:", NULL, -1 },    { "127.0.0.1:70000", NULL, -1 },
                { "[::1]8081", NULL, -1 },               { "host:12x", NULL, -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *host = NULL;
                uint16_t port = 0;
                int r = vim_parse_listen(cases[i].s, &host, &port);

                if (cases[i].port < 0)
                        ASSERT_EQ(r, -EINVAL);
                else {
                        ASSERT_OK(r);
                        ASSERT_STREQ(host, cases[i].host);
                        ASSERT_EQ(port, cases[i].port);
                }
                free(host);
        }
}

ACS_TEST_MAIN();
