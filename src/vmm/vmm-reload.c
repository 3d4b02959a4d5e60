/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP, `systemctl reload acs-vmm`: vmm.conf is read again. The local policy ([Policy]), the
 * drain, stop and readiness times, the sampling interval and what acs-web is told ([Web], for
 * containers made from then on) are read where they are used, so they change at once; anything else (the VM's name, capacity, ports, Docker, the VIM's address
 * and key) is bound at start and is logged as needing a restart.
 */
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-manager.h"

static bool item_is_live(const AcsConfigItem *item) {
        return streq(item->section, "Policy") || streq(item->section, "Monitor") || streq(item->section, "Web") ||
               (streq(item->section, "Docker") &&
                (streq(item->key, "DrainTime") || streq(item->key, "StopTimeout") || streq(item->key, "ReadyTimeout")));
}

int vmm_manager_reload(void *userdata) {
        AcsConfigError error = {};
        VmmManager *m = userdata;
        VmmSettings fresh;
        unsigned applied = 0, pending = 0;
        int r;

        r = vmm_settings_init(&fresh);
        if (r < 0)
                return log_oom();
        r = vmm_settings_load(&fresh, m->config_path, m->config_missing_ok, &error);
        if (r < 0) {
                log_error("Keeping the running configuration: %s", strna(error.message));
                acs_config_error_done(&error);
                vmm_settings_done(&fresh);
                return r;
        }
        for (const AcsConfigItem *item = vmm_config_table; item->key; item++) {
                if (acs_config_item_equal(item, &m->settings, &fresh))
                        continue;
                if (item_is_live(item) && acs_config_item_swap(item, &m->settings, &fresh) >= 0) {
                        log_info("vmm.conf: [%s] %s= applied.", item->section, item->key);
                        applied++;
                } else {
                        log_notice("vmm.conf: [%s] %s= changed; it takes effect at the next restart.",
                                   item->section, item->key);
                        pending++;
                }
        }
        vmm_settings_done(&fresh);
        log_event(LOG_NOTICE, "reload", m->settings.name, NULL, "Reloaded %s: %u change(s) applied, %u need a restart.",
                  m->config_path, applied, pending);
        return 0;
}
