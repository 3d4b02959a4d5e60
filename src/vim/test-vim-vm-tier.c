/* SPDX-License-Identifier: MIT */
/* The VM tier without a bus: VM files, the boot-time median, the projected demand, and the power
 * state machine driven through a recording provider (off -> booting -> registered/active ->
 * powering-off -> off, failed on a provider error or a deadline, another VM tried next). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acs-macro.h"
#include "acs-psk.h"
#include "acs-test.h"
#include "vim-backends.h"
#include "vim-manager.h"
#include "vim-provider.h"
#include "vim-vm-config.h"

/* ShutdownMode= is the flag libvirt's Shutdown takes: the LXC driver only signals the
 * container's init with VIR_DOMAIN_SHUTDOWN_SIGNAL (8), and does nothing without a flag when
 * the container has no initctl. */
TEST(libvirt_shutdown_modes_are_libvirts_flags) {
        static const struct { const char *mode; uint32_t flags; } modes[] = {
                { "default", 0 }, { "acpi", 1 }, { "agent", 2 }, { "initctl", 4 }, { "signal", 8 }, { "paravirt", 16 },
        };
        _cleanup_(vim_vm_config_freep) VimVmConfig *c = NULL;

        ASSERT_OK(vim_vm_config_load_string("vm4", "[VM]\nProvider=libvirt\n[Libvirt]\nDomain=vm4\n", &c));
        ASSERT_EQ(vim_libvirt_shutdown_flags(c->libvirt_shutdown_mode), 0);
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                _cleanup_(vim_vm_config_freep) VimVmConfig *m = NULL;
                char text[128];

                (void) snprintf(text, sizeof(text), "[Libvirt]\nDomain=vm4\nShutdownMode=%s\n", modes[i].mode);
                ASSERT_OK(vim_vm_config_load_string("vm4", text, &m));
                ASSERT_EQ(vim_libvirt_shutdown_flags(m->libvirt_shutdown_mode), modes[i].flags);
        }
}

TEST(boot_time_median_starts_from_the_guess) {
        VimBootTimes b = { .guess = 30 * USEC_PER_SEC };

        ASSERT_EQ(vim_boot_times_median(&b), 30 * USEC_PER_SEC);
        vim_boot_times_add(&b, 10 * USEC_PER_SEC);
        ASSERT_EQ(vim_boot_times_median(&b), 10 * USEC_PER_SEC);
        vim_boot_times_add(&b, 20 * USEC_PER_SEC);
        ASSERT_EQ(vim_boot_times_median(&b), 15 * USEC_PER_SEC);
        vim_boot_times_add(&b, 100 * USEC_PER_SEC); /* one slow boot does not move the median far */
        ASSERT_EQ(vim_boot_times_median(&b), 20 * USEC_PER_SEC);
        for (unsigned i = 0; i < VIM_BOOT_SAMPLES; i++)
                vim_boot_times_add(&b, 5 * USEC_PER_SEC);
        ASSERT_EQ(vim_boot_times_median(&b), 5 * USEC_PER_SEC); /* old samples age out */
}

TEST(demand_projects_the_recent_growth) {
        VimDemand d = {};
        usec_t t0 = 1000 * USEC_PER_SEC;

        ASSERT_NEAR(vim_demand_project(&d, t0, 10 * USEC_PER_SEC), 0, 1e-9);
        /* flat: projects as itself */
        for (unsigned i = 0; i < 5; i++)
                vim_demand_record(&d, t0 + i * USEC_PER_SEC, 4);
        ASSERT_NEAR(vim_demand_project(&d, t0 + 4 * USEC_PER_SEC, 10 * USEC_PER_SEC), 4, 1e-9);
        /* one more container a second for 4 s: 10 s ahead is 10 more */
        for (unsigned i = 5; i <= 8; i++)
                vim_demand_record(&d, t0 + i * USEC_PER_SEC, 4 + (i - 4));
        ASSERT_NEAR(vim_demand_project(&d, t0 + 8 * USEC_PER_SEC, 10 * USEC_PER_SEC), 18, 1e-9);
        /* falling: never below the latest count */
        vim_demand_record(&d, t0 + 9 * USEC_PER_SEC, 2);
        ASSERT_NEAR(vim_demand_project(&d, t0 + 9 * USEC_PER_SEC, 10 * USEC_PER_SEC), 2, 1e-9);
        /* a low point older than the window no longer counts */
        vim_demand_record(&d, t0 + 100 * USEC_PER_SEC, 6);
        ASSERT_NEAR(vim_demand_project(&d, t0 + 100 * USEC_PER_SEC, 10 * USEC_PER_SEC), 6, 1e-9);
}

TEST(vm_files) {
        _cleanup_(vim_vm_config_freep) VimVmConfig *c = NULL;
        VimVmConfig *bad = NULL;

        ASSERT_OK(vim_vm_config_load_string("vm3",
                                            "[VM]\nProvider=systemd\nCapacity=6\nBootTime=12s\n"
                                            "[Systemd]\nUnit=systemd-nspawn@vm3.service\n",
                                            &c));
        ASSERT_STREQ(vim_vm_provider_names[c->provider], "systemd");
        ASSERT_EQ(c->capacity, 6);
        ASSERT_EQ(c->boot_time, 12 * USEC_PER_SEC);
        ASSERT_EQ(c->power_on_timeout, 180 * USEC_PER_SEC);
        ASSERT_STREQ(c->systemd_unit, "systemd-nspawn@vm3.service");
        ASSERT_EQ(vim_vm_config_load_string("vm3", "[VM]\nProvider=ec2\n", &bad), -EINVAL);
        ASSERT_EQ(vim_vm_config_load_string("vm3", "[VM]\nBootTime=2h\n", &bad), -ERANGE);
        ASSERT_EQ(vim_vm_config_load_string("vm3", "[Systemd]\nUnknown=1\n", &bad), -EINVAL);
        ASSERT_EQ(vim_vm_config_load_string("../vm3", "[VM]\n", &bad), -EINVAL);
        ASSERT_EQ(vim_vm_config_load_string("vm3", "[Libvirt]\nShutdownMode=poweroff\n", &bad), -EINVAL);
        ASSERT_TRUE(!bad);
        ASSERT_TRUE(vim_provider_from_string("libvirt") == &vim_provider_libvirt);
        ASSERT_TRUE(!vim_provider_from_string("ec2"));
        ASSERT_STREQ(vim_vm_state_to_string(VIM_VM_POWERING_OFF), "powering-off");
        ASSERT_TRUE(!vim_vm_state_to_string(_VIM_VM_STATE_MAX));
}

/* The recording provider: counts calls, fails when told to. */
static unsigned n_on, n_off;
static int fail_with;

static int record_on(VimVm *vm) {
        n_on++;
        return fail_with;
}

static int record_off(VimVm *vm) {
        n_off++;
        return fail_with;
}

static const VimProviderOps recording = { .name = "recording", .power_on = record_on, .power_off = record_off };

static VimManager *manager(void) {
        VimManager *m = calloc(1, sizeof(VimManager));

        ASSERT_TRUE(m);
        m->backends = vim_backends_new();
        ASSERT_TRUE(m->backends);
        ASSERT_OK(sd_event_new(&m->event));
        vim_settings_init(&m->settings);
        vim_settings_to_policy(&m->settings, &m->policy);
        return m;
}

static void manager_free(VimManager *m) {
        while (m->n_vms > 0)
                vim_vm_free(m->vms[m->n_vms - 1]);
        free(m->vms);
        vim_backends_free(m->backends);
        sd_event_unref(m->event);
        free(m);
}

static VimVm *declared(VimManager *m, const char *name, unsigned capacity) {
        VimVm *vm = vim_vm_new(m, name);

        ASSERT_TRUE(vm);
        ASSERT_OK(vim_vm_config_load_string(name, "[VM]\nProvider=systemd\n", &vm->config));
        vm->config->capacity = capacity;
        vm->boot_times.guess = 2 * USEC_PER_SEC;
        vm->provider = &recording;
        vm->state = VIM_VM_OFF;
        return vm;
}

static VimVm *up(VimManager *m, const char *name, unsigned capacity) {
        VimVm *vm = vim_vm_new(m, name);

        ASSERT_TRUE(vm);
        vm->capacity = capacity;
        vm->state = VIM_VM_ACTIVE;
        vm->registered_since_start = true;
        return vm;
}

TEST(power_on_off_and_failure) {
        VimManager *m = manager();
        VimVm *vm = declared(m, "vm3", 4);

        n_on = n_off = 0;
        fail_with = 0;
        ASSERT_OK(vim_power_on(vm, "test", "by hand"));
        ASSERT_EQ(vm->state, VIM_VM_BOOTING);
        ASSERT_EQ(n_on, 1);
        ASSERT_EQ(vim_power_on(vm, "test", "twice"), -EBUSY);
        vim_power_done(vm, true, 0, "unit started");
        ASSERT_EQ(vm->state, VIM_VM_BOOTING); /* still waiting for its VMM */
        vim_power_registered(vm);
        ASSERT_EQ(vm->boot_times.n, 1);
        ASSERT_TRUE(!vm->power_timer);

        vm->state = VIM_VM_ACTIVE;
        ASSERT_OK(vim_power_off(vm, "test", "empty"));
        ASSERT_EQ(vm->state, VIM_VM_POWERING_OFF);
        ASSERT_EQ(n_off, 1);
        vim_power_done(vm, false, 0, "unit stopped");
        ASSERT_EQ(vm->state, VIM_VM_OFF);

        /* off by itself while up (crashed, stopped by hand): off, and it can be powered on again */
        ASSERT_OK(vim_power_on(vm, "test", "again"));
        vim_power_lost(vm, "the domain stopped (crashed)");
        ASSERT_EQ(vm->state, VIM_VM_BOOTING);   /* booting: the provider's outcome decides */
        vim_power_registered(vm);
        vm->state = VIM_VM_ACTIVE;
        vim_power_lost(vm, "the domain stopped (crashed)");
        ASSERT_EQ(vm->state, VIM_VM_OFF);
        ASSERT_TRUE(!vm->power_timer);
        ASSERT_OK(vim_power_on(vm, "test", "after the crash"));
        ASSERT_EQ(vm->state, VIM_VM_BOOTING);
        vim_power_done(vm, true, 0, "unit started");
        vim_power_registered(vm);
        vm->state = VIM_VM_ACTIVE;
        ASSERT_OK(vim_power_off(vm, "test", "empty"));
        vim_power_done(vm, false, 0, "unit stopped");
        ASSERT_EQ(vm->state, VIM_VM_OFF);

        /* a provider error: failed, with the reason kept for the dashboard */
        ASSERT_OK(vim_power_on(vm, "test", "again"));
        vim_power_done(vm, true, -EIO, "start job of vm3.service: failed");
        ASSERT_EQ(vm->state, VIM_VM_FAILED);
        ASSERT_STREQ(vm->failure, "start job of vm3.service: failed");
        /* a call that cannot start fails at once */
        fail_with = -ECONNREFUSED;
        ASSERT_EQ(vim_power_on(vm, "test", "again"), -ECONNREFUSED);
        ASSERT_EQ(vm->state, VIM_VM_FAILED);
        fail_with = 0;
        manager_free(m);
}

TEST(power_on_deadline_fails_the_vm) {
        VimManager *m = manager();
        VimVm *vm = declared(m, "vm3", 4);

        vm->config->power_on_timeout = 20 * USEC_PER_MSEC;
        ASSERT_OK(vim_power_on(vm, "test", "by hand"));
        while (vm->state == VIM_VM_BOOTING)
                ASSERT_TRUE(sd_event_run(m->event, USEC_PER_SEC) > 0);
        ASSERT_EQ(vm->state, VIM_VM_FAILED);
        ASSERT_TRUE(strstr(vm->failure, "did not register"));
        manager_free(m);
}

TEST(demand_boots_the_next_off_vm_once) {
        VimManager *m = manager();
        VimVm *a = up(m, "vm1", 4), *b = declared(m, "vm2", 4), *c = declared(m, "vm3", 4);
        usec_t t = 100 * USEC_PER_SEC;

        n_on = 0;
        fail_with = 0;
        m->policy.vm_headroom = 1;
        /* 2 desired on 4 slots: nothing to do */
        m->desired = 2;
        vim_power_check_demand(m, t);
        ASSERT_EQ(b->state, VIM_VM_OFF);
        /* growing by one a second, 2 s of boot ahead: projected past the 4 slots */
        for (unsigned i = 1; i <= 2; i++) {
                m->desired = 2 + i;
                vim_power_check_demand(m, t + i * USEC_PER_SEC);
        }
        ASSERT_EQ(b->state, VIM_VM_BOOTING);
        ASSERT_EQ(c->state, VIM_VM_OFF);
        ASSERT_EQ(n_on, 1);
        /* vm2's capacity counts as coming: a demand of 4 that stopped growing boots nothing more */
        for (unsigned i = 3; i < 40; i++)
                vim_power_check_demand(m, t + i * USEC_PER_SEC);
        ASSERT_EQ(c->state, VIM_VM_OFF);
        /* vm2 fails: the next one is tried */
        vim_power_done(b, true, -EIO, "start job: failed");
        m->desired = 8;
        vim_power_check_demand(m, t + 41 * USEC_PER_SEC);
        ASSERT_EQ(c->state, VIM_VM_BOOTING);
        ASSERT_EQ(a->state, VIM_VM_ACTIVE);
        manager_free(m);
}

TEST(dry_run_decides_but_changes_nothing) {
        VimManager *m = manager();
        VimVm *b;

        up(m, "vm1", 2);
        b = declared(m, "vm2", 4);
        n_on = 0;
        m->policy.dry_run = true;
        m->desired = 2;
        vim_power_check_demand(m, USEC_PER_SEC);
        ASSERT_EQ(b->state, VIM_VM_OFF);
        ASSERT_EQ(n_on, 0);
        ASSERT_STREQ(b->dry_run_said, "vm-power-on");
        manager_free(m);
}

TEST(min_active_vms_boots_without_demand) {
        VimManager *m = manager();
        VimVm *b = declared(m, "vm1", 4);

        m->settings.min_active_vms = 1;
        m->desired = 0;
        vim_power_check_demand(m, USEC_PER_SEC);
        ASSERT_EQ(b->state, VIM_VM_BOOTING);
        manager_free(m);
}

TEST(start_up_waits_one_boot_time_for_agent_vms_with_keys) {
        VimManager *m = manager();
        char dir[] = "/tmp/test-vim-vm-tier-XXXXXX", path[64];
        VimVm *b = declared(m, "vm3", 4), *a;
        usec_t wait_ends;

        ASSERT_TRUE(mkdtemp(dir));
        (void) snprintf(path, sizeof(path), "%s/vm1.key", dir);
        ASSERT_OK(acs_psk_write_file(path, (const uint8_t[ACS_PSK_SIZE]) { 1 }));
        m->settings.key_directory = strdup(dir);
        m->settings.min_active_vms = 1;
        m->desired = 0;
        wait_ends = m->started + m->settings.grace_period + 2 * USEC_PER_SEC;

        /* vm1 has a key and has not registered yet: coming, so vm3 stays off */
        vim_power_check_demand(m, m->settings.grace_period + USEC_PER_SEC);
        ASSERT_EQ(b->state, VIM_VM_OFF);
        /* vm1 registers: MinActiveVms holds without vm3 */
        a = up(m, "vm1", 2);
        vim_power_check_demand(m, wait_ends - 1);
        ASSERT_EQ(b->state, VIM_VM_OFF);
        /* vm1 goes away again after the wait: vm3 is powered on */
        vim_vm_free(a);
        vim_power_check_demand(m, wait_ends);
        ASSERT_EQ(b->state, VIM_VM_BOOTING);

        ASSERT_OK(unlink(path));
        ASSERT_OK(rmdir(dir));
        free(m->settings.key_directory);
        m->settings.key_directory = NULL;
        manager_free(m);
}

TEST(an_agent_vm_that_never_registers_delays_power_on_by_one_boot_time) {
        VimManager *m = manager();
        VimVm *b = declared(m, "vm3", 4), *a = vim_vm_new(m, "vm1");

        ASSERT_TRUE(a);
        ASSERT_OK(vim_vm_config_load_string("vm1", "[VM]\nProvider=agent\n", &a->config));
        a->state = VIM_VM_UNREACHABLE;
        m->settings.min_active_vms = 1;
        vim_power_check_demand(m, m->settings.grace_period);
        ASSERT_EQ(b->state, VIM_VM_OFF);
        vim_power_check_demand(m, m->settings.grace_period + 2 * USEC_PER_SEC);
        ASSERT_EQ(b->state, VIM_VM_BOOTING);
        manager_free(m);
}

ACS_TEST_MAIN();
