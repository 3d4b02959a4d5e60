/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pre-shared keys of the VMM <-> VIM link. A key is 32 random bytes; a key file holds them as
 * exactly 64 hex digits, optionally followed by one newline, and must not be readable or
 * writable by group or others (mode 0600 or stricter), since whoever reads it can pose as
 * that VM. The VIM keeps one file per VM, <AgentKeyDirectory>/<vm>.key; a VMM its own.
 */

#include <stdint.h>

#define ACS_PSK_SIZE 32
#define ACS_PSK_HEX_SIZE (ACS_PSK_SIZE * 2)

/*
 * Reads a key file. Returns 0, or:
 *   -EPERM    the file is accessible by group or others (its mode is too open)
 *   -EBADMSG  the contents are not exactly 64 hex digits and an optional newline
 *   -ENOENT and other negative errno from open()/read()
 */
int acs_psk_read_file(const char *path, uint8_t ret_key[static ACS_PSK_SIZE]);

/* Writes a key file with mode 0600, atomically (temporary file + rename). */
int acs_psk_write_file(const char *path, const uint8_t key[static ACS_PSK_SIZE]);

/* Fills key with bytes from the kernel's random generator. */
int acs_psk_generate(uint8_t ret_key[static ACS_PSK_SIZE]);

/*
 * Reads <dir>/<vm>.key. Returns -EINVAL when vm is not a valid VM name (so a name can never
 * reach outside dir), otherwise as acs_psk_read_file().
 */
int acs_psk_read_from_directory(const char *dir, const char *vm, uint8_t ret_key[static ACS_PSK_SIZE]);

/* A short description of an error of the functions above, for log lines. */
const char *acs_psk_strerror(int r);
