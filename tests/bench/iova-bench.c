/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iova-bench: nanoseconds per operation of the IOVA allocator on the
 * address space of an x86 IOMMU (48 bits, 4 KiB pages, MSI window
 * reserved), printed beside the targets. With --against-kernel=SO the same
 * workloads run, in the same process and run, on the Linux kernel's own
 * allocator (drivers/iommu/iova.c: alloc_iova() and, through its per-CPU
 * range caches, alloc_iova_fast()), built from a kernel source tree into
 * SO by kernel-iova/kernel-iova.sh.
 *
 * Each workload is deterministic (xorshift64* with a fixed seed) and runs
 * several times on a fresh allocator; every figure is the median over the
 * runs. Any failed operation ends the program with a message, and the
 * allocator's invariants are checked after each workload, outside timing.
 */

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if HAVE_MALLINFO2
#include <malloc.h>
#endif

#include "iommu/iova-alloc.h"
#include "kernel-iova/kiova.h"
#include "util/macro.h"

#define KiB UINT64_C(1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PAGE (4 * KiB)
#define SPACE_LAST ((UINT64_C(1) << 48) - 1)
#define MSI_START UINT64_C(0xfee00000)
#define MSI_LAST UINT64_C(0xfeefffff)
#define LIMIT_4G UINT64_C(0xffffffff)
#define SEED UINT64_C(0x9e3779b97f4a7c15)
#define MAX_RUNS 5

/* Targets in ns. */
#define TARGET_W1_LEASE 150.0
#define TARGET_W2_OP 150.0
#define TARGET_W3_FAIL 100.0
#define TARGET_P999 2000.0

typedef struct Params {
        const char *name;
        unsigned runs;
        double w2_pass_budget;  /* seconds: a W2 pass stops early after this long (the kernel's tree walks) */
        size_t w1_leases;
        size_t w2_live;
        size_t w2_ops;
        size_t w3_probes;
} Params;

static const Params params_full = { "full", MAX_RUNS, 20.0, 1000000, 100000, 1000000, 1000000 };
static const Params params_quick = { "quick", 3, 3.0, 200000, 20000, 200000, 100000 };

/* One run's figures; all in ns except the node count. */
typedef struct Result {
        double w1_alloc, w1_free, w1_lease;
        double w2_op, w2_p50, w2_p99, w2_p999;
        double w2_peak_nodes;
        double w2_heap;
        double w2_ops_done;     /* the fewest operations a W2 pass ran within its budget */
        double w3_fail, w3_fail_p50, w3_fail_p99, w3_fail_p999;
        double w3_unlimited;
} Result;

typedef struct Lease {
        uint64_t iova;
        uint64_t size;
} Lease;

/* One W2 operation: free lease[victim], then allocate sizes[size_class] in its place. */
typedef struct Op {
        uint32_t victim;
        uint8_t size_class;
} Op;

static const uint64_t w2_sizes[] = { 4 * KiB, 64 * KiB, 2 * MiB, 1 * GiB };

_printf_(1, 2) static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        fputs("iova-bench: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(EXIT_FAILURE);
}

static void *xcalloc(size_t n, size_t size) {
        void *p = calloc(n, size);
        if (!p)
                die("out of memory");
        return p;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(IovaAllocator *, iova_allocator_free);

typedef struct Rng {
        uint64_t s;
} Rng;

/* xorshift64*: fast, and the same sequence on every machine. */
static uint64_t rng_next(Rng *r) {
        uint64_t x = r->s;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r->s = x;
        return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t rng_below(Rng *r, uint64_t n) {
        return (uint64_t) (((unsigned __int128) rng_next(r) * n) >> 64);
}

static uint64_t now_ns(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                die("clock_gettime: %s", strerror(errno));
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *x, const void *y) {
        uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;
        return a < b ? -1 : a > b;
}

static int cmp_lease(const void *x, const void *y) {
        return cmp_u64(&((const Lease *) x)->iova, &((const Lease *) y)->iova);
}

static int cmp_double(const void *x, const void *y) {
        double a = *(const double *) x, b = *(const double *) y;
        return a < b ? -1 : a > b;
}

/*
 * An allocator under test. Every workload is written once, always inlined
 * into one copy per allocator with the allocator's functions known, so no
 * allocator pays for an indirect call the others do not.
 */
typedef struct Space Space;
typedef struct Impl {
        const char *name;
        uint64_t base;  /* the lowest address it hands out */
        Space *(*new)(void);
        /* A size-aligned range of @size bytes at or below @limit: 0, or -ENOSPC. */
        int (*alloc)(Space *s, uint64_t size, uint64_t limit, uint64_t *ret);
        void (*release)(Space *s, uint64_t iova, uint64_t size);
        /*
         * Finish the work releases left for later (iovad's deferred
         * releases reach its tree here); NULL: none. Timed with the
         * releases where they are timed.
         */
        void (*settle)(Space *s);
        /* Free ranges, for W2's peak; NULL: not counted (the kernel's tree holds the allocated ones). */
        size_t (*nodes)(Space *s);
        /* After every lease went back, the space must be whole again (NULL: cannot tell). */
        void (*check_empty)(Space *s, const char *workload);
        void (*free)(Space *s);
} Impl;

/* iovad's allocator on the IOMMU's space: 48 bits less the MSI window. */
static Space *iovad_new(void) {
        IovaAllocator *a;
        int r;

        r = iova_allocator_new(PAGE, &a);
        if (r < 0)
                die("iova_allocator_new: %s", strerror(-r));
        r = iova_add_free(a, 0, MSI_START - 1);
        if (r >= 0)
                r = iova_add_free(a, MSI_LAST + 1, SPACE_LAST);
        if (r < 0)
                die("iova_add_free: %s", strerror(-r));
        return (Space *) a;
}

static uint64_t space_bytes(void) {
        return SPACE_LAST + 1 - (MSI_LAST + 1 - MSI_START);
}

static inline int iovad_alloc(Space *s, uint64_t size, uint64_t limit, uint64_t *ret) {
        int r = iova_alloc((IovaAllocator *) s, size, size, limit, ret);
        if (r < 0 && r != -ENOSPC)
                die("allocating %" PRIu64 " bytes: %s", size, strerror(-r));
        return r;
}

static inline void iovad_release(Space *s, uint64_t iova, uint64_t size) {
        int r = iova_release((IovaAllocator *) s, iova, size);
        if (r < 0)
                die("releasing 0x%" PRIx64 "+0x%" PRIx64 ": %s", iova, size, strerror(-r));
}

static void iovad_settle(Space *s) {
        int r = iova_flush((IovaAllocator *) s);
        if (r < 0)
                die("applying the deferred releases: %s", strerror(-r));
}

static size_t iovad_nodes(Space *s) {
        return iova_free_ranges((IovaAllocator *) s);
}

static void iovad_check_empty(Space *s, const char *workload) {
        IovaAllocator *a = (IovaAllocator *) s;

        if (iova_allocator_verify(a) < 0)
                die("%s: allocator invariants do not hold", workload);
        iovad_settle(s);
        if (iova_allocator_verify(a) < 0)
                die("%s: allocator invariants do not hold after the flush", workload);
        if (iova_free_ranges(a) != 2 || iova_free_bytes(a) != space_bytes())
                die("%s: %zu free ranges, %" PRIu64 " free bytes after freeing everything",
                    workload, iova_free_ranges(a), iova_free_bytes(a));
}

static void iovad_free(Space *s) {
        iova_allocator_free((IovaAllocator *) s);
}

static const Impl impl_iovad = {
        .name = "iovad",
        .base = 0,
        .new = iovad_new,
        .alloc = iovad_alloc,
        .release = iovad_release,
        .settle = iovad_settle,
        .nodes = iovad_nodes,
        .check_empty = iovad_check_empty,
        .free = iovad_free,
};

/*
 * The kernel's allocator, loaded from the shared object kernel-iova.sh
 * builds. A domain as dma-iommu makes one for a 4 KiB-page IOMMU (granule
 * 4 KiB, starting at pfn 1) with the MSI window reserved.
 */
static const kiova_ops *K;

static Space *kernel_new(void) {
        kiova *k = K->new(PAGE, 1);

        if (!k)
                die("the kernel's allocator: no domain");
        if (K->reserve(k, MSI_START / PAGE, MSI_LAST / PAGE) < 0)
                die("the kernel's allocator: cannot reserve the MSI window");
        return (Space *) k;
}

static inline uint64_t limit_pfn(uint64_t limit) {
        return (limit > SPACE_LAST ? SPACE_LAST : limit) / PAGE;
}

static inline int kernel_alloc(Space *s, uint64_t size, uint64_t limit, uint64_t *ret) {
        unsigned long pfn = K->alloc((kiova *) s, size / PAGE, limit_pfn(limit));
        if (pfn == 0)
                return -ENOSPC;
        *ret = pfn * PAGE;
        return 0;
}

static inline void kernel_release(Space *s, uint64_t iova, uint64_t size) {
        (void) size;
        K->free((kiova *) s, iova / PAGE);
}

static inline int kernel_alloc_fast(Space *s, uint64_t size, uint64_t limit, uint64_t *ret) {
        unsigned long pfn = K->alloc_fast((kiova *) s, size / PAGE, limit_pfn(limit));
        if (pfn == 0)
                return -ENOSPC;
        *ret = pfn * PAGE;
        return 0;
}

static inline void kernel_release_fast(Space *s, uint64_t iova, uint64_t size) {
        K->free_fast((kiova *) s, iova / PAGE, size / PAGE);
}

/* Left in the tree: the MSI window's reservation and the anchor. free_iova() ignores what it cannot find. */
static void kernel_check_empty(Space *s, const char *workload) {
        size_t n = K->nodes((kiova *) s);
        if (n != 2)
                die("%s: the kernel's tree holds %zu ranges after freeing everything, expected 2", workload, n);
}

static void kernel_free(Space *s) {
        K->destroy((kiova *) s);
}

static const Impl impl_kernel = {
        .name = "iova.c",
        .base = PAGE,
        .new = kernel_new,
        .alloc = kernel_alloc,
        .release = kernel_release,
        .check_empty = kernel_check_empty,
        .free = kernel_free,
};

/* The range caches hold what was freed, so the tree cannot show that everything went back. */
static const Impl impl_kernel_fast = {
        .name = "iova.c fast",
        .base = PAGE,
        .new = kernel_new,
        .alloc = kernel_alloc_fast,
        .release = kernel_release_fast,
        .free = kernel_free,
};

static void load_kernel(const char *path) {
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

        if (!h)
                die("%s", dlerror());
        K = dlsym(h, "kiova_ops_v1");
        if (!K)
                die("%s: no kiova_ops_v1: %s", path, dlerror());
        if (K->api_version != KIOVA_API_VERSION)
                die("%s: interface version %u, expected %u", path, K->api_version, KIOVA_API_VERSION);
}

static inline void alloc_or_die(const Impl *impl, Space *s, uint64_t size, uint64_t limit, uint64_t *ret,
                                const char *workload) {
        if (impl->alloc(s, size, limit, ret) < 0)
                die("%s: %s: no space for %" PRIu64 " bytes", impl->name, workload, size);
}

/*
 * Outside timing: every lease is size-aligned, within the space and its
 * limit, clear of the MSI window, and overlaps no other.
 */
static void check_leases(const Impl *impl, const Lease *leases, size_t n, uint64_t limit, const char *workload) {
        _cleanup_free_ Lease *sorted = xcalloc(n ? n : 1, sizeof(Lease));

        memcpy(sorted, leases, n * sizeof(Lease));
        qsort(sorted, n, sizeof(Lease), cmp_lease);
        for (size_t i = 0; i < n; i++) {
                const Lease *l = &sorted[i];
                uint64_t last = l->iova + l->size - 1;
                if (l->iova % l->size != 0 || l->iova < impl->base || last > limit || last < l->iova ||
                    (l->iova <= MSI_LAST && last >= MSI_START) || (i > 0 && sorted[i - 1].iova + sorted[i - 1].size > l->iova))
                        die("%s: %s: lease 0x%" PRIx64 "+0x%" PRIx64 " out of place", impl->name, workload, l->iova,
                            l->size);
        }
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const uint64_t *sorted, size_t n, double q) {
        size_t rank = (size_t) ceil(q * (double) n);
        return (double) sorted[rank > 0 ? rank - 1 : 0];
}

/* A buffer faulted in up front, so first touches do not land in a timed loop. */
static uint64_t *u64_buffer(size_t n) {
        uint64_t *b = xcalloc(n, sizeof(uint64_t));
        memset(b, 0xff, n * sizeof(uint64_t));
        return b;
}

#define always_inline_ inline __attribute__((always_inline))

static size_t heap_in_use(void);

/*
 * W1: allocate size-aligned 4 KiB ranges, then free them in random order.
 * iovad allocates lowest-first, so leases pack from 0 upwards (the
 * kernel's allocator packs downwards from the top); freeing them at random
 * cuts the space into about n/4 ranges half-way, then merges it back into
 * one.
 */
static always_inline_ void run_w1(const Impl *impl, const Params *p, Result *res) {
        Space *s = impl->new();
        _cleanup_free_ uint64_t *lease = u64_buffer(p->w1_leases);
        _cleanup_free_ Lease *check = xcalloc(p->w1_leases, sizeof(Lease));
        size_t n = p->w1_leases;
        Rng rng = { SEED };
        uint64_t t0, t1;

        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
                alloc_or_die(impl, s, PAGE, UINT64_MAX, &lease[i], "W1");
        t1 = now_ns();
        res->w1_alloc = (double) (t1 - t0) / (double) n;
        for (size_t i = 0; i < n; i++)
                check[i] = (Lease) { lease[i], PAGE };
        check_leases(impl, check, n, SPACE_LAST, "W1");

        for (size_t i = n - 1; i > 0; i--) {
                size_t j = (size_t) rng_below(&rng, i + 1);
                uint64_t t = lease[i];
                lease[i] = lease[j];
                lease[j] = t;
        }

        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
                impl->release(s, lease[i], PAGE);
        if (impl->settle)
                impl->settle(s);
        t1 = now_ns();
        res->w1_free = (double) (t1 - t0) / (double) n;
        res->w1_lease = res->w1_alloc + res->w1_free;

        if (impl->check_empty)
                impl->check_empty(s, "W1");
        impl->free(s);
}

static uint8_t w2_size_class(Rng *rng) {
        uint64_t d = rng_below(rng, 1000);
        /* 4 KiB 70%, 64 KiB 20%, 2 MiB 9.9%, 1 GiB 0.1% */
        return d < 700 ? 0 : d < 900 ? 1 : d < 999 ? 2 : 3;
}

static void w2_script(Rng *rng, Op *ops, size_t n_ops, size_t live) {
        for (size_t i = 0; i < n_ops; i++)
                ops[i] = (Op) {
                        .victim = (uint32_t) rng_below(rng, live),
                        .size_class = w2_size_class(rng),
                };
}

static always_inline_ void w2_op(const Impl *impl, Space *s, Lease *leases, const Op *op) {
        Lease *l = &leases[op->victim];
        uint64_t size = w2_sizes[op->size_class];

        impl->release(s, l->iova, l->size);
        alloc_or_die(impl, s, size, UINT64_MAX, &l->iova, "W2");
        l->size = size;
}

static always_inline_ size_t nodes_max(const Impl *impl, Space *s, size_t peak) {
        size_t n = impl->nodes ? impl->nodes(s) : 0;
        return n > peak ? n : peak;
}

/*
 * W2: a steady state of live leases of mixed sizes, each operation freeing
 * a random lease and allocating a new one. The operation scripts are drawn
 * before each pass so the timed loop runs nothing but the allocator. The
 * peak node count is sampled in the untimed passes only.
 */
static always_inline_ void run_w2(const Impl *impl, const Params *p, Result *res) {
        _cleanup_free_ Lease *leases = xcalloc(p->w2_live, sizeof(Lease));
        _cleanup_free_ Op *ops = xcalloc(p->w2_ops, sizeof(Op));
        _cleanup_free_ uint64_t *lat = u64_buffer(p->w2_ops);
        size_t heap0 = heap_in_use();
        Space *s = impl->new();
        size_t n = p->w2_ops, peak = 0;
        Rng rng = { SEED };
        uint64_t t0, t1;

        for (size_t i = 0; i < p->w2_live; i++) {
                leases[i].size = w2_sizes[w2_size_class(&rng)];
                alloc_or_die(impl, s, leases[i].size, UINT64_MAX, &leases[i].iova, "W2");
                peak = nodes_max(impl, s, peak);
        }

        /*
         * Each pass checks the clock every 1,024 operations and stops once
         * it has run for the budget: only the kernel's tree walks get near it.
         * Its figures are over the operations it ran.
         */
        uint64_t budget = (uint64_t) (p->w2_pass_budget * 1e9), start;
        size_t done = n;

        /* Warm up into the steady state's fragmentation. */
        w2_script(&rng, ops, n, p->w2_live);
        start = now_ns();
        for (size_t i = 0; i < n; i++) {
                w2_op(impl, s, leases, &ops[i]);
                peak = nodes_max(impl, s, peak);
                if ((i & 1023) == 1023 && now_ns() - start > budget) {
                        done = i + 1;
                        break;
                }
        }
        check_leases(impl, leases, p->w2_live, SPACE_LAST, "W2");

        w2_script(&rng, ops, n, p->w2_live);
        size_t m = n;
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
                w2_op(impl, s, leases, &ops[i]);
                if ((i & 1023) == 1023 && now_ns() - t0 > budget) {
                        m = i + 1;
                        break;
                }
        }
        t1 = now_ns();
        res->w2_op = (double) (t1 - t0) / (double) m;
        done = m < done ? m : done;

        /* Separate pass: one clock read pair per operation. */
        w2_script(&rng, ops, n, p->w2_live);
        start = now_ns();
        m = n;
        for (size_t i = 0; i < n; i++) {
                t0 = now_ns();
                w2_op(impl, s, leases, &ops[i]);
                t1 = now_ns();
                lat[i] = t1 - t0;
                peak = nodes_max(impl, s, peak);
                if ((i & 1023) == 1023 && t1 - start > budget) {
                        m = i + 1;
                        break;
                }
        }
        done = m < done ? m : done;
        res->w2_ops_done = (double) done;
        n = m;
        qsort(lat, n, sizeof(uint64_t), cmp_u64);
        res->w2_p50 = percentile(lat, n, 0.50);
        res->w2_p99 = percentile(lat, n, 0.99);
        res->w2_p999 = percentile(lat, n, 0.999);
        res->w2_peak_nodes = (double) peak;
        /* Everything the allocator holds for the live leases and the free space between them. */
        res->w2_heap = heap0 ? (double) (heap_in_use() - heap0) : 0;

        check_leases(impl, leases, p->w2_live, SPACE_LAST, "W2");
        for (size_t i = 0; i < p->w2_live; i++)
                impl->release(s, leases[i].iova, leases[i].size);
        if (impl->check_empty)
                impl->check_empty(s, "W2");
        impl->free(s);
}

/* 4 KiB pages below 4 GiB that an allocator hands out, less the MSI window. */
static size_t w3_pages(const Impl *impl) {
        return (size_t) ((LIMIT_4G + 1 - impl->base - (MSI_LAST + 1 - MSI_START)) / PAGE);
}

/*
 * W3: everything below 4 GiB is taken, then every other page is freed, so
 * the low space holds many free pages but not one free, aligned 8 KiB
 * block. A limited 8 KiB request must fail; an unlimited one goes above.
 */
static always_inline_ void run_w3(const Impl *impl, const Params *p, Result *res) {
        Space *s = impl->new();
        size_t n_pages = w3_pages(impl), n = p->w3_probes, filled;
        _cleanup_free_ Lease *lease = xcalloc(n_pages + 1, sizeof(Lease));
        _cleanup_free_ Lease *above = xcalloc(n, sizeof(Lease));
        _cleanup_free_ uint64_t *lat = u64_buffer(n);
        uint64_t t0, t1, iova;
        int r;

        for (filled = 0; filled <= n_pages; filled++) {
                if (impl->alloc(s, PAGE, LIMIT_4G, &iova) < 0)
                        break;
                lease[filled] = (Lease) { iova, PAGE };
        }
        if (filled != n_pages)
                die("%s: W3: %zu pages below 4 GiB, expected %zu", impl->name, filled, n_pages);
        check_leases(impl, lease, n_pages, LIMIT_4G, "W3");
        /* Every other page by address, whichever way the allocator packs. */
        qsort(lease, n_pages, sizeof(Lease), cmp_lease);
        for (size_t i = 0; i < n_pages; i += 2)
                impl->release(s, lease[i].iova, PAGE);
        /* Part of the set-up: the timed allocations start from the releases done. */
        if (impl->settle)
                impl->settle(s);

        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
                r = impl->alloc(s, 2 * PAGE, LIMIT_4G, &iova);
                if (r != -ENOSPC)
                        die("%s: W3: limited 8 KiB allocation succeeded at 0x%" PRIx64, impl->name, iova);
        }
        t1 = now_ns();
        res->w3_fail = (double) (t1 - t0) / (double) n;

        for (size_t i = 0; i < n; i++) {
                t0 = now_ns();
                r = impl->alloc(s, 2 * PAGE, LIMIT_4G, &iova);
                t1 = now_ns();
                if (r != -ENOSPC)
                        die("%s: W3: limited 8 KiB allocation succeeded at 0x%" PRIx64, impl->name, iova);
                lat[i] = t1 - t0;
        }
        qsort(lat, n, sizeof(uint64_t), cmp_u64);
        res->w3_fail_p50 = percentile(lat, n, 0.50);
        res->w3_fail_p99 = percentile(lat, n, 0.99);
        res->w3_fail_p999 = percentile(lat, n, 0.999);

        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
                above[i].size = 2 * PAGE;
                alloc_or_die(impl, s, 2 * PAGE, UINT64_MAX, &above[i].iova, "W3");
        }
        t1 = now_ns();
        res->w3_unlimited = (double) (t1 - t0) / (double) n;

        check_leases(impl, above, n, SPACE_LAST, "W3");
        for (size_t i = 0; i < n; i++) {
                if (above[i].iova <= LIMIT_4G)
                        die("%s: W3: unlimited 8 KiB lease at 0x%" PRIx64 ", below 4 GiB", impl->name, above[i].iova);
                impl->release(s, above[i].iova, 2 * PAGE);
        }
        for (size_t i = 1; i < n_pages; i += 2)
                impl->release(s, lease[i].iova, PAGE);
        if (impl->check_empty)
                impl->check_empty(s, "W3");
        impl->free(s);
}

/* One copy of the workloads per allocator, each with its functions inlined. */
#define DEFINE_RUN(suffix, impl)                                        \
        static void run_##suffix(const Params *p, Result *res) {        \
                run_w1(&(impl), p, res);                                \
                run_w2(&(impl), p, res);                                \
                run_w3(&(impl), p, res);                                \
        }
DEFINE_RUN(iovad, impl_iovad)
DEFINE_RUN(kernel, impl_kernel)
DEFINE_RUN(kernel_fast, impl_kernel_fast)

/* Heap bytes in use, or 0 where the C library cannot tell. */
static size_t heap_in_use(void) {
#if HAVE_MALLINFO2
        struct mallinfo2 mi = mallinfo2();
        return mi.uordblks + mi.hblkhd;
#else
        return 0;
#endif
}

/*
 * Bytes per free-range node, as the heap sees them: grow the tree by many
 * disjoint ranges and divide the heap's growth. Includes the allocator's
 * slab headers and malloc's own overhead. 0 if it cannot be measured.
 */
static double bytes_per_node(void) {
        _cleanup_(iova_allocator_freep) IovaAllocator *a = NULL;
        const size_t n = 64 * 1024;
        size_t before;
        int r;

        r = iova_allocator_new(PAGE, &a);
        if (r < 0)
                die("iova_allocator_new: %s", strerror(-r));
        before = heap_in_use();
        for (size_t i = 0; i < n; i++) {
                r = iova_add_free(a, 2 * i * PAGE, (2 * i + 1) * PAGE - 1);
                if (r < 0)
                        die("iova_add_free: %s", strerror(-r));
        }
        if (iova_free_ranges(a) != n)
                die("memory: %zu free ranges, expected %zu", iova_free_ranges(a), n);
        if (iova_allocator_verify(a) < 0)
                die("memory: allocator invariants do not hold");
        return before ? (double) (heap_in_use() - before) / (double) n : 0;
}

/* Cost of the clock read pair wrapped around each operation in the latency passes. */
static double clock_overhead(void) {
        const size_t n = 100000;
        _cleanup_free_ uint64_t *lat = u64_buffer(n);

        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                lat[i] = now_ns() - t0;
        }
        qsort(lat, n, sizeof(uint64_t), cmp_u64);
        return percentile(lat, n, 0.50);
}

static double median(const Result *res, unsigned runs, size_t offset) {
        double v[MAX_RUNS];

        for (unsigned i = 0; i < runs; i++)
                v[i] = *(const double *) ((const char *) &res[i] + offset);
        qsort(v, runs, sizeof(double), cmp_double);
        return runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
}


static const char *verdict(double value, double target, bool strict, unsigned *missed) {
        if (strict ? value < target : value <= target)
                return "met";
        (*missed)++;
        return "NOT met";
}

/* The allocators of this run, iovad's first. */
typedef struct Column {
        const Impl *impl;
        void (*run)(const Params *p, Result *res);
        Result res[MAX_RUNS];
} Column;

static Column columns[3];
static size_t n_columns;

static double column_median(const Column *c, unsigned runs, size_t offset) {
        return median(c->res, runs, offset);
}

/* One line: what, then each allocator's figure, then (for iovad) target and verdict. */
static void print_line(const char *what, char cells[][40], const char *target, const char *verdict_text) {
        char line[320];
        int len = snprintf(line, sizeof(line), "%-30s", what);

        for (size_t i = 0; i < n_columns; i++)
                len += snprintf(line + len, sizeof(line) - (size_t) len, " %22s", cells[i]);
        snprintf(line + len, sizeof(line) - (size_t) len, "  %-16s %s", target, verdict_text);
        for (len = (int) strlen(line); len > 0 && line[len - 1] == ' ';)
                line[--len] = 0;
        puts(line);
}

static void row(const Params *p, const char *what, size_t offset, const char *target, double target_ns,
                unsigned *missed) {
        char cells[3][40];

        for (size_t i = 0; i < n_columns; i++)
                snprintf(cells[i], sizeof(cells[i]), "%.1f ns", column_median(&columns[i], p->runs, offset));
        print_line(what, cells, target,
                   target_ns > 0 ? verdict(column_median(&columns[0], p->runs, offset), target_ns, false, missed) : "");
}

static void row_percentiles(const Params *p, const char *what, size_t o50, size_t o99, size_t o999,
                            unsigned *missed) {
        char cells[3][40];

        for (size_t i = 0; i < n_columns; i++)
                snprintf(cells[i], sizeof(cells[i]), "%.0f / %.0f / %.0f ns",
                         column_median(&columns[i], p->runs, o50), column_median(&columns[i], p->runs, o99),
                         column_median(&columns[i], p->runs, o999));
        print_line(what, cells, "p99.9 < 2000 ns",
                   verdict(column_median(&columns[0], p->runs, o999), TARGET_P999, true, missed));
}

#define AT(field) offsetof(Result, field)

static void usage(FILE *f) {
        fputs("Usage: iova-bench [--quick] [--against-kernel=SO]\n"
              "Times the IOVA allocator (ns per operation, median of runs) against its targets.\n"
              "  --quick               fewer runs and smaller workloads, a few seconds in all\n"
              "  --against-kernel=SO   the same workloads, in the same run, on the kernel's own\n"
              "                        allocator (alloc_iova, alloc_iova_fast) built into SO by\n"
              "                        tests/bench/kernel-iova/kernel-iova.sh\n",
              f);
}

int main(int argc, char *argv[]) {
        const Params *p = &params_full;
        const char *kernel = NULL;
        double node_bytes, overhead, load[1];
        unsigned missed = 0;
        char cells[3][40];

        for (int i = 1; i < argc; i++) {
                if (streq_ptr(argv[i], "--quick"))
                        p = &params_quick;
                else if (strncmp(argv[i], "--against-kernel=", strlen("--against-kernel=")) == 0)
                        kernel = argv[i] + strlen("--against-kernel=");
                else if (streq_ptr(argv[i], "--help") || streq_ptr(argv[i], "-h")) {
                        usage(stdout);
                        return EXIT_SUCCESS;
                } else {
                        usage(stderr);
                        return EXIT_FAILURE;
                }
        }

        columns[n_columns++] = (Column) { .impl = &impl_iovad, .run = run_iovad };
        if (kernel) {
                load_kernel(kernel);
                columns[n_columns++] = (Column) { .impl = &impl_kernel, .run = run_kernel };
                columns[n_columns++] = (Column) { .impl = &impl_kernel_fast, .run = run_kernel_fast };
        }
        /* Runs interleaved, so that a change in the machine's speed touches every allocator alike. */
        for (unsigned run = 0; run < p->runs; run++)
                for (size_t i = 0; i < n_columns; i++) {
                        uint64_t t0 = now_ns();
                        columns[i].run(p, &columns[i].res[run]);
                        if (kernel)
                                fprintf(stderr, "run %u/%u %-12s %.1f s\n", run + 1, p->runs, columns[i].impl->name,
                                        (double) (now_ns() - t0) / 1e9);
                }
        node_bytes = bytes_per_node();
        overhead = clock_overhead();

        printf("iova-bench (%s): 48-bit space, 4 KiB pages, MSI window 0x%" PRIx64 "-0x%" PRIx64 " reserved\n",
               p->name, MSI_START, MSI_LAST);
        printf("median of %u runs; W1 %zu leases; W2 %zu live leases, %zu ops; W3 %zu pages below 4 GiB, %zu probes\n",
               p->runs, p->w1_leases, p->w2_live, p->w2_ops, w3_pages(&impl_iovad), p->w3_probes);
        if (kernel)
                printf("kernel: drivers/iommu/iova.c of Linux %s (%s); \"fast\": alloc_iova_fast/free_iova_fast\n",
                       K->source, kernel);
        putchar('\n');

        for (size_t i = 0; i < n_columns; i++)
                snprintf(cells[i], sizeof(cells[i]), "%s", columns[i].impl->name);
        print_line("", cells, "target (iovad)", "verdict");
        row(p, "W1 alloc+free per lease", AT(w1_lease), "<= 150 ns", TARGET_W1_LEASE, &missed);
        row(p, "   alloc", AT(w1_alloc), "", 0, &missed);
        row(p, "   free", AT(w1_free), "", 0, &missed);
        row(p, "W2 op (free + alloc), mean", AT(w2_op), "<= 150 ns", TARGET_W2_OP, &missed);
        row_percentiles(p, "   p50 / p99 / p99.9 per op", AT(w2_p50), AT(w2_p99), AT(w2_p999), &missed);
        for (size_t i = 0; i < n_columns; i++)
                snprintf(cells[i], sizeof(cells[i]), "%.0f", column_median(&columns[i], p->runs, AT(w2_ops_done)));
        print_line("   ops per pass (budget)", cells, "", "");
        row(p, "W3 failing alloc below 4 GiB", AT(w3_fail), "<= 100 ns", TARGET_W3_FAIL, &missed);
        row_percentiles(p, "   p50 / p99 / p99.9 per alloc", AT(w3_fail_p50), AT(w3_fail_p99), AT(w3_fail_p999),
                        &missed);
        row(p, "W3 unlimited alloc", AT(w3_unlimited), "", 0, &missed);
        if (kernel) {
                /* Where every allocator is ahead of the kernel's, workload by workload. */
                static const struct { const char *what; size_t at; } ahead[] = {
                        { "W1", AT(w1_lease) }, { "W2", AT(w2_op) }, { "W2 p99.9", AT(w2_p999) },
                        { "W3", AT(w3_fail) }, { "W3 p99.9", AT(w3_fail_p999) }, { "W3 unlimited", AT(w3_unlimited) },
                };
                printf("\niovad against the kernel's fastest of the two (lower is better):");
                for (size_t i = 0; i < ELEMENTSOF(ahead); i++) {
                        double mine = column_median(&columns[0], p->runs, ahead[i].at);
                        double k = column_median(&columns[1], p->runs, ahead[i].at);
                        double kf = column_median(&columns[2], p->runs, ahead[i].at);
                        printf(" %s %.2fx", ahead[i].what, mine / (k < kf ? k : kf));
                }
                putchar('\n');
        }

        printf("\nper-op latencies include one clock read pair (%.0f ns here)\n", overhead);
        /* W1 and W2 are bound by memory latency: other load on the machine shows in them first. */
        if (getloadavg(load, 1) == 1)
                printf("load average at the end: %.2f (compare figures from an otherwise idle machine)\n", load[0]);
        if (node_bytes > 0)
                printf("memory: %.1f bytes per free-range node; W2 peak %.0f nodes (%.2f MiB)\n", node_bytes,
                       column_median(&columns[0], p->runs, AT(w2_peak_nodes)),
                       column_median(&columns[0], p->runs, AT(w2_peak_nodes)) * node_bytes / (double) MiB);
        else
                printf("memory: bytes per node not measurable with this C library; W2 peak %.0f nodes\n",
                       column_median(&columns[0], p->runs, AT(w2_peak_nodes)));
        for (size_t i = 0; i < n_columns; i++)
                snprintf(cells[i], sizeof(cells[i]), "%.2f MiB",
                         column_median(&columns[i], p->runs, AT(w2_heap)) / (double) MiB);
        print_line("heap at W2's end", cells, "", "");
        if (p == &params_quick)
                printf("quick run: smaller workloads fit the caches better; the targets apply to the full run\n");
        if (missed == 0)
                printf("all targets met\n");
        else
                printf("%u target%s NOT met\n", missed, missed == 1 ? "" : "s");
        return EXIT_SUCCESS;
}
