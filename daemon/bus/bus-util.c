/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iovad-bus.h"
#include "bus/server.h"

int bus_read_lease_options(sd_bus_message *m, LeaseOptionSet set, LeaseOptions *ret, sd_bus_error *error) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        /*
         * Most calls pass no options: an empty array is at its end at once,
         * which costs far less to learn than a failed enter of an entry.
         */
        r = sd_bus_message_at_end(m, false);
        if (r < 0)
                return r;
        while (r == 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
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
                        if (key[0] == 'a') {
                                o.has_alignment = true;
                                o.alignment = v;
                        } else if (key[0] == 'l')
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
                r = 0;
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

/* Whether @vt has a method @member (@property false) or a property @member (@property true). */
static bool vtable_has(const sd_bus_vtable *vt, const char *member, bool property) {
        for (; vt->type != _SD_BUS_VTABLE_END; vt++) {
                if (!property && vt->type == _SD_BUS_VTABLE_METHOD && streq_ptr(vt->x.method.member, member))
                        return true;
                if (property && (vt->type == _SD_BUS_VTABLE_PROPERTY || vt->type == _SD_BUS_VTABLE_WRITABLE_PROPERTY) &&
                    streq_ptr(vt->x.property.member, member))
                        return true;
        }
        return false;
}

/*
 * Whether sd-bus asks the find callback on its way to a member of @vt (a
 * reply we set is then sent as it is), rather than only to learn whether
 * the object exists (an error we set would go out as a bare errno).
 */
static bool call_reaches_vtable(sd_bus_message *m, const char *iface, const sd_bus_vtable *vt) {
        const char *mi = sd_bus_message_get_interface(m), *member = sd_bus_message_get_member(m);
        const char *target, *property;

        if (streq_ptr(mi, iface))
                return vtable_has(vt, member, false);
        if (!streq_ptr(mi, "org.freedesktop.DBus.Properties"))
                return false;
        if (streq_ptr(member, "GetAll"))
                return true;
        if (!streq_ptr(member, "Get") && !streq_ptr(member, "Set"))
                return false;
        /* Both start with (interface, property); leave the message read that far, as sd-bus has it. */
        if (sd_bus_message_rewind(m, true) < 0 || sd_bus_message_read(m, "ss", &target, &property) < 0)
                return false;
        return streq_ptr(target, iface) && vtable_has(vt, property, true);
}

int bus_object_missing(sd_bus *bus, const char *path, sd_bus_error *error, IovadErrorCode code,
                       const sd_bus_vtable *vt, const char *iface, const char *fmt, ...) {
        sd_bus_message *m = sd_bus_get_current_message(bus);
        char text[256];
        va_list ap;

        /* Anything else finds no object here: sd-bus answers UnknownObject, a named error too. */
        if (!m || !streq_ptr(sd_bus_message_get_path(m), path) || !call_reaches_vtable(m, iface, vt))
                return 0;
        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        return sd_bus_error_set(error, iovad_error_name(code), text);
}

int bus_append_p2p_path(sd_bus_message *m, const P2pReport *rep) {
        int r = sd_bus_message_open_container(m, 'a', "(sss)");

        for (size_t i = 0; r >= 0 && i < rep->n_hops; i++)
                r = sd_bus_message_append(m, "(sss)", rep->hops[i].address, rep->hops[i].role, rep->hops[i].missing);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int bus_append_p2p_windows(sd_bus_message *m, const P2pReport *rep) {
        int r = sd_bus_message_open_container(m, 'a', "(tts)");

        for (size_t i = 0; r >= 0 && i < rep->n_windows; i++)
                r = sd_bus_message_append(m, "(tts)", rep->windows[i].start, rep->windows[i].end, rep->windows[i].what);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}
