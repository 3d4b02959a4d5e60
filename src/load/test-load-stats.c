/* SPDX-License-Identifier: MIT */
#include "acs-test.h"
#include "acs-macro.h"
#include "load-stats.h"

TEST(percentiles_nearest_rank) {
        _cleanup_(load_samples_done) LoadSamples s = {};

        /* 1..100 ms, added out of order. */
        for (unsigned i = 0; i < 100; i++)
                ASSERT_OK(load_samples_add(&s, ((i * 37) % 100 + 1) * USEC_PER_MSEC));
        ASSERT_EQ(load_samples_percentile(&s, 50), 50 * USEC_PER_MSEC);
        ASSERT_EQ(load_samples_percentile(&s, 99), 99 * USEC_PER_MSEC);
        ASSERT_EQ(load_samples_percentile(&s, 100), 100 * USEC_PER_MSEC);
        ASSERT_EQ(load_samples_percentile(&s, 0), 1 * USEC_PER_MSEC);
        ASSERT_EQ(load_samples_percentile(&s, 0.5), 1 * USEC_PER_MSEC);
        ASSERT_EQ(load_samples_percentile(&s, 1.01), 2 * USEC_PER_MSEC);
}

TEST(percentiles_of_few_samples) {
        _cleanup_(load_samples_done) LoadSamples s = {};

        ASSERT_EQ(load_samples_percentile(&s, 50), 0);
        ASSERT_OK(load_samples_add(&s, 7000));
        ASSERT_EQ(load_samples_percentile(&s, 50), 7000);
        ASSERT_EQ(load_samples_percentile(&s, 99), 7000);
        /* One slow request of 12 is the p99: it must not vanish into the median. */
        for (unsigned i = 0; i < 11; i++)
                ASSERT_OK(load_samples_add(&s, 1000));
        ASSERT_OK(load_samples_add(&s, 900000));
        ASSERT_EQ(load_samples_percentile(&s, 50), 1000);
        ASSERT_EQ(load_samples_percentile(&s, 99), 900000);
        /* Adding after a percentile re-sorts. */
        ASSERT_OK(load_samples_add(&s, 1));
        ASSERT_EQ(load_samples_percentile(&s, 0), 1);
        load_samples_clear(&s);
        ASSERT_EQ(load_samples_percentile(&s, 99), 0);
}

TEST(huge_latency_is_clamped) {
        _cleanup_(load_samples_done) LoadSamples s = {};

        ASSERT_OK(load_samples_add(&s, (usec_t) UINT32_MAX * 4));
        ASSERT_EQ(load_samples_percentile(&s, 100), UINT32_MAX);
}

TEST(counts_per_name) {
        _cleanup_(load_counts_clear) LoadCounts c = {};

        ASSERT_OK(load_counts_add(&c, "vm1", 1));
        ASSERT_OK(load_counts_add(&c, "vm2", 3));
        ASSERT_OK(load_counts_add(&c, "vm1", 2));
        ASSERT_EQ(c.n, 2);
        ASSERT_STREQ(c.items[0].name, "vm1");
        ASSERT_EQ(load_counts_get(&c, "vm1"), 3);
        ASSERT_EQ(load_counts_get(&c, "vm2"), 3);
        ASSERT_EQ(load_counts_get(&c, "vm3"), 0);
}

TEST(first_answer_is_kept) {
        _cleanup_(load_counts_clear) LoadCounts c = {};

        ASSERT_OK(load_counts_add_answer(&c, "vm1/a", 2000, 3000));
        ASSERT_OK(load_counts_add_answer(&c, "vm1/a", 1000, 1500));
        ASSERT_OK(load_counts_add_answer(&c, "vm2/b", 5000, 9000));
        ASSERT_EQ(load_counts_get(&c, "vm1/a"), 2);
        ASSERT_EQ(c.items[0].first_sent, 2000);
        ASSERT_EQ(c.items[0].first_answered, 3000);
        ASSERT_EQ(c.items[1].first_sent, 5000);
}

ACS_TEST_MAIN()
