/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A minimal unit-test harness: TEST(name) { ... } registers a test; ASSERT_*() abort the whole
 * binary with the file, line and values on failure (meson reports the failed binary).
 * End the file with ACS_TEST_MAIN().
 */

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct AcsTest {
        const char *name;
        void (*func)(void);
} AcsTest;

/* A binary registering more tests than this fails as a whole instead of dropping the rest. */
#define ACS_TEST_MAX 256
static AcsTest acs_tests[ACS_TEST_MAX];
static unsigned acs_n_tests;
static unsigned acs_n_tests_refused;

#define TEST(name)                                                                   \
        static void test_##name(void);                                               \
        __attribute__((constructor)) static void test_register_##name(void) {        \
                if (acs_n_tests < ACS_TEST_MAX)                                      \
                        acs_tests[acs_n_tests++] = (AcsTest) { #name, test_##name }; \
                else                                                                 \
                        acs_n_tests_refused++;                                       \
        }                                                                            \
        static void test_##name(void)

#define ACS_TEST_FAIL(...)                                                           \
        do {                                                                         \
                fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                \
                fprintf(stderr, __VA_ARGS__);                                        \
                fputc('\n', stderr);                                                 \
                abort();                                                             \
        } while (0)

#define ASSERT_TRUE(x)                                                               \
        do {                                                                         \
                if (!(x))                                                            \
                        ACS_TEST_FAIL("expected true: %s", #x);                      \
        } while (0)
#define ASSERT_FALSE(x) ASSERT_TRUE(!(x))

#define ASSERT_EQ(a, b)                                                              \
        do {                                                                         \
                long long _a = (long long) (a), _b = (long long) (b);                \
                if (_a != _b)                                                        \
                        ACS_TEST_FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b);     \
        } while (0)

#define ASSERT_OK(r)                                                                 \
        do {                                                                         \
                long long _r = (long long) (r);                                      \
                if (_r < 0)                                                          \
                        ACS_TEST_FAIL("%s failed: %lld (%s)", #r, _r, strerror((int) -_r)); \
        } while (0)

#define ASSERT_STREQ(a, b)                                                           \
        do {                                                                         \
                const char *_a = (a), *_b = (b);                                     \
                if (!_a || !_b || strcmp(_a, _b) != 0)                               \
                        ACS_TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,          \
                                      _a ? _a : "(null)", _b ? _b : "(null)");       \
        } while (0)

#define ASSERT_NEAR(a, b, eps)                                                       \
        do {                                                                         \
                double _a = (double) (a), _b = (double) (b);                         \
                if (!(_a - _b <= (eps) && _b - _a <= (eps)))                         \
                        ACS_TEST_FAIL("%s ~= %s: %g vs %g", #a, #b, _a, _b);         \
        } while (0)

#define ACS_TEST_MAIN()                                                              \
        int main(int argc, char **argv) {                                            \
                unsigned run = 0;                                                    \
                if (acs_n_tests_refused > 0) {                                       \
                        fprintf(stderr, "%u tests beyond ACS_TEST_MAX=%u: raise it\n", \
                                acs_n_tests_refused, ACS_TEST_MAX);                  \
                        return 1;                                                    \
                }                                                                    \
                for (unsigned _i = 0; _i < acs_n_tests; _i++) {                      \
                        if (argc > 1 && strcmp(argv[1], acs_tests[_i].name) != 0)    \
                                continue;                                            \
                        fprintf(stderr, "== %s\n", acs_tests[_i].name);              \
                        acs_tests[_i].func();                                        \
                        run++;                                                       \
                }                                                                    \
                fprintf(stderr, "%u tests passed\n", run);                           \
                return run > 0 ? 0 : 1;                                              \
        }
