/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-util.h"
#include "config.h"
#include "iovad-bus.h"
#include "log.h"
#include "manager.h"

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", IOVAD_VERSION);
}

static int property_get_backend(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", m->backend->ops->name);
}

static int property_get_platform(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", m->backend->platform);
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        IovadError e = {};
        int r;

        /* Drivers change under us (binding, hotplug): answer from a fresh read. */
        r = manager_refresh_platform(m, &e);
        if (r < 0)
                return bus_error_from(error, &e, r);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssuso)");
        for (size_t i = 0; r >= 0 && i < m->platform->n_devices; i++) {
                const SysfsDevice *d = &m->platform->devices[i];
                _cleanup_free_ char *desc = pci_describe(d->vendor, d->device);
                _cleanup_free_ char *path = iovad_device_path(d->address);
                if (!desc || !path)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(ssuso)", d->address, desc,
                                          d->iommu_group < 0 ? UINT32_MAX : (uint32_t) d->iommu_group, d->driver,
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
        Manager *m = userdata;
        const SysfsGroup *g;
        uint32_t group;
        int r;

        r = sd_bus_message_read(msg, "u", &group);
        if (r < 0)
                return r;
        g = sysfs_find_group(m->platform, group);
        if (!g)
                return sd_bus_error_setf(error, IOVAD_ERROR_NO_SUCH_GROUP, "There is no IOMMU group %u", group);
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

static int method_list_containers(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(so)");
        for (size_t i = 0; r >= 0 && i < m->n_containers; i++)
                r = sd_bus_message_append(reply, "(so)", m->containers[i]->name, m->containers[i]->path);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_create_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ uid_t *users = NULL;
        Manager *m = userdata;
        size_t n_users = 0;
        const char *name;
        IovadError e = {};
        Container *c;
        uid_t caller;
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

        r = bus_authorize(m, msg, "org.iovad1.manage-containers", error);
        if (r <= 0)
                return r;
        if (manager_find_container(m, name))
                return sd_bus_error_setf(error, IOVAD_ERROR_EXISTS, "Container '%s' exists already", name);
        if (!users) {
                r = bus_caller_uid(m, msg, &caller);
                if (r < 0)
                        return r;
                users = malloc(sizeof(uid_t));
                if (!users)
                        return -ENOMEM;
                users[0] = caller;
                n_users = 1;
        }

        r = container_new(m, name, users, n_users, &c, &e);
        if (r < 0)
                return bus_error_from(error, &e, r);
        r = manager_add_container(m, c);
        if (r < 0) {
                container_free(c);
                return r;
        }
        log_info("Created container '%s'", name);
        manager_save_state(m);
        (void) sd_bus_emit_object_added(sd_bus_message_get_bus(msg), c->path);
        return sd_bus_reply_method_return(msg, "o", c->path);
}

static int method_get_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name;
        Container *c;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        c = manager_find_container(m, name);
        if (!c)
                return sd_bus_error_setf(error, IOVAD_ERROR_NO_SUCH_CONTAINER, "No container '%s'", name);
        return sd_bus_reply_method_return(msg, "o", c->path);
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
        SD_BUS_METHOD_WITH_ARGS("ListContainers", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(so)", containers),
                                method_list_containers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateContainer", SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_RESULT("o", container), method_create_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetContainer", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", container),
                                method_get_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int manager_bus_setup(Manager *m) {
        int r;

        r = sd_bus_error_add_map(iovad_bus_errors);
        if (r < 0)
                return log_error_errno(r, "Cannot register the error map");
        r = sd_bus_add_object_vtable(m->bus, NULL, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Cannot register %s", IOVAD_MANAGER_PATH);
        r = sd_bus_add_fallback_vtable(m->bus, NULL, IOVAD_CONTAINER_PREFIX, IOVAD_CONTAINER_IFACE, container_vtable,
                                       container_object_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(m->bus, NULL, IOVAD_CONTAINER_PREFIX, container_node_enumerator, m);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(m->bus, NULL, IOVAD_LEASE_PREFIX, IOVAD_LEASE_IFACE, lease_vtable,
                                               lease_object_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(m->bus, NULL, IOVAD_LEASE_PREFIX, lease_node_enumerator, m);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(m->bus, NULL, IOVAD_DEVICE_PREFIX, IOVAD_DEVICE_IFACE, device_vtable,
                                               device_object_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(m->bus, NULL, IOVAD_DEVICE_PREFIX, device_node_enumerator, m);
        if (r >= 0)
                r = sd_bus_add_object_manager(m->bus, NULL, IOVAD_MANAGER_PATH);
        if (r < 0)
                return log_error_errno(r, "Cannot register the object vtables");
        return 0;
}
