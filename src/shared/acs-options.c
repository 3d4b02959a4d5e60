/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "acs-bus.h"
#include "acs-log.h"
#include "acs-options.h"

int acs_options_common(int c, const char *arg, const char *program, const char **bus_address) {
        int r;

        switch (c) {
        case ACS_ARG_VERSION:
                printf("%s %s\n", program, ACS_VERSION);
                return ACS_OPTION_DONE;
        case ACS_ARG_LOG_LEVEL:
                r = log_set_max_level_from_option(arg);
                break;
        case ACS_ARG_BUS:
                r = acs_bus_address_from_option(arg, bus_address);
                break;
        case ACS_ARG_BUS_ADDRESS:
                *bus_address = arg;
                r = 0;
                break;
        default:
                return ACS_OPTION_UNKNOWN;
        }
        return r < 0 ? r : ACS_OPTION_HANDLED;
}
