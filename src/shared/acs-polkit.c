/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "acs-polkit.h"

typedef struct PolkitQuery {
        sd_bus_message *call;
        char *action;
        char *what;
        AcsPolkitAuthorized authorized;
        void *userdata;
        uid_t uid;
} PolkitQuery;

static PolkitQuery *polkit_query_free(PolkitQuery *q) {
        if (!q)
                return NULL;
        sd_bus_message_unref(q->call);
        free(q->action);
        free(q->what);
        return mfree(q);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(PolkitQuery *, polkit_query_free);

static void polkit_query_destroy(void *userdata) {
        polkit_query_free(userdata);
}

/* Runs the change and answers the call when the change did not answer it itself. */
static int polkit_run_authorized(sd_bus_message *m, AcsPolkitAuthorized authorized, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = authorized(m, userdata, &error);
        if (r < 0 || sd_bus_error_is_set(&error)) {
                if (sd_bus_error_is_set(&error))
                        return sd_bus_reply_method_error(m, &error);
                return sd_bus_reply_method_errno(m, r, NULL);
        }
        return 0;
}

static int polkit_deny(PolkitQuery *q, bool no_polkit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        log_notice("Refused to %s for uid %u: %s.", q->what, (unsigned) q->uid,
                   no_polkit ? "no polkit on the bus, only root may" : "polkit said no");
        if (no_polkit)
                sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED,
                                  "Permission denied: you (uid %u) may not %s. No polkit authority is running on "
                                  "this bus, so only root may make this change (polkit action %s).",
                                  (unsigned) q->uid, q->what, q->action);
        else
                sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED,
                                  "Permission denied: you (uid %u) are not authorized to %s "
                                  "(polkit action %s). Ask an administrator to grant it.",
                                  (unsigned) q->uid, q->what, q->action);
        return sd_bus_reply_method_error(q->call, &error);
}

static int polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        const sd_bus_error *e;
        int authorized = 0, challenge = 0, r;

        e = sd_bus_message_get_error(reply);
        if (e) {
                /* No authority on the bus: the fallback is root only, and the caller is not root. */
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return polkit_deny(q, true);
                log_warning("polkit CheckAuthorization for %s failed: %s", q->action, strna(e->message));
                return sd_bus_reply_method_errorf(q->call, SD_BUS_ERROR_AUTH_FAILED,
                                                  "Could not check whether you may %s (polkit action %s): %s",
                                                  q->what, q->action, strna(e->message));
        }

        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
                log_warning_errno(r, "Malformed polkit reply for %s: %m", q->action);
                return sd_bus_reply_method_errorf(q->call, SD_BUS_ERROR_AUTH_FAILED,
                                                  "Could not check whether you may %s: malformed polkit reply",
                                                  q->what);
        }
        if (!authorized)
                return polkit_deny(q, false);

        return polkit_run_authorized(q->call, q->authorized, q->userdata);
}

int acs_polkit_check_async(sd_bus_message *m, const char *action, const char *what, AcsPolkitAuthorized authorized,
                           void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *req = NULL;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        _cleanup_(polkit_query_freep) PolkitQuery *q = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        sd_bus *bus = sd_bus_message_get_bus(m);
        const char *sender = sd_bus_message_get_sender(m);
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return sd_bus_error_set_errnof(ret_error, r, "Cannot tell who is calling: %m");

        if (uid == 0) {
                r = polkit_run_authorized(m, authorized, userdata);
                return r < 0 ? r : 1;
        }
        if (!sender)
                return sd_bus_error_set(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
                                        "Permission denied: a direct connection carries no identity to authorize.");

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (PolkitQuery) { .call = sd_bus_message_ref(m), .authorized = authorized, .userdata = userdata, .uid = uid };
        q->action = strdup(action);
        q->what = strdup(what);
        if (!q->action || !q->what)
                return -ENOMEM;

        r = sd_bus_message_new_method_call(bus, &req, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        /* subject = ("system-bus-name", {"name": sender}), action, details {}, flags, cancellation id "" */
        r = sd_bus_message_append(req, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s", sender, action, 0,
                                  (uint32_t) (sd_bus_message_get_allow_interactive_authorization(m) ? 1 : 0), "");
        if (r < 0)
                return r;

        /* A floating slot owns the query: it lives until the answer, or until the bus goes away. */
        r = sd_bus_call_async(bus, &slot, req, polkit_reply, q, 0);
        if (r < 0)
                return r;
        (void) sd_bus_slot_set_destroy_callback(slot, polkit_query_destroy);
        (void) sd_bus_slot_set_floating(slot, 1);
        TAKE_PTR(q);
        return 1;
}
