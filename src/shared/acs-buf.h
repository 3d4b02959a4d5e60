/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A growable byte buffer with a read offset: bytes are appended at the end and consumed from
 * the front, as stream I/O needs. A buffer may have a hard size limit (max); growing past it
 * fails with -ENOBUFS instead of allocating, so a peer cannot make us allocate without bound.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "acs-macro.h"

typedef struct AcsBuf {
        uint8_t *data;
        size_t start;   /* first unread byte */
        size_t end;     /* one past the last byte */
        size_t alloc;
        size_t max;     /* 0 = no limit */
} AcsBuf;

static inline size_t acs_buf_len(const AcsBuf *b) {
        return b->end - b->start;
}

static inline const uint8_t *acs_buf_peek(const AcsBuf *b) {
        return b->data ? b->data + b->start : (const uint8_t *) "";
}

void acs_buf_done(AcsBuf *b);
/* Makes room for at least n more bytes at the end; returns the write pointer or NULL (-ENOBUFS
 * or -ENOMEM in *ret_error when given). */
uint8_t *acs_buf_reserve(AcsBuf *b, size_t n, int *ret_error);
/* Declares n bytes written at the pointer acs_buf_reserve() returned. */
void acs_buf_commit(AcsBuf *b, size_t n);
int acs_buf_append(AcsBuf *b, const void *p, size_t n);
int acs_buf_append_str(AcsBuf *b, const char *s);
int acs_buf_printf(AcsBuf *b, const char *format, ...) _printf_(2, 3);
int acs_buf_vprintf(AcsBuf *b, const char *format, va_list ap);
/* Drops n bytes from the front. */
void acs_buf_consume(AcsBuf *b, size_t n);
void acs_buf_clear(AcsBuf *b);
/* Returns the contents as a NUL-terminated string that the caller owns; the buffer is left empty. */
char *acs_buf_steal_string(AcsBuf *b);
