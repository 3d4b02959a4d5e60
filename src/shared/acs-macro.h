/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The few helpers every ACS file wants and libc does not give: scope-bound cleanup,
 * ownership transfer, array sizes, string equality. Modelled on systemd's macro.h,
 * written against the public toolchain only.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define CLAMP(x, lo, hi) MIN(MAX((x), (lo)), (hi))

/* Hand the pointer over to the caller and leave NULL behind, so the cleanup does nothing. */
#define TAKE_PTR(p)                       \
        ({                                \
                typeof(p) *_pp_ = &(p);   \
                typeof(p) _p_ = *_pp_;    \
                *_pp_ = NULL;             \
                _p_;                      \
        })

#define TAKE_FD(fd)                       \
        ({                                \
                int *_pfd_ = &(fd);       \
                int _fd_ = *_pfd_;        \
                *_pfd_ = -1;              \
                _fd_;                     \
        })

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void strv_freep(char ***l) {
        if (!*l)
                return;
        for (char **i = *l; *i; i++)
                free(*i);
        free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Declares `funcp(type *)` that calls `func(*p)` when *p is non-NULL, for _cleanup_(funcp). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)          \
        static inline void func##p(type *p) {            \
                if (*p)                                  \
                        (void) func(*p);                 \
        }

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

static inline const char *yes_no(bool b) {
        return b ? "yes" : "no";
}

/* Returns the part of s after prefix, or NULL if s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* Negative errno from a libc call that set errno; never 0, so callers can `return -errno_or_eio()`. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* Value of one hexadecimal digit, or -1: shared by the PSK reader and the proxy's chunk lines. */
static inline int acs_hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}
