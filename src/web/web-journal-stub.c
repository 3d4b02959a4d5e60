/* SPDX-License-Identifier: MIT */
/*
 * acs-web is linked statically and runs in FROM scratch containers, where there is no
 * journal (and Debian ships no static libsystemd). It reuses acs-log.c, whose journal target
 * is only chosen when JOURNAL_STREAM names our stderr; should that ever happen, this stand-in
 * fails and acs-log.c prints the line to stderr instead.
 */
#include <errno.h>
#include <sys/uio.h>

int sd_journal_sendv(const struct iovec *iov, int n);

int sd_journal_sendv(const struct iovec *iov, int n) {
        return -ENOSYS;
}
