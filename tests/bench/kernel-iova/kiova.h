/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The kernel's IOVA allocator (drivers/iommu/iova.c), built in user space
 * by kernel-iova.sh into a shared object that iova-bench --against-kernel
 * loads. Plain C types only: iova-bench never sees a kernel header.
 *
 * Addresses are page frame numbers of the domain's granule. Allocations
 * are size-aligned (as dma-iommu asks for them) and at or below
 * @limit_pfn; 0 means none was found (the domain starts at pfn 1).
 */

#include <stddef.h>

typedef struct kiova kiova;

#define KIOVA_API_VERSION 1

typedef struct kiova_ops {
        unsigned api_version;
        const char *source;     /* the kernel release the allocator was built from */
        kiova *(*new)(unsigned long granule, unsigned long start_pfn);
        /* Takes [pfn_lo, pfn_hi] out of the domain for good (reserve_iova()); 0 or -ENOMEM. */
        int (*reserve)(kiova *k, unsigned long pfn_lo, unsigned long pfn_hi);
        /* alloc_iova() and free_iova() (which ignores a pfn that is not allocated: see nodes). */
        unsigned long (*alloc)(kiova *k, unsigned long pages, unsigned long limit_pfn);
        void (*free)(kiova *k, unsigned long pfn);
        /* alloc_iova_fast() and free_iova_fast(): through the per-CPU range caches. */
        unsigned long (*alloc_fast)(kiova *k, unsigned long pages, unsigned long limit_pfn);
        void (*free_fast)(kiova *k, unsigned long pfn, unsigned long pages);
        /* Ranges in the domain's tree: allocated, reserved, and the anchor above them all. */
        size_t (*nodes)(kiova *k);
        void (*destroy)(kiova *k);
} kiova_ops;

/* The one symbol the shared object exports. */
extern const kiova_ops kiova_ops_v1;
