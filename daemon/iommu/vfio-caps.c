/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "util/macro.h"
#include "iommu/vfio-caps.h"

#define OFFSETOFEND(type, member) (offsetof(type, member) + sizeof(((type *) NULL)->member))

/*
 * The smallest reply any type1 kernel accepts and writes (argsz, flags,
 * iova_pgsizes); cap_offset came later and is only read when the kernel
 * says it sent a chain.
 */
#define INFO_MINSZ OFFSETOFEND(struct vfio_iommu_type1_info, iova_pgsizes)
#define INFO_CAPSZ OFFSETOFEND(struct vfio_iommu_type1_info, cap_offset)

/* The kernel places the chain after the whole (padded) struct. */
#define INFO_FIXEDSZ sizeof(struct vfio_iommu_type1_info)

#define CAP_HEADERSZ sizeof(struct vfio_info_cap_header)
#define IOVA_RANGE_HEADERSZ offsetof(struct vfio_iommu_type1_info_cap_iova_range, iova_ranges)

/* One fixed-size round plus room for the chain to grow between calls. */
#define QUERY_ROUNDS_MAX 4

/*
 * The buffer is a byte array of unknown alignment (a test may hand us any
 * pointer, and older kernels packed capabilities without padding), so every
 * field is copied out rather than dereferenced.
 */
static uint16_t read_u16(const uint8_t *p) {
        uint16_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint32_t read_u32(const uint8_t *p) {
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t read_u64(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

/*
 * Each parse_cap_*() gets the capability at @p and its extent @avail: up
 * to the next capability, or to argsz for the last one, and at least a
 * header's worth.
 */

static int parse_cap_iova_range(const uint8_t *p, size_t avail, VfioIommuInfo *info) {
        uint32_t nr;
        uint64_t prev_end = 0;
        int r;

        if (info->has_iova_ranges)
                return -EBADMSG; /* the kernel sends each capability once */
        if (avail < IOVA_RANGE_HEADERSZ)
                return -EBADMSG;

        nr = read_u32(p + offsetof(struct vfio_iommu_type1_info_cap_iova_range, nr_iovas));
        /* Divide rather than multiply so a huge nr_iovas cannot wrap. */
        if (nr > (avail - IOVA_RANGE_HEADERSZ) / sizeof(struct vfio_iova_range))
                return -EBADMSG;

        for (uint32_t i = 0; i < nr; i++) {
                const uint8_t *q = p + IOVA_RANGE_HEADERSZ + (size_t) i * sizeof(struct vfio_iova_range);
                uint64_t start = read_u64(q + offsetof(struct vfio_iova_range, start));
                uint64_t end = read_u64(q + offsetof(struct vfio_iova_range, end));

                if (start > end)
                        return -EBADMSG;
                /* The kernel reports its sorted, disjoint list; the range algebra relies on that. */
                if (i > 0 && start <= prev_end)
                        return -EBADMSG;

                r = range_list_add(&info->iova_ranges, start, end);
                if (r < 0)
                        return r;
                prev_end = end;
        }

        info->has_iova_ranges = true;
        return 0;
}

static int parse_cap_dma_avail(const uint8_t *p, size_t avail, VfioIommuInfo *info) {
        if (info->has_dma_avail)
                return -EBADMSG;
        if (avail < sizeof(struct vfio_iommu_type1_info_dma_avail))
                return -EBADMSG;

        info->dma_avail = read_u32(p + offsetof(struct vfio_iommu_type1_info_dma_avail, avail));
        info->has_dma_avail = true;
        return 0;
}

static int parse_cap_migration(const uint8_t *p, size_t avail, VfioIommuInfo *info) {
        if (info->has_migration)
                return -EBADMSG;
        if (avail < sizeof(struct vfio_iommu_type1_info_cap_migration))
                return -EBADMSG;

        info->migration_flags = read_u32(p + offsetof(struct vfio_iommu_type1_info_cap_migration, flags));
        info->migration_pgsize_bitmap = read_u64(p + offsetof(struct vfio_iommu_type1_info_cap_migration, pgsize_bitmap));
        info->migration_max_dirty_bitmap_size =
                read_u64(p + offsetof(struct vfio_iommu_type1_info_cap_migration, max_dirty_bitmap_size));
        info->has_migration = true;
        return 0;
}

static int parse_chain(const uint8_t *p, size_t end, uint32_t first, VfioIommuInfo *info) {
        size_t offset = first;
        int r;

        /* The chain lives after the whole fixed struct. */
        if (offset != 0 && offset < INFO_FIXEDSZ)
                return -EBADMSG;

        while (offset != 0) {
                const uint8_t *cap;
                size_t avail;
                uint32_t next;
                uint16_t id;

                if (offset > end || end - offset < CAP_HEADERSZ)
                        return -EBADMSG;

                cap = p + offset;
                id = read_u16(cap + offsetof(struct vfio_info_cap_header, id));
                next = read_u32(cap + offsetof(struct vfio_info_cap_header, next));

                /*
                 * The kernel appends each capability after the previous one,
                 * so a capability ends where the next begins. Demanding that
                 * the next one starts strictly after this one's header also
                 * refuses loops and bounds the walk by argsz.
                 */
                if (next == 0)
                        avail = end - offset;
                else if (next > offset && next <= end)
                        avail = next - offset;
                else
                        return -EBADMSG;
                if (avail < CAP_HEADERSZ)
                        return -EBADMSG;

                /*
                 * Versions are not checked: a newer version of a capability
                 * only appends fields, so the version 1 layout read here
                 * stays valid.
                 */
                switch (id) {
                case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE:
                        r = parse_cap_iova_range(cap, avail, info);
                        break;
                case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
                        r = parse_cap_dma_avail(cap, avail, info);
                        break;
                case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION:
                        r = parse_cap_migration(cap, avail, info);
                        break;
                default:
                        /* Newer kernels may add capabilities; skip what we cannot read. */
                        info->n_unknown_caps++;
                        r = 0;
                        break;
                }
                if (r < 0)
                        return r;

                offset = next;
        }

        return 0;
}

int vfio_iommu_info_parse(const void *buf, size_t size, VfioIommuInfo *ret, uint32_t *ret_argsz) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        const uint8_t *p = buf;
        uint32_t argsz;
        int r;

        assert(buf || size == 0);
        assert(ret);

        if (size < INFO_MINSZ)
                return -EBADMSG;

        argsz = read_u32(p + offsetof(struct vfio_iommu_type1_info, argsz));
        if (argsz < INFO_MINSZ)
                return -EBADMSG;
        if (argsz > size) {
                /* The kernel had more to say than fit: it wrote the size it needs. */
                if (ret_argsz)
                        *ret_argsz = argsz;
                return -EAGAIN;
        }

        info.flags = read_u32(p + offsetof(struct vfio_iommu_type1_info, flags));
        if (info.flags & VFIO_IOMMU_INFO_PGSIZES)
                info.iova_pgsizes = read_u64(p + offsetof(struct vfio_iommu_type1_info, iova_pgsizes));

        if (info.flags & VFIO_IOMMU_INFO_CAPS) {
                uint32_t cap_offset;

                if (argsz < INFO_CAPSZ)
                        return -EBADMSG;

                /*
                 * Bytes past argsz are not the kernel's, so the chain must
                 * lie within it. An offset of 0 means an empty chain.
                 */
                cap_offset = read_u32(p + offsetof(struct vfio_iommu_type1_info, cap_offset));
                r = parse_chain(p, argsz, cap_offset, &info);
                if (r < 0)
                        return r;
        }

        *ret = info;
        info = (VfioIommuInfo) {};
        return 0;
}

int vfio_iommu_info_query(int (*get_info)(void *buf, size_t size, void *userdata), void *userdata, VfioIommuInfo *ret) {
        /* Start with the fixed part: the kernel then says how much the chain needs. */
        size_t size = INFO_FIXEDSZ;
        int r;

        assert(get_info);
        assert(ret);

        for (unsigned round = 0; round < QUERY_ROUNDS_MAX; round++) {
                _cleanup_free_ uint8_t *buf = NULL;
                uint32_t argsz = (uint32_t) size;

                buf = calloc(1, size);
                if (!buf)
                        return -ENOMEM;
                memcpy(buf + offsetof(struct vfio_iommu_type1_info, argsz), &argsz, sizeof(argsz));

                r = get_info(buf, size, userdata);
                if (r < 0)
                        return r;

                r = vfio_iommu_info_parse(buf, size, ret, &argsz);
                if (r != -EAGAIN)
                        return r;

                if (argsz > VFIO_INFO_MAX_ARGSZ)
                        return -EOVERFLOW;
                size = argsz;
        }

        /* The chain kept growing under us. */
        return -EOVERFLOW;
}

void vfio_iommu_info_done(VfioIommuInfo *i) {
        if (!i)
                return;
        range_list_clear(&i->iova_ranges);
        *i = (VfioIommuInfo) {};
}
