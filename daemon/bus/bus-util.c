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

int bus_object_missing(sd_bus *bus, const char *path, sd_bus_error *error, IovadErrorCode code, const char *fmt, ...) {
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
        return sd_bus_error_set(error, iovad_error_name(code), text);
}
