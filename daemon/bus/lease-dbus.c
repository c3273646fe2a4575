/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "iovad-bus.h"
#include "util/log.h"
#include "bus/server.h"

static int parse_lease_path(const char *path, uint64_t *ret) {
        const char *p;
        char *end;

        if (strncmp(path, IOVAD_LEASE_PREFIX "/", strlen(IOVAD_LEASE_PREFIX) + 1) != 0)
                return 0;
        p = path + strlen(IOVAD_LEASE_PREFIX) + 1;
        if (*p < '1' || *p > '9')
                return 0;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno != 0 || *end != 0)
                return 0;
        *ret = v;
        return 1;
}

/* Whoever sent the message being dispatched; leases show only to their owner and root. */
static bool caller_may_see(Server *s, sd_bus *bus, const Lease *l) {
        sd_bus_message *m = sd_bus_get_current_message(bus);
        uid_t uid;

        if (!m || server_caller_uid(s, m, &uid) < 0)
                return false;
        return uid == 0 || uid == l->owner;
}

int lease_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                      sd_bus_error *error) {
        Server *s = userdata;
        uint64_t id;
        Lease *l;

        if (parse_lease_path(path, &id) <= 0)
                return 0;
        l = manager_find_lease(s->manager, id);
        if (!l)
                return bus_object_missing(bus, path, error, IOVAD_E_NO_SUCH_LEASE, lease_vtable, IOVAD_LEASE_IFACE,
                                          "There is no lease %" PRIu64 " (never made, or released)", id);
        if (!caller_may_see(s, bus, l))
                return bus_object_missing(bus, path, error, IOVAD_E_ACCESS_DENIED, lease_vtable, IOVAD_LEASE_IFACE,
                                          "Lease %" PRIu64 " belongs to another user", id);
        *found = l;
        return 1;
}

int lease_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        sd_bus_message *msg = sd_bus_get_current_message(bus);
        Server *s = userdata;
        Manager *m = s->manager;
        size_t n = 0, k = 0;
        uid_t uid;
        char **l;

        if (!msg || server_caller_uid(s, msg, &uid) < 0)
                return 0;
        for (size_t i = 0; i < m->n_containers; i++)
                for (Lease *x = m->containers[i]->leases; x; x = x->c_next)
                        n += uid == 0 || x->owner == uid;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_containers; i++)
                for (Lease *x = m->containers[i]->leases; x && k < n; x = x->c_next) {
                        if (uid != 0 && x->owner != uid)
                                continue;
                        l[k] = iovad_lease_path(x->id);
                        if (!l[k++]) {
                                for (size_t j = 0; j < k; j++)
                                        free(l[j]);
                                free(l);
                                return -ENOMEM;
                        }
                }
        *nodes = l;
        return 1;
}

static int property_get_container(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Lease *l = userdata;
        _cleanup_free_ char *p = iovad_container_path(l->container->name);
        if (!p)
                return -ENOMEM;
        return sd_bus_message_append(reply, "o", p);
}

static int property_get_mapped(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Lease *l = userdata;
        return sd_bus_message_append(reply, "b", (int) l->mapped);
}

static int property_get_writable(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Lease *l = userdata;
        return sd_bus_message_append(reply, "b", (int) l->writable);
}

static int property_get_persistent(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Lease *l = userdata;
        return sd_bus_message_append(reply, "b", (int) l->persistent);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        Lease *l = userdata;
        Container *c = l->container;
        bool mapped = l->mapped;
        uint64_t id = l->id;
        IovadError e = {};
        int r;

        /* lease_object_find() already hid the lease from anyone but its owner and root. */
        r = manager_release_lease(s->manager, l, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        log_info_f(LOG_FIELDS(.container = c->name, .lease = id), "Released lease %" PRIu64 " in '%s'", id, c->name);
        if (mapped)
                bus_emit_container_changed(s, c, "DmaMappingsAvailable", NULL);
        return sd_bus_reply_method_return(msg, NULL);
}

int lease_dispatch_release(Server *s, sd_bus_message *msg, sd_bus_error *error) {
        void *l = NULL;
        int r;

        if (!sd_bus_message_is_method_call(msg, IOVAD_LEASE_IFACE, "Release") || !sd_bus_message_has_signature(msg, ""))
                return 0;
        r = lease_object_find(sd_bus_message_get_bus(msg), sd_bus_message_get_path(msg), IOVAD_LEASE_IFACE, s, &l,
                              error);
        if (r <= 0)
                return r;
        r = method_release(msg, l, error);
        return r < 0 ? r : 1;
}

const sd_bus_vtable lease_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Iova", "t", NULL, offsetof(Lease, iova), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Size", "t", NULL, offsetof(Lease, size), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Container", "o", property_get_container, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", NULL, offsetof(Lease, owner), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mapped", "b", property_get_mapped, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Writable", "b", property_get_writable, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Persistent", "b", property_get_persistent, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_release,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
