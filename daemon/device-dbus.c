/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "iovad-bus.h"
#include "log.h"
#include "manager.h"

/* Devices are looked up afresh for every call: the platform is re-read as drivers change. */
int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        _cleanup_free_ char *address = NULL;
        Manager *m = userdata;
        const SysfsDevice *d;
        int r;

        r = sd_bus_path_decode(path, IOVAD_DEVICE_PREFIX, &address);
        if (r <= 0)
                return r;
        d = sysfs_find_device(m->platform, address);
        if (!d)
                return pci_address_valid(address) ? bus_object_missing(bus, path, error, IOVAD_ERROR_NO_SUCH_DEVICE,
                                                                        "There is no PCI device %s", address)
                                                  : 0;
        *found = &m->devices[d - m->platform->devices];
        return 1;
}

int device_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        char **l = calloc(m->platform->n_devices + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < m->platform->n_devices; i++) {
                l[i] = iovad_device_path(m->platform->devices[i].address);
                if (!l[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(l[k]);
                        free(l);
                        return -ENOMEM;
                }
        }
        *nodes = l;
        return 1;
}

static Container *container_of_device(Manager *m, const SysfsDevice *d) {
        if (d->iommu_group < 0)
                return NULL;
        for (size_t i = 0; i < m->n_containers; i++)
                if (container_has_group(m->containers[i], (unsigned) d->iommu_group))
                        return m->containers[i];
        return NULL;
}

static int property_get_sysfs(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const SysfsDevice *d = ((Device *) userdata)->sysfs;

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
        const SysfsDevice *d = ((Device *) userdata)->sysfs;
        _cleanup_free_ char *s = pci_describe(d->vendor, d->device);
        if (!s)
                return -ENOMEM;
        return sd_bus_message_append(reply, "s", s);
}

static int property_get_group(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const SysfsDevice *d = ((Device *) userdata)->sysfs;
        return sd_bus_message_append(reply, "u", d->iommu_group < 0 ? UINT32_MAX : (uint32_t) d->iommu_group);
}

static int property_get_container(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *dev = userdata;
        Container *c = container_of_device(dev->manager, dev->sysfs);
        return sd_bus_message_append(reply, "o", c ? c->path : "/");
}

static int property_get_isolation(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *dev = userdata;
        Isolation i = dev->manager->platform->isolation;
        /* "none" reads as unsafe: such a device can only be used with unsafe interrupts. */
        return sd_bus_message_append(reply, "s", isolation_to_string(i == ISOLATION_NONE ? ISOLATION_UNSAFE : i));
}

static int method_open(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Device *dev = userdata;
        _cleanup_close_ int fd = -1;
        const SysfsDevice *d = dev->sysfs;
        Manager *m = dev->manager;
        Container *c;
        int r;

        c = container_of_device(m, d);
        if (!c)
                return sd_bus_error_setf(error, IOVAD_ERROR_NOT_ATTACHED,
                                         "Device %s is not in a container: attach its group %d first", d->address,
                                         d->iommu_group);
        r = bus_authorize_container_use(c, msg, NULL, error);
        if (r <= 0)
                return r;
        r = m->backend->ops->open_device(c->backend, (unsigned) d->iommu_group, d->address);
        if (r == -EOPNOTSUPP)
                return sd_bus_error_setf(error, IOVAD_ERROR_NOT_SUPPORTED,
                                         "The %s backend has no real devices to open", m->backend->ops->name);
        if (r < 0)
                return sd_bus_error_setf(error, IOVAD_ERROR_KERNEL, "VFIO_GROUP_GET_DEVICE_FD for %s failed: %s",
                                         d->address, strerror(-r));
        fd = r;
        log_info("Opened device %s for %s", d->address, sd_bus_message_get_sender(msg));
        return sd_bus_reply_method_return(msg, "h", fd);
}

static int method_bind(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Device *dev = userdata;
        const SysfsDevice *d = dev->sysfs;
        Manager *m = dev->manager;
        char address[16], driver[64];
        IovadError e = {};
        int group, r;

        r = bus_authorize(m, msg, "org.iovad1.bind-device", error);
        if (r <= 0)
                return r;
        /* The platform is re-read below: copy what we need first. */
        snprintf(address, sizeof(address), "%s", d->address);
        snprintf(driver, sizeof(driver), "%s", d->driver);
        group = d->iommu_group;
        if (strcmp(driver, "vfio-pci") == 0)
                return sd_bus_reply_method_return(msg, NULL);
        if (group < 0)
                return sd_bus_error_setf(error, IOVAD_ERROR_NOT_VIABLE, "Device %s has no IOMMU group", address);

        void *a = reallocarray(m->rebind, m->n_rebind + 1, sizeof(*m->rebind));
        if (!a)
                return -ENOMEM;
        m->rebind = a;
        r = m->backend->ops->bind_vfio(m->backend, address);
        if (r < 0)
                return sd_bus_error_setf(error, r == -EBUSY ? IOVAD_ERROR_BUSY : IOVAD_ERROR_KERNEL,
                                         "Binding %s to vfio-pci failed: %s", address, strerror(-r));
        size_t i;
        for (i = 0; i < m->n_rebind; i++)
                if (strcmp(m->rebind[i].address, address) == 0)
                        break;
        if (i == m->n_rebind)
                m->n_rebind++;
        snprintf(m->rebind[i].address, sizeof(m->rebind[i].address), "%s", address);
        snprintf(m->rebind[i].driver, sizeof(m->rebind[i].driver), "%s", driver);
        log_info("Bound %s to vfio-pci (was %s)", address, *driver ? driver : "unbound");
        manager_save_state(m);
        (void) manager_refresh_platform(m, &e);
        bus_emit_devices_changed(m, (unsigned) group);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_unbind(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Device *dev = userdata;
        const SysfsDevice *d = dev->sysfs;
        Manager *m = dev->manager;
        const char *previous = NULL;
        char address[16];
        IovadError e = {};
        int group, r;

        r = bus_authorize(m, msg, "org.iovad1.bind-device", error);
        if (r <= 0)
                return r;
        Container *c = container_of_device(m, d);
        if (c)
                /* vfio-pci waits for every device fd to close: never block the daemon on that. */
                return sd_bus_error_setf(error, IOVAD_ERROR_BUSY, "Device %s is in container '%s': detach group %d first",
                                         d->address, c->name, d->iommu_group);
        if (strcmp(d->driver, "vfio-pci") != 0)
                return sd_bus_error_setf(error, IOVAD_ERROR_NOT_ATTACHED, "Device %s is not bound to vfio-pci",
                                         d->address);
        snprintf(address, sizeof(address), "%s", d->address);
        group = d->iommu_group;
        size_t i;
        for (i = 0; i < m->n_rebind; i++)
                if (strcmp(m->rebind[i].address, address) == 0) {
                        previous = m->rebind[i].driver;
                        break;
                }
        r = m->backend->ops->unbind_vfio(m->backend, address, previous && *previous ? previous : NULL);
        if (r < 0)
                return sd_bus_error_setf(error, r == -EBUSY ? IOVAD_ERROR_BUSY : IOVAD_ERROR_KERNEL,
                                         "Unbinding %s from vfio-pci failed: %s", address, strerror(-r));
        log_info("Gave %s back to %s", address, previous && *previous ? previous : "the kernel's choice of driver");
        if (i < m->n_rebind) {
                memmove(m->rebind + i, m->rebind + i + 1, (m->n_rebind - i - 1) * sizeof(*m->rebind));
                m->n_rebind--;
                manager_save_state(m);
        }
        (void) manager_refresh_platform(m, &e);
        if (group >= 0)
                bus_emit_devices_changed(m, (unsigned) group);
        return sd_bus_reply_method_return(msg, NULL);
}

void bus_emit_devices_changed(Manager *m, unsigned group) {
        if (!m->bus || m->restoring)
                return;
        for (size_t i = 0; i < m->platform->n_devices; i++) {
                const SysfsDevice *d = &m->platform->devices[i];
                if (d->iommu_group != (int) group)
                        continue;
                _cleanup_free_ char *path = iovad_device_path(d->address);
                if (path)
                        (void) sd_bus_emit_properties_changed(m->bus, path, IOVAD_DEVICE_IFACE, "Driver", "Container",
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
        SD_BUS_METHOD_WITH_ARGS("Open", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", fd), method_open,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Bind", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_bind, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unbind", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_unbind,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
