/* SPDX-License-Identifier: MIT */
/*
 * The sync with Docker's listing when the Engine comes up, at start or after an outage: what runs
 * and carries our labels is adopted (a restart of the agent changes nothing), what Docker no
 * longer has is forgotten, what died while we were away is cleared so that reconcile replaces it.
 */
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vmm-docker.h"
#include "vmm-engine.h"
#include "vmm-manager.h"

/* Forgets the containers Docker no longer lists. */
static void sync_forget_unlisted(VmmManager *m, json_object *containers) {
        size_t n = json_object_array_length(containers);

        for (VmmContainer *c = m->containers, *next; c; c = next) {
                bool listed = false;

                next = c->containers_next;
                if (!c->id)
                        continue;
                for (size_t i = 0; i < n && !listed; i++) {
                        json_object *id = json_get_path(json_object_array_get_idx(containers, i), "Id", NULL);
                        listed = id && streq(json_object_get_string(id), c->id);
                }
                if (!listed) {
                        log_event(LOG_WARNING, "container-lost", m->settings.name, c->id,
                                  "Container %.12s is gone from Docker.", c->id);
                        vmm_container_free(c);
                }
        }
}

/* Takes over a running container we did not know (a restart of the agent): its port is in our
 * label. Returns whether it was adopted. */
static bool sync_adopt(VmmManager *m, const char *id, json_object *port_label) {
        unsigned port = port_label ? (unsigned) strtoul(json_object_get_string(port_label), NULL, 10) : 0;
        VmmContainer *c;
        int r;

        if (port == 0 || port > 65535) {
                log_warning("Container %.12s carries no valid %s label, leaving it alone.", id, VMM_LABEL_PORT);
                return false;
        }
        r = vmm_container_new(m, id, port, VMM_CONTAINER_STARTING, &c);
        if (r < 0) {
                log_oom();
                return false;
        }
        log_event(LOG_INFO, "container-adopted", m->settings.name, id, "Adopted running container %.12s on port %u.",
                  id, port);
        if (!m->backends_known) {
                c->adopting = true;
                m->n_adopting++;
        }
        vmm_container_inspect(c);
        return true;
}

/* One entry of the listing: clears a dead container, settles one we know, adopts one we do not.
 * Returns whether it runs for us now. */
static bool sync_container(VmmManager *m, json_object *entry) {
        json_object *id = json_get_path(entry, "Id", NULL), *state = json_get_path(entry, "State", NULL);
        const char *cid;
        VmmContainer *c;
        int r;

        if (!id || !state || !json_object_is_type(id, json_type_string))
                return false;
        cid = json_object_get_string(id);
        c = vmm_manager_find_container(m, cid);

        if (!streq(json_object_get_string(state), "running")) {
                /* Exited, dead or never started: a crashed one; clear it and start a fresh one. */
                log_event(LOG_NOTICE, "container-died", m->settings.name, cid, "Container %.12s is %s, removing it.",
                          cid, json_object_get_string(state));
                vmm_container_free(c);
                r = vmm_docker_remove_container(vmm_engine_docker(m->engine), cid, NULL, NULL);
                if (r < 0)
                        log_error_errno(r, "Failed to remove container %.12s: %m", cid);
                return false;
        }
        if (!c)
                return sync_adopt(m, cid, json_get_path(entry, "Labels", VMM_LABEL_PORT, NULL));
        if (c->removing) {
                vmm_container_finish_removal(c);        /* cut short by an outage */
                return false;
        }
        /* An outage came between its start and our look at it. */
        if (c->pid == 0)
                vmm_container_inspect(c);
        return true;
}

unsigned vmm_sync_containers(VmmManager *m, json_object *containers) {
        size_t n = json_object_array_length(containers);
        unsigned running = 0;

        sync_forget_unlisted(m, containers);
        for (size_t i = 0; i < n; i++)
                running += sync_container(m, json_object_array_get_idx(containers, i));
        return running;
}
