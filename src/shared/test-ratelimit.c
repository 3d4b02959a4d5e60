/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <string.h>

#include "acs-log.h"
#include "acs-ratelimit.h"
#include "acs-test.h"

TEST(burst_then_quiet_then_count) {
        AcsRateLimit rl = ACS_RATELIMIT_INIT(10 * USEC_PER_SEC, 3);
        usec_t t = 1000 * USEC_PER_SEC;
        unsigned s = 99;

        for (unsigned i = 0; i < 3; i++) {
                ASSERT_TRUE(acs_ratelimit_below(&rl, t + i, &s));
                ASSERT_EQ(s, 0u);
        }
        for (unsigned i = 0; i < 500; i++)
                ASSERT_FALSE(acs_ratelimit_below(&rl, t + 9 * USEC_PER_SEC, &s));
        ASSERT_EQ(s, 0u);       /* left alone while held back */

        /* A new interval: the first event passes and carries the count, once. */
        ASSERT_TRUE(acs_ratelimit_below(&rl, t + 10 * USEC_PER_SEC, &s));
        ASSERT_EQ(s, 500u);
        ASSERT_TRUE(acs_ratelimit_below(&rl, t + 10 * USEC_PER_SEC, &s));
        ASSERT_EQ(s, 0u);
}

TEST(clock_going_back_starts_over) {
        AcsRateLimit rl = ACS_RATELIMIT_INIT(USEC_PER_SEC, 1);
        unsigned s;

        ASSERT_TRUE(acs_ratelimit_below(&rl, 5 * USEC_PER_SEC, &s));
        ASSERT_FALSE(acs_ratelimit_below(&rl, 5 * USEC_PER_SEC, &s));
        ASSERT_TRUE(acs_ratelimit_below(&rl, 1 * USEC_PER_SEC, &s));
        ASSERT_EQ(s, 1u);
}

static unsigned n_lines, n_suppressed_lines;
static char last_suppressed[128];

static void count_events(int level, const char *event, const char *vm, const char *container, const char *message,
                         void *userdata) {
        n_lines++;
        if (strstr(message, "Suppressed")) {
                n_suppressed_lines++;
                snprintf(last_suppressed, sizeof(last_suppressed), "%s", message);
        }
}

TEST(log_lines_are_bounded_and_the_rest_counted) {
        AcsRateLimit rl = ACS_RATELIMIT_INIT(3600 * USEC_PER_SEC, 5);

        log_set_max_level(LOG_WARNING);         /* the hook sees events below the level too */
        log_set_event_hook(count_events, NULL);
        for (unsigned i = 0; i < 1000; i++)
                if (log_ratelimit_pass(&rl, LOG_NOTICE, "access-denied"))
                        log_event(LOG_NOTICE, "access-denied", NULL, NULL, "Refused attempt %u.", i);
        ASSERT_EQ(n_lines, 5u);
        ASSERT_EQ(n_suppressed_lines, 0u);

        rl.begin -= rl.interval;                /* the hour is over */
        ASSERT_TRUE(log_ratelimit_pass(&rl, LOG_NOTICE, "access-denied"));
        ASSERT_EQ(n_suppressed_lines, 1u);
        ASSERT_STREQ(last_suppressed, "Suppressed 995 similar messages.");
        log_set_event_hook(NULL, NULL);
}

static AcsRateLimit shared_rl = ACS_RATELIMIT_INIT(3600 * USEC_PER_SEC, 100);

static void *hammer(void *arg) {
        unsigned *passed = arg, s;

        for (unsigned i = 0; i < 10000; i++)
                if (acs_ratelimit_below(&shared_rl, 42 * USEC_PER_SEC, &s))
                        (*passed)++;
        return NULL;
}

TEST(threads_share_one_limit) {
        pthread_t t[4];
        unsigned passed[4] = {};

        for (unsigned i = 0; i < 4; i++)
                ASSERT_EQ(pthread_create(&t[i], NULL, hammer, &passed[i]), 0);
        for (unsigned i = 0; i < 4; i++)
                ASSERT_EQ(pthread_join(t[i], NULL), 0);
        ASSERT_EQ(passed[0] + passed[1] + passed[2] + passed[3], 100u);
        ASSERT_EQ(shared_rl.suppressed, 40000u - 100u);
}

ACS_TEST_MAIN()
