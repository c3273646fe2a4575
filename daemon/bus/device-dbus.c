/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iovad-bus.h"
#include "util/log.h"
#include "platform/pci-names.h"
#include "bus/delegate-dbus.h"
#include "bus/server.h"

/* Devices are looked up afresh for every call: the platform is re-read as drivers change. */
int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        _cleanup_free_ char *address = NULL;
        Server *s = userdata;
        const SysfsDevice *d;
        int r;

        r = sd_bus_path_decode(path, IOVAD_DEVICE_PREFIX, &address);
        if (r <= 0)
                return r;
        d = sysfs_find_device(s->manager->platform, address);
        /* A device in no IOMMU group cannot go through VFIO: iovad does not show it. */
        if (d && d->iommu_group < 0)
                d = NULL;
        if (!d)
                return pci_address_valid(address) ? bus_object_missing(bus, path, error, IOVAD_E_NO_SUCH_DEVICE, device_vtable, IOVAD_DEVICE_IFACE,
                                                                        "There is no PCI device %s", address)
                                                  : 0;
        *found = (void *) d;
        return 1;
}

int device_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = ((Server *) userdata)->manager;
        char **l = calloc(m->platform->n_devices + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0, k = 0; i < m->platform->n_devices; i++) {
                if (m->platform->devices[i].iommu_group < 0)
                        continue;
                l[k] = iovad_device_path(m->platform->devices[i].address);
                if (!l[k]) {
                        for (size_t j = 0; j < k; j++)
                                free(l[j]);
                        free(l);
                        return -ENOMEM;
                }
                k++;
        }
        *nodes = l;
        return 1;
}

static Container *container_of_device(Manager *m, const SysfsDevice *d) {
        return d->iommu_group < 0 ? NULL : manager_container_of_group(m, (unsigned) d->iommu_group);
}

static int property_get_sysfs(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const SysfsDevice *d = userdata;

        if (strcmp(property, "Address") == 0)
                return sd_bus_message_append(reply, "s", d->address);
        if (strcmp(property, "Driver") == 0)
                return sd_bus_message_append(reply, "s", d->driver);
        if (strcmp(property, "VendorId") == 0)
                return sd_bus_message_append(reply, "q", d->vendor);
        if (strcmp(property, "DeviceId") == 0)
                return sd_bus_message_append(reply, "q", d->device);
        return sd_bus_message_append(reply, "u", d->class);
}

static int property_get_description(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const SysfsDevice *d = userdata;
        _cleanup_free_ char *s = pci_describe(d->vendor, d->device);
        if (!s)
                return -ENOMEM;
        return sd_bus_message_append(reply, "s", s);
}

static int property_get_group(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const SysfsDevice *d = userdata;
        /* Only devices in a group are objects (device_object_find()). */
        return sd_bus_message_append(reply, "u", (uint32_t) d->iommu_group);
}

static int property_get_container(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = container_of_device(server_of_bus(bus)->manager, userdata);
        _cleanup_free_ char *p = c ? iovad_container_path(c->name) : strdup("/");
        if (!p)
                return -ENOMEM;
        return sd_bus_message_append(reply, "o", p);
}

static int property_get_isolation(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", isolation_to_string(server_of_bus(bus)->manager->platform->isolation));
}

/* PeerToPeer, PeerToPeerPath, PeerWindows: one report, computed from the configuration spaces read with the platform. */
static int property_get_p2p(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        _cleanup_(p2p_report_done) P2pReport rep = {};
        const SysfsDevice *d = userdata;
        int r;

        r = p2p_device(server_of_bus(bus)->manager->platform, d->address, &rep);
        if (r < 0)
                return r;
        if (strcmp(property, "PeerToPeer") == 0)
                return sd_bus_message_append(reply, "s", p2p_verdict_to_string(rep.verdict));
        if (strcmp(property, "PeerToPeerPath") == 0)
                return bus_append_p2p_path(reply, &rep);
        return bus_append_p2p_windows(reply, &rep);
}

static int method_open(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        const SysfsDevice *d = userdata;
        Manager *m = s->manager;
        _cleanup_close_ int fd = -1;
        IovadError e = {};
        Container *c;
        int r;

        c = container_of_device(m, d);
        if (!c)
                return bus_reply_error(error, &e,
                                       iovad_error(&e, IOVAD_E_NOT_ATTACHED,
                                                   "Device %s is not in a container: attach its group %d first",
                                                   d->address, d->iommu_group));
        r = server_authorize_container_use(s, c, msg, NULL, error);
        if (r < 0)
                return r;
        r = m->backend->ops->open_device(c->kernel, (unsigned) d->iommu_group, d->address);
        if (r == -EOPNOTSUPP)
                r = iovad_error(&e, IOVAD_E_NOT_SUPPORTED, "The %s backend has no real devices to open",
                                m->backend->ops->name);
        else if (r == -EBUSY)
                r = iovad_error(&e, IOVAD_E_BUSY, "Device %s is busy: %s", d->address, strerror(-r));
        else if (r < 0)
                r = iovad_error(&e, IOVAD_E_KERNEL, "Opening device %s (%s backend) failed: %s", d->address,
                                m->backend->ops->name, strerror(-r));
        if (r < 0)
                return bus_reply_error(error, &e, r);
        fd = r;
        log_info_f(LOG_FIELDS(.device = d->address), "Opened device %s for %s", d->address,
                   server_caller_name(msg));
        return sd_bus_reply_method_return(msg, "h", fd);
}

/* Bind and Unbind: the address is copied first, since both re-read the platform under the object. */
static int method_bind_or_unbind(sd_bus_message *msg, const SysfsDevice *d, bool bind, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        IovadError e = {};
        char address[sizeof(d->address)];
        int group = d->iommu_group, r;

        snprintf(address, sizeof(address), "%s", d->address);
        r = server_authorize(s, msg, IOVAD_ACTION_BIND_DEVICE, (const char *const[]) { "device", address, NULL },
                             error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        r = bind ? manager_bind_device(s->manager, address, &e) : manager_unbind_device(s->manager, address, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        if (group >= 0)
                bus_emit_devices_changed(s, (unsigned) group);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_bind(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_bind_or_unbind(msg, userdata, true, error);
}

static int method_unbind(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_bind_or_unbind(msg, userdata, false, error);
}

void bus_emit_devices_changed(Server *s, unsigned group) {
        const SysfsPlatform *p = s->manager->platform;

        for (size_t i = 0; i < p->n_devices; i++) {
                const SysfsDevice *d = &p->devices[i];
                if (d->iommu_group != (int) group)
                        continue;
                _cleanup_free_ char *path = iovad_device_path(d->address);
                if (path)
                        (void) sd_bus_emit_properties_changed(s->bus, path, IOVAD_DEVICE_IFACE, "Driver", "Container",
                                                              NULL);
        }
}

const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Address", "s", property_get_sysfs, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("VendorId", "q", property_get_sysfs, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DeviceId", "q", property_get_sysfs, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Description", "s", property_get_description, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Class", "u", property_get_sysfs, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Driver", "s", property_get_sysfs, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IommuGroup", "u", property_get_group, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Container", "o", property_get_container, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InterruptIsolation", "s", property_get_isolation, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PeerToPeer", "s", property_get_p2p, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PeerToPeerPath", "a(sss)", property_get_p2p, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PeerWindows", "a(tts)", property_get_p2p, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Open", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", fd), method_open,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Bind", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_bind, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unbind", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_unbind,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Delegate", SD_BUS_ARGS("u", uid), SD_BUS_NO_RESULT, device_method_delegate,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenDelegated", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("h", iommufd, "h", device, "a(tts)", reserved_regions),
                                device_method_open_delegated, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Undelegate", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, device_method_undelegate,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
