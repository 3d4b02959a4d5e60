/* SPDX-License-Identifier: MIT */
#include "acs-frame.h"
#include "acs-proto.h"
#include "acs-test.h"

#define ID1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static const AcsContainerInfo containers[] = {
        { .id = ID1, .address = "127.0.0.1", .port = 9101, .state = ACS_CONTAINER_READY,
          .cpu = 0.625, .cpu_limit = 1.0, .mem = 12345678, .in_flight = 3 },
        { .id = ID2, .address = "127.0.0.1", .port = 9102, .state = ACS_CONTAINER_DRAINING,
          .cpu = 0, .cpu_limit = 0.5, .mem = (uint64_t) INT64_MAX, .in_flight = 0 },
};

/* Encodes m into one frame, takes the payload back out, and decodes it. */
static AcsMessage *round_trip(const AcsMessage *m) {
        char reason[ACS_PROTO_REASON_MAX];
        AcsFrameDecoder d;
        AcsBuf b = {};
        AcsMessage *back = NULL;
        size_t used, len;
        const uint8_t *p;

        ASSERT_OK(acs_message_encode(m, &b, 0, reason));
        acs_frame_decoder_init(&d, 0);
        ASSERT_EQ(acs_frame_decoder_feed(&d, acs_buf_peek(&b), acs_buf_len(&b), &used), 1);
        ASSERT_EQ(used, acs_buf_len(&b));
        p = acs_frame_decoder_payload(&d, &len);
        if (acs_message_decode(p, len, &back, reason) < 0)
                ACS_TEST_FAIL("decode of %s: %s", (const char *) p, reason);
        acs_frame_decoder_done(&d);
        acs_buf_done(&b);
        return back;
}

static void assert_containers_equal(const AcsContainerInfo *a, const AcsContainerInfo *b, size_t n) {
        for (size_t i = 0; i < n; i++) {
                ASSERT_STREQ(a[i].id, b[i].id);
                ASSERT_STREQ(a[i].address, b[i].address);
                ASSERT_EQ(a[i].port, b[i].port);
                ASSERT_EQ(a[i].state, b[i].state);
                ASSERT_NEAR(a[i].cpu, b[i].cpu, 0);
                ASSERT_NEAR(a[i].cpu_limit, b[i].cpu_limit, 0);
                ASSERT_TRUE(a[i].mem == b[i].mem);
                ASSERT_EQ(a[i].in_flight, b[i].in_flight);
        }
}

TEST(register_round_trip) {
        AcsMessage m = {
                .type = ACS_MESSAGE_REGISTER, .seq = 1,
                .reg = { .vm = "vm1", .address = "127.0.0.1", .capacity = 4, .min = 1, .state = ACS_VM_STANDBY,
                         .containers = containers, .n_containers = ELEMENTSOF(containers) },
        };
        _cleanup_(acs_message_freep) AcsMessage *back = round_trip(&m);

        ASSERT_EQ(back->type, ACS_MESSAGE_REGISTER);
        ASSERT_EQ(back->seq, 1);
        ASSERT_STREQ(back->reg.vm, "vm1");
        ASSERT_STREQ(back->reg.address, "127.0.0.1");
        ASSERT_EQ(back->reg.capacity, 4);
        ASSERT_EQ(back->reg.min, 1);
        ASSERT_EQ(back->reg.state, ACS_VM_STANDBY);
        ASSERT_EQ(back->reg.n_containers, 2);
        assert_containers_equal(back->reg.containers, containers, 2);
}

TEST(metrics_event_order_ack_round_trip) {
        AcsMessage metrics = { .type = ACS_MESSAGE_METRICS, .seq = 2,
                               .metrics = { .vm = "vm-2.example", .cpu = 0.1 + 0.2, .containers = containers, .n_containers = 1 } };
        AcsMessage event = { .type = ACS_MESSAGE_EVENT, .seq = 3,
                             .event = { .event = "container-died", .container = ID1, .message = "exit 137 \"OOM\" \xc3\xa9\n" } };
        AcsMessage order = { .type = ACS_MESSAGE_ORDER, .seq = (uint64_t) INT64_MAX,
                             .order = { .order = ACS_ORDER_DRAIN, .container = ID2, .timeout_ms = 30000 } };
        AcsMessage ack = { .type = ACS_MESSAGE_ACK, .seq = 0,
                           .ack = { .ack = 17, .result = -ENOSPC, .message = "VM full" } };
        AcsMessage *back;

        back = round_trip(&metrics);
        ASSERT_STREQ(back->metrics.vm, "vm-2.example");
        ASSERT_NEAR(back->metrics.cpu, 0.1 + 0.2, 0);   /* doubles survive exactly */
        assert_containers_equal(back->metrics.containers, containers, 1);
        acs_message_free(back);

        back = round_trip(&event);
        ASSERT_STREQ(back->event.event, "container-died");
        ASSERT_STREQ(back->event.container, ID1);
        ASSERT_STREQ(back->event.message, "exit 137 \"OOM\" \xc3\xa9\n");
        acs_message_free(back);

        back = round_trip(&order);
        ASSERT_EQ(back->order.order, ACS_ORDER_DRAIN);
        ASSERT_TRUE(back->seq == (uint64_t) INT64_MAX);
        ASSERT_STREQ(back->order.container, ID2);
        ASSERT_EQ(back->order.timeout_ms, 30000u);
        acs_message_free(back);

        back = round_trip(&ack);
        ASSERT_EQ(back->ack.ack, 17);
        ASSERT_EQ(back->ack.result, -ENOSPC);
        ASSERT_STREQ(back->ack.message, "VM full");
        acs_message_free(back);
}

TEST(encoder_refuses_what_the_peer_would_refuse) {
        char reason[ACS_PROTO_REASON_MAX];
        AcsBuf b = {};
        AcsContainerInfo bad = containers[0];
        AcsMessage m = { .type = ACS_MESSAGE_METRICS, .metrics = { .vm = "vm1", .containers = &bad, .n_containers = 1 } };

        bad.cpu = 0.0 / 0.0;
        ASSERT_EQ(acs_message_encode(&m, &b, 0, reason), -EINVAL);
        ASSERT_TRUE(strstr(reason, "containers[0].cpu"));
        bad = containers[0];
        bad.id = "ABC";
        ASSERT_EQ(acs_message_encode(&m, &b, 0, reason), -EINVAL);
        ASSERT_TRUE(strstr(reason, "containers[0].id"));
        m.metrics.n_containers = 0;
        m.metrics.vm = "../etc";
        ASSERT_EQ(acs_message_encode(&m, &b, 0, reason), -EINVAL);
        ASSERT_TRUE(strstr(reason, "vm"));

        AcsMessage order = { .type = ACS_MESSAGE_ORDER, .order = { .order = ACS_ORDER_REMOVE, .container = "" } };
        ASSERT_EQ(acs_message_encode(&order, &b, 0, reason), -EINVAL);
        order.order.order = ACS_ORDER_SCALE;
        order.order.count = 3;
        ASSERT_OK(acs_message_encode(&order, &b, 0, reason));
        /* A message larger than the frame limit. */
        ASSERT_EQ(acs_message_encode(&order, &b, 40, reason), -EMSGSIZE);
        acs_buf_done(&b);
}

static const struct {
        const char *json;
        const char *reason;     /* a substring of the reason given */
} refused[] = {
        /* not JSON, or not one JSON object */
        { "{\"v\":1,", "truncated" },
        { "hello", "invalid JSON" },
        { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "invalid JSON" },
        { "[1,2]", "expected a JSON object" },
        { "{\"v\":1} {}", "invalid JSON at offset 8" },
        { "{\"v\":1}x", "invalid JSON" },
        { "{'v':1}", "unexpected character" },
        { "{\"v\":1,}", "invalid JSON" },
        /* invalid UTF-8, raw control characters, NUL */
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\xff\"}", "utf-8" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\xc0\xaf\"}", "utf-8" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"a\tb\"}", "control character" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"a\\u0000b\"}", "NUL" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\xed\xa0\x80\"}", "utf-8" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\xf4\x90\x80\x80\"}", "utf-8" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\xe0\x80\xaf\"}", "utf-8" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\\ud800\"}", "surrogate" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\\udc00x\"}", "surrogate" },
        /* duplicate keys, at the top and nested */
        { "{\"v\":1,\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\"}", "duplicate key" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"result\":-5,\"message\":\"\"}", "duplicate key" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[{\"id\":\"" ID1 "\",\"id\":\"" ID2 "\",\"address\":\"a\",\"port\":1,\"state\":\"ready\",\"cpu\":0,\"cpu_limit\":1,\"mem\":0,\"in_flight\":0}]}", "duplicate key" },
        /* NaN, infinities, numbers outside the grammar or the range */
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":NaN,\"containers\":[]}", "NaN" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":Infinity,\"containers\":[]}", "NaN" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":-Infinity,\"containers\":[]}", "malformed number" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":1e999,\"containers\":[]}", "out of range" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":1.,\"containers\":[]}", "malformed number" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":9223372036854775808,\"ack\":1,\"result\":0,\"message\":\"\"}", "out of range" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":18446744073709551616,\"result\":0,\"message\":\"\"}", "out of range" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":-1,\"ack\":1,\"result\":0,\"message\":\"\"}", "out of range" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":-9223372036854775809,\"message\":\"\"}", "out of range" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":1,\"message\":\"\"}", "result" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":-5000,\"message\":\"\"}", "result" },
        /* version */
        { "{\"v\":2,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\"}", "version 2" },
        { "{\"v\":\"1\",\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\"}", "version" },
        { "{\"v\":1.0,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\"}", "version" },
        { "{\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\"}", "missing key \"v\"" },
        /* type, keys */
        { "{\"v\":1,\"type\":\"hello\",\"seq\":1}", "unknown message type \"hello\"" },
        { "{\"v\":1,\"type\":7,\"seq\":1}", "\"type\": expected a string" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0}", "missing key \"message\"" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":\"\",\"extra\":1}", "unexpected key \"extra\"" },
        { "{\"v\":1,\"type\":\"ack\",\"ack\":1,\"result\":0,\"message\":\"\"}", "\"seq\": expected an integer" },
        /* wrong types */
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1.0,\"ack\":1,\"result\":0,\"message\":\"\"}", "\"seq\": expected an integer" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":\"1\",\"result\":0,\"message\":\"\"}", "\"ack\": expected an integer" },
        { "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":1,\"result\":0,\"message\":null}", "\"message\": expected a string" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":true,\"containers\":[]}", "\"cpu\": expected a number" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":{}}", "expected an array" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[1]}", "containers[0]: expected an object" },
        /* out-of-range and malformed values */
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":-0.5,\"containers\":[]}", "cpu" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"../../etc/passwd\",\"cpu\":0,\"containers\":[]}", "vm" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"\",\"cpu\":0,\"containers\":[]}", "vm" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[{\"id\":\"" ID1 "\",\"address\":\"a\",\"port\":65536,\"state\":\"ready\",\"cpu\":0,\"cpu_limit\":1,\"mem\":0,\"in_flight\":0}]}", "port" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[{\"id\":\"" ID1 "\",\"address\":\"a\",\"port\":0,\"state\":\"ready\",\"cpu\":0,\"cpu_limit\":1,\"mem\":0,\"in_flight\":0}]}", "port" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[{\"id\":\"abc\",\"address\":\"a\",\"port\":1,\"state\":\"ready\",\"cpu\":0,\"cpu_limit\":1,\"mem\":0,\"in_flight\":0}]}", "containers[0].id" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[{\"id\":\"" ID1 "\",\"address\":\"a\",\"port\":1,\"state\":\"gone\",\"cpu\":0,\"cpu_limit\":1,\"mem\":0,\"in_flight\":0}]}", "unknown value \"gone\"" },
        { "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[{\"id\":\"" ID1 "\",\"address\":\"a\",\"port\":1,\"state\":\"ready\",\"cpu\":0,\"cpu_limit\":1,\"mem\":0,\"in_flight\":4294967296}]}", "in_flight" },
        { "{\"v\":1,\"type\":\"register\",\"seq\":1,\"vm\":\"vm1\",\"address\":\"127.0.0.1\",\"capacity\":4,\"min\":5,\"state\":\"active\",\"containers\":[]}", "min 5 exceeds capacity 4" },
        { "{\"v\":1,\"type\":\"register\",\"seq\":1,\"vm\":\"vm1\",\"address\":\"a b\",\"capacity\":4,\"min\":1,\"state\":\"active\",\"containers\":[]}", "address" },
        { "{\"v\":1,\"type\":\"register\",\"seq\":1,\"vm\":\"vm1\",\"address\":\"a\",\"capacity\":4,\"min\":1,\"state\":\"on\",\"containers\":[]}", "state" },
        { "{\"v\":1,\"type\":\"order\",\"seq\":1,\"order\":\"drain\",\"count\":0,\"container\":\"\",\"timeout_ms\":0}", "container" },
        { "{\"v\":1,\"type\":\"order\",\"seq\":1,\"order\":\"add\",\"count\":0,\"container\":\"\",\"timeout_ms\":5}", "timeout_ms" },
        { "{\"v\":1,\"type\":\"order\",\"seq\":1,\"order\":\"drain\",\"count\":0,\"container\":\"" ID2 "\",\"timeout_ms\":3600001}", "timeout_ms" },
        { "{\"v\":1,\"type\":\"order\",\"seq\":1,\"order\":\"drain\",\"count\":0,\"container\":\"" ID2 "\"}", "timeout_ms" },
        { "{\"v\":1,\"type\":\"order\",\"seq\":1,\"order\":\"add\",\"count\":2,\"container\":\"\",\"timeout_ms\":0}", "count" },
        { "{\"v\":1,\"type\":\"order\",\"seq\":1,\"order\":\"reboot\",\"count\":0,\"container\":\"\",\"timeout_ms\":0}", "unknown value \"reboot\"" },
        { "{\"v\":1,\"type\":\"event\",\"seq\":1,\"event\":\"Container Died\",\"container\":\"\",\"message\":\"\"}", "event" },
};

TEST(strict_decoder_refuses_with_a_reason) {
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                char reason[ACS_PROTO_REASON_MAX];
                AcsMessage *m = NULL;
                int r = acs_message_decode(refused[i].json, strlen(refused[i].json), &m, reason);

                if (r != -EBADMSG || !strcasestr(reason, refused[i].reason))
                        ACS_TEST_FAIL("%s: got %d \"%s\", expected -EBADMSG \"%s\"", refused[i].json, r, reason,
                                      refused[i].reason);
                ASSERT_TRUE(m == NULL);
        }
}

TEST(decoder_accepts_plain_json_variants) {
        static const char *const accepted[] = {
                " {\"seq\":0, \"type\":\"order\",\n\"v\":1,\"order\":\"scale\",\"count\":12,\"container\":\"\",\"timeout_ms\":0} ",
                "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":2,\"containers\":[]}",
                "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":1.5E-3,\"containers\":[]}",
                "{\"v\":1,\"type\":\"ack\",\"seq\":1,\"ack\":9223372036854775807,\"result\":-4095,\"message\":\"\\u00e9 \\\" : {\\ud83d\\ude00 \xf0\x9f\x98\x80\"}",
        };

        for (size_t i = 0; i < ELEMENTSOF(accepted); i++) {
                char reason[ACS_PROTO_REASON_MAX];
                _cleanup_(acs_message_freep) AcsMessage *m = NULL;

                if (acs_message_decode(accepted[i], strlen(accepted[i]), &m, reason) < 0)
                        ACS_TEST_FAIL("%s refused: %s", accepted[i], reason);
        }
}

TEST(payload_without_terminating_nul) {
        /* The decoder must not read past size: the same bytes followed by junk, size cut short. */
        const char text[] = "{\"v\":1,\"type\":\"order\",\"seq\":0,\"order\":\"add\",\"count\":0,\"container\":\"\",\"timeout_ms\":0}JUNK";
        char reason[ACS_PROTO_REASON_MAX];
        _cleanup_(acs_message_freep) AcsMessage *m = NULL;

        ASSERT_OK(acs_message_decode(text, strlen(text) - 4, &m, reason));
        ASSERT_EQ(m->order.order, ACS_ORDER_ADD);

        /* A NUL inside the frame ends json-c's parse early: what follows must not be ignored. */
        const char with_nul[] = "{\"v\":1,\"type\":\"order\",\"seq\":0,\"order\":\"add\",\"count\":0,\"container\":\"\",\"timeout_ms\":0}\0{}";
        AcsMessage *m2 = NULL;
        ASSERT_EQ(acs_message_decode(with_nul, sizeof(with_nul) - 1, &m2, reason), -EBADMSG);
        ASSERT_TRUE(strstr(reason, "trailing data"));
        ASSERT_TRUE(m2 == NULL);
}

TEST(string_tables) {
        ASSERT_STREQ(acs_message_type_to_string(ACS_MESSAGE_METRICS), "metrics");
        ASSERT_EQ(acs_message_type_from_string("register"), ACS_MESSAGE_REGISTER);
        ASSERT_EQ(acs_message_type_from_string("Register"), -EINVAL);
        ASSERT_TRUE(acs_order_kind_to_string(_ACS_ORDER_KIND_MAX) == NULL);
        ASSERT_TRUE(acs_proto_vm_name_is_valid("vm1"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid(".hidden"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("-rf"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid(""));
        ASSERT_FALSE(acs_proto_vm_name_is_valid(NULL));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("vm 1"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("vm\nACS_EVENT=scale-out"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("vm\x1b[2J"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("vm\xc3\xa9"));
        ASSERT_TRUE(acs_proto_vm_name_is_valid("web-1.eu_west"));
        ASSERT_TRUE(acs_proto_vm_name_is_valid("v-"));
        ASSERT_TRUE(acs_proto_vm_name_is_valid("012345678901234567890123456789012345678901234567890123456789012"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("0123456789012345678901234567890123456789012345678901234567890123"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("a/b"));
        ASSERT_FALSE(acs_proto_vm_name_is_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

ACS_TEST_MAIN();
