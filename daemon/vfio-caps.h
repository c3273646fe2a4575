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

#include "region.h"

/* The largest reply we accept; a kernel asking for more is refused. */
#define VFIO_INFO_MAX_ARGSZ (1U << 20)

typedef struct VfioIommuInfo {
        uint32_t flags;
        uint64_t iova_pgsizes;

        bool has_iova_ranges;
        RangeList iova_ranges;

        bool has_dma_avail;
        uint32_t dma_avail;

        bool has_migration;
        uint32_t migration_flags;
        uint64_t migration_pgsize_bitmap;
        uint64_t migration_max_dirty_bitmap_size;

        unsigned n_unknown_caps;
} VfioIommuInfo;

/**
 * vfio_iommu_info_parse() - parse a GET_INFO reply of @size bytes.
 * -EAGAIN: the reply's argsz is larger than @size: call again with a buffer
 *          of *@ret_argsz bytes (the re-query protocol);
 * -EBADMSG: the reply is malformed: too short, argsz below the fixed part,
 *          a capability offset inside the fixed part, past argsz or not
 *          moving forward (loop), a truncated capability header or body,
 *          nr_iovas larger than the capability, or inverted ranges.
 * On success *@ret is filled (free it with vfio_iommu_info_done()).
 */
int vfio_iommu_info_parse(const void *buf, size_t size, VfioIommuInfo *ret, uint32_t *ret_argsz);

/**
 * vfio_iommu_info_query() - run the argsz protocol against @get_info.
 * @get_info fills @buf (of @size bytes, argsz already set) like the
 * VFIO_IOMMU_GET_INFO ioctl and returns 0 or a negative errno.
 * Re-queries while the kernel asks for more, up to VFIO_INFO_MAX_ARGSZ and
 * at most 4 times (-EOVERFLOW past that).
 */
int vfio_iommu_info_query(int (*get_info)(void *buf, size_t size, void *userdata), void *userdata, VfioIommuInfo *ret);

void vfio_iommu_info_done(VfioIommuInfo *i);
