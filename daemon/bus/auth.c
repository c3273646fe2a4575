/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "bus/auth.h"
#include "util/log.h"
#include "util/macro.h"

/* One question to polkit for one call and action, until the call has its answer. */
typedef struct AuthQuery {
        Auth *auth;
        sd_bus_message *request;     /* the call waiting for the answer (a reference) */
        char *action;
        sd_bus_slot *slot;           /* the CheckAuthorization call while it is out */
        bool done;
        bool authorized;
        char *error_name;            /* polkit could not be asked: why */
        char *error_message;
        sd_event_source *expire;     /* an answer nobody came back for is dropped */
        struct AuthQuery *prev, *next;
} AuthQuery;

struct Auth {
        sd_bus *bus;
        bool polkit;
        char *polkit_name;
        AuthQuery *queries;
        size_t n_pending;
};

static AuthQuery *query_free(AuthQuery *q) {
        if (!q)
                return NULL;
        if (q->prev)
                q->prev->next = q->next;
        else
                q->auth->queries = q->next;
        if (q->next)
                q->next->prev = q->prev;
        if (q->slot)
                q->auth->n_pending--;
        sd_bus_slot_unref(q->slot);
        sd_event_source_disable_unref(q->expire);
        sd_bus_message_unref(q->request);
        free(q->action);
        free(q->error_name);
        free(q->error_message);
        free(q);
        return NULL;
}

int auth_new(sd_bus *bus, bool polkit, const char *polkit_name, Auth **ret) {
        Auth *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->bus = sd_bus_ref(bus);
        a->polkit = polkit;
        a->polkit_name = strdup(polkit_name ? polkit_name : "org.freedesktop.PolicyKit1");
        if (!a->polkit_name) {
                auth_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

Auth *auth_free(Auth *a) {
        if (!a)
                return NULL;
        while (a->queries)
                query_free(a->queries);
        sd_bus_unref(a->bus);
        free(a->polkit_name);
        free(a);
        return NULL;
}

static AuthQuery *find_query(Auth *a, sd_bus_message *m, const char *action) {
        for (AuthQuery *q = a->queries; q; q = q->next)
                if (q->request == m && strcmp(q->action, action) == 0)
                        return q;
        return NULL;
}

/* The call was dispatched again, but its handler never came back for the answer (the object went away). */
static int on_expire(sd_event_source *s, uint64_t usec, void *userdata) {
        query_free(userdata);
        return 0;
}

#define AUTH_ANSWER_KEEP_USEC (30ULL * 1000 * 1000)

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        Auth *a = q->auth;
        const sd_bus_error *e;
        int authorized = 0, challenge = 0, r;

        q->slot = sd_bus_slot_unref(q->slot);
        a->n_pending--;
        q->done = true;

        e = sd_bus_message_get_error(reply);
        if (e) {
                /* polkit missing or stuck: the caller is not authorized, and learns why. */
                q->error_name = strdup(e->name ? e->name : SD_BUS_ERROR_FAILED);
                q->error_message = strdup(e->message ? e->message : "");
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0) {
                        q->error_name = strdup(SD_BUS_ERROR_INCONSISTENT_MESSAGE);
                        q->error_message = strdup("polkit's answer is malformed");
                }
                q->authorized = r >= 0 && authorized;
        }

        sd_event *event = sd_bus_get_event(a->bus);
        if (event)
                (void) sd_event_add_time_relative(event, &q->expire, CLOCK_MONOTONIC, AUTH_ANSWER_KEEP_USEC, 0,
                                                  on_expire, q);

        /* Dispatch the call again: its handler finds the answer in find_query(). */
        r = sd_bus_message_rewind(q->request, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(a->bus, q->request);
        if (r < 0) {
                log_error_f(LOG_FIELDS(.error = r), "Cannot dispatch a call again after polkit answered: %s", strerror(-r));
                (void) sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_FAILED,
                                                  "Authorization answered, but the call could not go on: %s",
                                                  strerror(-r));
                query_free(q);
        }
        return 0;
}

static int ask_polkit(Auth *a, sd_bus_message *m, const char *action, const char *const *details) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        AuthQuery *q;
        int r;

        r = sd_bus_message_new_method_call(a->bus, &call, a->polkit_name, "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s",
                                          sd_bus_message_get_sender(m), action);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{ss}");
        for (size_t i = 0; r >= 0 && details && details[i] && details[i + 1]; i += 2)
                r = sd_bus_message_append(call, "{ss}", details[i], details[i + 1]);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        /* Flag 1: AllowUserInteraction, only when the caller said it may wait for a password prompt. */
        if (r >= 0)
                r = sd_bus_message_append(call, "us", (uint32_t) !!sd_bus_message_get_allow_interactive_authorization(m),
                                          "");
        if (r < 0)
                return r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->auth = a;
        q->request = sd_bus_message_ref(m);
        q->action = strdup(action);
        q->next = a->queries;
        if (a->queries)
                a->queries->prev = q;
        a->queries = q;
        if (!q->action) {
                query_free(q);
                return -ENOMEM;
        }
        r = sd_bus_call_async(a->bus, &q->slot, call, on_polkit_reply, q, 0);
        if (r < 0) {
                query_free(q);
                return r;
        }
        a->n_pending++;
        return 0;
}

int auth_check(Auth *a, sd_bus_message *m, uid_t uid, const char *action, const char *const *details,
               sd_bus_error *error) {
        AuthQuery *q;
        int r;

        if (uid == 0)
                return 1;
        if (!a->polkit)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "uid %u may not do this (needs root; polkit is not used)", (unsigned) uid);

        q = find_query(a, m, action);
        if (q && !q->done)
                return 0; /* dispatched again before polkit answered: keep waiting */
        if (q) {
                bool ok = q->authorized;
                if (ok)
                        log_debug("polkit allows %s to uid %u (%s)", action, (unsigned) uid,
                                  sd_bus_message_get_sender(m) ?: "no unique name");
                else
                        log_info_f(LOG_FIELDS(.error = EACCES), "polkit refuses %s to uid %u (%s)%s%s", action,
                                   (unsigned) uid, sd_bus_message_get_sender(m) ?: "no unique name",
                                   q->error_name ? ": polkit could not be asked: " : "",
                                   q->error_name ? q->error_name : "");
                if (!ok && q->error_name)
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                              "uid %u may not do this: polkit could not be asked about %s (%s: %s)",
                                              (unsigned) uid, action, q->error_name, q->error_message);
                else if (!ok)
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                              "uid %u may not do this (needs root or polkit action %s)", (unsigned) uid,
                                              action);
                else
                        r = 1;
                query_free(q);
                return r;
        }
        r = ask_polkit(a, m, action, details);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "uid %u may not do this: polkit could not be asked about %s: %s", (unsigned) uid, action, strerror(-r));
        return 0;
}
