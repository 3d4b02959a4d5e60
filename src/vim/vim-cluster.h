/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * acs-vim in high availability on etcd ([Cluster] Store=etcd): leader election by lease, state
 * written by the leader (vim-cluster.c). Without a cluster store every function here answers
 * as for a VIM alone: always the leader.
 */

#include <stdbool.h>

typedef struct VimManager VimManager;
typedef struct VimCluster VimCluster;

typedef enum VimRole {
        VIM_ROLE_ALONE,
        VIM_ROLE_STANDBY,
        VIM_ROLE_LEADER,
} VimRole;

const char *vim_role_to_string(VimRole role);

/* Starts campaigning; takes agent_fd (the socket-activated agent socket, or -1). */
int vim_cluster_start(VimManager *m, int agent_fd);
VimCluster *vim_cluster_free(VimCluster *c);

/* May this VIM give orders now? Alone: yes. In a cluster: only while it leads and its lease
 * certainly holds. */
bool vim_manager_is_leader(VimManager *m);
VimRole vim_manager_role(VimManager *m);
/* The leader's agent address ("" while unknown). */
const char *vim_manager_leader_address(VimManager *m);

/* The backend set changed: the leader writes it to the store. */
void vim_cluster_backends_changed(VimManager *m);
/* The replica count to hold may have changed: the leader writes it when it did. */
void vim_cluster_state_changed(VimManager *m);
/* Whether every VM that was up at the previous leader has registered again: a new leader then
 * decides without waiting out the rest of GracePeriod=. */
bool vim_cluster_model_complete(VimManager *m);
/* The count a previous leader held, once, for the first decision after taking the lead. */
bool vim_cluster_take_stored_desired(VimManager *m, unsigned *ret);
