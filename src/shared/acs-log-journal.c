/* SPDX-License-Identifier: MIT */
/* The journal sink of acs-log.c, kept apart so that the logging itself needs no libsystemd. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "acs-log.h"

void log_setup_journal(void) {
        log_setup();
        log_set_journal_sink(sd_journal_sendv);
}
