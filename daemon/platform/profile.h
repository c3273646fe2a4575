/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Platform profiles: a JSON description of a machine's IOMMU (aperture, page
 * sizes, DMA entry limit, interrupt remapping) and its groups, with their
 * reserved_regions lines verbatim and their PCI devices. The simulated
 * backend runs on one. Format: docs/profiles.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommu/region.h"
#include "platform/msi.h"

typedef struct ProfileDevice {
        char address[16];  /* "0000:01:00.0" */
        uint16_t vendor;
        uint16_t device;
        uint32_t class;    /* 24-bit class code, 0x020000 */
        char driver[32];   /* "" when no driver is bound */
        char parent[16];   /* the upstream bridge (another device of the profile), "" on a root bus */
        uint8_t *config;   /* its configuration space, from lspci -xxx lines; NULL: none */
        size_t config_size; /* 256 or 4096 */
        char **resources;  /* the lines of sysfs's resource file, NULL-terminated; NULL: none */
} ProfileDevice;

typedef struct ProfileGroup {
        unsigned id;
        char **reserved_lines; /* NULL-terminated, verbatim */
        RegionList regions;    /* the same, parsed, origin "group N" */
        ProfileDevice *devices;
        size_t n_devices;
} ProfileGroup;

/* An Arm MSI controller, written into the simulated device tree. */
typedef struct ProfileMsiController {
        MsiControllerType type;
        uint64_t base;     /* its registers' physical address */
} ProfileMsiController;

typedef struct Profile {
        char *name;
        char *description;           /* optional, may be NULL */
        unsigned aperture_bits;      /* 32..64 */
        uint64_t page_sizes;         /* bitmap of supported page sizes */
        uint32_t dma_entry_limit;    /* default 65535 */
        bool interrupt_remapping;
        bool allow_unsafe_interrupts; /* default false */
        char *kernel_release;        /* optional: the simulated kernel's uname -r, for its known bugs */
        ProfileGroup *groups;
        size_t n_groups;
        ProfileMsiController *msi_controllers; /* none given: one ITS (or GICv2m frame) at QEMU virt's address */
        size_t n_msi_controllers;
} Profile;

/**
 * profile_parse() - parse a profile from JSON text.
 * -EINVAL: the text is not strict JSON, a field is missing, of the wrong
 *          type or out of range, or a key is unknown; *@ret_error (if not
 *          NULL) is set to a newly allocated message that starts with the
 *          JSON path of the field, e.g. "groups[1].devices[0].vendor:
 *          expected a hex string like "0x8086"", or "(root): ..." for the
 *          document itself.
 * Group ids and device addresses must be unique; every reserved_regions
 * line must parse (region_parse_line()). Each group's regions are its lines
 * in order, not normalized, with origin "group N".
 */
int profile_parse(const char *json, Profile **ret, char **ret_error);

/**
 * profile_load() - load a profile by file path or by shipped name.
 * @what containing a '/' or ending in ".json" is a path; anything else is
 * the name of a profile in @profiles_dir ("x86-vtd" -> DIR/x86-vtd.json).
 * -ENOENT when neither exists (and for empty names or names starting with
 * a dot); errors of reading the file, or of profile_parse(), whose message
 * is then prefixed with the file's path ("FILE: groups[1]...").
 */
int profile_load(const char *what, const char *profiles_dir, Profile **ret, char **ret_error);

Profile *profile_free(Profile *p);

const ProfileGroup *profile_find_group(const Profile *p, unsigned id);
const ProfileDevice *profile_find_device(const Profile *p, const char *address);
