/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "iovad-bus.h"
#include "util/log.h"
#include "platform/pci-names.h"
#include "bus/server.h"

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", IOVAD_VERSION);
}

static int property_get_backend(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Server *s = userdata;
        return sd_bus_message_append(reply, "s", s->manager->backend->ops->name);
}

static int property_get_platform(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Server *s = userdata;
        return sd_bus_message_append(reply, "s", s->manager->backend->platform);
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = userdata;
        Manager *m = s->manager;
        IovadError e = {};
        int r;

        /* Drivers change under us (binding, hotplug): answer from a fresh read. */
        r = manager_refresh_platform(m, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssuso)");
        for (size_t i = 0; r >= 0 && i < m->platform->n_devices; i++) {
                const SysfsDevice *d = &m->platform->devices[i];
                /* A device in no IOMMU group cannot go through VFIO (docs/api.md). */
                if (d->iommu_group < 0)
                        continue;
                _cleanup_free_ char *desc = pci_describe(d->vendor, d->device);
                _cleanup_free_ char *path = iovad_device_path(d->address);
                if (!desc || !path)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(ssuso)", d->address, desc,
                                          (uint32_t) d->iommu_group, d->driver,
                                          path);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_group_reserved_regions(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = userdata;
        const SysfsGroup *g;
        uint32_t group;
        int r;

        r = sd_bus_message_read(msg, "u", &group);
        if (r < 0)
                return r;
        g = sysfs_find_group(s->manager->platform, group);
        if (!g) {
                IovadError e = {};
                return bus_reply_error(error, &e, iovad_error(&e, IOVAD_E_NO_SUCH_GROUP, "There is no IOMMU group %u", group));
        }
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(tts)");
        for (size_t i = 0; r >= 0 && i < g->regions.n; i++)
                r = sd_bus_message_append(reply, "(tts)", g->regions.items[i].start, g->regions.items[i].end,
                                          region_type_to_string(g->regions.items[i].type));
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_group_p2p(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(p2p_report_done) P2pReport rep = {};
        Server *s = userdata;
        IovadError e = {};
        uint32_t group;
        int r;

        r = sd_bus_message_read(msg, "u", &group);
        if (r < 0)
                return r;
        r = manager_group_p2p(s->manager, group, &rep, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", p2p_verdict_to_string(rep.verdict));
        if (r >= 0)
                r = bus_append_p2p_path(reply, &rep);
        if (r >= 0)
                r = bus_append_p2p_windows(reply, &rep);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_containers(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = userdata;
        Manager *m = s->manager;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(so)");
        for (size_t i = 0; r >= 0 && i < m->n_containers; i++) {
                _cleanup_free_ char *path = iovad_container_path(m->containers[i]->name);
                if (!path)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(so)", m->containers[i]->name, path);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_create_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ uid_t *users = NULL;
        _cleanup_free_ char *path = NULL;
        Server *s = userdata;
        Manager *m = s->manager;
        size_t n_users = 0;
        const char *name;
        IovadError e = {};
        Container *c;
        uid_t caller;
        int reserve_peer_windows = false;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(msg, &type, &contents);
                if (r < 0)
                        return r;
                if (strcmp(key, "reserve_peer_windows") == 0) {
                        if (!streq_ptr(contents, "b"))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option 'reserve_peer_windows' must be of type 'b'");
                        r = sd_bus_message_read(msg, "v", "b", &reserve_peer_windows);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(msg);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (strcmp(key, "users") != 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
                if (!streq_ptr(contents, "au"))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'users' must be of type 'au'");
                const void *data;
                size_t size;
                r = sd_bus_message_enter_container(msg, 'v', "au");
                if (r >= 0)
                        r = sd_bus_message_read_array(msg, 'u', &data, &size);
                if (r >= 0)
                        r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
                free(users);
                n_users = size / sizeof(uint32_t);
                users = malloc(size ? size : 1);
                if (!users)
                        return -ENOMEM;
                memcpy(users, data, size);
                if (n_users == 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'users' must not be empty");
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;

        const char *details[] = { "container", name, NULL };
        r = server_authorize(s, msg, IOVAD_ACTION_MANAGE_CONTAINERS, details, error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        if (!users) {
                r = server_caller_uid(s, msg, &caller);
                if (r < 0)
                        return r;
                users = malloc(sizeof(uid_t));
                if (!users)
                        return -ENOMEM;
                users[0] = caller;
                n_users = 1;
        }

        r = manager_create_container_full(m, name, users, n_users, reserve_peer_windows, &c, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        log_info_f(LOG_FIELDS(.container = name), "Created container '%s'%s", name,
                   reserve_peer_windows ? ", reserving peer-to-peer windows" : "");
        path = iovad_container_path(c->name);
        if (!path)
                return -ENOMEM;
        /* On the bus, where watchers are, also when the call came on a direct connection. */
        (void) sd_bus_emit_object_added(s->bus, path);
        return sd_bus_reply_method_return(msg, "o", path);
}

static int method_get_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *path = NULL;
        Server *s = userdata;
        IovadError e = {};
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        if (!manager_find_container(s->manager, name))
                return bus_reply_error(error, &e, iovad_error(&e, IOVAD_E_NO_SUCH_CONTAINER, "No container '%s'", name));
        path = iovad_container_path(name);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "o", path);
}

static int method_open_direct_connection(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_close_ int fd = -1;
        Server *s = userdata;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(msg, 'e', "sv");
        if (r < 0)
                return r;
        if (r > 0) {
                const char *key;
                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        /* Anyone may: the connection can do nothing its uid could not do over the bus. */
        r = server_open_direct(s, msg, &fd, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "h", fd);
}

static int method_release_leases(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ uint64_t *ids = NULL;
        Server *s = userdata;
        size_t n = 0, allocated = 0, n_changed;
        Container *changed[64];
        IovadError e = {};
        const char *path;
        ssize_t failed;
        uid_t uid;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "o");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(msg, "o", &path)) > 0) {
                const char *p = strncmp(path, IOVAD_LEASE_PREFIX "/", strlen(IOVAD_LEASE_PREFIX) + 1) == 0
                                        ? path + strlen(IOVAD_LEASE_PREFIX) + 1
                                        : NULL;
                uint64_t id = 0;
                char *end = NULL;

                if (p && *p >= '1' && *p <= '9') {
                        errno = 0;
                        id = strtoull(p, &end, 10);
                        if (errno != 0 || *end != 0)
                                id = 0;
                }
                if (id == 0)
                        return bus_reply_error(error, &e,
                                               iovad_error(&e, IOVAD_E_NO_SUCH_LEASE,
                                                           "Lease %zu of the list: %s is not a lease's path; nothing "
                                                           "was released", n, path));
                if (n == allocated) {
                        size_t more = allocated ? allocated * 2 : 64;
                        uint64_t *a = reallocarray(ids, more, sizeof(uint64_t));
                        if (!a)
                                return -ENOMEM;
                        ids = a;
                        allocated = more;
                }
                ids[n++] = id;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        r = server_caller_uid(s, msg, &uid);
        if (r < 0)
                return r;
        r = manager_release_leases(s->manager, uid, ids, n, &failed, changed, ELEMENTSOF(changed), &n_changed, &e);
        for (size_t i = 0; i < n_changed; i++)
                bus_emit_container_changed(s, changed[i], "DmaMappingsAvailable", NULL);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        log_info("Released %zu leases for uid %u in one call", n, (unsigned) uid);
        return sd_bus_reply_method_return(msg, NULL);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backend", "s", property_get_backend, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Platform", "s", property_get_platform, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssuso)", devices),
                                method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetGroupReservedRegions", SD_BUS_ARGS("u", group), SD_BUS_RESULT("a(tts)", regions),
                                method_get_group_reserved_regions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetGroupPeerToPeer", SD_BUS_ARGS("u", group),
                                SD_BUS_RESULT("s", verdict, "a(sss)", path, "a(tts)", windows), method_get_group_p2p,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListContainers", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(so)", containers),
                                method_list_containers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateContainer", SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_RESULT("o", container), method_create_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetContainer", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", container),
                                method_get_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenDirectConnection", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("h", connection),
                                method_open_direct_connection, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReleaseLeases", SD_BUS_ARGS("ao", leases), SD_BUS_NO_RESULT, method_release_leases,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
