/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The D-Bus contract shared by iovad and its clients: names, object paths
 * and the named errors (docs/api.md describes each). Extend, never rename.
 */

#include <systemd/sd-bus.h>

#define IOVAD_BUS_NAME "org.iovad1"
#define IOVAD_MANAGER_PATH "/org/iovad1"
#define IOVAD_CONTAINER_PREFIX "/org/iovad1/container"
#define IOVAD_LEASE_PREFIX "/org/iovad1/lease"
#define IOVAD_DEVICE_PREFIX "/org/iovad1/device"

#define IOVAD_MANAGER_IFACE "org.iovad1.Manager"
#define IOVAD_CONTAINER_IFACE "org.iovad1.Container"
#define IOVAD_LEASE_IFACE "org.iovad1.Lease"
#define IOVAD_DEVICE_IFACE "org.iovad1.Device"

#define IOVAD_ERROR_PREFIX "org.iovad1.Error."
#define IOVAD_ERROR_NO_SUCH_CONTAINER "org.iovad1.Error.NoSuchContainer"
#define IOVAD_ERROR_NO_SUCH_GROUP "org.iovad1.Error.NoSuchGroup"
#define IOVAD_ERROR_NO_SUCH_LEASE "org.iovad1.Error.NoSuchLease"
#define IOVAD_ERROR_NO_SUCH_DEVICE "org.iovad1.Error.NoSuchDevice"
#define IOVAD_ERROR_EXISTS "org.iovad1.Error.Exists"
#define IOVAD_ERROR_NO_SPACE "org.iovad1.Error.NoSpace"
#define IOVAD_ERROR_RESERVED_CONFLICT "org.iovad1.Error.ReservedConflict"
#define IOVAD_ERROR_QUOTA_EXCEEDED "org.iovad1.Error.QuotaExceeded"
#define IOVAD_ERROR_DMA_LIMIT "org.iovad1.Error.DmaLimit"
#define IOVAD_ERROR_BAD_MEMORY "org.iovad1.Error.BadMemory"
#define IOVAD_ERROR_NOT_ATTACHED "org.iovad1.Error.NotAttached"
#define IOVAD_ERROR_BUSY "org.iovad1.Error.Busy"
/* Extensions of interface v1. */
#define IOVAD_ERROR_NOT_SUPPORTED "org.iovad1.Error.NotSupported"
#define IOVAD_ERROR_INTERRUPT_ISOLATION "org.iovad1.Error.InterruptIsolation"
#define IOVAD_ERROR_NOT_VIABLE "org.iovad1.Error.NotViable"
#define IOVAD_ERROR_KERNEL "org.iovad1.Error.Kernel"

/* Name -> errno, registered by daemon and client alike. */
extern const sd_bus_error_map iovad_bus_errors[];

/* Object paths; return a newly allocated string or NULL on OOM. */
char *iovad_container_path(const char *name);
char *iovad_device_path(const char *pci_address);
char *iovad_lease_path(uint64_t id);
