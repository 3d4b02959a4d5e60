/* SPDX-License-Identifier: MIT */
#include "acs-test.h"
#include "acs-time.h"

#include <errno.h>

TEST(parse_duration_units) {
        usec_t u;

        ASSERT_OK(parse_duration("5", &u));
        ASSERT_EQ(u, 5 * USEC_PER_SEC);
        ASSERT_OK(parse_duration("250ms", &u));
        ASSERT_EQ(u, 250 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration("1.5s", &u));
        ASSERT_EQ(u, 1500 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration("2min", &u));
        ASSERT_EQ(u, 120 * USEC_PER_SEC);
        ASSERT_OK(parse_duration("10us", &u));
        ASSERT_EQ(u, 10);
}

TEST(parse_duration_rejects) {
        usec_t u = 7;

        ASSERT_EQ(parse_duration("", &u), -EINVAL);
        ASSERT_EQ(parse_duration("-1s", &u), -EINVAL);
        ASSERT_EQ(parse_duration("5 parsecs", &u), -EINVAL);
        ASSERT_EQ(parse_duration("nan", &u), -EINVAL);
        ASSERT_EQ(parse_duration("1e300h", &u), -ERANGE);
        ASSERT_EQ(u, 7);
}

ACS_TEST_MAIN()
