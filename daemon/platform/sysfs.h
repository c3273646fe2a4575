/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one reader of sysfs: PCI devices and IOMMU groups below a root that
 * is "/sys" on a real host, a recorded tree in tests, or the tree the
 * simulated backend writes from a platform profile. Everything iovad knows
 * about devices and groups comes through here.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommu/region.h"
#include "platform/msi.h"

/* The x86 interrupt window: every x86 IOMMU driver reports it as msi. */
#define X86_MSI_START UINT64_C(0xfee00000)
#define X86_MSI_END   UINT64_C(0xfeefffff)

typedef enum Isolation {
        ISOLATION_REMAPPED,     /* interrupt remapping is on */
        ISOLATION_ISOLATED_MSI, /* MSI controller isolates (ARM ITS, ...) */
        ISOLATION_UNSAFE,       /* only with allow_unsafe_interrupts */
        ISOLATION_NONE,         /* no isolation and unsafe not allowed: the kernel refuses attaches */
        ISOLATION_UNKNOWN,      /* sysfs cannot tell: the kernel decides at attach */
        _ISOLATION_MAX,
} Isolation;

/* A memory range a device decodes: a BAR, or a bridge's window (bus addresses). */
typedef struct PciWindow {
        uint64_t start, end;   /* inclusive */
        char what[24];         /* "BAR 0", "memory window", "prefetchable window" */
} PciWindow;

#define PCI_WINDOWS_MAX 8

/*
 * What iovad reads of a function's configuration space (pci-config.h),
 * for peer-to-peer analysis (p2p.h).
 */
typedef struct PciConfig {
        bool readable;         /* the config file was there and read */
        bool pcie;             /* has a PCI Express capability */
        uint8_t pcie_type;     /* its device/port type (PCI_EXP_TYPE_*) */
        bool multifunction;    /* header type bit 7 */
        bool bridge;           /* type 1 header */
        bool has_acs;          /* an ACS extended capability */
        uint16_t acs_cap, acs_ctrl;
        PciWindow windows[PCI_WINDOWS_MAX]; /* memory BARs of known size, bridge memory windows */
        size_t n_windows;
} PciConfig;

typedef struct SysfsDevice {
        char address[16];      /* "0000:00:04.0" */
        uint16_t vendor;
        uint16_t device;
        uint32_t class;        /* 24-bit */
        char driver[64];       /* "" when unbound */
        char override[64];     /* driver_override, "" when unset */
        int iommu_group;       /* -1 when the device has none */
        char parent[16];       /* the upstream bridge, "" on a root bus */
        char root_bus[16];     /* the root bus below which it sits in devices/: "pci0000:00" */
        PciConfig config;
} SysfsDevice;

typedef struct SysfsGroup {
        unsigned id;
        RegionList regions;    /* origin "group N" */
        char **devices;        /* NULL-terminated PCI addresses */
} SysfsGroup;

typedef struct SysfsPlatform {
        SysfsDevice *devices;  /* sorted by address */
        size_t n_devices;
        SysfsGroup *groups;    /* sorted by id */
        size_t n_groups;
        Isolation isolation;   /* of the platform's interrupts */
        MsiDoorbell *doorbells; /* the MSI controllers' doorbells, sorted (msi.h) */
        size_t n_doorbells;
        MsiSource doorbell_source;
} SysfsPlatform;

/* "remapped", "isolated-msi", "unsafe", "none", "unknown"; NULL for anything else. */
const char *isolation_to_string(Isolation i);

/**
 * sysfs_read_platform() - read every PCI device and IOMMU group below @root.
 * A missing bus/pci or kernel/iommu_groups directory yields empty lists.
 * Group regions are normalized (region_list_normalize()): repeated and
 * overlapping lines of one type become one region. Entries that are not
 * PCI addresses (platform devices, VMD's five-digit domains) are skipped.
 * Interrupt isolation follows the rule in docs/profiles.md: chip names in
 * kernel/irq/N/chip_name, then vfio_iommu_type1's allow_unsafe_interrupts.
 * Each device's place in the hierarchy comes from its real directory
 * below devices/, its configuration space from its config file through
 * libpci (pci-config.h), the MSI doorbells from the firmware (msi.h).
 * -EINVAL with *@ret_error set when a reserved_regions file is malformed
 * (the message names the file and line: "FILE:LINE: ...") or a device's
 * vendor, device or class file is missing or malformed (named likewise).
 */
int sysfs_read_platform(const char *root, SysfsPlatform **ret, char **ret_error);
SysfsPlatform *sysfs_platform_free(SysfsPlatform *p);

const SysfsDevice *sysfs_find_device(const SysfsPlatform *p, const char *address);
const SysfsGroup *sysfs_find_group(const SysfsPlatform *p, unsigned id);

/*
 * Group viability: every device unbound, on vfio-pci or a variant driver
 * (a name ending in vfio-pci or vfio_pci), on pci-stub, or on pcieport (a
 * bridge). A member missing from @p makes the group not viable.
 */
bool sysfs_group_viable(const SysfsPlatform *p, const SysfsGroup *g);

/* vfio-pci or a variant driver (a name ending in vfio-pci or vfio_pci). */
bool sysfs_driver_is_vfio(const char *driver);

/* "0000:01:00.0" -> true; anything else false. */
bool pci_address_valid(const char *s);

/* A PCI driver name shorter than @size: no white space, '/', "." or "..". */
bool driver_name_valid(const char *s, size_t size);
