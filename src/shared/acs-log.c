/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-string-table.h"

static int log_max_level = LOG_INFO;
static AcsLogTarget log_target = ACS_LOG_TARGET_AUTO;
static bool log_journal_detected = false;
static AcsLogJournalSink log_journal_sink = NULL;
static AcsLogEventHook log_event_hook = NULL;
static void *log_event_hook_userdata = NULL;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",  [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

DEFINE_STRING_TABLE_TO_STRING(log_level, int, level_names);

const char *log_untrusted(const char *s, size_t len, char buf[static LOG_UNTRUSTED_MAX + 4]) {
        size_t n = 0;

        for (; s && n < len && n < LOG_UNTRUSTED_MAX && s[n]; n++)
                buf[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
        if (s && n < len && s[n])
                buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
        buf[n] = 0;
        return buf;
}

int log_level_from_string(const char *s) {
        int level;

        if (!s || !*s)
                return -EINVAL;
        level = string_table_lookup_from_string(level_names, ELEMENTSOF(level_names), s);
        if (level >= 0)
                return level;
        if (streq(s, "error"))
                return LOG_ERR;
        if (streq(s, "warn"))
                return LOG_WARNING;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

/* systemd sets JOURNAL_STREAM=dev:ino for the stream it connected; if that is our stderr, the
 * journal is listening and we can send it structured fields directly. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(void) {
        const char *e = getenv("ACS_LOG_LEVEL");

        if (e) {
                int l = log_level_from_string(e);
                if (l >= 0)
                        log_max_level = l;
                else
                        fprintf(stderr, "warning: ACS_LOG_LEVEL=%s is not a log level, ignoring.\n", e);
        }
        log_journal_detected = stderr_is_journal();
}

void log_set_journal_sink(AcsLogJournalSink sink) {
        log_journal_sink = sink;
}

void log_set_target(AcsLogTarget target) {
        log_target = target;
}

AcsLogTarget log_get_target(void) {
        if (log_target == ACS_LOG_TARGET_AUTO)
                return log_journal_detected ? ACS_LOG_TARGET_JOURNAL : ACS_LOG_TARGET_CONSOLE;
        return log_target;
}

int log_set_max_level_from_option(const char *value) {
        int level = log_level_from_string(value);

        if (level < 0)
                return log_error_errno(EINVAL, "--log-level=%s: expected debug, info, notice, warning or err", value);
        log_set_max_level(level);
        return 0;
}

void log_set_max_level(int level) {
        log_max_level = CLAMP(level, LOG_EMERG, LOG_DEBUG);
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_set_event_hook(AcsLogEventHook hook, void *userdata) {
        log_event_hook = hook;
        log_event_hook_userdata = userdata;
}

static void log_write_journal(int level, int error, const char *vm, const char *container,
                              const char *event, const char *file, int line, const char *func,
                              const char *message) {
        char f_msg[8192], f_prio[32], f_errno[32], f_file[512], f_line[32], f_func[256];
        char f_vm[256], f_ct[256], f_ev[128];
        struct iovec iov[10];
        size_t n = 0;

#define ADD(buf, ...)                                                   \
        do {                                                            \
                int _l = snprintf(buf, sizeof(buf), __VA_ARGS__);       \
                if (_l < 0)                                             \
                        break;                                          \
                iov[n++] = (struct iovec) { buf, MIN((size_t) _l, sizeof(buf) - 1) }; \
        } while (0)

        ADD(f_msg, "MESSAGE=%s", message);
        ADD(f_prio, "PRIORITY=%d", level);
        if (error != 0)
                ADD(f_errno, "ERRNO=%d", error);
        ADD(f_file, "CODE_FILE=%s", file);
        ADD(f_line, "CODE_LINE=%d", line);
        ADD(f_func, "CODE_FUNC=%s", func);
        if (vm)
                ADD(f_vm, "ACS_VM=%s", vm);
        if (container)
                ADD(f_ct, "ACS_CONTAINER=%s", container);
        if (event)
                ADD(f_ev, "ACS_EVENT=%s", event);
#undef ADD

        if (!log_journal_sink || log_journal_sink(iov, (int) n) < 0)
                fprintf(stderr, "<%d>%s\n", level, message);
}

static void log_write_console(int level, const char *vm, const char *container, const char *event,
                              const char *message) {
        char prefix[512] = "";
        int l = 0;

        /* Keep the structured fields visible when running by hand: they are what a person greps. */
        if (event)
                l += snprintf(prefix + l, sizeof(prefix) - l, "[%s] ", event);
        if (vm && l < (int) sizeof(prefix))
                l += snprintf(prefix + l, sizeof(prefix) - l, "vm=%s ", vm);
        if (container && l < (int) sizeof(prefix))
                (void) snprintf(prefix + l, sizeof(prefix) - l, "container=%.12s ", container);

        fprintf(stderr, "%s: %s%s\n", strna(log_level_to_string(level)), prefix, message);
}

int log_internal(int level, int error, const char *vm, const char *container, const char *event,
                 const char *file, int line, const char *func, const char *format, ...) {
        char message[4096];
        va_list ap;
        int saved_errno = errno;

        if (error < 0)
                error = -error;

        if (level > log_max_level && !(event && log_event_hook))
                return -error;

        /* %m prints strerror(errno); point it at the error we were handed. */
        errno = error;
        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);

        if (level <= log_max_level) {
                if (log_get_target() == ACS_LOG_TARGET_JOURNAL)
                        log_write_journal(level, error, vm, container, event, file, line, func, message);
                else
                        log_write_console(level, vm, container, event, message);
        }

        if (event && log_event_hook)
                log_event_hook(level, event, vm, container, message, log_event_hook_userdata);

        errno = saved_errno;
        return -error;
}
