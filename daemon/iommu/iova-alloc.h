/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * IOVA allocator: hands out ranges of a 64-bit address space made of the
 * usable ranges of a container.
 *
 * The free space is a B+-tree of free ranges keyed by address, with the
 * ranges packed in leaf arrays; every inner node carries, per child, the
 * largest free length and the largest naturally aligned power-of-two block
 * found below it, so searches skip whole subtrees that cannot fit a
 * request. Every operation is O(log n) in the number of
 * free ranges for requests whose alignment is at most the page size or
 * equal to their (power-of-two) size, which covers page and size-aligned
 * requests; other alignments first look for a range that is sure to fit
 * and only then fall back to an exhaustive check (see docs/allocator.md).
 *
 * Pure module: no logging, negative errno on failure.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct IovaAllocator IovaAllocator;

/* @page: minimum page size, a power of two. -EINVAL otherwise. */
int iova_allocator_new(uint64_t page, IovaAllocator **ret);
IovaAllocator *iova_allocator_free(IovaAllocator *a);

/**
 * iova_add_free() - make [start, end] (inclusive) available.
 * -EINVAL: start > end or either edge not page aligned (end + 1 must be,
 *          unless end is UINT64_MAX);
 * -EEXIST: part of it is already free.
 */
int iova_add_free(IovaAllocator *a, uint64_t start, uint64_t end);

/**
 * iova_alloc() - allocate @size bytes.
 * @align: power of two; 0 means the page size; smaller values are raised
 *         to the page size.
 * @limit: highest address the range may touch (inclusive); UINT64_MAX for
 *         none.
 * Returns the lowest-addressed fit among those searched.
 * -EINVAL: size 0 or not a page multiple, align not a power of two;
 * -ENOSPC: nothing fits;
 * -ENOMEM: out of memory (also for applying deferred releases first).
 */
int iova_alloc(IovaAllocator *a, uint64_t size, uint64_t align, uint64_t limit, uint64_t *ret_iova);

/**
 * iova_reserve() - allocate exactly [start, start + size).
 * -EINVAL: size 0, not page aligned, or the range wraps;
 * -EBUSY: some of it is not free.
 */
int iova_reserve(IovaAllocator *a, uint64_t start, uint64_t size);

/**
 * iova_release() - give back [start, start + size), merging neighbours.
 * -EINVAL: bad size or alignment, wraps, or part of it is already free
 *          (a double release).
 */
int iova_release(IovaAllocator *a, uint64_t start, uint64_t size);

/**
 * iova_flush() - apply the releases that were deferred.
 * A release of a small range known to be allocated is taken at once but
 * reaches the tree of free ranges only when the next operation needs it
 * there (see docs/allocator.md); this does it now, e.g. before counting
 * ranges. -ENOMEM: not all of it could be done (what could not stays
 * deferred; nothing is lost).
 */
int iova_flush(IovaAllocator *a);

/* Free ranges in the tree: releases not yet applied (iova_flush()) are not counted. */
size_t iova_free_ranges(const IovaAllocator *a);
/* Total free bytes, deferred releases included, saturated at UINT64_MAX. */
uint64_t iova_free_bytes(const IovaAllocator *a);
uint64_t iova_page_size(const IovaAllocator *a);

/*
 * Calls @f for every free range in address order; stops at a negative
 * return. Applies the deferred releases first (-ENOMEM if it cannot).
 */
int iova_foreach_free(IovaAllocator *a, int (*f)(uint64_t start, uint64_t end, void *userdata), void *userdata);

/* Checks every tree invariant; 0 or -EUCLEAN. For tests. */
int iova_allocator_verify(const IovaAllocator *a);
