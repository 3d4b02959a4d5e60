/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The run-time changes of acs-vim that outlive a restart (vim-state.c): the policy, the count an
 * operator set and the VMs' power decisions, in [State] Directory= (systemd's $STATE_DIRECTORY,
 * /var/lib/acs, by default).
 */

#include <json-c/json.h>

#include "acs-policy.h"

typedef struct VimManager VimManager;

/* Restores the saved policy over the one vim.conf gave, the count an operator set and the power
 * decisions of the declared VMs; a missing file is no error, a bad one is refused (logged). */
int vim_state_load(VimManager *m);
/* Saves all of it; a failure is logged and otherwise ignored. */
void vim_state_save(VimManager *m);
/* The count an operator set (while it is held), "scaled", and the power decisions, "power",
 * added to o: what the state file and the cluster store share beside the policy. */
int vim_state_add_runtime(VimManager *m, json_object *o);
/* Whether o's "scaled" and "power" are well formed (absent is fine); -EBADMSG/-ERANGE if not. */
int vim_state_check_runtime(json_object *o);
/* Takes them over (checked first; VMs not declared here with a power provider are logged and
 * skipped); source says where they come from, for the log. */
void vim_state_apply_runtime(VimManager *m, json_object *o, const char *source);
/* Applies to the running policy the keys whose value differs between two policies of vim.conf;
 * returns them in *ret_changed (may be NULL). */
int vim_policy_reapply_config(VimManager *m, const AcsPolicy *old_config, const AcsPolicy *new_config,
                              json_object **ret_changed);
/* Rereads vim.conf (SIGHUP): the policy keys it changes and the other [Scaling] keys and
 * [Agents] GracePeriod= apply at once; anything else is logged as needing a restart. */
int vim_manager_reload(void *userdata);
