/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-test.h"

static char captured[4096];

/* Runs f with stderr sent to a temporary file and returns what it wrote. */
static const char *capture_stderr(void (*f)(void)) {
        char path[] = "/tmp/acs-test-log-XXXXXX";
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        ssize_t n;

        ASSERT_TRUE(fd >= 0 && saved >= 0);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        f();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        n = pread(fd, captured, sizeof(captured) - 1, 0);
        captured[n > 0 ? n : 0] = 0;
        close(fd);
        unlink(path);
        return captured;
}

static void log_some(void) {
        int r;

        log_info("plain %d", 1);
        log_debug("hidden at info");
        r = log_error_errno(ENOENT, "Failed to open %s: %m", "x.conf");
        if (r != -ENOENT)
                abort();
        r = log_warning_errno(-EPIPE, "peer gone: %m");
        if (r != -EPIPE)
                abort();
        log_event(LOG_NOTICE, "scale-out", "vm1", "0123456789abcdef", "3 -> 5");
}

TEST(console_lines) {
        const char *out;

        unsetenv("JOURNAL_STREAM");
        unsetenv("ACS_LOG_LEVEL");
        log_setup();
        ASSERT_EQ(log_get_target(), ACS_LOG_TARGET_CONSOLE);
        out = capture_stderr(log_some);
        ASSERT_STREQ(out,
                     "info: plain 1\n"
                     "err: Failed to open x.conf: No such file or directory\n"
                     "warning: peer gone: Broken pipe\n"
                     "notice: [scale-out] vm=vm1 container=0123456789ab 3 -> 5\n");
}

TEST(level_switch) {
        const char *out;

        setenv("ACS_LOG_LEVEL", "debug", 1);
        log_setup();
        ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
        out = capture_stderr(log_some);
        ASSERT_TRUE(strstr(out, "debug: hidden at info\n") != NULL);

        setenv("ACS_LOG_LEVEL", "err", 1);
        log_setup();
        out = capture_stderr(log_some);
        ASSERT_STREQ(out, "err: Failed to open x.conf: No such file or directory\n");

        ASSERT_EQ(log_level_from_string("warning"), LOG_WARNING);
        ASSERT_EQ(log_level_from_string("7"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("loud"), -EINVAL);
        ASSERT_OK(log_set_max_level_from_option("notice"));
        ASSERT_EQ(log_get_max_level(), LOG_NOTICE);
        ASSERT_EQ(log_set_max_level_from_option("loud"), -EINVAL);
        ASSERT_EQ(log_get_max_level(), LOG_NOTICE);
        unsetenv("ACS_LOG_LEVEL");
        log_set_max_level(LOG_INFO);
}

static int hook_calls;
static char hook_seen[512];

static void hook(int level, const char *event, const char *vm, const char *container, const char *message,
                 void *userdata) {
        hook_calls++;
        snprintf(hook_seen, sizeof(hook_seen), "%d %s %s %s %s", level, event, strna(vm), strna(container), message);
}

static void log_debug_event(void) {
        log_event(LOG_DEBUG, "scale-hold", "vm2", NULL, "held by window");
}

TEST(event_hook_sees_events_even_below_level) {
        log_set_max_level(LOG_INFO);
        log_set_event_hook(hook, NULL);
        ASSERT_STREQ(capture_stderr(log_some), captured); /* logs still written */
        ASSERT_EQ(hook_calls, 1);
        ASSERT_STREQ(hook_seen, "5 scale-out vm1 0123456789abcdef 3 -> 5");
        ASSERT_STREQ(capture_stderr(log_debug_event), "");
        ASSERT_EQ(hook_calls, 2);
        ASSERT_STREQ(hook_seen, "7 scale-hold vm2 n/a held by window");
        log_set_event_hook(NULL, NULL);
}

TEST(journal_detected_from_journal_stream) {
        struct stat st;
        char v[64];

        /* JOURNAL_STREAM naming our stderr means journald is on the other end. */
        ASSERT_EQ(fstat(STDERR_FILENO, &st), 0);
        snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        setenv("JOURNAL_STREAM", v, 1);
        log_setup();
        ASSERT_EQ(log_get_target(), ACS_LOG_TARGET_JOURNAL);
        setenv("JOURNAL_STREAM", "1:2", 1);
        log_setup();
        ASSERT_EQ(log_get_target(), ACS_LOG_TARGET_CONSOLE);
        unsetenv("JOURNAL_STREAM");
}

TEST(untrusted_text_stays_one_plain_line) {
        char buf[LOG_UNTRUSTED_MAX + 4], long_name[200];

        ASSERT_STREQ(log_untrusted("vm1", SIZE_MAX, buf), "vm1");
        ASSERT_STREQ(log_untrusted("vm\nACS_EVENT=x\x1b[2J\xc3\xa9", SIZE_MAX, buf), "vm?ACS_EVENT=x?[2J??");
        ASSERT_STREQ(log_untrusted("abcdef", 3, buf), "abc");      /* len bytes are all there is */
        ASSERT_STREQ(log_untrusted("abc", 3, buf), "abc");
        ASSERT_STREQ(log_untrusted(NULL, 3, buf), "");
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = 0;
        log_untrusted(long_name, SIZE_MAX, buf);
        ASSERT_EQ(strlen(buf), (size_t) LOG_UNTRUSTED_MAX + 3);
        ASSERT_TRUE(strcmp(buf + LOG_UNTRUSTED_MAX, "...") == 0);
}

ACS_TEST_MAIN()
