/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Container Device Interface spec of the devices iovad can hand out
 * (docs/runtimes.md, docs/configuration.md): kind "iovad.org/pci", one
 * device per PCI function, named by its address. Each device's edits give
 * a container what it needs to reach iovad (the system bus socket, the
 * environment naming its device and iovad container) and hooks that set
 * up and release the device (iovad-cdi-hook); never a VFIO node. Pure: the
 * caller decides when to write and logs.
 */

#include <stdbool.h>
#include <stddef.h>

#include "platform/sysfs.h"

#define CDI_VERSION "0.5.0"
#define CDI_KIND "iovad.org/pci"
/* The spec's file name in its directory: the kind, '/' made '-'. */
#define CDI_SPEC_FILE "iovad.org-pci.json"
/* Where runtimes look for specs (besides /etc/cdi), and where iovad writes by default. */
#define CDI_DEFAULT_SPEC_DIR "/run/cdi"
/* The system bus's socket, on the host by default and always inside the container. */
#define CDI_DEFAULT_BUS_SOCKET "/run/dbus/system_bus_socket"
/* Where the system bus socket is inside the container. */
#define CDI_CONTAINER_BUS_SOCKET "/run/dbus/system_bus_socket"

typedef struct CdiOptions {
        const char *hook;          /* absolute path of iovad-cdi-hook */
        const char *bus_socket;    /* the system bus socket on the host */
        char *const *bind_devices; /* addresses the hook may bind to vfio-pci (cdi.bind_devices) */
        size_t n_bind_devices;
} CdiOptions;

/*
 * Whether @d is a device iovad hands out through CDI: in an IOMMU group,
 * and on vfio-pci (or a variant driver) or listed in @o's bind_devices.
 */
bool cdi_device_listed(const SysfsDevice *d, const CdiOptions *o);

/**
 * cdi_spec_build() - the spec's JSON text (newline-terminated) for every
 * device of @p that cdi_device_listed() takes, in address order.
 * -ENOMEM; -EINVAL when @o's hook or bus socket is not an absolute path.
 */
int cdi_spec_build(const SysfsPlatform *p, const CdiOptions *o, char **ret_json);

/**
 * cdi_spec_write() - @json as CDI_SPEC_FILE in @dir (created if missing),
 * mode 0644, atomically: a temporary file in @dir, fsync, rename. Negative
 * errno of the failing call; nothing is left behind on failure.
 */
int cdi_spec_write(const char *dir, const char *json);
