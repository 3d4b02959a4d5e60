/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Logging for every ACS binary. When stderr is connected to journald (JOURNAL_STREAM names
 * our stderr), each line goes to the journal with structured fields: MESSAGE=, PRIORITY=,
 * ERRNO=, CODE_*=, and ACS_VM=, ACS_CONTAINER=, ACS_EVENT= when given, so that
 * `journalctl -u acs-vim ACS_EVENT=scale-out` answers "when did it scale and why".
 * Otherwise a line "<level>: message" goes to stderr.
 *
 * This file is part of the libsystemd-free base (acs-web links it into a static binary): the
 * journal is reached through a sink that log_setup_journal() (acs-log-journal.c, in the
 * library with libsystemd) sets to sd_journal_sendv(). Without a sink, a line meant for the
 * journal goes to stderr with its syslog priority prefix, which journald reads as well.
 *
 * The log_*_errno() helpers return the negative errno they were given, so a handler can log
 * and return in one step:  return log_error_errno(r, "Failed to bind %s: %m", addr);
 * %m prints the error string of that errno.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>
#include <syslog.h>

typedef enum AcsLogTarget {
        ACS_LOG_TARGET_AUTO,    /* journal when JOURNAL_STREAM matches stderr, else console */
        ACS_LOG_TARGET_CONSOLE,
        ACS_LOG_TARGET_JOURNAL,
} AcsLogTarget;

/* Called for every message that carries an ACS_EVENT, after it was logged (the VIM feeds its
 * event stream from it). message is the formatted MESSAGE text. */
typedef void (*AcsLogEventHook)(int level, const char *event, const char *vm, const char *container,
                                const char *message, void *userdata);

/* Reads ACS_LOG_LEVEL and JOURNAL_STREAM from the environment; call once at start. */
void log_setup(void);
/* log_setup() with sd_journal_sendv() as the journal sink: what every program linking
 * libsystemd calls instead. */
void log_setup_journal(void);
typedef int (*AcsLogJournalSink)(const struct iovec *iov, int n);
void log_set_journal_sink(AcsLogJournalSink sink);
void log_set_target(AcsLogTarget target);
AcsLogTarget log_get_target(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "notice", "warning", "err"/"error", "crit", "alert", "emerg" or 0..7. */
int log_level_from_string(const char *s);
/* --log-level=VALUE of every program: sets the level, or logs what was expected and returns -EINVAL. */
int log_set_max_level_from_option(const char *value);
const char *log_level_to_string(int level);
void log_set_event_hook(AcsLogEventHook hook, void *userdata);

int log_internal(int level, int error, const char *vm, const char *container, const char *event,
                 const char *file, int line, const char *func, const char *format, ...)
        __attribute__((format(printf, 9, 10)));

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), NULL, NULL, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)

/* A message with structured ACS fields; vm, container and event may be NULL. Returns -|error|. */
#define log_struct_errno(level, error, event, vm, container, ...) \
        log_internal((level), (error), (vm), (container), (event), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_event(level, event, vm, container, ...) \
        (void) log_struct_errno((level), 0, (event), (vm), (container), __VA_ARGS__)

/* Untrusted text (a name offered by a peer, a file name) made fit for a log line: at most
 * len bytes of s, each byte outside printable ASCII written as '?', and "..." when cut, so that
 * the line stays one line and cannot fake journal fields or terminal escapes. Returns buf. */
#define LOG_UNTRUSTED_MAX 80
const char *log_untrusted(const char *s, size_t len, char buf[static LOG_UNTRUSTED_MAX + 4]);

/* Out of memory: logged at LOG_ERR, returns -ENOMEM. */
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
