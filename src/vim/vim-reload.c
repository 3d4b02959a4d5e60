/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP, `systemctl reload acs-vim`: vim.conf is read again. What the scaler reads each time it
 * runs changes at once (every [Scaling] key, [Agents] GracePeriod=); the policy keys follow the
 * rule of vim-state.c (a key the file changes wins over a run-time change). Anything else is
 * bound at start (listening sockets, keys, the store, the buses) and is logged as needing a
 * restart; the running value stays.
 */
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-api.h"
#include "vim-manager.h"
#include "vim-policy.h"
#include "vim-state.h"

static bool item_is_live(const AcsConfigItem *item) {
        return streq(item->section, "Scaling") ||
               (streq(item->section, "Agents") && streq(item->key, "GracePeriod"));
}

/* Moves the live values of fresh into m->settings; returns how many needed a restart. */
static unsigned reload_take_settings(VimManager *m, VimSettings *fresh) {
        unsigned pending = 0;

        for (const AcsConfigItem *item = vim_config_table; item->key; item++) {
                if (acs_config_item_equal(item, &m->settings, fresh))
                        continue;
                if (!item_is_live(item) || acs_config_item_swap(item, &m->settings, fresh) < 0) {
                        log_notice("vim.conf: [%s] %s= changed; it takes effect at the next restart.", item->section,
                                   item->key);
                        pending++;
                }
        }
        return pending;
}

int vim_manager_reload(void *userdata) {
        _cleanup_(vim_json_putp) json_object *changed = NULL;
        VimManager *m = userdata;
        VimSettings fresh;
        AcsPolicy old_config, new_config;
        unsigned pending;
        int r;

        vim_settings_init(&fresh);
        r = vim_settings_load(&fresh, m->config_path, m->config_missing_ok);
        if (r < 0) {
                vim_settings_done(&fresh);
                return log_error_errno(r, "Keeping the running configuration: %m");
        }
        vim_settings_to_policy(&m->settings, &old_config);
        vim_settings_to_policy(&fresh, &new_config);
        r = vim_policy_reapply_config(m, &old_config, &new_config, &changed);
        if (r < 0) {
                vim_settings_done(&fresh);
                return log_error_errno(r, "Keeping the running configuration: %m");
        }
        pending = reload_take_settings(m, &fresh);
        vim_settings_done(&fresh);
        /* The rate limits are vim.conf's alone (no run-time change): take them as they are now. */
        vim_settings_to_policy(&m->settings, &new_config);
        m->policy.scale_up_limit = new_config.scale_up_limit;
        m->policy.scale_down_limit = new_config.scale_down_limit;

        /* The certificate files, read again: a renewed certificate needs no restart. */
        if (m->api && m->api->tls)
                (void) acs_tls_server_reload(m->api->tls);

        if (json_object_object_length(changed) > 0)
                vim_manager_policy_changed(m, "a reload of vim.conf");
        else
                vim_state_save(m);
        log_event(LOG_NOTICE, "reload", NULL, NULL, "Reloaded %s: %d policy key(s) changed%s.", m->config_path,
                  json_object_object_length(changed), pending > 0 ? ", some changes need a restart" : "");
        return 0;
}
