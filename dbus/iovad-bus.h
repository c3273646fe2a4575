/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The D-Bus contract shared by iovad and its clients: names, object paths
 * and the named errors (docs/api.md describes each). Extend, never rename.
 */

#include <systemd/sd-bus.h>

#include "iovad-errors.h"

#define IOVAD_BUS_NAME "org.iovad1"
#define IOVAD_MANAGER_PATH "/org/iovad1"
#define IOVAD_CONTAINER_PREFIX "/org/iovad1/container"
#define IOVAD_LEASE_PREFIX "/org/iovad1/lease"
#define IOVAD_DEVICE_PREFIX "/org/iovad1/device"

#define IOVAD_MANAGER_IFACE "org.iovad1.Manager"
#define IOVAD_CONTAINER_IFACE "org.iovad1.Container"
#define IOVAD_LEASE_IFACE "org.iovad1.Lease"
#define IOVAD_DEVICE_IFACE "org.iovad1.Device"

/* Name -> errno for every entry of IOVAD_ERROR_LIST, registered by daemon and client alike. */
extern const sd_bus_error_map iovad_bus_errors[];

/* Object paths; return a newly allocated string or NULL on OOM. */
char *iovad_container_path(const char *name);
char *iovad_device_path(const char *pci_address);
char *iovad_lease_path(uint64_t id);

/* polkit actions (policy/org.iovad1.policy), for callers other than root. */
#define IOVAD_ACTION_MANAGE_CONTAINERS "org.iovad1.manage-containers"
#define IOVAD_ACTION_PERSISTENT_LEASE "org.iovad1.persistent-lease"
#define IOVAD_ACTION_BIND_DEVICE "org.iovad1.bind-device"
#define IOVAD_ACTION_DELEGATE_DEVICE "org.iovad1.delegate-device"
