/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The command-line options every ACS program on the bus spells the same way (the daemons through
 * acs-daemon.c, acsctl): --help, --version, --log-level, --bus, --bus-address. A program lists
 * ACS_COMMON_OPTIONS in its getopt table, numbers its own options from _ACS_ARG_COMMON_END, prints
 * its own --help, and hands every other option to acs_options_common().
 */

#include <getopt.h>

enum {
        ACS_ARG_VERSION = 0x100,
        ACS_ARG_LOG_LEVEL,
        ACS_ARG_BUS,
        ACS_ARG_BUS_ADDRESS,
        _ACS_ARG_COMMON_END,
};

#define ACS_COMMON_OPTIONS                                                      \
        { "help",        no_argument,       NULL, 'h'                 },        \
        { "version",     no_argument,       NULL, ACS_ARG_VERSION     },        \
        { "log-level",   required_argument, NULL, ACS_ARG_LOG_LEVEL   },        \
        { "bus",         required_argument, NULL, ACS_ARG_BUS         },        \
        { "bus-address", required_argument, NULL, ACS_ARG_BUS_ADDRESS }

/* What acs_options_common() says besides an error. */
enum {
        ACS_OPTION_DONE = 0,            /* --version printed: nothing left to do */
        ACS_OPTION_HANDLED = 1,
        ACS_OPTION_UNKNOWN = 2,         /* none of the common ones (or getopt's '?') */
};

/* Handles c when it is a common option other than --help. *bus_address gets what acs_bus_open()
 * takes: NULL for the system bus, "user", or the address given. Errors are logged. */
int acs_options_common(int c, const char *arg, const char *program, const char **bus_address);
