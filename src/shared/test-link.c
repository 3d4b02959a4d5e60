/* SPDX-License-Identifier: MIT */
/*
 * The link over real TLS on loopback: server and clients in one sd-event loop, broken peers
 * played by raw sockets or by a good client that queues raw bytes after its handshake.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "acs-link-internal.h"
#include "acs-log.h"
#include "acs-test.h"

#define ID1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Runs the loop until cond holds or timeout passes; evaluates to cond. */
#define RUN_UNTIL(e, cond, timeout)                                                    \
        ({                                                                             \
                usec_t _end = now_usec(CLOCK_MONOTONIC) + (timeout);                   \
                while (!(cond) && now_usec(CLOCK_MONOTONIC) < _end)                    \
                        ASSERT_OK(sd_event_run((e), 10 * USEC_PER_MSEC));              \
                (cond);                                                                \
        })

typedef struct Recorder {
        unsigned connects, disconnects, messages;
        int last_reason;
        AcsLink *link;
        AcsMessageType last_type;
        uint64_t last_seq;
        char last_text[64];
        bool server;
        bool skip_register;     /* client: play a VMM that does not register */
} Recorder;

static void on_connect(AcsLink *link, const char *vm, void *userdata) {
        Recorder *rec = userdata;

        rec->connects++;
        rec->link = link;
        if (!rec->server && !rec->skip_register) {
                /* A VMM registers first thing. */
                AcsMessage m = {
                        .type = ACS_MESSAGE_REGISTER,
                        .reg = { .vm = vm, .address = "127.0.0.1", .capacity = 4, .min = 1, .state = ACS_VM_ACTIVE },
                };
                ASSERT_OK(acs_link_send(link, &m, NULL));
        }
}

static void on_message(AcsLink *link, const AcsMessage *m, void *userdata) {
        Recorder *rec = userdata;

        rec->messages++;
        rec->last_type = m->type;
        rec->last_seq = m->seq;
        if (m->type == ACS_MESSAGE_REGISTER) {
                /* The VIM answers a register with an order... */
                AcsMessage order = { .type = ACS_MESSAGE_ORDER, .order = { .order = ACS_ORDER_SCALE, .count = 3, .container = "" } };
                ASSERT_OK(acs_link_send(link, &order, NULL));
        } else if (m->type == ACS_MESSAGE_ORDER) {
                /* ...and the VMM acks it. */
                ASSERT_EQ(m->order.count, 3);
                ASSERT_OK(acs_link_send_ack(link, m->seq, 0, "scaling to 3"));
        } else if (m->type == ACS_MESSAGE_ACK)
                (void) snprintf(rec->last_text, sizeof(rec->last_text), "%s", m->ack.message);
}

static void on_disconnect(AcsLink *link, int reason, void *userdata) {
        Recorder *rec = userdata;

        rec->disconnects++;
        rec->last_reason = reason;
        if (rec->link == link)
                rec->link = NULL;
}

static const AcsLinkHandlers handlers = {
        .on_connect = on_connect,
        .on_message = on_message,
        .on_disconnect = on_disconnect,
};

typedef struct Fixture {
        sd_event *event;
        char dir[64];
        uint8_t key1[ACS_PSK_SIZE];
        AcsLinkServer *server;
        Recorder srec;
        uint16_t port;
} Fixture;

/* Short deadlines and back-offs so each case takes milliseconds. */
static const AcsLinkOptions server_options = {
        .handshake_timeout = 300 * USEC_PER_MSEC,
        .backoff_initial = 30 * USEC_PER_MSEC,
        .backoff_max = 120 * USEC_PER_MSEC,
        .frame_max = 4096,
};
static const AcsLinkOptions client_options = {
        .handshake_timeout = 1 * USEC_PER_SEC,
        .backoff_initial = 10 * USEC_PER_MSEC,
        .backoff_max = 80 * USEC_PER_MSEC,
};

static void fixture_setup_with(Fixture *f, const AcsLinkOptions *options) {
        char path[128];

        *f = (Fixture) { .srec.server = true };
        ASSERT_OK(sd_event_new(&f->event));
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-link-XXXXXX");
        ASSERT_TRUE(mkdtemp(f->dir));
        ASSERT_OK(acs_psk_generate(f->key1));
        snprintf(path, sizeof(path), "%s/vm1.key", f->dir);
        ASSERT_OK(acs_psk_write_file(path, f->key1));

        ASSERT_OK(acs_link_server_new(f->event, options, acs_link_key_lookup_directory, f->dir,
                                      &handlers, &f->srec, &f->server));
        ASSERT_OK(acs_link_server_listen(f->server, "127.0.0.1", 0));
        ASSERT_OK(acs_link_server_get_port(f->server, &f->port));
}

static void fixture_setup(Fixture *f) {
        fixture_setup_with(f, &server_options);
}

/* A server whose refusals last long enough to be told apart from scheduling delays. */
static const AcsLinkOptions slow_backoff_options = {
        .handshake_timeout = 3 * USEC_PER_SEC,
        .backoff_initial = 1 * USEC_PER_SEC,
        .backoff_max = 1 * USEC_PER_SEC,
};

static void fixture_teardown(Fixture *f) {
        char path[128];

        acs_link_server_free(f->server);
        sd_event_unref(f->event);
        for (unsigned i = 1; i <= 2; i++) {
                snprintf(path, sizeof(path), "%s/vm%u.key", f->dir, i);
                (void) unlink(path);
        }
        (void) rmdir(f->dir);
}

/* A good VMM connects, registers, gets an order, acks it; the VIM sees the ack. */
static void assert_good_client_round_trip(Fixture *f) {
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        Recorder crec = {};
        unsigned connects = f->srec.connects, disconnects = f->srec.disconnects;

        f->srec.last_type = _ACS_MESSAGE_TYPE_INVALID;
        ASSERT_OK(acs_link_client_new(f->event, &client_options, "127.0.0.1", f->port, "vm1", f->key1, &handlers,
                                      &crec, &c));
        ASSERT_OK(acs_link_client_start(c));
        ASSERT_TRUE(RUN_UNTIL(f->event, f->srec.last_type == ACS_MESSAGE_ACK && f->srec.connects > connects,
                              5 * USEC_PER_SEC));
        ASSERT_EQ(crec.connects, 1);
        ASSERT_EQ(crec.last_type, ACS_MESSAGE_ORDER);
        ASSERT_STREQ(f->srec.last_text, "scaling to 3");
        ASSERT_STREQ(acs_link_get_vm(f->srec.link), "vm1");
        ASSERT_EQ(acs_link_server_n_links(f->server), 1);
        ASSERT_TRUE(acs_link_client_get_link(c) != NULL);

        /* Freeing the client drops the connection; the server notices. */
        c = acs_link_client_free(c);
        ASSERT_TRUE(RUN_UNTIL(f->event, f->srec.disconnects > disconnects, 2 * USEC_PER_SEC));
        ASSERT_EQ(f->srec.last_reason, -ECONNRESET);
        ASSERT_EQ(acs_link_server_n_links(f->server), 0);
}

TEST(good_handshake_and_round_trip) {
        Fixture f;

        fixture_setup(&f);
        assert_good_client_round_trip(&f);
        /* Sequence numbers: the client sent register (1) and ack (2). */
        ASSERT_EQ(f.srec.messages, 2);
        assert_good_client_round_trip(&f);
        fixture_teardown(&f);
}

/* A client whose handshake must fail: no link ever reaches the handlers on either side. */
static void assert_client_refused(Fixture *f, const char *vm, const uint8_t key[static ACS_PSK_SIZE]) {
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        Recorder crec = {};
        unsigned connects = f->srec.connects;

        ASSERT_OK(acs_link_client_new(f->event, &client_options, "127.0.0.1", f->port, vm, key, &handlers, &crec, &c));
        ASSERT_OK(acs_link_client_start(c));
        /* Long enough for several attempts with the client's back-off. */
        (void) RUN_UNTIL(f->event, false, 400 * USEC_PER_MSEC);
        ASSERT_EQ(crec.connects, 0);
        ASSERT_EQ(f->srec.connects, connects);
        ASSERT_TRUE(acs_link_client_get_link(c) == NULL);
}

TEST(wrong_key) {
        _cleanup_(acs_link_client_freep) AcsLinkClient *bad = NULL, *other = NULL, *good = NULL;
        Recorder bad_rec = {}, other_rec = {}, good_rec = {};
        uint8_t wrong[ACS_PSK_SIZE], key2[ACS_PSK_SIZE];
        char path[128];
        Fixture f;
        usec_t start;

        fixture_setup_with(&f, &slow_backoff_options);
        ASSERT_OK(acs_psk_generate(key2));
        snprintf(path, sizeof(path), "%s/vm2.key", f.dir);
        ASSERT_OK(acs_psk_write_file(path, key2));

        /* One attempt with a wrong key: refused, and vm1 from this address is held off. */
        memcpy(wrong, f.key1, sizeof(wrong));
        wrong[31] ^= 1;
        start = now_usec(CLOCK_MONOTONIC);
        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", f.port, "vm1", wrong, &handlers, &bad_rec, &bad));
        ASSERT_OK(acs_link_client_start(bad));
        (void) RUN_UNTIL(f.event, false, 300 * USEC_PER_MSEC);
        bad = acs_link_client_free(bad);
        ASSERT_EQ(bad_rec.connects, 0);
        ASSERT_EQ(f.srec.connects, 0);

        /* Another VM from the same address is not held off... */
        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", f.port, "vm2", key2, &handlers, &other_rec, &other));
        ASSERT_OK(acs_link_client_start(other));
        ASSERT_TRUE(RUN_UNTIL(f.event, other_rec.connects == 1 && f.srec.connects == 1, 500 * USEC_PER_MSEC));
        ASSERT_STREQ(acs_link_get_vm(f.srec.link), "vm2");
        other = acs_link_client_free(other);
        ASSERT_TRUE(RUN_UNTIL(f.event, f.srec.disconnects == 1, 1 * USEC_PER_SEC));

        /* ...vm1 with the right key is, until the refusal runs out, then gets in. */
        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", f.port, "vm1", f.key1, &handlers, &good_rec, &good));
        ASSERT_OK(acs_link_client_start(good));
        ASSERT_TRUE(RUN_UNTIL(f.event, good_rec.connects == 1, 3 * USEC_PER_SEC));
        /* The first failure came after start, and its refusal lasts 1 s. */
        ASSERT_TRUE(now_usec(CLOCK_MONOTONIC) - start >= 1 * USEC_PER_SEC);
        good = acs_link_client_free(good);
        ASSERT_TRUE(RUN_UNTIL(f.event, f.srec.disconnects == 2, 1 * USEC_PER_SEC));

        assert_good_client_round_trip(&f);
        fixture_teardown(&f);
}

TEST(unknown_vm_name) {
        Fixture f;

        fixture_setup(&f);
        assert_client_refused(&f, "vm9", f.key1);
        assert_good_client_round_trip(&f);
        fixture_teardown(&f);
}

static int raw_connect(uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        ASSERT_TRUE(fd >= 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_TRUE(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
        return fd;
}

/* True once the server closed fd (EOF or reset), draining whatever it sent before. */
static bool raw_closed(int fd) {
        char buf[1024];
        ssize_t n;

        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
                ;
        return n == 0 || (n < 0 && errno != EAGAIN);
}

TEST(stalled_handshake_closed_at_deadline) {
        _cleanup_close_ int fd = -1;
        Fixture f;
        usec_t start;

        fixture_setup(&f);
        fd = raw_connect(f.port);
        start = now_usec(CLOCK_MONOTONIC);
        ASSERT_TRUE(RUN_UNTIL(f.event, raw_closed(fd), 3 * USEC_PER_SEC));
        /* Closed at the deadline (300 ms), not before and not much after. */
        ASSERT_TRUE(now_usec(CLOCK_MONOTONIC) - start >= 250 * USEC_PER_MSEC);
        ASSERT_TRUE(now_usec(CLOCK_MONOTONIC) - start < 2 * USEC_PER_SEC);
        assert_good_client_round_trip(&f);
        fixture_teardown(&f);
}

TEST(stray_requests_never_refuse_the_address) {
        static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        _cleanup_close_ int fd = -1, again = -1;
        Fixture f;

        fixture_setup_with(&f, &slow_backoff_options);
        /* Stray requests are refused one by one... */
        for (unsigned i = 0; i < 5; i++) {
                fd = raw_connect(f.port);
                (void) RUN_UNTIL(f.event, false, 20 * USEC_PER_MSEC);
                ASSERT_EQ(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t) strlen(request));
                ASSERT_TRUE(RUN_UNTIL(f.event, raw_closed(fd), 1 * USEC_PER_SEC));
                fd = safe_close(fd);
        }

        /* ...but the address is not: a VMM behind it would be locked out with the prober. */
        again = raw_connect(f.port);
        ASSERT_FALSE(RUN_UNTIL(f.event, raw_closed(again), 300 * USEC_PER_MSEC));
        again = safe_close(again);
        assert_good_client_round_trip(&f);
        fixture_teardown(&f);
}

TEST(stalled_handshakes_never_hold_every_slot) {
        int stalled[ACS_LINK_SERVER_HANDSHAKES_MAX];
        Fixture f;
        usec_t start;

        /* Long deadline: room must come from the slots, not from the stalled ones timing out. */
        fixture_setup_with(&f, &slow_backoff_options);
        for (size_t i = 0; i < ELEMENTSOF(stalled); i++)
                stalled[i] = raw_connect(f.port);
        (void) RUN_UNTIL(f.event, false, 200 * USEC_PER_MSEC);

        start = now_usec(CLOCK_MONOTONIC);
        assert_good_client_round_trip(&f);
        ASSERT_TRUE(now_usec(CLOCK_MONOTONIC) - start < 2 * USEC_PER_SEC);

        for (size_t i = 0; i < ELEMENTSOF(stalled); i++)
                safe_close(stalled[i]);
        fixture_teardown(&f);
}

/* A good client sends bytes after its handshake; the server must close with reason. */
static void assert_raw_bytes_refused(Fixture *f, const void *data, size_t size, bool register_first, int reason) {
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        Recorder crec = { .skip_register = !register_first };
        unsigned disconnects = f->srec.disconnects;

        ASSERT_OK(acs_link_client_new(f->event, &client_options, "127.0.0.1", f->port, "vm1", f->key1, &handlers,
                                      &crec, &c));
        ASSERT_OK(acs_link_client_start(c));
        /* The client's on_connect queues a register; wait until the server has it when wanted. */
        ASSERT_TRUE(RUN_UNTIL(f->event, crec.connects == 1 && (!register_first || crec.last_type == ACS_MESSAGE_ORDER),
                              3 * USEC_PER_SEC));
        ASSERT_OK(link_queue_raw(crec.link, data, size));
        ASSERT_TRUE(RUN_UNTIL(f->event, f->srec.disconnects > disconnects && crec.disconnects == 1, 3 * USEC_PER_SEC));
        ASSERT_EQ(f->srec.last_reason, reason);
        ASSERT_EQ(crec.last_reason, -ECONNRESET);
}

static void frame(AcsBuf *b, const char *json) {
        ASSERT_OK(acs_frame_encode(b, json, strlen(json), 0));
}

TEST(bad_frames_after_a_good_handshake) {
        static const uint8_t zero_length[] = { 0, 0, 0, 0 };
        static const uint8_t over_size[] = { 0, 0, 0x10, 0x01, '{' };      /* 4097 > 4096 */
        static const char wrong_version[] = "{\"v\":2,\"type\":\"ack\",\"seq\":5,\"ack\":1,\"result\":0,\"message\":\"\"}";
        static const char garbage[] = "\x01\x02garbage that is not JSON";
        static const char metrics_other_vm[] = "{\"v\":1,\"type\":\"metrics\",\"seq\":5,\"vm\":\"vm2\",\"cpu\":0,\"containers\":[]}";
        static const char metrics_vm1[] = "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[]}";
        static const char order_to_vim[] = "{\"v\":1,\"type\":\"order\",\"seq\":5,\"order\":\"add\",\"count\":0,\"container\":\"\",\"timeout_ms\":0}";
        static const char duplicate[] = "{\"v\":1,\"type\":\"event\",\"seq\":5,\"event\":\"docker-up\",\"container\":\"\",\"container\":\"" ID1 "\",\"message\":\"\"}";
        Fixture f;
        AcsBuf b = {};

        fixture_setup(&f);

        frame(&b, wrong_version);
        assert_raw_bytes_refused(&f, acs_buf_peek(&b), acs_buf_len(&b), true, -EBADMSG);
        acs_buf_clear(&b);

        frame(&b, garbage);
        assert_raw_bytes_refused(&f, acs_buf_peek(&b), acs_buf_len(&b), true, -EBADMSG);
        acs_buf_clear(&b);

        frame(&b, duplicate);
        assert_raw_bytes_refused(&f, acs_buf_peek(&b), acs_buf_len(&b), true, -EBADMSG);
        acs_buf_clear(&b);

        assert_raw_bytes_refused(&f, zero_length, sizeof(zero_length), true, -EBADMSG);
        assert_raw_bytes_refused(&f, over_size, sizeof(over_size), true, -EMSGSIZE);

        frame(&b, metrics_other_vm);
        assert_raw_bytes_refused(&f, acs_buf_peek(&b), acs_buf_len(&b), true, -EPROTO);
        acs_buf_clear(&b);

        frame(&b, order_to_vim);
        assert_raw_bytes_refused(&f, acs_buf_peek(&b), acs_buf_len(&b), true, -EPROTO);
        acs_buf_clear(&b);

        frame(&b, metrics_vm1);
        assert_raw_bytes_refused(&f, acs_buf_peek(&b), acs_buf_len(&b), false, -EPROTO);
        acs_buf_done(&b);

        /* None of it stops the server from serving a good VMM. */
        assert_good_client_round_trip(&f);
        fixture_teardown(&f);
}

TEST(client_refuses_messages_a_vmm_is_not_sent) {
        static const char metrics[] = "{\"v\":1,\"type\":\"metrics\",\"seq\":1,\"vm\":\"vm1\",\"cpu\":0,\"containers\":[]}";
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        Recorder crec = {};
        Fixture f;
        AcsBuf b = {};

        fixture_setup(&f);
        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", f.port, "vm1", f.key1, &handlers, &crec, &c));
        ASSERT_OK(acs_link_client_start(c));
        ASSERT_TRUE(RUN_UNTIL(f.event, f.srec.last_type == ACS_MESSAGE_ACK, 3 * USEC_PER_SEC));

        /* The VIM side misbehaves: the VMM closes, and says why. */
        frame(&b, metrics);
        ASSERT_OK(link_queue_raw(f.srec.link, acs_buf_peek(&b), acs_buf_len(&b)));
        acs_buf_done(&b);
        ASSERT_TRUE(RUN_UNTIL(f.event, crec.disconnects == 1 && f.srec.disconnects == 1, 2 * USEC_PER_SEC));
        ASSERT_EQ(crec.last_reason, -EPROTO);
        ASSERT_EQ(f.srec.last_reason, -ECONNRESET);
        fixture_teardown(&f);
}

TEST(client_reconnects_after_the_server_closes) {
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        Recorder crec = {};
        Fixture f;

        fixture_setup(&f);
        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", f.port, "vm1", f.key1, &handlers, &crec, &c));
        ASSERT_OK(acs_link_client_start(c));
        ASSERT_TRUE(RUN_UNTIL(f.event, f.srec.link && crec.last_type == ACS_MESSAGE_ORDER, 3 * USEC_PER_SEC));

        acs_link_close(f.srec.link, ACS_LINK_CLOSED_LOCALLY);
        ASSERT_TRUE(RUN_UNTIL(f.event, crec.disconnects == 1 && f.srec.disconnects == 1, 2 * USEC_PER_SEC));
        ASSERT_EQ(f.srec.last_reason, ACS_LINK_CLOSED_LOCALLY);
        /* The client comes back by itself and registers again. */
        ASSERT_TRUE(RUN_UNTIL(f.event, crec.connects == 2 && f.srec.connects == 2 && f.srec.link, 3 * USEC_PER_SEC));
        ASSERT_EQ(f.srec.disconnects, 1);
        f.srec.last_type = _ACS_MESSAGE_TYPE_INVALID;
        ASSERT_TRUE(RUN_UNTIL(f.event, f.srec.last_type == ACS_MESSAGE_ACK, 2 * USEC_PER_SEC));
        ASSERT_EQ(f.srec.last_seq, 2);  /* sequence numbers start over with each connection */
        fixture_teardown(&f);
}

TEST(client_retries_until_a_server_appears) {
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        Recorder crec = {};
        Fixture f;
        uint16_t port;

        /* Learn a free port, then close the server that held it. */
        fixture_setup(&f);
        port = f.port;
        f.server = acs_link_server_free(f.server);

        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", port, "vm1", f.key1, &handlers, &crec, &c));
        ASSERT_OK(acs_link_client_start(c));
        (void) RUN_UNTIL(f.event, false, 200 * USEC_PER_MSEC);
        ASSERT_EQ(crec.connects, 0);

        ASSERT_OK(acs_link_server_new(f.event, &server_options, acs_link_key_lookup_directory, f.dir, &handlers,
                                      &f.srec, &f.server));
        ASSERT_OK(acs_link_server_listen(f.server, "127.0.0.1", port));
        ASSERT_TRUE(RUN_UNTIL(f.event, crec.connects == 1 && f.srec.last_type == ACS_MESSAGE_ACK, 3 * USEC_PER_SEC));
        fixture_teardown(&f);
}

/* Two addresses (two VIMs, one leading): the first refuses, the client moves on to the second;
 * when that server goes away and one listens on the first again, it moves back. */
TEST(client_moves_on_to_the_next_address) {
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        Recorder crec = {};
        Fixture f;
        uint16_t closed_port;

        fixture_setup(&f);
        closed_port = f.port;
        f.server = acs_link_server_free(f.server);
        ASSERT_OK(acs_link_server_new(f.event, &server_options, acs_link_key_lookup_directory, f.dir, &handlers,
                                      &f.srec, &f.server));
        ASSERT_OK(acs_link_server_listen(f.server, "127.0.0.1", 0));
        ASSERT_OK(acs_link_server_get_port(f.server, &f.port));

        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", closed_port, "vm1", f.key1, &handlers,
                                      &crec, &c));
        ASSERT_OK(acs_link_client_add_address(c, "127.0.0.1", f.port));
        ASSERT_OK(acs_link_client_start(c));
        ASSERT_TRUE(RUN_UNTIL(f.event, crec.connects == 1 && f.srec.last_type == ACS_MESSAGE_ACK, 3 * USEC_PER_SEC));

        /* The leader changes: this server goes, one appears on the first address. */
        f.server = acs_link_server_free(f.server);
        ASSERT_OK(acs_link_server_new(f.event, &server_options, acs_link_key_lookup_directory, f.dir, &handlers,
                                      &f.srec, &f.server));
        ASSERT_OK(acs_link_server_listen(f.server, "127.0.0.1", closed_port));
        ASSERT_TRUE(RUN_UNTIL(f.event, crec.connects == 2, 3 * USEC_PER_SEC));
        ASSERT_EQ(crec.disconnects, 1);
        fixture_teardown(&f);
}

TEST(peer_that_does_not_read_is_cut_off) {
        static const AcsLinkOptions small_queue = {
                .handshake_timeout = 1 * USEC_PER_SEC,
                .frame_max = 4096,
                .output_max = 64 * 1024,
        };
        _cleanup_(acs_link_client_freep) AcsLinkClient *c = NULL;
        AcsMessage order = { .type = ACS_MESSAGE_ORDER, .order = { .order = ACS_ORDER_ADD, .container = "" } };
        Recorder crec = {};
        Fixture f;
        unsigned sent = 0;
        int r = 0;

        fixture_setup(&f);
        f.server = acs_link_server_free(f.server);
        ASSERT_OK(acs_link_server_new(f.event, &small_queue, acs_link_key_lookup_directory, f.dir, &handlers, &f.srec,
                                      &f.server));
        ASSERT_OK(acs_link_server_listen(f.server, "127.0.0.1", 0));
        ASSERT_OK(acs_link_server_get_port(f.server, &f.port));

        ASSERT_OK(acs_link_client_new(f.event, &client_options, "127.0.0.1", f.port, "vm1", f.key1, &handlers, &crec, &c));
        ASSERT_OK(acs_link_client_start(c));
        ASSERT_TRUE(RUN_UNTIL(f.event, f.srec.last_type == ACS_MESSAGE_ACK, 3 * USEC_PER_SEC));

        /* The VMM stops reading; the VIM keeps sending until its queue is full. */
        ASSERT_OK(sd_event_source_set_enabled(crec.link->io, SD_EVENT_OFF));
        while (sent < 1000000 && (r = acs_link_send(f.srec.link, &order, NULL)) >= 0)
                sent++;
        ASSERT_EQ(r, -ENOBUFS);
        ASSERT_TRUE(sent > 100);
        ASSERT_EQ(acs_link_send(f.srec.link, &order, NULL), -ENOTCONN);
        ASSERT_TRUE(RUN_UNTIL(f.event, f.srec.disconnects == 1, 2 * USEC_PER_SEC));
        ASSERT_EQ(f.srec.last_reason, -ENOBUFS);
        fixture_teardown(&f);
}

static void write_text(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        ASSERT_OK(fchmod(fd, mode));
        close(fd);
}

TEST(key_files) {
        static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        char dir[] = "/tmp/test-psk-XXXXXX", path[128];
        uint8_t key[ACS_PSK_SIZE], back[ACS_PSK_SIZE];
        struct stat st;
        char text[80];

        ASSERT_TRUE(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/vm1.key", dir);

        ASSERT_OK(acs_psk_generate(key));
        ASSERT_OK(acs_psk_write_file(path, key));
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_mode & 0777, 0600);
        ASSERT_OK(acs_psk_read_from_directory(dir, "vm1", back));
        ASSERT_TRUE(memcmp(key, back, sizeof(key)) == 0);

        write_text(path, hex, 0600);            /* no newline, mixed case */
        ASSERT_OK(acs_psk_read_file(path, back));
        ASSERT_EQ(back[1], 0x11);
        ASSERT_EQ(back[31], 0xff);

        snprintf(text, sizeof(text), "%s\n", hex);
        write_text(path, text, 0644);
        ASSERT_EQ(acs_psk_read_file(path, back), -EPERM);
        ASSERT_TRUE(strstr(acs_psk_strerror(-EPERM), "0600"));
        write_text(path, text, 0640);
        ASSERT_EQ(acs_psk_read_file(path, back), -EPERM);
        write_text(path, text, 0400);
        ASSERT_OK(acs_psk_read_file(path, back));
        (void) chmod(path, 0600);

        static const char *const bad[] = { "", "\n", "0011", hex + 1, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\n",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff ",
                " 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_text(path, bad[i], 0600);
                if (acs_psk_read_file(path, back) != -EBADMSG)
                        ACS_TEST_FAIL("key file \"%s\" accepted", bad[i]);
        }

        ASSERT_EQ(acs_psk_read_from_directory(dir, "../vm1", back), -EINVAL);
        ASSERT_EQ(acs_psk_read_from_directory(dir, "vm2", back), -ENOENT);
        ASSERT_EQ(acs_psk_read_file(dir, back), -EBADMSG);      /* a directory */

        (void) unlink(path);
        (void) rmdir(dir);
}


ACS_TEST_MAIN();
