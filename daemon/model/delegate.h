/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Delegation of a device to a VMM that maps its own memory (iommufd only):
 * a privileged caller names a uid; that uid may then open a fresh iommufd
 * context and the device's cdev, unbound, and run the device itself. iovad
 * keeps the device: its group is attached to no container of iovad's and
 * the device stays on vfio-pci (AttachGroup and Unbind answer Busy) until
 * the delegation ends, which it does only once no process holds the cdev.
 * Delegations live as long as iovad runs: they are not saved.
 */

#include <sys/types.h>

#include "model/error.h"
#include "model/manager.h"

typedef struct Delegation {
        char address[16];
        unsigned group;
        uid_t uid;
} Delegation;

/*
 * Delegate @address to @uid: NOT_SUPPORTED on a backend other than
 * iommufd, NO_SUCH_DEVICE, NOT_VIABLE (not on vfio-pci, or its group is
 * not viable), BUSY (its group is in a container, or it is delegated to
 * another uid). Delegating again to the same uid succeeds.
 */
int manager_delegate_device(Manager *m, const char *address, uid_t uid, IovadError *e);

/*
 * For @uid (the delegate, or root): a new iommufd context and a new cdev fd
 * of @address. NOT_ATTACHED when @address is not delegated, NOT_VIABLE when
 * it has no cdev, KERNEL; -EPERM with no error set for a uid that is not
 * the delegate (the bus answers AccessDenied).
 */
int manager_open_delegated(Manager *m, const char *address, uid_t uid, int *ret_iommufd, int *ret_device,
                           IovadError *e);

/* Ends the delegation: NOT_ATTACHED when there is none, BUSY while a process still has the cdev open. */
int manager_undelegate_device(Manager *m, const char *address, IovadError *e);

/* The delegation of @address, or NULL. */
const Delegation *manager_find_delegation(const Manager *m, const char *address);

/* BUSY when a device of @group is delegated, else 0. */
int manager_check_not_delegated(const Manager *m, unsigned group, IovadError *e);
