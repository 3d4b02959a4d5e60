/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-buf.h"

void acs_buf_done(AcsBuf *b) {
        free(b->data);
        *b = (AcsBuf) { .max = b->max };
}

uint8_t *acs_buf_reserve(AcsBuf *b, size_t n, int *ret_error) {
        size_t len = acs_buf_len(b), want;
        uint8_t *p;

        if (b->alloc - b->end >= n)
                return b->data + b->end;

        if (b->max > 0 && (n > b->max || len > b->max - n)) {
                if (ret_error)
                        *ret_error = -ENOBUFS;
                return NULL;
        }

        /* Slide unread bytes to the front before growing: consumed space is free space. */
        if (b->start > 0) {
                memmove(b->data, b->data + b->start, len);
                b->start = 0;
                b->end = len;
                if (b->alloc - b->end >= n)
                        return b->data + b->end;
        }

        want = MAX(b->alloc * 2, len + n);
        want = MAX(want, (size_t) 256);
        if (b->max > 0)
                want = MIN(want, b->max);
        p = realloc(b->data, want);
        if (!p) {
                if (ret_error)
                        *ret_error = -ENOMEM;
                return NULL;
        }
        b->data = p;
        b->alloc = want;
        return b->data + b->end;
}

void acs_buf_commit(AcsBuf *b, size_t n) {
        b->end += n;
}

int acs_buf_append(AcsBuf *b, const void *p, size_t n) {
        int r = 0;
        uint8_t *w;

        if (n == 0)
                return 0;
        w = acs_buf_reserve(b, n, &r);
        if (!w)
                return r;
        memcpy(w, p, n);
        acs_buf_commit(b, n);
        return 0;
}

int acs_buf_append_str(AcsBuf *b, const char *s) {
        return acs_buf_append(b, s, strlen(s));
}

int acs_buf_vprintf(AcsBuf *b, const char *format, va_list ap) {
        va_list aq;
        int n, r = 0;
        uint8_t *w;

        va_copy(aq, ap);
        n = vsnprintf(NULL, 0, format, aq);
        va_end(aq);
        if (n < 0)
                return -EINVAL;
        w = acs_buf_reserve(b, (size_t) n + 1, &r);
        if (!w)
                return r;
        (void) vsnprintf((char *) w, (size_t) n + 1, format, ap);
        acs_buf_commit(b, (size_t) n);
        return 0;
}

int acs_buf_printf(AcsBuf *b, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = acs_buf_vprintf(b, format, ap);
        va_end(ap);
        return r;
}

void acs_buf_consume(AcsBuf *b, size_t n) {
        b->start += MIN(n, acs_buf_len(b));
        if (b->start == b->end)
                b->start = b->end = 0;
}

void acs_buf_clear(AcsBuf *b) {
        b->start = b->end = 0;
}

char *acs_buf_steal_string(AcsBuf *b) {
        size_t len = acs_buf_len(b);
        char *s = malloc(len + 1);

        if (!s)
                return NULL;
        memcpy(s, acs_buf_peek(b), len);
        s[len] = 0;
        acs_buf_clear(b);
        return s;
}
