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
        return m;
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
        VimVm *vm = vim_vm_new(m, "vm1");
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
        VimVm *vm = vim_vm_new(m, "vm1");
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
        VimVm *vm = vim_vm_new(m, "vm1");
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

TEST(a_container_reported_by_another_vm_moves) {
        VimManager *m = manager();
        VimVm *vm1 = vim_vm_new(m, "vm1"), *vm2 = vim_vm_new(m, "vm2");
        AcsContainerInfo one = info('a', 9100, ACS_CONTAINER_READY);
        unsigned adopted;

        (void) vim_vm_apply_containers(vm1, &one, 1, false, &adopted);
        (void) vim_backends_update(m);
        ASSERT_EQ(m->backends->n_items, 1);
        (void) vim_vm_apply_containers(vm2, &one, 1, false, &adopted);
        (void) vim_backends_update(m);
        ASSERT_EQ(vm1->n_containers, 0);
        ASSERT_EQ(vm2->n_containers, 1);
        ASSERT_EQ(m->backends->n_items, 1);
        ASSERT_STREQ(vm2->backends[0].vm, "vm2");
        manager_free(m);
}

ACS_TEST_MAIN();
