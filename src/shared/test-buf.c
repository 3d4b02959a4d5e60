/* SPDX-License-Identifier: MIT */
#include "acs-buf.h"
#include "acs-test.h"

TEST(append_consume) {
        AcsBuf b = {};
        _cleanup_free_ char *s = NULL;

        ASSERT_OK(acs_buf_append_str(&b, "hello "));
        ASSERT_OK(acs_buf_printf(&b, "%s %d", "world", 42));
        ASSERT_EQ(acs_buf_len(&b), 14);
        acs_buf_consume(&b, 6);
        ASSERT_EQ(acs_buf_len(&b), 8);
        ASSERT_TRUE(memcmp(acs_buf_peek(&b), "world 42", 8) == 0);
        s = acs_buf_steal_string(&b);
        ASSERT_STREQ(s, "world 42");
        ASSERT_EQ(acs_buf_len(&b), 0);
        acs_buf_done(&b);
}

TEST(limit_is_hard) {
        AcsBuf b = { .max = 1024 };
        char chunk[100] = {};
        int r = 0;

        for (int i = 0; i < 10; i++)
                ASSERT_OK(acs_buf_append(&b, chunk, sizeof(chunk)));
        ASSERT_EQ(acs_buf_append(&b, chunk, sizeof(chunk)), -ENOBUFS);
        ASSERT_TRUE(acs_buf_reserve(&b, 25, &r) == NULL);
        ASSERT_EQ(r, -ENOBUFS);
        ASSERT_TRUE(b.alloc <= 1024);
        /* Consumed space becomes usable again without growing past the limit. */
        acs_buf_consume(&b, 500);
        ASSERT_OK(acs_buf_append(&b, chunk, sizeof(chunk)));
        ASSERT_TRUE(b.alloc <= 1024);
        ASSERT_EQ(acs_buf_len(&b), 600);
        acs_buf_done(&b);
}

ACS_TEST_MAIN()
