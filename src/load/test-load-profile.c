/* SPDX-License-Identifier: MIT */
#include "acs-test.h"
#include "acs-macro.h"
#include "load-profile.h"

TEST(parse_step_profile) {
        _cleanup_(load_profile_done) LoadProfile p = {};
        char text[128];

        ASSERT_OK(load_profile_parse("0:1,30:12,90:1,150:1", &p));
        ASSERT_EQ(p.n_points, 4);
        ASSERT_EQ(load_profile_duration(&p), 150);
        ASSERT_EQ(load_profile_max_users(&p), 12);
        ASSERT_STREQ(load_profile_format(&p, text, sizeof(text)), "0:1,30:12,90:1,150:1");
}

TEST(users_hold_until_next_point) {
        _cleanup_(load_profile_done) LoadProfile p = {};

        ASSERT_OK(load_profile_parse("0:1,30:12,90:1,150:1", &p));
        ASSERT_EQ(load_profile_users_at(&p, 0), 1);
        ASSERT_EQ(load_profile_users_at(&p, 29.999), 1);
        ASSERT_EQ(load_profile_users_at(&p, 30), 12);
        ASSERT_EQ(load_profile_users_at(&p, 89.5), 12);
        ASSERT_EQ(load_profile_users_at(&p, 90), 1);
        ASSERT_EQ(load_profile_users_at(&p, 149.9), 1);
        /* The end point's count never runs: the run is over. */
        ASSERT_EQ(load_profile_users_at(&p, 150), 0);
        ASSERT_EQ(load_profile_users_at(&p, -1), 0);
}

TEST(end_point_count_is_not_a_peak) {
        _cleanup_(load_profile_done) LoadProfile p = {};

        ASSERT_OK(load_profile_parse("0:2,10:50", &p));
        ASSERT_EQ(load_profile_max_users(&p), 2);
        ASSERT_EQ(load_profile_users_at(&p, 9), 2);
        ASSERT_EQ(load_profile_users_at(&p, 10), 0);
}

TEST(malformed_profiles_are_refused) {
        static const char *const bad[] = {
                "", "0:1", "5:1,10:2", "0:1,0:2", "0:1,20:2,10:3", "0:1,", ",0:1,10:1", "0:1;10:1",
                "0:1,10", "0:,10:1", ":1,10:1", "0:-1,10:1", "0:1,10:1x", " 0:1,10:1", "0:1,10:1,",
                "0x0:1,10:1",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                LoadProfile p = {};
                int r = load_profile_parse(bad[i], &p);
                if (r != -EINVAL)
                        ACS_TEST_FAIL("\"%s\": expected -EINVAL, got %d", bad[i], r);
                ASSERT_TRUE(p.points == NULL);
        }
        ASSERT_EQ(load_profile_parse(NULL, &(LoadProfile) {}), -EINVAL);
}

TEST(ceilings_hold) {
        LoadProfile p = {};

        ASSERT_EQ(load_profile_parse("0:1001,10:1", &p), -ERANGE);
        ASSERT_EQ(load_profile_parse("0:1,3601:1", &p), -ERANGE);
        ASSERT_EQ(load_profile_parse("0:99999999999999999999,10:1", &p), -ERANGE);
        ASSERT_OK(load_profile_parse("0:1000,3600:0", &p));
        load_profile_done(&p);
        ASSERT_EQ(load_profile_ramp(1001, 0, 10, &p), -ERANGE);
        ASSERT_EQ(load_profile_ramp(10, 0, 3601, &p), -ERANGE);
}

TEST(constant_and_ramp) {
        _cleanup_(load_profile_done) LoadProfile c = {}, r = {};

        ASSERT_OK(load_profile_ramp(12, 0, 60, &c));
        ASSERT_EQ(c.n_points, 2);
        ASSERT_EQ(load_profile_users_at(&c, 0), 12);
        ASSERT_EQ(load_profile_users_at(&c, 59), 12);
        ASSERT_EQ(load_profile_duration(&c), 60);

        /* 1 -> 10 users over 9 s: one more user a second. */
        ASSERT_OK(load_profile_ramp(10, 9, 30, &r));
        for (unsigned t = 0; t < 9; t++)
                ASSERT_EQ(load_profile_users_at(&r, t + 0.5), 1 + t);
        ASSERT_EQ(load_profile_users_at(&r, 9), 10);
        ASSERT_EQ(load_profile_users_at(&r, 29), 10);
        ASSERT_EQ(load_profile_max_users(&r), 10);

        ASSERT_EQ(load_profile_ramp(0, 0, 10, &(LoadProfile) {}), -EINVAL);
        ASSERT_EQ(load_profile_ramp(5, 10, 10, &(LoadProfile) {}), -EINVAL);
}

ACS_TEST_MAIN()
