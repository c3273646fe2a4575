/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kiova_ops over the kernel's own allocator: built by kernel-iova.sh
 * together with drivers/iommu/iova.c and lib/rbtree.c of a Linux source
 * tree, against kshim.h.
 */
#include <linux/iova.h>

#include "kiova.h"

#ifndef KIOVA_SOURCE
#error "KIOVA_SOURCE (the kernel release) must be defined"
#endif

struct kiova {
        struct iova_domain domain;
};

static kiova *k_new(unsigned long granule, unsigned long start_pfn) {
        kiova *k;

        if (iova_cache_get() < 0)
                return NULL;
        k = calloc(1, sizeof(*k));
        if (!k)
                goto fail;
        init_iova_domain(&k->domain, granule, start_pfn);
        if (iova_domain_init_rcaches(&k->domain) < 0) {
                free(k);
                goto fail;
        }
        return k;
fail:
        iova_cache_put();
        return NULL;
}

static int k_reserve(kiova *k, unsigned long pfn_lo, unsigned long pfn_hi) {
        return reserve_iova(&k->domain, pfn_lo, pfn_hi) ? 0 : -ENOMEM;
}

static unsigned long k_alloc(kiova *k, unsigned long pages, unsigned long limit_pfn) {
        struct iova *iova = alloc_iova(&k->domain, pages, limit_pfn, true);
        return iova ? iova->pfn_lo : 0;
}

static void k_free(kiova *k, unsigned long pfn) {
        free_iova(&k->domain, pfn);
}

/* Ranges in the tree: the allocated ones, the reserved ones and the anchor. */
static size_t k_nodes(kiova *k) {
        size_t n = 0;

        for (struct rb_node *node = rb_first(&k->domain.rbroot); node; node = rb_next(node))
                n++;
        return n;
}

static unsigned long k_alloc_fast(kiova *k, unsigned long pages, unsigned long limit_pfn) {
        return alloc_iova_fast(&k->domain, pages, limit_pfn, true);
}

static void k_free_fast(kiova *k, unsigned long pfn, unsigned long pages) {
        free_iova_fast(&k->domain, pfn, pages);
}

static void k_destroy(kiova *k) {
        if (!k)
                return;
        put_iova_domain(&k->domain);
        free(k);
        iova_cache_put();
}

const kiova_ops kiova_ops_v1 = {
        .api_version = KIOVA_API_VERSION,
        .source = KIOVA_SOURCE,
        .new = k_new,
        .reserve = k_reserve,
        .alloc = k_alloc,
        .free = k_free,
        .alloc_fast = k_alloc_fast,
        .free_fast = k_free_fast,
        .nodes = k_nodes,
        .destroy = k_destroy,
};
