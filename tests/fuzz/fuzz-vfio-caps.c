/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VFIO_IOMMU_GET_INFO reply (struct vfio_iommu_type1_info and its
 * capability chain) through vfio_iommu_info_parse(), from a buffer of
 * exactly the input's size, both aligned and one byte off, so ASan sees any
 * read past the end and UBSan any misaligned access; then through
 * vfio_iommu_info_query() with a "kernel" that answers with the input.
 */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "iommu/vfio-caps.h"

static void check_info(const VfioIommuInfo *i) {
        const RangeList *l = &i->iova_ranges;

        FUZZ_CHECK(i->has_iova_ranges || l->n == 0, "ranges without the capability");
        for (size_t k = 0; k < l->n; k++) {
                FUZZ_CHECK(l->items[k].start <= l->items[k].end, "range %zu inverted", k);
                FUZZ_CHECK(k == 0 || l->items[k - 1].end < l->items[k].start, "ranges %zu and %zu unsorted or overlapping",
                           k - 1, k);
        }
}

static int parse_at(const uint8_t *data, size_t size, size_t shift, VfioIommuInfo *ret, uint32_t *ret_argsz) {
        uint8_t *buf = malloc(size + shift + 1);
        int r;

        FUZZ_CHECK(buf, "out of memory");
        if (size > 0)
                memcpy(buf + shift, data, size);
        r = vfio_iommu_info_parse(buf + shift, size, ret, ret_argsz);
        free(buf);
        return r;
}

typedef struct Kernel {
        const uint8_t *data;
        size_t size;
        unsigned calls;
} Kernel;

/* Answers every query with the input, cut to the buffer it is given. */
static int get_info(void *buf, size_t size, void *userdata) {
        Kernel *k = userdata;

        k->calls++;
        memcpy(buf, k->data, k->size < size ? k->size : size);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VfioIommuInfo a = {}, b = {};
        uint32_t argsz_a = 0, argsz_b = 0;
        int ra, rb;

        ra = parse_at(data, size, 0, &a, &argsz_a);
        rb = parse_at(data, size, 1, &b, &argsz_b);
        FUZZ_CHECK(ra == rb, "alignment changes the result: %d vs %d", ra, rb);
        FUZZ_CHECK(ra == 0 || ra == -EAGAIN || ra == -EBADMSG, "unexpected error %d", ra);
        if (ra == -EAGAIN)
                FUZZ_CHECK(argsz_a > size && argsz_a == argsz_b, "re-query for %u bytes with %zu at hand", argsz_a, size);
        if (ra == 0) {
                check_info(&a);
                FUZZ_CHECK(a.flags == b.flags && a.iova_pgsizes == b.iova_pgsizes && a.dma_avail == b.dma_avail &&
                                   range_list_equal(&a.iova_ranges, &b.iova_ranges) &&
                                   a.n_unknown_caps == b.n_unknown_caps,
                           "alignment changes what is parsed");
        }
        vfio_iommu_info_done(&a);
        vfio_iommu_info_done(&b);

        Kernel k = { .data = data, .size = size };
        VfioIommuInfo q = {};
        int r = vfio_iommu_info_query(get_info, &k, &q);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EOVERFLOW, "query: unexpected error %d", r);
        FUZZ_CHECK(k.calls >= 1 && k.calls <= 4, "query asked %u times", k.calls);
        if (r == 0)
                check_info(&q);
        vfio_iommu_info_done(&q);
        return 0;
}
