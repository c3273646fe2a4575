/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * MSI doorbells: the addresses devices write their MSIs to, as the
 * firmware describes the MSI controllers (the device tree below
 * firmware/devicetree/base, or ACPI's MADT in firmware/acpi/tables/APIC).
 * Behind an SMMU, each distinct doorbell page a domain's devices target is
 * mapped by the kernel into the domain's software MSI window; this module
 * finds the doorbells, the model counts the pages (docs/profiles.md).
 */

#include <stddef.h>
#include <stdint.h>

typedef enum MsiControllerType {
        MSI_CONTROLLER_ITS,    /* Arm GICv3 ITS: GITS_TRANSLATER at base + 0x10040 */
        MSI_CONTROLLER_GICV2M, /* Arm GICv2m frame: MSI_SETSPI_NS at base + 0x40 */
        _MSI_CONTROLLER_MAX,
} MsiControllerType;

typedef enum MsiSource {
        MSI_SOURCE_NONE,        /* no MSI controller described where iovad can read it */
        MSI_SOURCE_DEVICE_TREE,
        MSI_SOURCE_ACPI,
        _MSI_SOURCE_MAX,
} MsiSource;

#define ITS_TRANSLATER_OFFSET UINT64_C(0x10040)
#define GICV2M_SETSPI_OFFSET  UINT64_C(0x40)

typedef struct MsiDoorbell {
        uint64_t address;       /* the doorbell register's physical address */
        MsiControllerType type;
} MsiDoorbell;

/* "its", "gicv2m"; NULL for anything else. */
const char *msi_controller_type_to_string(MsiControllerType t);
/* "device tree", "ACPI MADT", "" for none. */
const char *msi_source_to_string(MsiSource s);

/* The doorbell of a controller whose registers start at @base. */
uint64_t msi_doorbell_of(MsiControllerType t, uint64_t base);

/**
 * msi_read_doorbells() - the MSI doorbells below the sysfs @root: device
 * tree nodes compatible with "arm,gic-v3-its" or "arm,gic-v2m-frame"
 * (their first "reg" address, in the parent's #address-cells, default 2),
 * else the MADT's GIC ITS (type 15) and GIC MSI frame (type 13) entries.
 * Sorted by address, unique. Neither there, or a controller whose address
 * cannot be read (no reg, an unreadable or malformed MADT): 0 doorbells,
 * MSI_SOURCE_NONE, since a partial list would undercount. Only -ENOMEM and
 * I/O errors of the device tree's directories fail.
 */
int msi_read_doorbells(const char *root, MsiDoorbell **ret, size_t *ret_n, MsiSource *ret_source);
