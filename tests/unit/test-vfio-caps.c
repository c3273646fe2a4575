/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "util/macro.h"
#include "iommu/vfio-caps.h"

/*
 * Replies are built the way the type1 driver builds them: the fixed struct,
 * then each capability appended at the end with vfio_info_cap_add()'s
 * rules (linked from the previous one, or from cap_offset for the first).
 * Kernels since 6.6 pad each capability to 8 bytes; older ones packed
 * them, which leaves later capabilities unaligned.
 */

#define FIXEDSZ sizeof(struct vfio_iommu_type1_info)
#define MSI_START UINT64_C(0xfee00000)
#define MSI_END UINT64_C(0xfeefffff)
#define APERTURE_END ((UINT64_C(1) << 39) - 1)
#define PGSIZES (UINT64_C(0x1000) | UINT64_C(0x200000) | UINT64_C(0x40000000))

typedef struct Reply {
        uint8_t buf[4096];
        size_t size;
        size_t last_cap; /* 0: none yet */
        bool pad;        /* pad capabilities to 8 bytes, as kernels >= 6.6 do */
} Reply;

static void put_u16(Reply *r, size_t offset, uint16_t v) {
        memcpy(r->buf + offset, &v, sizeof(v));
}

static void put_u32(Reply *r, size_t offset, uint32_t v) {
        memcpy(r->buf + offset, &v, sizeof(v));
}

static void put_u64(Reply *r, size_t offset, uint64_t v) {
        memcpy(r->buf + offset, &v, sizeof(v));
}

static void reply_init(Reply *r, bool pad) {
        *r = (Reply) { .size = FIXEDSZ, .pad = pad };
        put_u32(r, offsetof(struct vfio_iommu_type1_info, flags), VFIO_IOMMU_INFO_PGSIZES);
        put_u64(r, offsetof(struct vfio_iommu_type1_info, iova_pgsizes), PGSIZES);
}

/* Appends a capability with @body_size bytes after its header; returns its offset. */
static size_t reply_add_cap(Reply *r, uint16_t id, uint16_t version, const void *body, size_t body_size) {
        size_t size = sizeof(struct vfio_info_cap_header) + body_size;
        size_t offset = r->size;

        if (r->pad)
                size = (size + 7) & ~(size_t) 7;
        ck_assert_uint_le(offset + size, sizeof(r->buf));

        memset(r->buf + offset, 0, size);
        put_u16(r, offset + offsetof(struct vfio_info_cap_header, id), id);
        put_u16(r, offset + offsetof(struct vfio_info_cap_header, version), version);
        if (body_size > 0)
                memcpy(r->buf + offset + sizeof(struct vfio_info_cap_header), body, body_size);

        if (r->last_cap == 0) {
                uint32_t flags;

                memcpy(&flags, r->buf + offsetof(struct vfio_iommu_type1_info, flags), sizeof(flags));
                put_u32(r, offsetof(struct vfio_iommu_type1_info, flags), flags | VFIO_IOMMU_INFO_CAPS);
                put_u32(r, offsetof(struct vfio_iommu_type1_info, cap_offset), (uint32_t) offset);
        } else
                put_u32(r, r->last_cap + offsetof(struct vfio_info_cap_header, next), (uint32_t) offset);

        r->last_cap = offset;
        r->size += size;
        return offset;
}

static size_t reply_add_migration(Reply *r) {
        uint8_t body[sizeof(struct vfio_iommu_type1_info_cap_migration) - sizeof(struct vfio_info_cap_header)] = {};
        size_t h = sizeof(struct vfio_info_cap_header);
        uint32_t flags = 0;
        uint64_t pgsizes = 0x1000, max = UINT64_C(256) << 20;

        memcpy(body + offsetof(struct vfio_iommu_type1_info_cap_migration, flags) - h, &flags, sizeof(flags));
        memcpy(body + offsetof(struct vfio_iommu_type1_info_cap_migration, pgsize_bitmap) - h, &pgsizes, sizeof(pgsizes));
        memcpy(body + offsetof(struct vfio_iommu_type1_info_cap_migration, max_dirty_bitmap_size) - h, &max, sizeof(max));
        return reply_add_cap(r, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1, body, sizeof(body));
}

static size_t reply_add_dma_avail(Reply *r, uint32_t avail) {
        return reply_add_cap(r, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, &avail, sizeof(avail));
}

/* @ranges holds start, end pairs; @nr_iovas is written as given so it can lie. */
static size_t reply_add_iova_ranges(Reply *r, uint32_t nr_iovas, const uint64_t *ranges, size_t n_ranges) {
        uint8_t body[8 + 16 * 8] = {};
        uint32_t reserved = 0;

        ck_assert_uint_le(n_ranges, 8);
        memcpy(body, &nr_iovas, sizeof(nr_iovas));
        memcpy(body + 4, &reserved, sizeof(reserved));
        if (n_ranges > 0)
                memcpy(body + 8, ranges, n_ranges * 2 * sizeof(uint64_t));
        return reply_add_cap(r, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1, body, 8 + n_ranges * 2 * sizeof(uint64_t));
}

/* argsz as the kernel leaves it when everything fitted: the size it was given. */
static void reply_finish(Reply *r) {
        put_u32(r, offsetof(struct vfio_iommu_type1_info, argsz), (uint32_t) r->size);
}

/* What an Intel VT-d host with interrupt remapping reports. */
static void reply_intel(Reply *r, bool pad) {
        static const uint64_t ranges[] = {
                0, MSI_START - 1,
                MSI_END + 1, APERTURE_END,
        };

        /* The driver's order: migration, DMA_AVAIL, IOVA_RANGE. */
        reply_init(r, pad);
        reply_add_migration(r);
        reply_add_dma_avail(r, 65535);
        reply_add_iova_ranges(r, 2, ranges, 2);
        reply_finish(r);
}

/*
 * Parse @size bytes of @r from a buffer of exactly that size, placed @shift
 * bytes into its allocation, so the sanitizers see any read past the end
 * and any misaligned access.
 */
static int parse_exact(const Reply *r, size_t size, size_t shift, VfioIommuInfo *ret, uint32_t *ret_argsz) {
        _cleanup_free_ uint8_t *copy = NULL;

        /* Never malloc(0), whose result may be NULL. */
        copy = malloc(size + shift > 0 ? size + shift : 1);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy + shift, r->buf, size);
        return vfio_iommu_info_parse(copy + shift, size, ret, ret_argsz);
}

static int parse_reply(const Reply *r, VfioIommuInfo *ret) {
        return parse_exact(r, r->size, 0, ret, NULL);
}

static void assert_intel(const VfioIommuInfo *info) {
        ck_assert_uint_eq(info->flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
        ck_assert_uint_eq(info->iova_pgsizes, PGSIZES);

        ck_assert(info->has_iova_ranges);
        ck_assert_uint_eq(info->iova_ranges.n, 2);
        ck_assert_uint_eq(info->iova_ranges.items[0].start, 0);
        ck_assert_uint_eq(info->iova_ranges.items[0].end, MSI_START - 1);
        ck_assert_uint_eq(info->iova_ranges.items[1].start, MSI_END + 1);
        ck_assert_uint_eq(info->iova_ranges.items[1].end, APERTURE_END);

        ck_assert(info->has_dma_avail);
        ck_assert_uint_eq(info->dma_avail, 65535);

        ck_assert(info->has_migration);
        ck_assert_uint_eq(info->migration_flags, 0);
        ck_assert_uint_eq(info->migration_pgsize_bitmap, 0x1000);
        ck_assert_uint_eq(info->migration_max_dirty_bitmap_size, UINT64_C(256) << 20);

        ck_assert_uint_eq(info->n_unknown_caps, 0);
}

/* ---- parse ---- */

START_TEST(test_intel_reply) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        reply_intel(&r, true);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        assert_intel(&info);
}
END_TEST

START_TEST(test_intel_reply_packed) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        /* Before 6.6: DMA_AVAIL is 12 bytes, so IOVA_RANGE starts at a 4-byte boundary. */
        reply_intel(&r, false);
        ck_assert_uint_eq(r.size, FIXEDSZ + 32 + 12 + 16 + 2 * 16);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        assert_intel(&info);
}
END_TEST

START_TEST(test_unaligned_buffer) {
        Reply r;

        for (size_t shift = 1; shift < 8; shift++) {
                _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};

                reply_intel(&r, shift % 2 == 0);
                ck_assert_int_eq(parse_exact(&r, r.size, shift, &info, NULL), 0);
                assert_intel(&info);
        }
}
END_TEST

START_TEST(test_no_caps) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        /* No chain: cap_offset is ignored unless the kernel sets VFIO_IOMMU_INFO_CAPS. */
        reply_init(&r, true);
        put_u32(&r, offsetof(struct vfio_iommu_type1_info, cap_offset), 12345);
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert_uint_eq(info.flags, VFIO_IOMMU_INFO_PGSIZES);
        ck_assert_uint_eq(info.iova_pgsizes, PGSIZES);
        ck_assert(!info.has_iova_ranges);
        ck_assert_uint_eq(info.iova_ranges.n, 0);
        ck_assert(!info.has_dma_avail);
        ck_assert(!info.has_migration);
        ck_assert_uint_eq(info.n_unknown_caps, 0);
}
END_TEST

START_TEST(test_no_caps_old_kernel) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        /* Kernels before the chain answered with argsz, flags and iova_pgsizes only. */
        reply_init(&r, true);
        r.size = offsetof(struct vfio_iommu_type1_info, cap_offset);
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert_uint_eq(info.iova_pgsizes, PGSIZES);
        ck_assert(!info.has_iova_ranges);
}
END_TEST

START_TEST(test_no_pgsizes_flag) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        reply_init(&r, true);
        put_u32(&r, offsetof(struct vfio_iommu_type1_info, flags), 0);
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert_uint_eq(info.flags, 0);
        ck_assert_uint_eq(info.iova_pgsizes, 0);
}
END_TEST

START_TEST(test_empty_chain) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        reply_init(&r, true);
        put_u32(&r, offsetof(struct vfio_iommu_type1_info, flags), VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert_uint_eq(info.flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
        ck_assert(!info.has_iova_ranges);
        ck_assert(!info.has_dma_avail);
}
END_TEST

START_TEST(test_unknown_caps_skipped) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        static const uint64_t ranges[] = { 0x1000, 0xffffffff };
        static const uint8_t blob[20] = { 0xde, 0xad, 0xbe, 0xef };
        Reply r;

        reply_init(&r, true);
        reply_add_cap(&r, 99, 3, blob, sizeof(blob));
        reply_add_dma_avail(&r, 17);
        reply_add_cap(&r, 0, 1, NULL, 0);
        reply_add_iova_ranges(&r, 1, ranges, 1);
        reply_add_cap(&r, UINT16_MAX, 1, blob, 4);
        reply_finish(&r);

        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert_uint_eq(info.n_unknown_caps, 3);
        ck_assert(info.has_dma_avail);
        ck_assert_uint_eq(info.dma_avail, 17);
        ck_assert(info.has_iova_ranges);
        ck_assert_uint_eq(info.iova_ranges.n, 1);
        ck_assert_uint_eq(info.iova_ranges.items[0].start, 0x1000);
        ck_assert_uint_eq(info.iova_ranges.items[0].end, 0xffffffff);
        ck_assert(!info.has_migration);
}
END_TEST

START_TEST(test_newer_cap_version) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        uint8_t body[8] = {};
        uint32_t avail = 42;
        Reply r;

        /* A version 2 that appends a field still carries the version 1 layout first. */
        memcpy(body, &avail, sizeof(avail));
        reply_init(&r, true);
        reply_add_cap(&r, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 2, body, sizeof(body));
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert(info.has_dma_avail);
        ck_assert_uint_eq(info.dma_avail, 42);
}
END_TEST

START_TEST(test_argsz_larger_than_needed) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        /* A roomy buffer: the kernel leaves argsz as the caller set it, zeroes after the chain. */
        reply_intel(&r, true);
        memset(r.buf + r.size, 0, 64);
        r.size += 64;
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        assert_intel(&info);
}
END_TEST

START_TEST(test_bytes_past_argsz_ignored) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        /* What lies past argsz is not the kernel's and is never read. */
        reply_intel(&r, true);
        memset(r.buf + r.size, 0xff, 64);
        r.size += 64;
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        assert_intel(&info);
}
END_TEST

START_TEST(test_empty_iova_range_cap) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        reply_init(&r, true);
        reply_add_iova_ranges(&r, 0, NULL, 0);
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert(info.has_iova_ranges);
        ck_assert_uint_eq(info.iova_ranges.n, 0);
}
END_TEST

START_TEST(test_full_64bit_range) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        static const uint64_t ranges[] = { 0, UINT64_MAX };
        Reply r;

        reply_init(&r, true);
        reply_add_iova_ranges(&r, 1, ranges, 1);
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert_uint_eq(info.iova_ranges.n, 1);
        ck_assert_uint_eq(info.iova_ranges.items[0].end, UINT64_MAX);
}
END_TEST

/* ---- argsz re-query ---- */

typedef struct FakeKernel {
        Reply full;       /* what the kernel has to say */
        unsigned calls;
        uint32_t grow;    /* if not 0: keep asking for this many bytes more */
        uint32_t ask;     /* if not 0: ask for exactly this much */
        int error;        /* if not 0: fail with it */
} FakeKernel;

/* Behaves like vfio_iommu_type1_get_info() on the caller's buffer. */
static int fake_get_info(void *buf, size_t size, void *userdata) {
        FakeKernel *k = userdata;
        uint32_t argsz, needed;

        k->calls++;
        ck_assert_uint_ge(size, offsetof(struct vfio_iommu_type1_info, cap_offset));
        memcpy(&argsz, (uint8_t *) buf + offsetof(struct vfio_iommu_type1_info, argsz), sizeof(argsz));
        ck_assert_uint_eq(argsz, size);

        if (k->error != 0)
                return k->error;

        needed = (uint32_t) k->full.size;
        if (k->ask != 0)
                needed = k->ask;
        if (k->grow != 0)
                needed = (uint32_t) size + k->grow;

        if (argsz < needed) {
                /* Only the fixed part, the flags saying a chain exists, cap_offset 0, the size needed. */
                size_t n = size < FIXEDSZ ? size : FIXEDSZ;
                uint32_t flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, zero = 0;

                memcpy(buf, k->full.buf, n);
                memcpy((uint8_t *) buf + offsetof(struct vfio_iommu_type1_info, flags), &flags, sizeof(flags));
                memcpy((uint8_t *) buf + offsetof(struct vfio_iommu_type1_info, cap_offset), &zero, sizeof(zero));
                memcpy((uint8_t *) buf + offsetof(struct vfio_iommu_type1_info, argsz), &needed, sizeof(needed));
                return 0;
        }

        ck_assert_uint_ge(size, k->full.size);
        memcpy(buf, k->full.buf, k->full.size);
        memcpy(buf, &argsz, sizeof(argsz));
        return 0;
}

START_TEST(test_parse_asks_for_more) {
        VfioIommuInfo info = { .dma_avail = 7 };
        uint32_t argsz = 0;
        Reply r;

        reply_intel(&r, true);
        ck_assert_int_eq(parse_exact(&r, FIXEDSZ, 0, &info, &argsz), -EAGAIN);
        ck_assert_uint_eq(argsz, r.size);
        /* Untouched on failure. */
        ck_assert_uint_eq(info.dma_avail, 7);
        ck_assert(!info.has_dma_avail);

        /* Even a reply cut to the minimal fixed part says how much it needs. */
        argsz = 0;
        ck_assert_int_eq(parse_exact(&r, offsetof(struct vfio_iommu_type1_info, cap_offset), 0, &info, &argsz), -EAGAIN);
        ck_assert_uint_eq(argsz, r.size);
        ck_assert_int_eq(parse_exact(&r, FIXEDSZ, 0, &info, NULL), -EAGAIN);
}
END_TEST

START_TEST(test_query_requery) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        FakeKernel k = {};

        reply_intel(&k.full, true);
        ck_assert_int_eq(vfio_iommu_info_query(fake_get_info, &k, &info), 0);
        ck_assert_uint_eq(k.calls, 2);
        assert_intel(&info);
}
END_TEST

START_TEST(test_query_no_caps) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        FakeKernel k = {};

        reply_init(&k.full, true);
        reply_finish(&k.full);
        ck_assert_int_eq(vfio_iommu_info_query(fake_get_info, &k, &info), 0);
        ck_assert_uint_eq(k.calls, 1);
        ck_assert_uint_eq(info.flags, VFIO_IOMMU_INFO_PGSIZES);
        ck_assert_uint_eq(info.iova_pgsizes, PGSIZES);
        ck_assert(!info.has_iova_ranges);
}
END_TEST

START_TEST(test_query_keeps_growing) {
        VfioIommuInfo info = { .dma_avail = 7 };
        FakeKernel k = { .grow = 8 };

        reply_intel(&k.full, true);
        ck_assert_int_eq(vfio_iommu_info_query(fake_get_info, &k, &info), -EOVERFLOW);
        ck_assert_uint_eq(k.calls, 4);
        ck_assert_uint_eq(info.dma_avail, 7);
}
END_TEST

START_TEST(test_query_too_large) {
        VfioIommuInfo info = {};
        FakeKernel k = { .ask = VFIO_INFO_MAX_ARGSZ + 1 };

        reply_intel(&k.full, true);
        ck_assert_int_eq(vfio_iommu_info_query(fake_get_info, &k, &info), -EOVERFLOW);
        ck_assert_uint_eq(k.calls, 1);

        k = (FakeKernel) { .ask = UINT32_MAX };
        reply_intel(&k.full, true);
        ck_assert_int_eq(vfio_iommu_info_query(fake_get_info, &k, &info), -EOVERFLOW);
        ck_assert_uint_eq(k.calls, 1);
}
END_TEST

START_TEST(test_query_error_passed_up) {
        VfioIommuInfo info = {};
        FakeKernel k = { .error = -ENOTTY };

        reply_intel(&k.full, true);
        ck_assert_int_eq(vfio_iommu_info_query(fake_get_info, &k, &info), -ENOTTY);
        ck_assert_uint_eq(k.calls, 1);
}
END_TEST

START_TEST(test_query_malformed) {
        VfioIommuInfo info = {};
        FakeKernel k = {};
        uint32_t huge = UINT32_MAX;

        /* The chain fetched in the second round is hostile. */
        reply_intel(&k.full, true);
        memcpy(k.full.buf + k.full.last_cap + offsetof(struct vfio_iommu_type1_info_cap_iova_range, nr_iovas),
               &huge, sizeof(huge));
        ck_assert_int_eq(vfio_iommu_info_query(fake_get_info, &k, &info), -EBADMSG);
        ck_assert_uint_eq(k.calls, 2);
}
END_TEST

/* ---- hostile replies ---- */

static void assert_bad(const Reply *r) {
        VfioIommuInfo info = {};

        ck_assert_int_eq(parse_reply(r, &info), -EBADMSG);
        ck_assert(!info.has_iova_ranges);
        ck_assert_ptr_null(info.iova_ranges.items);
}

static void set_next(Reply *r, size_t cap, uint32_t next) {
        put_u32(r, cap + offsetof(struct vfio_info_cap_header, next), next);
}

START_TEST(test_too_short) {
        VfioIommuInfo info = {};
        Reply r;

        reply_intel(&r, true);
        ck_assert_int_eq(vfio_iommu_info_parse(NULL, 0, &info, NULL), -EBADMSG);
        for (size_t n = 1; n < offsetof(struct vfio_iommu_type1_info, cap_offset); n++)
                ck_assert_int_eq(parse_exact(&r, n, 0, &info, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_argsz_below_fixed_part) {
        Reply r;

        for (uint32_t argsz = 0; argsz < offsetof(struct vfio_iommu_type1_info, cap_offset); argsz++) {
                reply_intel(&r, true);
                put_u32(&r, offsetof(struct vfio_iommu_type1_info, argsz), argsz);
                assert_bad(&r);
        }
}
END_TEST

START_TEST(test_caps_without_cap_offset) {
        Reply r;

        /* A chain announced in a reply too short to say where it starts. */
        reply_init(&r, true);
        put_u32(&r, offsetof(struct vfio_iommu_type1_info, flags), VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
        r.size = offsetof(struct vfio_iommu_type1_info, cap_offset);
        reply_finish(&r);
        assert_bad(&r);
}
END_TEST

START_TEST(test_offset_inside_fixed_part) {
        Reply r;

        for (uint32_t offset = 1; offset < FIXEDSZ; offset++) {
                reply_intel(&r, true);
                put_u32(&r, offsetof(struct vfio_iommu_type1_info, cap_offset), offset);
                assert_bad(&r);
        }

        /* A later capability pointing back into the fixed part. */
        reply_intel(&r, true);
        set_next(&r, r.last_cap, 8);
        assert_bad(&r);
}
END_TEST

START_TEST(test_offset_past_end) {
        Reply r;

        reply_intel(&r, true);
        put_u32(&r, offsetof(struct vfio_iommu_type1_info, cap_offset), (uint32_t) r.size);
        assert_bad(&r);

        reply_intel(&r, true);
        put_u32(&r, offsetof(struct vfio_iommu_type1_info, cap_offset), UINT32_MAX);
        assert_bad(&r);

        reply_intel(&r, true);
        set_next(&r, r.last_cap, (uint32_t) r.size + 8);
        assert_bad(&r);

        reply_intel(&r, true);
        set_next(&r, r.last_cap, UINT32_MAX);
        assert_bad(&r);
}
END_TEST

START_TEST(test_offset_past_argsz) {
        Reply r;

        /* The buffer holds a capability, but past what argsz says is the kernel's. */
        reply_intel(&r, true);
        reply_add_cap(&r, 99, 1, NULL, 0);
        put_u32(&r, offsetof(struct vfio_iommu_type1_info, argsz), (uint32_t) (r.size - 8));
        assert_bad(&r);
}
END_TEST

START_TEST(test_offset_loop) {
        size_t first, second;
        Reply r;

        /* Pointing at itself. */
        reply_init(&r, true);
        first = reply_add_dma_avail(&r, 1);
        reply_finish(&r);
        set_next(&r, first, (uint32_t) first);
        assert_bad(&r);

        /* Pointing back at the first capability. */
        reply_init(&r, true);
        first = reply_add_dma_avail(&r, 1);
        second = reply_add_migration(&r);
        reply_finish(&r);
        set_next(&r, second, (uint32_t) first);
        assert_bad(&r);

        /* Unknown capabilities loop the same way. */
        reply_init(&r, true);
        first = reply_add_cap(&r, 77, 1, NULL, 0);
        second = reply_add_cap(&r, 78, 1, NULL, 0);
        reply_finish(&r);
        set_next(&r, second, (uint32_t) first);
        assert_bad(&r);

        /* Forward, but into the header of the capability just read. */
        reply_init(&r, true);
        first = reply_add_dma_avail(&r, 1);
        reply_add_dma_avail(&r, 2);
        reply_finish(&r);
        set_next(&r, first, (uint32_t) first + 4);
        assert_bad(&r);

        /* Here the overlapping header even reads as a valid last capability. */
        reply_init(&r, true);
        first = reply_add_cap(&r, 77, 1, NULL, 0);
        memset(r.buf + r.size, 0, 8);
        r.size += 8;
        reply_finish(&r);
        set_next(&r, first, (uint32_t) first + 4);
        assert_bad(&r);

        /* Forward, but into the body of the capability just read. */
        reply_init(&r, true);
        first = reply_add_migration(&r);
        reply_add_dma_avail(&r, 1);
        reply_finish(&r);
        set_next(&r, first, (uint32_t) first + 16);
        assert_bad(&r);
}
END_TEST

START_TEST(test_truncated_header) {
        Reply r;

        for (size_t cut = 1; cut < sizeof(struct vfio_info_cap_header); cut++) {
                reply_init(&r, true);
                reply_add_dma_avail(&r, 1);
                reply_add_cap(&r, 99, 1, NULL, 0);
                r.size -= cut;
                reply_finish(&r);
                assert_bad(&r);
        }
}
END_TEST

START_TEST(test_truncated_body) {
        static const uint64_t ranges[] = { 0, MSI_START - 1, MSI_END + 1, APERTURE_END };
        Reply r;

        for (size_t cut = 1; cut <= 4; cut++) {
                reply_init(&r, false);
                reply_add_dma_avail(&r, 1);
                r.size -= cut;
                reply_finish(&r);
                assert_bad(&r);
        }

        for (size_t cut = 1; cut <= 24; cut++) {
                reply_init(&r, true);
                reply_add_migration(&r);
                r.size -= cut;
                reply_finish(&r);
                assert_bad(&r);
        }

        /* The IOVA_RANGE header itself, and its last range. */
        for (size_t cut = 1; cut <= 2 * 16 + 8; cut++) {
                reply_init(&r, true);
                reply_add_iova_ranges(&r, 2, ranges, 2);
                r.size -= cut;
                reply_finish(&r);
                assert_bad(&r);
        }
}
END_TEST

START_TEST(test_nr_iovas_too_large) {
        static const uint64_t ranges[] = { 0, MSI_START - 1, MSI_END + 1, APERTURE_END };
        static const uint32_t lies[] = { 3, 4, 1U << 27, 1U << 28, UINT32_MAX / 16 + 1, UINT32_MAX };
        Reply r;

        for (size_t i = 0; i < ELEMENTSOF(lies); i++) {
                reply_init(&r, true);
                reply_add_iova_ranges(&r, lies[i], ranges, 2);
                reply_finish(&r);
                assert_bad(&r);
        }

        /* Larger than the capability even though the buffer goes on. */
        reply_init(&r, true);
        reply_add_iova_ranges(&r, 3, ranges, 2);
        reply_add_dma_avail(&r, 1);
        reply_add_dma_avail(&r, 2);
        reply_finish(&r);
        assert_bad(&r);
}
END_TEST

START_TEST(test_inverted_range) {
        static const uint64_t inverted[] = { 0, MSI_START - 1, APERTURE_END, MSI_END + 1 };
        static const uint64_t unsorted[] = { MSI_END + 1, APERTURE_END, 0, MSI_START - 1 };
        static const uint64_t overlapping[] = { 0, MSI_START, MSI_START, APERTURE_END };
        static const uint64_t one_byte[] = { 5, 5, 7, 7 };
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        Reply r;

        reply_init(&r, true);
        reply_add_iova_ranges(&r, 2, inverted, 2);
        reply_finish(&r);
        assert_bad(&r);

        reply_init(&r, true);
        reply_add_iova_ranges(&r, 2, unsorted, 2);
        reply_finish(&r);
        assert_bad(&r);

        reply_init(&r, true);
        reply_add_iova_ranges(&r, 2, overlapping, 2);
        reply_finish(&r);
        assert_bad(&r);

        /* start == end is a one-byte range, not an inverted one. */
        reply_init(&r, true);
        reply_add_iova_ranges(&r, 2, one_byte, 2);
        reply_finish(&r);
        ck_assert_int_eq(parse_reply(&r, &info), 0);
        ck_assert_uint_eq(info.iova_ranges.n, 2);
}
END_TEST

START_TEST(test_duplicate_cap) {
        static const uint64_t ranges[] = { 0, 0xffff };
        Reply r;

        reply_init(&r, true);
        reply_add_iova_ranges(&r, 1, ranges, 1);
        reply_add_iova_ranges(&r, 1, ranges, 1);
        reply_finish(&r);
        assert_bad(&r);

        reply_init(&r, true);
        reply_add_dma_avail(&r, 1);
        reply_add_dma_avail(&r, 2);
        reply_finish(&r);
        assert_bad(&r);

        reply_init(&r, true);
        reply_add_migration(&r);
        reply_add_migration(&r);
        reply_finish(&r);
        assert_bad(&r);
}
END_TEST

START_TEST(test_every_truncation) {
        Reply r;

        /* A reply cut anywhere, with argsz saying so, is refused without reading past the cut. */
        for (int pad = 0; pad <= 1; pad++) {
                reply_intel(&r, pad);
                for (size_t n = 0; n < r.size; n++) {
                        Reply cut = r;
                        VfioIommuInfo info = {};
                        int k;

                        cut.size = n;
                        if (n >= sizeof(uint32_t))
                                reply_finish(&cut);
                        k = parse_reply(&cut, &info);
                        ck_assert_msg(k == -EBADMSG, "length %zu: %d", n, k);
                        vfio_iommu_info_done(&info);
                }
        }
}
END_TEST

START_TEST(test_every_byte_corrupted) {
        static const uint8_t values[] = { 0x00, 0x01, 0x08, 0x18, 0x7f, 0x80, 0xff };
        Reply r;

        /* Whatever one byte becomes, the parser answers without reading past the buffer. */
        reply_intel(&r, false);
        for (size_t i = 0; i < r.size; i++)
                for (size_t v = 0; v < ELEMENTSOF(values); v++) {
                        Reply bad = r;
                        VfioIommuInfo info = {};
                        uint32_t argsz = 0;
                        int k;

                        bad.buf[i] = values[v];
                        k = parse_exact(&bad, bad.size, i % 8, &info, &argsz);
                        ck_assert_msg(k == 0 || k == -EBADMSG || (k == -EAGAIN && argsz > bad.size),
                                      "byte %zu = 0x%02x: %d", i, values[v], k);
                        vfio_iommu_info_done(&info);
                }
}
END_TEST

static Suite *vfio_caps_suite(void) {
        Suite *s = suite_create("vfio-caps");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_test(tc, test_intel_reply);
        tcase_add_test(tc, test_intel_reply_packed);
        tcase_add_test(tc, test_unaligned_buffer);
        tcase_add_test(tc, test_no_caps);
        tcase_add_test(tc, test_no_caps_old_kernel);
        tcase_add_test(tc, test_no_pgsizes_flag);
        tcase_add_test(tc, test_empty_chain);
        tcase_add_test(tc, test_unknown_caps_skipped);
        tcase_add_test(tc, test_newer_cap_version);
        tcase_add_test(tc, test_argsz_larger_than_needed);
        tcase_add_test(tc, test_bytes_past_argsz_ignored);
        tcase_add_test(tc, test_empty_iova_range_cap);
        tcase_add_test(tc, test_full_64bit_range);
        suite_add_tcase(s, tc);

        tc = tcase_create("requery");
        tcase_add_test(tc, test_parse_asks_for_more);
        tcase_add_test(tc, test_query_requery);
        tcase_add_test(tc, test_query_no_caps);
        tcase_add_test(tc, test_query_keeps_growing);
        tcase_add_test(tc, test_query_too_large);
        tcase_add_test(tc, test_query_error_passed_up);
        tcase_add_test(tc, test_query_malformed);
        suite_add_tcase(s, tc);

        tc = tcase_create("hostile");
        tcase_add_test(tc, test_too_short);
        tcase_add_test(tc, test_argsz_below_fixed_part);
        tcase_add_test(tc, test_caps_without_cap_offset);
        tcase_add_test(tc, test_offset_inside_fixed_part);
        tcase_add_test(tc, test_offset_past_end);
        tcase_add_test(tc, test_offset_past_argsz);
        tcase_add_test(tc, test_offset_loop);
        tcase_add_test(tc, test_truncated_header);
        tcase_add_test(tc, test_truncated_body);
        tcase_add_test(tc, test_nr_iovas_too_large);
        tcase_add_test(tc, test_inverted_range);
        tcase_add_test(tc, test_duplicate_cap);
        tcase_add_test(tc, test_every_truncation);
        tcase_add_test(tc, test_every_byte_corrupted);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        sr = srunner_create(vfio_caps_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);

        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
