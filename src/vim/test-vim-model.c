/* SPDX-License-Identifier: MIT */
/* The cluster model without a bus or a network: VMs adopt reported containers, the backend set
 * follows (ready and draining, never starting), and ordered containers are told from adopted ones. */
#include <stdlib.h>

#include "acs-macro.h"
#include "acs-test.h"
#include "vim-backends.h"
#include "vim-manager.h"

static const char *id(char c) {
        static char ids[4][ACS_PROTO_CONTAINER_ID_LEN + 1];
        static unsigned k;
        char *s = ids[k++ % 4];

        memset(s, c, ACS_PROTO_CONTAINER_ID_LEN);
        s[ACS_PROTO_CONTAINER_ID_LEN] = 0;
        return s;
}

static AcsContainerInfo info(char c, uint16_t port, AcsContainerState state) {
        return (AcsContainerInfo) { .id = id(c), .address = "127.0.0.1", .port = port, .state = state, .cpu = 0.5,
                                    .cpu_limit = 0.5 };
}

static VimManager *manager(void) {
        VimManager *m = calloc(1, sizeof(VimManager));

        ASSERT_TRUE(m);
        m->backends = vim_backends_new();
        ASSERT_TRUE(m->backends);
        vim_settings_init(&m->settings);
        m->settings.allow_host_addresses = true;
        return m;
}

/* A VM registered from 127.0.0.1 without a file of its own. */
static VimVm *vm_new(VimManager *m, const char *name) {
        VimVm *vm = vim_vm_new(m, name);

        ASSERT_TRUE(vm);
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, name, NULL, "127.0.0.1"), 0);
        return vm;
}

static void manager_free(VimManager *m) {
        while (m->n_vms > 0)
                vim_vm_free(m->vms[m->n_vms - 1]);
        free(m->vms);
        vim_backends_free(m->backends);
        free(m);
}

TEST(backends_follow_the_reports) {
        VimManager *m = manager();
        VimVm *vm = vm_new(m, "vm1");
        AcsContainerInfo list[3] = { info('a', 9100, ACS_CONTAINER_READY), info('b', 9101, ACS_CONTAINER_STARTING),
                                     info('c', 9102, ACS_CONTAINER_READY) };
        uint64_t g0 = m->backends->generation;
        unsigned adopted;

        ASSERT_TRUE(vm);
        ASSERT_TRUE(vim_vm_apply_containers(vm, list, 3, false, &adopted));
        ASSERT_EQ(adopted, 3);
        ASSERT_EQ(vim_backends_update_vm(m, vm), 1);
        ASSERT_EQ(m->backends->generation, g0 + 1);
        /* the starting one is no backend; weight follows the CPU limit */
        ASSERT_EQ(vm->n_backends, 2);
        ASSERT_EQ(m->backends->n_items, 2);
        ASSERT_EQ(vm->backends[0].port, 9100);
        ASSERT_EQ(vm->backends[0].weight, 50);
        ASSERT_EQ(vm->backends[1].port, 9102);

        /* the same report again: nothing changes, no new generation */
        ASSERT_FALSE(vim_vm_apply_containers(vm, list, 3, false, &adopted));
        ASSERT_EQ(vim_backends_update_vm(m, vm), 0);
        ASSERT_EQ(m->backends->generation, g0 + 1);

        /* ready now, and one drained by the VIM */
        list[1].state = ACS_CONTAINER_READY;
        ASSERT_TRUE(vim_vm_apply_containers(vm, list, 3, false, &adopted));
        vim_vm_find_container(vm, list[0].id)->drain_started = 1;
        ASSERT_EQ(vim_backends_update_vm(m, vm), 1);
        ASSERT_EQ(vm->n_backends, 3);
        ASSERT_TRUE(vm->backends[0].draining);
        ASSERT_EQ(m->backends->generation, g0 + 2);
        manager_free(m);
}

TEST(missing_containers_kept_only_when_asked) {
        VimManager *m = manager();
        VimVm *vm = vm_new(m, "vm1");
        AcsContainerInfo list[2] = { info('a', 9100, ACS_CONTAINER_READY), info('b', 9101, ACS_CONTAINER_READY) };
        unsigned adopted;

        (void) vim_vm_apply_containers(vm, list, 2, false, &adopted);
        /* a VMM that just registered may not have listed its engine yet */
        ASSERT_FALSE(vim_vm_apply_containers(vm, list, 0, true, &adopted));
        ASSERT_EQ(vm->n_containers, 2);
        /* after that, a report is the truth */
        ASSERT_TRUE(vim_vm_apply_containers(vm, list + 1, 1, false, &adopted));
        ASSERT_EQ(vm->n_containers, 1);
        ASSERT_STREQ(vm->containers[0]->id, list[1].id);
        manager_free(m);
}

TEST(ordered_containers_are_not_adopted) {
        VimManager *m = manager();
        VimVm *vm = vm_new(m, "vm1");
        AcsContainerInfo list[3] = { info('a', 9100, ACS_CONTAINER_READY), info('b', 9101, ACS_CONTAINER_STARTING),
                                     info('c', 9102, ACS_CONTAINER_STARTING) };
        unsigned adopted;

        (void) vim_vm_apply_containers(vm, list, 1, false, &adopted);
        ASSERT_EQ(adopted, 1);
        /* two adds on their way count as slots until they show up */
        vm->pending_adds = 2;
        vm->pending_since = now_usec(CLOCK_MONOTONIC);
        ASSERT_EQ(vim_vm_used_slots(vm), 3);
        (void) vim_vm_apply_containers(vm, list, 2, false, &adopted);
        ASSERT_EQ(adopted, 0);
        ASSERT_EQ(vm->pending_adds, 1);
        (void) vim_vm_apply_containers(vm, list, 3, false, &adopted);
        ASSERT_EQ(adopted, 0);
        ASSERT_EQ(vm->pending_adds, 0);
        ASSERT_EQ(vim_vm_used_slots(vm), 3);
        /* an add that never shows up stops counting after a while */
        vm->pending_adds = 1;
        vm->pending_since = 1;
        vim_vm_expire_pending_adds(vm, 120 * USEC_PER_SEC);
        ASSERT_EQ(vm->pending_adds, 0);
        manager_free(m);
}

TEST(a_container_id_belongs_to_the_first_vm) {
        VimManager *m = manager();
        VimVm *vm1 = vm_new(m, "vm1"), *vm2 = vm_new(m, "vm2");
        AcsContainerInfo one = info('a', 9100, ACS_CONTAINER_READY);
        unsigned adopted;

        (void) vim_vm_apply_containers(vm1, &one, 1, false, &adopted);
        (void) vim_backends_update(m);
        ASSERT_EQ(m->backends->n_items, 1);
        /* another VM reporting the same id does not take it, however often it says so */
        for (int i = 0; i < 3; i++) {
                ASSERT_FALSE(vim_vm_apply_containers(vm2, &one, 1, false, &adopted));
                (void) vim_backends_update(m);
                ASSERT_EQ(vm1->n_containers, 1);
                ASSERT_EQ(vm2->n_containers, 0);
                ASSERT_EQ(m->backends->n_items, 1);
                ASSERT_STREQ(vm1->backends[0].vm, "vm1");
        }
        /* once the first VM no longer has it, the id is free */
        (void) vim_vm_apply_containers(vm1, &one, 0, false, &adopted);
        ASSERT_TRUE(vim_vm_apply_containers(vm2, &one, 1, false, &adopted));
        ASSERT_EQ(vm2->n_containers, 1);
        manager_free(m);
}

TEST(containers_only_at_the_vms_address_and_ports) {
        VimManager *m = manager();
        VimVm *vm = vm_new(m, "vm1");
        AcsContainerInfo list[4] = { info('a', 9100, ACS_CONTAINER_READY), info('b', 9101, ACS_CONTAINER_READY),
                                     info('c', 80, ACS_CONTAINER_READY), info('d', 9103, ACS_CONTAINER_READY) };
        unsigned adopted;

        list[1].address = "0.0.0.0";    /* the front host, by the back door */
        list[3].address = "::ffff:127.0.0.1";
        (void) vim_vm_apply_containers(vm, list, 4, false, &adopted);
        ASSERT_EQ(vm->n_containers, 2);
        ASSERT_STREQ(vm->containers[0]->id, list[0].id);
        ASSERT_STREQ(vm->containers[1]->id, list[3].id);
        ASSERT_TRUE(strstr(vm->last_refusal, "2 of 4 containers refused"));
        list[0].address = "10.1.2.3";   /* another host: the container leaves the set */
        (void) vim_vm_apply_containers(vm, list, 4, false, &adopted);
        ASSERT_EQ(vm->n_containers, 1);
        ASSERT_STREQ(vm->containers[0]->id, list[3].id);
        manager_free(m);
}

TEST(host_addresses_need_the_operators_consent) {
        VimManager *m = manager();
        VimVm *vm = vim_vm_new(m, "vm1");

        m->settings.allow_host_addresses = false;
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "127.0.0.1"), -EPERM);
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "::1"), -EPERM);
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "169.254.1.1"), -EPERM);
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "::"), -EPERM);
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "vm1.example"), -EPERM);
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "192.0.2.7"), 0);
        m->settings.allow_host_addresses = true;
        /* never a wildcard or link-local address, even then */
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "0.0.0.0"), -EPERM);
        ASSERT_EQ(vim_vm_trust_settle(&vm->trust, &m->settings, "vm1", NULL, "fe80::1"), -EPERM);
        manager_free(m);
}

TEST(the_vims_caps_hold_whatever_the_report_says) {
        VimManager *m = manager();
        VimVm *vm;
        AcsContainerInfo list[4] = { info('a', 9100, ACS_CONTAINER_READY), info('b', 9101, ACS_CONTAINER_READY),
                                     info('c', 9102, ACS_CONTAINER_READY), info('d', 9103, ACS_CONTAINER_READY) };
        unsigned adopted;

        m->settings.max_containers = 3;
        m->settings.max_weight = 40;
        vm = vm_new(m, "vm1");
        list[0].cpu_limit = 100;
        (void) vim_vm_apply_containers(vm, list, 4, false, &adopted);
        ASSERT_EQ(vm->n_containers, 3);
        ASSERT_EQ(vim_backends_update_vm(m, vm), 1);
        ASSERT_EQ(vm->backends[0].weight, 40);
        manager_free(m);
}

TEST(followed_set_never_takes_the_generation_back) {
        VimManager *m = manager();
        VimVm *vm = vm_new(m, "vm1");
        VimBackend leader[2] = {
                { .address = "10.0.0.5", .port = 9100, .weight = 100, .vm = "vm7", .container = "c1" },
                { .address = "10.0.0.6", .port = 9100, .weight = 100, .draining = true, .vm = "vm8", .container = "c2" },
        };
        AcsContainerInfo list[1] = { info('a', 9100, ACS_CONTAINER_READY) };
        uint64_t g0 = m->backends->generation;
        unsigned adopted;

        /* a leader that counts from an earlier start: served one above this VIM's own */
        m->backends->hold_signals = true;
        ASSERT_EQ(vim_backends_follow(m, g0 - 1000, leader, 2), 1);
        ASSERT_EQ(m->backends->generation, g0 + 1);
        ASSERT_EQ(m->backends->n_followed, 2);
        ASSERT_STREQ(m->backends->followed[1].vm, "vm8");
        ASSERT_TRUE(m->backends->followed[1].draining);
        /* the same generation again changes nothing; the leader's next one does */
        ASSERT_EQ(vim_backends_follow(m, g0 - 1000, leader, 1), 0);
        ASSERT_EQ(vim_backends_follow(m, g0 + 50, leader, 1), 1);
        ASSERT_EQ(m->backends->generation, g0 + 50);
        ASSERT_EQ(m->backends->n_followed, 1);

        /* its own model, rebuilt while held, replaces the followed set above its generation */
        ASSERT_TRUE(vim_vm_apply_containers(vm, list, 1, false, &adopted));
        ASSERT_EQ(vim_backends_update_vm(m, vm), 1);
        ASSERT_EQ(m->backends->generation, g0 + 51);
        vim_backends_release(m);
        ASSERT_TRUE(m->backends->followed == NULL);
        ASSERT_EQ(m->backends->n_followed, 0);
        ASSERT_EQ(m->backends->generation, g0 + 52);
        manager_free(m);
}

TEST(vm_text_is_sanitized) {
        char buf[8];

        vim_text_sanitize("a\nb\x1b[2J", buf, sizeof(buf));
        ASSERT_STREQ(buf, "a?b?[2J");
        /* cut before a character that does not fit whole */
        vim_text_sanitize("abcde\xc3\xa9z", buf, 7);
        ASSERT_STREQ(buf, "abcde");
}

ACS_TEST_MAIN();
