/* SPDX-License-Identifier: MIT */
#include "acs-test.h"
#include "acs-json-stream.h"

typedef struct Seen {
        char text[8][128];
        unsigned n;
} Seen;

static int collect(json_object *o, void *userdata) {
        Seen *seen = userdata;

        if (seen->n >= 8)
                return -E2BIG;
        snprintf(seen->text[seen->n++], sizeof(seen->text[0]), "%s",
                 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        return 0;
}

static const char events[] =
        "{\"Action\":\"die\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"exitCode\":\"137\",\"name\":\"a b\"}}}\n"
        "{\"Action\":\"start\",\"id\":\"def\"}\n\n"
        "  {\"Action\":\"destroy\"}\n";

static void expect_three(const Seen *seen) {
        ASSERT_EQ(seen->n, 3);
        ASSERT_STREQ(seen->text[0],
                     "{\"Action\":\"die\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"exitCode\":\"137\",\"name\":\"a b\"}}}");
        ASSERT_STREQ(seen->text[1], "{\"Action\":\"start\",\"id\":\"def\"}");
        ASSERT_STREQ(seen->text[2], "{\"Action\":\"destroy\"}");
}

TEST(whole_stream_in_one_chunk) {
        _cleanup_(acs_json_stream_freep) AcsJsonStream *s = acs_json_stream_new();
        Seen seen = {};

        ASSERT_OK(acs_json_stream_feed(s, events, strlen(events), collect, &seen));
        expect_three(&seen);
}

/* Every cut, including inside strings that hold spaces: documents come out the same. */
TEST(any_chunking) {
        for (size_t cut = 1; cut < strlen(events); cut++) {
                _cleanup_(acs_json_stream_freep) AcsJsonStream *s = acs_json_stream_new();
                Seen seen = {};

                ASSERT_OK(acs_json_stream_feed(s, events, cut, collect, &seen));
                ASSERT_OK(acs_json_stream_feed(s, events + cut, strlen(events) - cut, collect, &seen));
                expect_three(&seen);
        }
}

TEST(byte_by_byte) {
        _cleanup_(acs_json_stream_freep) AcsJsonStream *s = acs_json_stream_new();
        Seen seen = {};

        for (size_t i = 0; i < strlen(events); i++)
                ASSERT_OK(acs_json_stream_feed(s, events + i, 1, collect, &seen));
        expect_three(&seen);
}

TEST(garbage_is_refused) {
        _cleanup_(acs_json_stream_freep) AcsJsonStream *s = acs_json_stream_new();
        Seen seen = {};

        ASSERT_EQ(acs_json_stream_feed(s, "{\"a\":1}\n}{", 10, collect, &seen), -EBADMSG);
        ASSERT_EQ(seen.n, 1);
}

TEST(callback_error_stops_the_feed) {
        _cleanup_(acs_json_stream_freep) AcsJsonStream *s = acs_json_stream_new();
        Seen seen = { .n = 8 };

        ASSERT_EQ(acs_json_stream_feed(s, events, strlen(events), collect, &seen), -E2BIG);
}

ACS_TEST_MAIN()
