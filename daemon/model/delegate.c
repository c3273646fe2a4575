/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/delegate.h"
#include "util/log.h"
#include "util/macro.h"

const Delegation *manager_find_delegation(const Manager *m, const char *address) {
        for (size_t i = 0; i < m->n_delegations; i++)
                if (strcmp(m->delegations[i].address, address) == 0)
                        return &m->delegations[i];
        return NULL;
}

int manager_check_not_delegated(const Manager *m, unsigned group, IovadError *e) {
        for (size_t i = 0; i < m->n_delegations; i++)
                if (m->delegations[i].group == group)
                        return iovad_error(e, IOVAD_E_BUSY, "Device %s of group %u is delegated to uid %u",
                                           m->delegations[i].address, group, (unsigned) m->delegations[i].uid);
        return 0;
}

int manager_delegate_device(Manager *m, const char *address, uid_t uid, IovadError *e) {
        const SysfsDevice *d;
        const SysfsGroup *g;
        Delegation *a;
        int r;

        if (strcmp(m->backend->ops->name, "iommufd") != 0)
                return iovad_error(e, IOVAD_E_NOT_SUPPORTED,
                                   "Delegating a device needs the iommufd backend; this is %s", m->backend->ops->name);
        /* Drivers may have changed since we last looked. */
        r = manager_refresh_platform(m, e);
        if (r < 0)
                return r;
        d = sysfs_find_device(m->platform, address);
        if (!d)
                return iovad_error(e, IOVAD_E_NO_SUCH_DEVICE, "There is no PCI device %s", address);
        if (!sysfs_driver_is_vfio(d->driver))
                return iovad_error(e, IOVAD_E_NOT_VIABLE, "Device %s is on %s, not on vfio-pci: bind it first",
                                   address, d->driver[0] ? d->driver : "no driver");
        g = d->iommu_group >= 0 ? sysfs_find_group(m->platform, (unsigned) d->iommu_group) : NULL;
        if (!g)
                return iovad_error(e, IOVAD_E_NOT_VIABLE, "Device %s has no IOMMU group", address);
        if (!sysfs_group_viable(m->platform, g))
                return iovad_error(e, IOVAD_E_NOT_VIABLE,
                                   "Group %u of device %s is not viable: a device of it is on a host driver", g->id,
                                   address);
        Container *c = manager_container_of_group(m, g->id);
        if (c)
                return iovad_error(e, IOVAD_E_BUSY, "Group %u of device %s is attached to container '%s'", g->id,
                                   address, c->name);
        const Delegation *old = manager_find_delegation(m, address);
        if (old) {
                if (old->uid == uid)
                        return 0;
                return iovad_error(e, IOVAD_E_BUSY, "Device %s is delegated to uid %u", address,
                                   (unsigned) old->uid);
        }

        a = reallocarray(m->delegations, m->n_delegations + 1, sizeof(Delegation));
        if (!a)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        m->delegations = a;
        Delegation *n = &m->delegations[m->n_delegations++];
        *n = (Delegation) { .group = g->id, .uid = uid };
        memcpy(n->address, d->address, sizeof(n->address));
        log_info("Delegated device %s (group %u) to uid %u", address, g->id, (unsigned) uid);
        return 0;
}

int manager_open_delegated(Manager *m, const char *address, uid_t uid, int *ret_iommufd, int *ret_device,
                           IovadError *e) {
        const Delegation *dl = manager_find_delegation(m, address);
        int r;

        if (!dl)
                return iovad_error(e, IOVAD_E_NOT_ATTACHED, "Device %s is not delegated", address);
        if (uid != 0 && uid != dl->uid)
                return -EPERM;
        r = backend_iommufd_open_delegate(m->backend, address, ret_iommufd, ret_device);
        if (r == -ENODEV)
                return iovad_error(e, IOVAD_E_NOT_VIABLE, "Device %s has no VFIO cdev (is it still on vfio-pci?)",
                                   address);
        if (r < 0)
                return iovad_error(e, IOVAD_E_KERNEL, "Opening /dev/iommu and the cdev of %s failed: %s", address,
                                   strerror(-r));
        log_info("Opened delegated device %s for uid %u", address, (unsigned) uid);
        return 0;
}

int manager_undelegate_device(Manager *m, const char *address, IovadError *e) {
        const Delegation *dl = manager_find_delegation(m, address);
        int r;

        if (!dl)
                return iovad_error(e, IOVAD_E_NOT_ATTACHED, "Device %s is not delegated", address);
        r = backend_iommufd_device_in_use(m->backend, address);
        if (r > 0)
                return iovad_error(e, IOVAD_E_BUSY,
                                   "Device %s is still open by a process (its VFIO cdev): it stays delegated", address);
        /* A device gone from vfio-pci has no cdev left to hold. */
        if (r < 0 && r != -ENODEV)
                return iovad_error(e, IOVAD_E_KERNEL, "Cannot tell whether device %s is still open: %s", address,
                                   strerror(-r));
        size_t i = (size_t) (dl - m->delegations);
        log_info("Device %s (group %u) is no longer delegated to uid %u", address, dl->group, (unsigned) dl->uid);
        memmove(m->delegations + i, m->delegations + i + 1, (m->n_delegations - i - 1) * sizeof(Delegation));
        m->n_delegations--;
        return 0;
}
