/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus-util.h"
#include "iovad-bus.h"
#include "log.h"
#include "manager.h"

int bus_caller_uid(Manager *mgr, sd_bus_message *m, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        Client *c = sender ? manager_find_client(mgr, sender) : NULL;
        int r;

        /*
         * dbus-daemon attaches no credentials to messages, so asking is a
         * synchronous GetConnectionUnixUser round trip through the bus, which
         * would double every call's cost. A unique name is never reused and
         * its connection's uid never changes, so a client we track (one that
         * holds leases) is asked once.
         */
        if (c) {
                *ret = c->uid;
                return 0;
        }
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        return sd_bus_creds_get_euid(creds, ret);
}

int bus_error_from(sd_bus_error *error, const IovadError *e, int r) {
        if (e && e->name)
                return sd_bus_error_set(error, e->name, e->message);
        return sd_bus_error_set_errno(error, r);
}

static int polkit_check(sd_bus_message *m, const char *action, bool *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = sd_bus_message_get_bus(m);
        int authorized, challenge, r;

        r = sd_bus_message_new_method_call(bus, &call, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(call, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                                  sd_bus_message_get_sender(m), action, 0, 0, "");
        if (r < 0)
                return r;
        /* A short timeout: a stuck polkit must not stall every other client for long. */
        r = sd_bus_call(bus, call, 5 * 1000 * 1000, &error, &reply);
        if (r < 0) {
                log_debug("polkit not available for %s: %s", action, error.message ? error.message : strerror(-r));
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0)
                return r;
        *ret = authorized;
        return 0;
}

int bus_authorize(Manager *mgr, sd_bus_message *m, const char *action, sd_bus_error *error) {
        uid_t uid;
        bool ok = false;
        int r;

        r = bus_caller_uid(mgr, m, &uid);
        if (r < 0)
                return r;
        if (uid == 0)
                return 1;
        if (mgr->polkit && polkit_check(m, action, &ok) >= 0 && ok)
                return 1;
        sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "uid %u may not do this (needs root or polkit action %s)",
                          (unsigned) uid, action);
        return 0;
}

int bus_authorize_container_use(Container *c, sd_bus_message *m, uid_t *ret_uid, sd_bus_error *error) {
        uid_t uid;
        int r;

        r = bus_caller_uid(c->manager, m, &uid);
        if (r < 0)
                return r;
        if (uid != 0 && !container_has_user(c, uid)) {
                sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "uid %u is not a user of container '%s'",
                                  (unsigned) uid, c->name);
                return 0;
        }
        if (ret_uid)
                *ret_uid = uid;
        return 1;
}

int bus_read_lease_options(sd_bus_message *m, LeaseOptionSet set, LeaseOptions *ret, sd_bus_error *error) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;

                const char *want = NULL;
                bool allowed = true;
                if (strcmp(key, "alignment") == 0 || strcmp(key, "limit") == 0)
                        want = "t";
                else if (strcmp(key, "iova") == 0) {
                        want = "t";
                        allowed = set != LEASE_OPTIONS_ALLOCATE;
                } else if (strcmp(key, "persistent") == 0)
                        want = "b";
                else if (strcmp(key, "readonly") == 0) {
                        want = "b";
                        allowed = set != LEASE_OPTIONS_LEASE;
                } else if (strcmp(key, "hugepages") == 0) {
                        want = "b";
                        allowed = set == LEASE_OPTIONS_ALLOCATE;
                }
                if (!want || !allowed)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
                if (!streq_ptr(contents, want))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' must be of type '%s'",
                                                 key, want);
                if (want[0] == 't') {
                        uint64_t v;
                        r = sd_bus_message_read(m, "v", "t", &v);
                        if (r < 0)
                                return r;
                        if (key[0] == 'a')
                                o.alignment = v;
                        else if (key[0] == 'l')
                                o.limit = v;
                        else {
                                o.fixed = true;
                                o.iova = v;
                        }
                } else {
                        int v;
                        r = sd_bus_message_read(m, "v", "b", &v);
                        if (r < 0)
                                return r;
                        if (key[0] == 'p')
                                o.persistent = v;
                        else if (key[0] == 'r')
                                o.readonly = v;
                        else
                                o.hugepages = v;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = o;
        return 0;
}

int bus_append_ranges(sd_bus_message *reply, const RangeList *l) {
        int r = sd_bus_message_open_container(reply, 'a', "(tt)");
        for (size_t i = 0; r >= 0 && i < l->n; i++)
                r = sd_bus_message_append(reply, "(tt)", l->items[i].start, l->items[i].end);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

int bus_object_missing(sd_bus *bus, const char *path, sd_bus_error *error, const char *name, const char *fmt, ...) {
        sd_bus_message *m = sd_bus_get_current_message(bus);
        const char *iface = m ? sd_bus_message_get_interface(m) : NULL;
        char text[256];
        va_list ap;

        if (!m || !streq_ptr(sd_bus_message_get_path(m), path) || !iface ||
            !(strncmp(iface, "org.iovad1.", 11) == 0 || strcmp(iface, "org.freedesktop.DBus.Properties") == 0))
                return 0;
        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        return sd_bus_error_set(error, name, text);
}
