/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Backends: what iovad asks of the kernel, as an ops table chosen at run
 * time. "vfio-type1" talks to /dev/vfio, "iommufd" to /dev/iommu and the
 * devices' VFIO cdevs; "simulated" keeps the same
 * semantics in memory on a platform profile (interrupt isolation, group
 * viability, reserved regions, aperture, page sizes, the DMA entry limit,
 * refusal of maps outside the usable ranges and of attaches that hit
 * existing mappings), so the daemon logic above is the same for both.
 *
 * Errors follow the kernel's: -EPERM attach refused for interrupt
 * isolation or a non-viable group, -EINVAL attach conflicting with
 * mappings or a map outside the usable ranges, -EEXIST a map overlapping
 * another, -ENOSPC the DMA entry limit, -EBUSY the group is in another
 * container, -ENOENT unknown group or device, -EOPNOTSUPP not possible on
 * this backend.
 */

#include <stdbool.h>
#include <stdint.h>

#include "platform/profile.h"
#include "iommu/region.h"
#include "platform/sysfs.h"

typedef struct Backend Backend;
typedef struct BackendContainer BackendContainer;

typedef struct BackendInfo {
        uint64_t page_sizes;   /* bitmap */
        bool has_aperture;     /* else the span of the usable ranges is taken */
        Range aperture;
        RangeList usable;      /* IOVA_RANGE: usable ranges as the kernel sees them */
        bool has_dma_avail;
        uint32_t dma_avail;    /* DMA_AVAIL: mappings left */
        RegionList kernel_holes; /* IOVA the kernel reports usable but cannot map safely (backend_kernel_holes()) */
} BackendInfo;

typedef struct BackendOps {
        const char *name; /* "vfio-type1", "iommufd", "simulated" */

        void (*free)(Backend *b);

        int (*container_new)(Backend *b, BackendContainer **ret);
        void (*container_free)(BackendContainer *c);

        int (*attach_group)(BackendContainer *c, unsigned group);
        int (*detach_group)(BackendContainer *c, unsigned group);

        /* Only valid while at least one group is attached (-ENXIO otherwise). */
        int (*get_info)(BackendContainer *c, BackendInfo *ret);

        int (*map_dma)(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, bool writable);
        /* *ret_unmapped: the bytes the kernel says it unmapped (VFIO_IOMMU_UNMAP_DMA writes size back). */
        int (*unmap_dma)(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped);

        /* A VFIO device fd for @address, which must be in an attached group. */
        int (*open_device)(BackendContainer *c, unsigned group, const char *address);

        /*
         * The fds that are @c in the kernel, for systemd's fd store: the
         * container's (-ENXIO while no group is attached: the kernel has no
         * IOMMU for it then) and an attached group's (-ENXIO otherwise).
         * Both stay @c's; the caller sends copies. These five operations
         * are NULL in a backend whose containers cannot be adopted
         * (iommufd): then nothing goes to the fd store but lease memfds.
         */
        int (*container_fd)(BackendContainer *c);
        int (*group_fd)(BackendContainer *c, unsigned group);

        /*
         * A container a previous iovad made, from the fds it kept: @fd the
         * container's, @group_fds[i] that of @groups[i]. Takes the fds over
         * (on failure too). Checks what the kernel can say: the container
         * fd is a VFIO container with a type1v2 IOMMU set, each group fd is
         * the group it is named for, viable and in a container. -EBADF for
         * an fd that is not what it is named, -ENXIO for a container with no
         * IOMMU, -EPERM for a group that is no longer viable, -ENOTSUP when
         * the container cannot take new virtual addresses
         * (VFIO_UPDATE_VADDR), which adopting its mappings needs.
         */
        int (*container_adopt)(Backend *b, int fd, const unsigned *groups, const int *group_fds, size_t n,
                               BackendContainer **ret);

        /*
         * VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_VADDR: the mappings
         * wholly inside the range keep their IOMMU entries but lose their
         * virtual address; *@ret_bytes says how many bytes they cover.
         * -EINVAL when a mapping crosses an edge of the range, or one of
         * them has no virtual address already (then none is changed).
         */
        int (*invalidate_vaddr)(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_bytes);
        /*
         * VFIO_IOMMU_MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR: the one mapping
         * of exactly @iova and @size, whose virtual address was
         * invalidated, takes @vaddr. -ENOENT when nothing is mapped there,
         * -EINVAL when what is mapped is not exactly that range or still
         * has its address.
         */
        int (*update_vaddr)(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr);

        /* Hand @address to vfio-pci (driver_override) and give it back. */
        int (*bind_vfio)(Backend *b, const char *address);
        int (*unbind_vfio)(Backend *b, const char *address, const char *previous_driver);
} BackendOps;

struct Backend {
        const BackendOps *ops;
        char *sysfs_root;     /* what sysfs_read_platform() reads */
        char *platform;       /* profile name, or a description of the host */
};

void backend_info_done(BackendInfo *i);

/**
 * backend_kernel_holes() - IOVA ranges that kernel @release (uname -r)
 * reports as usable but cannot map safely, for a domain of @usable ranges
 * and smallest page @page, appended to @holes as "reserved" regions whose
 * origin names the bug. Known today: vfio/type1 before 6.18 wraps
 * iova + size for a mapping that ends at 2^64 - 1, so a later unmap there
 * unmaps IOVA 0 instead and reports success ("vfio/type1: handle DMA
 * map/unmap up to the addressable limit"); the last page is kept out.
 * A NULL or unparsable @release is taken as a kernel without the bugs.
 */
int backend_kernel_holes(const char *release, const RangeList *usable, uint64_t page, RegionList *holes);

/**
 * backend_sim_new() - the simulated backend on @profile (taken over).
 * Writes the profile's sysfs tree into a new directory below @runtime_dir,
 * removed again by backend_free().
 */
int backend_sim_new(Profile *profile, const char *runtime_dir, Backend **ret);

/**
 * backend_vfio_new() - the vfio-type1 backend on this host.
 * -ENOENT when /dev/vfio/vfio does not exist, -ENOTSUP when the kernel
 * lacks type1v2.
 */
int backend_vfio_new(const char *sysfs_root, Backend **ret);

/**
 * backend_iommufd_new() - the iommufd backend on this host: an iommufd
 * context and IOAS per container, devices through their VFIO cdevs.
 * -ENOENT when /dev/iommu does not exist.
 */
int backend_iommufd_new(const char *sysfs_root, Backend **ret);

/**
 * backend_iommufd_usable() - 1 when the automatic choice is iommufd:
 * /dev/iommu exists and a device on vfio-pci has its cdev in
 * /dev/vfio/devices (or none is on vfio-pci and there is no type1); else 0
 * with the reason in *@ret_reason (freed by the caller).
 */
int backend_iommufd_usable(const char *sysfs_root, char **ret_reason);

/*
 * backend_iommufd_accounting() - whom the kernel charges the pages an
 * iommufd backend pins, in words; NULL for other backends.
 */
const char *backend_iommufd_accounting(const Backend *b);

/**
 * backend_iommufd_open_delegate() - for a VMM that maps its own memory: a
 * new iommufd context (/dev/iommu) and a new, unbound fd of @address's
 * cdev. -EOPNOTSUPP on another backend, -ENODEV when the device has no
 * cdev (not on vfio-pci).
 */
int backend_iommufd_open_delegate(Backend *b, const char *address, int *ret_iommufd, int *ret_device);

/* 1 when a process other than iovad has @address's cdev open, 0 when none does. */
int backend_iommufd_device_in_use(Backend *b, const char *address);

/* What type1 and iommufd share: driver_override binding, the platform's description. */
int backend_pci_bind_vfio(Backend *b, const char *address);
int backend_pci_unbind_vfio(Backend *b, const char *address, const char *previous_driver);
int backend_describe_platform(const char *sysfs_root, char **ret);

Backend *backend_free(Backend *b);

typedef enum BackendAdoption {
        BACKEND_ADOPTED,       /* the kernel had exactly this mapping: it now has @vaddr */
        BACKEND_MAPPED_AGAIN,  /* nothing was mapped there: mapped now */
        BACKEND_REPLACED,      /* something else was: unmapped, and mapped now */
} BackendAdoption;

/**
 * backend_adopt_dma() - make the mapping of @iova + @size in an adopted
 * container @c the one of @vaddr, checking what the kernel has there
 * first (docs/state.md, "Adopting a container"): the mappings inside the
 * range lose their virtual address (invalidate_vaddr), and the kernel
 * must then take @vaddr for exactly one mapping of exactly this range
 * (update_vaddr). When nothing was mapped the range is mapped again; when
 * something else was (other edges, several pieces) it is unmapped and
 * mapped again, and *@ret says so. -EINVAL when a mapping crosses the
 * range's edges (the range is left as it was), and map_dma's errors.
 */
int backend_adopt_dma(BackendContainer *c, const BackendOps *ops, uint64_t iova, uint64_t size, void *vaddr,
                      bool writable, BackendAdoption *ret);

/**
 * backend_open() - the backend iovad's command line asks for: the
 * simulated one on profile @simulate (a file, or a name in @profiles_dir)
 * when it is not NULL, else @kind on the host below @sysfs_root:
 * "vfio-type1", "iommufd", or "auto" (or NULL): iommufd where
 * backend_iommufd_usable() says so, vfio-type1 otherwise.
 * On failure *@ret_error says why, in words for the administrator.
 */
int backend_open(const char *simulate, const char *kind, const char *profiles_dir, const char *runtime_dir,
                 const char *sysfs_root, Backend **ret, char **ret_error);
