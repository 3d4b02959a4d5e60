/* SPDX-License-Identifier: MIT */
/*
 * Prints the keys a daemon's configuration parser knows, one "Section Key" line each, read from
 * the parser's own table: the man page test compares them with what acs-*.conf(5) documents.
 *
 *   config-keys vim|vmm|proxy
 */
#include <stdio.h>
#include <string.h>

#include "proxy-settings.h"
#include "vim-config.h"
#include "vmm-config.h"

static const struct {
        const char *name;
        const AcsConfigItem *table;
} tables[] = {
        { "vim", vim_config_table },
        { "vmm", vmm_config_table },
        { "proxy", proxy_settings_table },
};

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "Usage: %s vim|vmm|proxy\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
                if (strcmp(argv[1], tables[i].name) != 0)
                        continue;
                for (const AcsConfigItem *item = tables[i].table; item->key; item++)
                        printf("%s %s\n", item->section, item->key);
                return 0;
        }
        fprintf(stderr, "Unknown configuration '%s'.\n", argv[1]);
        return 2;
}
