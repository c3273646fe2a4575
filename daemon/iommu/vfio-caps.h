/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * VFIO_IOMMU_GET_INFO reply parsing: the fixed struct
 * vfio_iommu_type1_info, its argsz re-query protocol and the capability
 * chain (IOVA_RANGE, DMA_AVAIL, MIGRATION; unknown ids skipped).
 *
 * The parser takes a byte buffer so it can be tested with buffers laid out
 * the way the kernel lays them out, and treats the buffer as hostile.
 * Pure module: no logging, negative errno on failure.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommu/region.h"

/* The largest reply we accept; a kernel asking for more is refused. */
#define VFIO_INFO_MAX_ARGSZ (1U << 20)

typedef struct VfioIommuInfo {
        uint32_t flags;              /* VFIO_IOMMU_INFO_* as the kernel set them */
        uint64_t iova_pgsizes;       /* 0 unless VFIO_IOMMU_INFO_PGSIZES */

        bool has_iova_ranges;
        RangeList iova_ranges;       /* usable ranges, sorted, inclusive ends */

        bool has_dma_avail;
        uint32_t dma_avail;

        bool has_migration;
        uint32_t migration_flags;
        uint64_t migration_pgsize_bitmap;
        uint64_t migration_max_dirty_bitmap_size;

        unsigned n_unknown_caps;     /* capabilities with ids we do not know, skipped */
} VfioIommuInfo;

/**
 * vfio_iommu_info_parse() - parse a GET_INFO reply of @size bytes.
 * @buf: the reply, of any alignment; only its first argsz bytes are read.
 * @ret: filled on success only (free it with vfio_iommu_info_done()).
 * @ret_argsz: may be NULL; written only on -EAGAIN.
 *
 * Each known capability is read in its version 1 layout, which later
 * versions extend. Unknown ids are counted and skipped.
 *
 * Return: 0 on success;
 * -EAGAIN: the reply's argsz is larger than @size: call again with a buffer
 *          of *@ret_argsz bytes (the re-query protocol);
 * -EBADMSG: the reply is malformed: too short, argsz below the fixed part,
 *          a chain announced with no room for cap_offset, a capability
 *          offset inside the fixed part, past argsz or not past the header
 *          of the previous capability (which refuses loops), a truncated
 *          capability header or body (a capability ends where the next one
 *          begins, the last one at argsz), a known capability sent twice,
 *          nr_iovas larger than the capability, or ranges that are
 *          inverted, unsorted or overlapping;
 * -ENOMEM.
 */
int vfio_iommu_info_parse(const void *buf, size_t size, VfioIommuInfo *ret, uint32_t *ret_argsz);

/**
 * vfio_iommu_info_query() - run the argsz protocol against @get_info.
 * @get_info: fills @buf (of @size bytes, zeroed, argsz already set to
 *            @size) like the VFIO_IOMMU_GET_INFO ioctl and returns 0 or a
 *            negative errno, which is passed straight up.
 * @ret: filled on success only (free it with vfio_iommu_info_done()).
 *
 * Starts with a buffer of the fixed part only and re-queries while the
 * kernel asks for more.
 *
 * Return: 0 on success; -EOVERFLOW when the kernel asks for more than
 * VFIO_INFO_MAX_ARGSZ or still wants more after 4 calls; the errors of
 * @get_info and of vfio_iommu_info_parse() otherwise.
 */
int vfio_iommu_info_query(int (*get_info)(void *buf, size_t size, void *userdata), void *userdata, VfioIommuInfo *ret);

/* Frees what vfio_iommu_info_parse() allocated and resets @i; accepts NULL. */
void vfio_iommu_info_done(VfioIommuInfo *i);
