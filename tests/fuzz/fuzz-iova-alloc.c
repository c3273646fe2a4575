/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The IOVA allocator under sequences of operations drawn from the input:
 * allocations (any size, alignment and limit a client may ask for),
 * releases and reservations of arbitrary ranges (double releases, ranges
 * across allocations, parts of one), iova_add_free() and iova_flush(),
 * checked against a page bitmap of the same space after every operation:
 * each call succeeds exactly when the bitmap says it should, fails with
 * the named error otherwise and then changes nothing, page- and
 * size-aligned allocations get the lowest fit, and the free ranges and
 * totals match. The space sits where the input's first byte puts it: at
 * 0, across a 1 GiB boundary of the allocator's page bitmaps (and so a 2 MiB one), or at the
 * top of the 64-bit space.
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "iommu/iova-alloc.h"

#define PAGE 4096ULL
#define PAGES 2048u

static bool page_free[PAGES];
static uint64_t base;

static uint64_t addr(unsigned page) {
        return base + page * PAGE;
}

static bool all_are(unsigned p, unsigned n, bool free_) {
        for (unsigned i = p; i < p + n; i++)
                if (page_free[i] != free_)
                        return false;
        return true;
}

static bool none_free(unsigned p, unsigned n) {
        for (unsigned i = p; i < p + n; i++)
                if (page_free[i])
                        return false;
        return true;
}

static void set(unsigned p, unsigned n, bool free_) {
        for (unsigned i = p; i < p + n; i++)
                page_free[i] = free_;
}

/* The lowest page-aligned start of @n pages aligned to @align bytes, whose last byte is <= limit; false if none. */
static bool lowest_fit(unsigned n, uint64_t align, uint64_t limit, unsigned *ret) {
        for (unsigned p = 0; p + n <= PAGES; p++) {
                if (addr(p) % align != 0 || addr(p) + (n * PAGE - 1) > limit)
                        continue;
                if (all_are(p, n, true)) {
                        *ret = p;
                        return true;
                }
        }
        return false;
}

typedef struct Walk {
        unsigned next; /* the next page the walk expects to look at */
} Walk;

static int check_range(uint64_t start, uint64_t end, void *userdata) {
        Walk *w = userdata;

        FUZZ_CHECK(start >= base && end >= start && (end - base) / PAGE < PAGES, "free range %#lx-%#lx outside the space",
                   (unsigned long) start, (unsigned long) end);
        unsigned p = (unsigned) ((start - base) / PAGE), q = (unsigned) ((end - base) / PAGE);
        FUZZ_CHECK(p >= w->next, "free ranges out of order at %#lx", (unsigned long) start);
        FUZZ_CHECK(none_free(w->next, p - w->next), "free pages before %#lx missing", (unsigned long) start);
        FUZZ_CHECK(all_are(p, q - p + 1, true), "free range %#lx-%#lx holds allocated pages", (unsigned long) start,
                   (unsigned long) end);
        FUZZ_CHECK(p == 0 || !page_free[p - 1], "free range at %#lx touches the one below", (unsigned long) start);
        w->next = q + 1;
        return 0;
}

static void check_same(IovaAllocator *a) {
        Walk w = { 0 };
        uint64_t free_pages = 0;

        FUZZ_CHECK(iova_allocator_verify(a) == 0, "invariants");
        for (unsigned i = 0; i < PAGES; i++)
                free_pages += page_free[i];
        FUZZ_CHECK(iova_free_bytes(a) == free_pages * PAGE, "free bytes %#lx, expected %#lx",
                   (unsigned long) iova_free_bytes(a), (unsigned long) (free_pages * PAGE));
        FUZZ_CHECK(iova_foreach_free(a, check_range, &w) == 0, "foreach");
        FUZZ_CHECK(none_free(w.next, PAGES - w.next), "free pages at the top missing");
        FUZZ_CHECK(iova_allocator_verify(a) == 0, "invariants after the flush");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint64_t bases[] = { 0, 0x40000000 - 700 * PAGE, UINT64_MAX - PAGES * PAGE + 1, 1ULL << 32 };
        IovaAllocator *a = NULL;

        if (size < 1)
                return 0;
        base = bases[data[0] % 4];
        data++, size--;
        if (iova_allocator_new(PAGE, &a) < 0)
                abort();
        memset(page_free, 0, sizeof(page_free));
        FUZZ_CHECK(iova_add_free(a, base, base + (PAGES * PAGE - 1)) == 0, "add the space");
        set(0, PAGES, true);

        /* Four bytes an operation: kind, size, and two of where or how; at most 256 of them. */
        if (size > 1024)
                size = 1024;
        for (size_t k = 0; k + 4 <= size; k += 4) {
                const uint8_t *op = data + k;
                unsigned kind = op[0] % 8, arg = (unsigned) op[2] | (unsigned) op[3] << 8;
                /* Mostly small (what the page bitmaps track), sometimes larger than a bitmap chunk. */
                unsigned n = op[1] < 224 ? op[1] % 70 + 1 : (op[1] - 224u) * 24 + 1;
                unsigned p = arg % PAGES;
                uint64_t iova;
                int r;

                if (kind <= 2) {
                        /* Alignment: the page, the size when a power of two, or 2^(arg % 12) pages. */
                        uint64_t align = kind == 0 ? 0 : kind == 1 && (n & (n - 1)) == 0 ? n * PAGE : PAGE << (arg % 12);
                        uint64_t limit = arg & 0x8000 ? addr(p) + (PAGE - 1) : UINT64_MAX;
                        uint64_t ealign = align < PAGE ? PAGE : align;
                        unsigned want = 0;
                        bool fits = lowest_fit(n, ealign, limit, &want);
                        r = iova_alloc(a, n * PAGE, align, limit, &iova);
                        FUZZ_CHECK(r == (fits ? 0 : -ENOSPC), "alloc %u pages align %#lx limit %#lx: %d, fit %d", n,
                                   (unsigned long) align, (unsigned long) limit, r, fits);
                        if (r == 0) {
                                FUZZ_CHECK(iova >= base && (iova - base) % PAGE == 0 && iova % ealign == 0,
                                           "alloc at %#lx", (unsigned long) iova);
                                unsigned q = (unsigned) ((iova - base) / PAGE);
                                FUZZ_CHECK(q + n <= PAGES && all_are(q, n, true) && iova + (n * PAGE - 1) <= limit,
                                           "alloc at %#lx is not free", (unsigned long) iova);
                                /* Page- and size-aligned requests are searched exactly. */
                                if (ealign == PAGE || ealign == n * PAGE)
                                        FUZZ_CHECK(q == want, "alloc at page %u, lowest fit %u", q, want);
                                set(q, n, false);
                        }
                } else if (kind <= 4) {
                        if (p + n > PAGES)
                                n = PAGES - p;
                        bool ok = none_free(p, n);
                        r = iova_release(a, addr(p), n * PAGE);
                        FUZZ_CHECK(r == (ok ? 0 : -EINVAL), "release %u pages at %u: %d, allocated %d", n, p, r, ok);
                        if (ok)
                                set(p, n, true);
                } else if (kind == 5) {
                        if (p + n > PAGES)
                                n = PAGES - p;
                        bool ok = all_are(p, n, true);
                        r = iova_reserve(a, addr(p), n * PAGE);
                        FUZZ_CHECK(r == (ok ? 0 : -EBUSY), "reserve %u pages at %u: %d, free %d", n, p, r, ok);
                        if (ok)
                                set(p, n, false);
                } else if (kind == 6) {
                        if (p + n > PAGES)
                                n = PAGES - p;
                        bool ok = none_free(p, n);
                        r = iova_add_free(a, addr(p), addr(p) + (n * PAGE - 1));
                        FUZZ_CHECK(r == (ok ? 0 : -EEXIST), "add_free %u pages at %u: %d, allocated %d", n, p, r, ok);
                        if (ok)
                                set(p, n, true);
                } else
                        FUZZ_CHECK(iova_flush(a) == 0, "flush");
                /* The full check is linear in the space: after every early operation, then now and then. */
                if (k < 16 * 4 || (op[3] & 0x70) == 0x70)
                        FUZZ_CHECK(iova_allocator_verify(a) == 0, "invariants after op %zu (kind %u)", k / 4, kind);
                /* Comparing the free ranges applies the deferred releases: rarely, so that they pile up. */
                if ((op[3] & 0xe0) == 0xe0)
                        check_same(a);
        }
        check_same(a);
        iova_allocator_free(a);
        return 0;
}
