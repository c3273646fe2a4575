/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The parts of the kernel's iommufd and VFIO device cdev interface that the
 * iommufd backend uses, as documented in the kernel's uapi (linux/iommufd.h
 * and linux/vfio.h, Linux 6.6 and later). Debian 12's linux-libc-dev (6.1)
 * has no linux/iommufd.h and no VFIO_DEVICE_BIND_IOMMUFD, so the structures
 * are declared here, under names of their own so that newer system headers
 * cannot collide with them; the ioctl numbers and layouts are the kernel's
 * ABI. Every ioctl takes the structure's size in its first member: the
 * kernel accepts a smaller or equal one and zero-fills what it does not
 * know.
 */

#include <stdint.h>
#include <sys/ioctl.h>

/* The kernel's __aligned_u64: 8-byte aligned on 32-bit architectures too. */
typedef uint64_t iovad_aligned_u64 __attribute__((aligned(8)));

#define IOVAD_IOMMUFD_TYPE ';'

/* The command numbers, from 0x80 (the kernel's enum, not all of it). */
#define IOVAD_IOMMUFD_CMD_DESTROY          0x80
#define IOVAD_IOMMUFD_CMD_IOAS_ALLOC       0x81
#define IOVAD_IOMMUFD_CMD_IOAS_IOVA_RANGES 0x84
#define IOVAD_IOMMUFD_CMD_IOAS_MAP         0x85
#define IOVAD_IOMMUFD_CMD_IOAS_UNMAP       0x86
#define IOVAD_IOMMUFD_CMD_OPTION           0x87

/* IOMMU_DESTROY: destroy object @id of the context. */
struct iovad_iommu_destroy {
        uint32_t size;
        uint32_t id;
};
#define IOVAD_IOMMU_DESTROY _IO(IOVAD_IOMMUFD_TYPE, IOVAD_IOMMUFD_CMD_DESTROY)

/* IOMMU_IOAS_ALLOC: a new I/O address space; its id comes back. */
struct iovad_iommu_ioas_alloc {
        uint32_t size;
        uint32_t flags;          /* 0 */
        uint32_t out_ioas_id;
};
#define IOVAD_IOMMU_IOAS_ALLOC _IO(IOVAD_IOMMUFD_TYPE, IOVAD_IOMMUFD_CMD_IOAS_ALLOC)

/* One usable range, @last inclusive. */
struct iovad_iommu_iova_range {
        iovad_aligned_u64 start;
        iovad_aligned_u64 last;
};

/*
 * IOMMU_IOAS_IOVA_RANGES: the ranges the IOAS may map, given the devices
 * attached to it. @num_iovas in: the room at @allowed_iovas; out: how many
 * there are (EMSGSIZE when that is more than the room).
 */
struct iovad_iommu_ioas_iova_ranges {
        uint32_t size;
        uint32_t ioas_id;
        uint32_t num_iovas;
        uint32_t reserved;       /* 0 */
        iovad_aligned_u64 allowed_iovas;  /* user pointer to struct iovad_iommu_iova_range[] */
        iovad_aligned_u64 out_iova_alignment;
};
#define IOVAD_IOMMU_IOAS_IOVA_RANGES _IO(IOVAD_IOMMUFD_TYPE, IOVAD_IOMMUFD_CMD_IOAS_IOVA_RANGES)

#define IOVAD_IOMMU_IOAS_MAP_FIXED_IOVA (1u << 0)
#define IOVAD_IOMMU_IOAS_MAP_WRITEABLE  (1u << 1)
#define IOVAD_IOMMU_IOAS_MAP_READABLE   (1u << 2)

/* IOMMU_IOAS_MAP: pin @length bytes at @user_va and map them at @iova. */
struct iovad_iommu_ioas_map {
        uint32_t size;
        uint32_t flags;
        uint32_t ioas_id;
        uint32_t reserved;       /* 0 */
        iovad_aligned_u64 user_va;
        iovad_aligned_u64 length;
        iovad_aligned_u64 iova;           /* in with FIXED_IOVA, else out */
};
#define IOVAD_IOMMU_IOAS_MAP _IO(IOVAD_IOMMUFD_TYPE, IOVAD_IOMMUFD_CMD_IOAS_MAP)

/*
 * IOMMU_IOAS_UNMAP: unmap every mapping inside [@iova, @iova + @length);
 * @length comes back as the bytes unmapped. A range that cuts a mapping,
 * or holds none, is ENOENT.
 */
struct iovad_iommu_ioas_unmap {
        uint32_t size;
        uint32_t ioas_id;
        iovad_aligned_u64 iova;
        iovad_aligned_u64 length;
};
#define IOVAD_IOMMU_IOAS_UNMAP _IO(IOVAD_IOMMUFD_TYPE, IOVAD_IOMMUFD_CMD_IOAS_UNMAP)

/*
 * IOMMU_OPTION. RLIMIT_MODE (global, @object_id 0, set before the context
 * holds any object, needs CAP_SYS_RESOURCE): 0 charges pinned pages to the
 * user of the process that maps them, 1 to that process's mm (locked_vm,
 * as VFIO type1 does), both against its RLIMIT_MEMLOCK; a process with
 * CAP_IPC_LOCK is not charged at all.
 */
#define IOVAD_IOMMU_OPTION_RLIMIT_MODE 0
#define IOVAD_IOMMU_OPTION_OP_SET 0
#define IOVAD_IOMMU_OPTION_OP_GET 1
struct iovad_iommu_option {
        uint32_t size;
        uint32_t option_id;
        uint16_t op;
        uint16_t reserved;       /* 0 */
        uint32_t object_id;
        iovad_aligned_u64 val64;
};
#define IOVAD_IOMMU_OPTION _IO(IOVAD_IOMMUFD_TYPE, IOVAD_IOMMUFD_CMD_OPTION)

/* VFIO's ioctl base (linux/vfio.h: VFIO_TYPE ';', VFIO_BASE 100). */
#define IOVAD_VFIO_TYPE ';'
#define IOVAD_VFIO_BASE 100

/*
 * VFIO_DEVICE_BIND_IOMMUFD, on a device cdev (/dev/vfio/devices/vfioN):
 * bind the device to the iommufd context @iommufd; the device's id in that
 * context comes back. Closing the cdev unbinds it. A device is bound once:
 * a second cdev open cannot bind it while the first is bound.
 */
struct iovad_vfio_device_bind_iommufd {
        uint32_t argsz;
        uint32_t flags;          /* 0 */
        int32_t iommufd;
        uint32_t out_devid;
};
#define IOVAD_VFIO_DEVICE_BIND_IOMMUFD _IO(IOVAD_VFIO_TYPE, IOVAD_VFIO_BASE + 18)

/* VFIO_DEVICE_ATTACH_IOMMUFD_PT: attach the bound device to IOAS (or HWPT) @pt_id. */
struct iovad_vfio_device_attach_iommufd_pt {
        uint32_t argsz;
        uint32_t flags;          /* 0 */
        uint32_t pt_id;          /* in: the IOAS; out: the page table the kernel made for it */
};
#define IOVAD_VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(IOVAD_VFIO_TYPE, IOVAD_VFIO_BASE + 19)

/* VFIO_DEVICE_DETACH_IOMMUFD_PT: back to blocking all DMA. */
struct iovad_vfio_device_detach_iommufd_pt {
        uint32_t argsz;
        uint32_t flags;          /* 0 */
};
#define IOVAD_VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(IOVAD_VFIO_TYPE, IOVAD_VFIO_BASE + 20)

_Static_assert(sizeof(struct iovad_iommu_ioas_iova_ranges) == 32, "iommu_ioas_iova_ranges");
_Static_assert(sizeof(struct iovad_iommu_ioas_map) == 40, "iommu_ioas_map");
_Static_assert(sizeof(struct iovad_iommu_ioas_unmap) == 24, "iommu_ioas_unmap");
_Static_assert(sizeof(struct iovad_iommu_option) == 24, "iommu_option");
_Static_assert(sizeof(struct iovad_vfio_device_bind_iommufd) == 16, "vfio_device_bind_iommufd");
