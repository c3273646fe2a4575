/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iova-alloc.h"

#define PAGE 4096ULL

/* ---- reference model: a sorted array of free ranges, searched linearly ---- */

typedef struct Ref {
        uint64_t start[8192], last[8192];
        size_t n;
} Ref;

static void ref_normalize(Ref *r) {
        /* insertion sort + merge of touching ranges */
        for (size_t i = 1; i < r->n; i++)
                for (size_t j = i; j > 0 && r->start[j - 1] > r->start[j]; j--) {
                        uint64_t s = r->start[j], l = r->last[j];
                        r->start[j] = r->start[j - 1];
                        r->last[j] = r->last[j - 1];
                        r->start[j - 1] = s;
                        r->last[j - 1] = l;
                }
        size_t k = 0;
        for (size_t i = 0; i < r->n; i++) {
                if (k > 0 && r->last[k - 1] + 1 == r->start[i]) {
                        r->last[k - 1] = r->last[i];
                        continue;
                }
                r->start[k] = r->start[i];
                r->last[k] = r->last[i];
                k++;
        }
        r->n = k;
}

static bool ref_is_free(const Ref *r, uint64_t s, uint64_t l) {
        for (size_t i = 0; i < r->n; i++)
                if (r->start[i] <= s && l <= r->last[i])
                        return true;
        return false;
}

static void ref_take(Ref *r, uint64_t s, uint64_t l) {
        for (size_t i = 0; i < r->n; i++) {
                if (!(r->start[i] <= s && l <= r->last[i]))
                        continue;
                uint64_t os = r->start[i], ol = r->last[i];
                r->start[i] = r->start[--r->n];
                r->last[i] = r->last[r->n];
                if (os < s) {
                        r->start[r->n] = os;
                        r->last[r->n++] = s - 1;
                }
                if (l < ol) {
                        r->start[r->n] = l + 1;
                        r->last[r->n++] = ol;
                }
                ref_normalize(r);
                return;
        }
        ck_abort_msg("ref_take of a range that is not free");
}

static void ref_give(Ref *r, uint64_t s, uint64_t l) {
        r->start[r->n] = s;
        r->last[r->n++] = l;
        ref_normalize(r);
}

/* Lowest fit, exactly. */
static bool ref_alloc(const Ref *r, uint64_t size, uint64_t align, uint64_t limit, uint64_t *ret) {
        for (size_t i = 0; i < r->n; i++) {
                uint64_t m = (r->start[i] + align - 1) & ~(align - 1);
                if (m < r->start[i] || m > r->last[i] || r->last[i] - m < size - 1 || m + size - 1 > limit)
                        continue;
                *ret = m;
                return true;
        }
        return false;
}

static int collect(uint64_t start, uint64_t end, void *userdata) {
        Ref *r = userdata;
        r->start[r->n] = start;
        r->last[r->n++] = end;
        return 0;
}

static void assert_same(IovaAllocator *a, const Ref *ref) {
        static Ref got;
        got.n = 0;
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_int_eq(iova_foreach_free(a, collect, &got), 0);
        ck_assert_uint_eq(got.n, ref->n);
        ck_assert_uint_eq(iova_free_ranges(a), ref->n);
        for (size_t i = 0; i < got.n; i++) {
                ck_assert_uint_eq(got.start[i], ref->start[i]);
                ck_assert_uint_eq(got.last[i], ref->last[i]);
        }
}

/* ---- tests ---- */

START_TEST(test_bad_input) {
        IovaAllocator *a = NULL;
        uint64_t iova;

        ck_assert_int_eq(iova_allocator_new(3000, &a), -EINVAL);
        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, 0x1000, 0x1ffe), -EINVAL);   /* end not page aligned */
        ck_assert_int_eq(iova_add_free(a, 0x1001, 0x1fff), -EINVAL);
        ck_assert_int_eq(iova_add_free(a, 0x2000, 0x1fff), -EINVAL);
        ck_assert_int_eq(iova_add_free(a, 0x100000, 0x1fffff), 0);
        ck_assert_int_eq(iova_add_free(a, 0x1ff000, 0x200fff), -EEXIST); /* overlaps */
        ck_assert_int_eq(iova_alloc(a, 0, 0, UINT64_MAX, &iova), -EINVAL);
        ck_assert_int_eq(iova_alloc(a, 0x1800, 0, UINT64_MAX, &iova), -EINVAL);
        ck_assert_int_eq(iova_alloc(a, 0x1000, 0x3000, UINT64_MAX, &iova), -EINVAL);
        ck_assert_int_eq(iova_alloc(a, 0x200000, 0, UINT64_MAX, &iova), -ENOSPC);
        ck_assert_int_eq(iova_reserve(a, 0xff000, 0x2000), -EBUSY);      /* starts below the free range */
        ck_assert_int_eq(iova_reserve(a, 0x1ff000, 0x2000), -EBUSY);     /* runs past it */
        ck_assert_int_eq(iova_reserve(a, UINT64_MAX - 0xfff, 0x2000), -EINVAL); /* wraps */
        ck_assert_int_eq(iova_reserve(a, 0x100000, 0x1000), 0);
        ck_assert_int_eq(iova_reserve(a, 0x100000, 0x1000), -EBUSY);
        ck_assert_int_eq(iova_release(a, 0x100000, 0x2000), -EINVAL);   /* half of it is free: double release */
        ck_assert_int_eq(iova_release(a, 0x100000, 0), -EINVAL);
        ck_assert_int_eq(iova_release(a, UINT64_MAX - 0xfff, 0x2000), -EINVAL);
        ck_assert_int_eq(iova_release(a, 0x100000, 0x1000), 0);
        ck_assert_int_eq(iova_release(a, 0x100000, 0x1000), -EINVAL);
        ck_assert_uint_eq(iova_free_ranges(a), 1);
        ck_assert_uint_eq(iova_free_bytes(a), 0x100000);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_whole_64bit_space) {
        IovaAllocator *a = NULL;
        uint64_t iova;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, 0, UINT64_MAX), 0);
        ck_assert_uint_eq(iova_free_bytes(a), UINT64_MAX); /* saturated */
        ck_assert_int_eq(iova_alloc(a, 1ULL << 63, 1ULL << 63, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 0);
        ck_assert_int_eq(iova_alloc(a, 1ULL << 63, 1ULL << 63, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 1ULL << 63);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), -ENOSPC);
        ck_assert_int_eq(iova_release(a, 1ULL << 63, 1ULL << 63), 0);
        /* The last page of the space, fixed. */
        ck_assert_int_eq(iova_reserve(a, UINT64_MAX - 0xfff, PAGE), 0);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 1ULL << 63);
        ck_assert_int_eq(iova_release(a, UINT64_MAX - 0xfff, PAGE), 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_alignment_and_limit) {
        IovaAllocator *a = NULL;
        uint64_t iova;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        /* x86: everything but the MSI window in a 39-bit aperture. */
        ck_assert_int_eq(iova_add_free(a, 0, 0xfedfffff), 0);
        ck_assert_int_eq(iova_add_free(a, 0xfef00000, (1ULL << 39) - 1), 0);
        ck_assert_int_eq(iova_reserve(a, 0, PAGE), 0); /* page 0 taken */

        ck_assert_int_eq(iova_alloc(a, 2 << 20, 2 << 20, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 2 << 20);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, PAGE);
        ck_assert_int_eq(iova_alloc(a, 1ULL << 30, 1ULL << 30, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 1ULL << 30);
        /* 16 KiB aligned to 64 KiB: not size-aligned, the general path. */
        ck_assert_int_eq(iova_alloc(a, 0x4000, 0x10000, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova & 0xffff, 0);
        /* 32-bit limit: a 1 GiB block fits only at 2 GiB then 3 GiB fails (MSI window). */
        ck_assert_int_eq(iova_alloc(a, 1ULL << 30, 1ULL << 30, 0xffffffff, &iova), 0);
        ck_assert_uint_eq(iova, 2ULL << 30);
        ck_assert_int_eq(iova_alloc(a, 1ULL << 30, 1ULL << 30, 0xffffffff, &iova), -ENOSPC);
        /* Nothing may end inside the MSI window. */
        ck_assert_int_eq(iova_reserve(a, 0xfee00000, PAGE), -EBUSY);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_fragmented_limit_fails_fast) {
        /* Fill 64 MiB with pages, free every other: 8 KiB cannot fit below the limit. */
        IovaAllocator *a = NULL;
        uint64_t iova, top = 64ULL << 20;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, 0, (1ULL << 40) - 1), 0);
        for (uint64_t x = 0; x < top; x += PAGE) {
                ck_assert_int_eq(iova_alloc(a, PAGE, PAGE, top - 1, &iova), 0);
                ck_assert_uint_eq(iova, x);
        }
        ck_assert_int_eq(iova_alloc(a, PAGE, PAGE, top - 1, &iova), -ENOSPC);
        for (uint64_t x = 0; x < top; x += 2 * PAGE)
                ck_assert_int_eq(iova_release(a, x, PAGE), 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_int_eq(iova_flush(a), 0);
        ck_assert_uint_eq(iova_free_ranges(a), top / PAGE / 2 + 1);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 0, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, 3 * PAGE, 2 * PAGE, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, top);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, top - 1, &iova), 0);
        ck_assert_uint_eq(iova, 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_failure_memo) {
        /*
         * A failed request is remembered: harder ones fail without a search
         * until space comes back; easier ones still search and succeed.
         */
        IovaAllocator *a = NULL;
        uint64_t iova, top = 1ULL << 24;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, 0, (1ULL << 40) - 1), 0);
        for (uint64_t x = 0; x < top; x += PAGE)
                ck_assert_int_eq(iova_alloc(a, PAGE, 0, top - 1, &iova), 0);
        for (uint64_t x = 0; x < top; x += 2 * PAGE)
                ck_assert_int_eq(iova_release(a, x, PAGE), 0);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        /* Harder: larger, more aligned, lower limit. */
        ck_assert_int_eq(iova_alloc(a, 4 * PAGE, 4 * PAGE, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, top / 2 - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, 3 * PAGE, 4 * PAGE, top - 1, &iova), -ENOSPC);
        /* Easier: less aligned (but no room), a higher limit, a smaller size. */
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 0, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, top);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, top - 1, &iova), 0);
        ck_assert_uint_eq(iova, 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        /* An allocation takes space: the memo of the last failure still holds. */
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_reserve(a, 2 * PAGE, PAGE), 0);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, top - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        /* A release makes an aligned 8 KiB block below the limit: found at once. */
        ck_assert_int_eq(iova_release(a, 5 * PAGE, PAGE), 0);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, top - 1, &iova), 0);
        ck_assert_uint_eq(iova, 4 * PAGE);
        /* So does new space from iova_add_free(). */
        ck_assert_int_eq(iova_alloc(a, 1ULL << 40, 0, UINT64_MAX, &iova), -ENOSPC);
        ck_assert_int_eq(iova_add_free(a, 1ULL << 41, (1ULL << 42) - 1), 0);
        ck_assert_int_eq(iova_alloc(a, 1ULL << 40, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 1ULL << 41);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_runs_of_equal_requests) {
        /*
         * Runs of the same request take their ranges from where the last
         * one ended; anything in between (a release below, a reserve, a
         * different request) must send the next one back to the lowest fit.
         */
        IovaAllocator *a = NULL;
        uint64_t iova, want = 0;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, 0, 0xfedfffff), 0);
        ck_assert_int_eq(iova_add_free(a, 0xfef00000, (1ULL << 40) - 1), 0);
        for (unsigned i = 0; i < 3000; i++, want += PAGE) {
                ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
                ck_assert_uint_eq(iova, want);
        }
        ck_assert_int_eq(iova_release(a, 5 * PAGE, PAGE), 0);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 5 * PAGE);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, want);
        want += PAGE;
        /* A reserve right at the front of the range: the next request goes past it. */
        ck_assert_int_eq(iova_reserve(a, want, PAGE), 0);
        want += PAGE;
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, want);
        want += PAGE;
        /* Size-aligned runs: 64 KiB blocks, the first one aligned up. */
        uint64_t b = (want + 0xffff) & ~0xffffULL;
        for (unsigned i = 0; i < 500; i++, b += 0x10000) {
                ck_assert_int_eq(iova_alloc(a, 0x10000, 0x10000, UINT64_MAX, &iova), 0);
                ck_assert_uint_eq(iova, b);
        }
        /* The page-sized gap the alignment left is still the lowest fit for a page. */
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, want);
        /* A run up to the MSI window, with a limit: exhausted exactly, then the limit fails it. */
        ck_assert_int_eq(iova_release(a, 0, 3000 * PAGE), 0);
        for (uint64_t x = 0; x < 3000 * PAGE; x += PAGE) {
                ck_assert_int_eq(iova_alloc(a, PAGE, 0, 3000 * PAGE - 1, &iova), 0);
                ck_assert_uint_eq(iova, x);
        }
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, 3000 * PAGE - 1, &iova), -ENOSPC);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_misaligned_holes_exhaustive_fallback) {
        /*
         * Holes of 8 KiB that start on odd pages: an 8 KiB request aligned to
         * 8 KiB fits none of them, a 4 KiB request aligned to 8 KiB fits each.
         */
        IovaAllocator *a = NULL;
        uint64_t iova;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        for (uint64_t x = PAGE; x < (1 << 20); x += 4 * PAGE)
                ck_assert_int_eq(iova_add_free(a, x, x + 2 * PAGE - 1), 0);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 2 * PAGE, UINT64_MAX, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, PAGE, 2 * PAGE, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 2 * PAGE);
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 5 * PAGE);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
        /* xorshift64*: deterministic across runs */
        rnd_state ^= rnd_state >> 12;
        rnd_state ^= rnd_state << 25;
        rnd_state ^= rnd_state >> 27;
        return rnd_state * 2685821657736338717ULL;
}

typedef struct Live {
        uint64_t start, size;
} Live;

START_TEST(test_random_against_reference) {
        static Ref ref;
        static Live live[4096];
        size_t n_live = 0;
        IovaAllocator *a = NULL;
        const uint64_t space = 256ULL << 20;

        bool runs = _i >= 8;

        rnd_state = 0x9e3779b97f4a7c15ULL + (uint64_t) _i;
        ref.n = 0;
        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        /* A space with holes, like usable ranges around reserved regions. */
        for (uint64_t x = 0; x < space; x += 32ULL << 20) {
                uint64_t hole = (rnd() % 64 + 1) * PAGE;
                ck_assert_int_eq(iova_add_free(a, x, x + (32ULL << 20) - hole - 1), 0);
                ref_give(&ref, x, x + (32ULL << 20) - hole - 1);
        }
        assert_same(a, &ref);

        for (int op = 0; op < 6000; op++) {
                unsigned kind = (unsigned) (rnd() % 10);
                if ((kind < 5 || n_live == 0) && n_live < 4096) {
                        static const uint64_t sizes[] = { 1, 1, 1, 2, 3, 4, 16, 17, 512 };
                        static const uint64_t aligns[] = { 0, 1, 2, 4, 16, 512 };
                        uint64_t size = sizes[rnd() % 9] * PAGE, align = aligns[rnd() % 6] * PAGE;
                        uint64_t limit = rnd() % 4 == 0 ? rnd() % space : UINT64_MAX;
                        if (rnd() % 3 == 0)
                                align = size & (size - 1) ? align : size; /* size-aligned */
                        uint64_t ealign = align < PAGE ? PAGE : align;
                        /* With runs, the same request several times in a row: the finger's way. */
                        unsigned repeat = runs ? (unsigned) (rnd() % 24) + 1 : 1;
                        for (unsigned k = 0; k < repeat && n_live < 4096; k++) {
                                uint64_t got, want;
                                bool ok = ref_alloc(&ref, size, ealign, limit, &want);
                                int r = iova_alloc(a, size, align, limit, &got);
                                ck_assert_msg(ok == (r == 0), "op %d: alloc %llx align %llx limit %llx: ref %d got %d",
                                              op, (unsigned long long) size, (unsigned long long) align,
                                              (unsigned long long) limit, ok, r);
                                if (r < 0) {
                                        ck_assert_int_eq(r, -ENOSPC);
                                        break;
                                }
                                ck_assert_uint_eq(got & (ealign - 1), 0);
                                ck_assert(got + size - 1 <= limit);
                                ck_assert(ref_is_free(&ref, got, got + size - 1));
                                /* Page and size alignment are searched exactly: the lowest fit. */
                                if (ealign == PAGE || ealign == size)
                                        ck_assert_uint_eq(got, want);
                                ref_take(&ref, got, got + size - 1);
                                live[n_live++] = (Live) { got, size };
                        }
                } else if (kind < 9 || n_live == 4096) {
                        size_t i = rnd() % n_live;
                        uint64_t s0 = live[i].start, size = live[i].size, part = size;
                        /* Now and then in two parts, or twice (the second must fail and change nothing). */
                        if (size > PAGE && rnd() % 4 == 0)
                                part = (rnd() % (size / PAGE - 1) + 1) * PAGE;
                        ck_assert_int_eq(iova_release(a, s0, part), 0);
                        if (part < size)
                                ck_assert_int_eq(iova_release(a, s0 + part, size - part), 0);
                        if (rnd() % 8 == 0) {
                                ck_assert_int_eq(iova_release(a, s0, size), -EINVAL);
                                ck_assert_int_eq(iova_release(a, s0 + size - PAGE, PAGE), -EINVAL);
                        }
                        ref_give(&ref, s0, s0 + size - 1);
                        live[i] = live[--n_live];
                } else {
                        /* A fixed address: succeeds exactly when the reference says it is free. */
                        uint64_t s = (rnd() % (space / PAGE)) * PAGE, size = (rnd() % 8 + 1) * PAGE;
                        bool free_ = ref_is_free(&ref, s, s + size - 1);
                        int r = iova_reserve(a, s, size);
                        ck_assert_int_eq(r, free_ ? 0 : -EBUSY);
                        if (r == 0) {
                                ref_take(&ref, s, s + size - 1);
                                live[n_live++] = (Live) { s, size };
                        }
                }
                if (op % 97 == 0)
                        assert_same(a, &ref);
        }
        assert_same(a, &ref);
        while (n_live > 0) {
                n_live--;
                ck_assert_int_eq(iova_release(a, live[n_live].start, live[n_live].size), 0);
                ref_give(&ref, live[n_live].start, live[n_live].start + live[n_live].size - 1);
        }
        assert_same(a, &ref);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_adversarial_order_keeps_balance) {
        /* Ascending, descending and interleaved releases: the tree stays an AVL tree. */
        IovaAllocator *a = NULL;
        uint64_t iova, n = 20000;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, 0, n * 2 * PAGE - 1), 0);
        for (uint64_t i = 0; i < 2 * n; i++)
                ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        for (uint64_t i = 0; i < n; i++)
                ck_assert_int_eq(iova_release(a, 2 * i * PAGE, PAGE), 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_int_eq(iova_flush(a), 0);
        ck_assert_uint_eq(iova_free_ranges(a), n);
        for (uint64_t i = n; i > 0; i--)
                ck_assert_int_eq(iova_release(a, (2 * i - 1) * PAGE, PAGE), 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_uint_eq(iova_free_bytes(a), n * 2 * PAGE);
        ck_assert_int_eq(iova_flush(a), 0);
        ck_assert_uint_eq(iova_free_ranges(a), 1);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_deferred_releases) {
        /*
         * Releases of small allocated ranges are deferred: still exact
         * about double releases, lowest-first and the free totals.
         */
        IovaAllocator *a = NULL;
        uint64_t iova, base = 0x1ff000; /* one page below a 2 MiB chunk boundary: ranges straddle it */
        static Ref ref;

        ref.n = 0;
        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, base, base + 1024 * PAGE - 1), 0);
        ref_give(&ref, base, base + 1024 * PAGE - 1);
        for (unsigned i = 0; i < 16; i++) {
                ck_assert_int_eq(iova_alloc(a, 4 * PAGE, 0, UINT64_MAX, &iova), 0);
                ck_assert_uint_eq(iova, base + i * 4 * PAGE);
                ref_take(&ref, iova, iova + 4 * PAGE - 1);
        }
        /* Pending, counted as free, not yet in the tree; a second release is refused and changes nothing. */
        ck_assert_int_eq(iova_release(a, base, 4 * PAGE), 0);
        ref_give(&ref, base, base + 4 * PAGE - 1);
        ck_assert_uint_eq(iova_free_bytes(a), (1024 - 60) * PAGE);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_int_eq(iova_release(a, base, 4 * PAGE), -EINVAL);
        ck_assert_int_eq(iova_release(a, base + PAGE, PAGE), -EINVAL);
        ck_assert_int_eq(iova_release(a, base + 3 * PAGE, 2 * PAGE), -EINVAL); /* half pending, half held */
        ck_assert_uint_eq(iova_free_bytes(a), (1024 - 60) * PAGE);
        assert_same(a, &ref);

        /* Two allocations released as one range, and one allocation in two parts. */
        ck_assert_int_eq(iova_release(a, base + 4 * PAGE, 8 * PAGE), 0);
        ck_assert_int_eq(iova_release(a, base + 12 * PAGE, PAGE), 0);
        ck_assert_int_eq(iova_release(a, base + 13 * PAGE, 3 * PAGE), 0);
        ref_give(&ref, base + 4 * PAGE, base + 16 * PAGE - 1);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        /* The next allocation still gets the lowest fit: the pending pages. */
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, base);
        ref_take(&ref, base, base + PAGE - 1);
        assert_same(a, &ref);

        /* A reservation over pending pages succeeds; the reserved pages are not held. */
        ck_assert_int_eq(iova_release(a, base, PAGE), 0);
        ck_assert_int_eq(iova_reserve(a, base, 2 * PAGE), 0);
        ref_take(&ref, base + PAGE, base + 2 * PAGE - 1);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_int_eq(iova_alloc(a, 14 * PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, base + 2 * PAGE);
        ref_take(&ref, base + 2 * PAGE, base + 16 * PAGE - 1);
        /* A large release over held and reserved pages: then no page of it may pass as held. */
        ck_assert_int_eq(iova_release(a, base, 64 * PAGE), 0);
        ref_give(&ref, base, base + 64 * PAGE - 1);
        ck_assert_int_eq(iova_release(a, base + 20 * PAGE, PAGE), -EINVAL);
        ck_assert_int_eq(iova_release(a, base + 63 * PAGE, PAGE), -EINVAL);
        assert_same(a, &ref);

        /* iova_add_free() over allocated pages: they are free now, and held no more. */
        ck_assert_int_eq(iova_alloc(a, 2 * PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, base);
        ck_assert_int_eq(iova_add_free(a, base, base + 2 * PAGE - 1), 0);
        ck_assert_int_eq(iova_release(a, base, 2 * PAGE), -EINVAL);
        assert_same(a, &ref);

        /* Everything back, in an order that pends and flushes across the chunk boundary. */
        for (uint64_t x = base; x < base + 1024 * PAGE; x += PAGE) {
                ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
                ck_assert_uint_eq(iova, x);
        }
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), -ENOSPC);
        for (uint64_t x = base; x < base + 1024 * PAGE; x += 2 * PAGE)
                ck_assert_int_eq(iova_release(a, x, PAGE), 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        for (uint64_t x = base + PAGE; x < base + 1024 * PAGE; x += 2 * PAGE)
                ck_assert_int_eq(iova_release(a, x, PAGE), 0);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_uint_eq(iova_free_bytes(a), 1024 * PAGE);
        ck_assert_int_eq(iova_flush(a), 0);
        ck_assert_uint_eq(iova_free_ranges(a), 1);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

START_TEST(test_runs_leave_maxima_high) {
        /*
         * A run of equal requests leaves the maxima above its range as they
         * were; a different request must not trust them: here the only
         * range that could hold 64 KiB has been eaten down by the run.
         */
        IovaAllocator *a = NULL;
        uint64_t iova;

        ck_assert_int_eq(iova_allocator_new(PAGE, &a), 0);
        ck_assert_int_eq(iova_add_free(a, 0, 32 * PAGE - 1), 0);
        for (uint64_t i = 0; i < 200; i++)
                ck_assert_int_eq(iova_add_free(a, (64 + 2 * i) * PAGE, (64 + 2 * i) * PAGE + PAGE - 1), 0);
        for (unsigned i = 0; i < 20; i++) {
                ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
                ck_assert_uint_eq(iova, i * PAGE);
        }
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        ck_assert_int_eq(iova_alloc(a, 16 * PAGE, 0, UINT64_MAX, &iova), -ENOSPC);
        ck_assert_int_eq(iova_alloc(a, 12 * PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 20 * PAGE);
        ck_assert_int_eq(iova_alloc(a, PAGE, 0, UINT64_MAX, &iova), 0);
        ck_assert_uint_eq(iova, 64 * PAGE);
        ck_assert_int_eq(iova_allocator_verify(a), 0);
        iova_allocator_free(a);
}
END_TEST

int main(void) {
        Suite *s = suite_create("iova-alloc");
        TCase *tc = tcase_create("basics");
        tcase_add_test(tc, test_bad_input);
        tcase_add_test(tc, test_whole_64bit_space);
        tcase_add_test(tc, test_alignment_and_limit);
        suite_add_tcase(s, tc);
        tc = tcase_create("fragmentation");
        tcase_add_test(tc, test_fragmented_limit_fails_fast);
        tcase_add_test(tc, test_failure_memo);
        tcase_add_test(tc, test_runs_of_equal_requests);
        tcase_add_test(tc, test_misaligned_holes_exhaustive_fallback);
        tcase_add_test(tc, test_adversarial_order_keeps_balance);
        tcase_add_test(tc, test_deferred_releases);
        tcase_add_test(tc, test_runs_leave_maxima_high);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        tc = tcase_create("random");
        tcase_add_loop_test(tc, test_random_against_reference, 0, 16);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);

        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
