/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iova-bench: nanoseconds per operation of the IOVA allocator on the
 * address space of an x86 IOMMU (48 bits, 4 KiB pages, MSI window
 * reserved), printed beside the targets and beside the Linux kernel's
 * allocator (drivers/iommu/iova.c) as measured on the same machine class.
 *
 * Each workload is deterministic (xorshift64* with a fixed seed) and runs
 * several times on a fresh allocator; every figure is the median over the
 * runs. Any failed operation ends the program with a message, and the
 * allocator's invariants are checked after each workload, outside timing.
 */

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

/* Targets in ns, and the kernel allocator's figures on this machine class. */
#define TARGET_W1_LEASE 150.0
#define TARGET_W2_OP 150.0
#define TARGET_W3_FAIL 100.0
#define TARGET_P999 2000.0
#define REF_W1_LEASE "260 ns"
#define REF_W2_OP "~184000 ns"
#define REF_W3_FAIL "~2.75 ms"

typedef struct Params {
        const char *name;
        unsigned runs;
        size_t w1_leases;
        size_t w2_live;
        size_t w2_ops;
        size_t w3_probes;
} Params;

static const Params params_full = { "full", MAX_RUNS, 1000000, 100000, 1000000, 1000000 };
static const Params params_quick = { "quick", 3, 200000, 20000, 200000, 100000 };

/* One run's figures; all in ns except the node count. */
typedef struct Result {
        double w1_alloc, w1_free, w1_lease;
        double w2_op, w2_p50, w2_p99, w2_p999;
        double w2_peak_nodes;
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

/* The IOMMU's space: 48 bits less the MSI window. */
static IovaAllocator *space_new(void) {
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
        return a;
}

static uint64_t space_bytes(void) {
        return SPACE_LAST + 1 - (MSI_LAST + 1 - MSI_START);
}

static void verify(const IovaAllocator *a, const char *workload) {
        if (iova_allocator_verify(a) < 0)
                die("%s: allocator invariants do not hold", workload);
}

/* After every lease went back, the space must be whole again. */
static void verify_empty(const IovaAllocator *a, const char *workload) {
        verify(a, workload);
        if (iova_free_ranges(a) != 2 || iova_free_bytes(a) != space_bytes())
                die("%s: %zu free ranges, %" PRIu64 " free bytes after freeing everything",
                    workload, iova_free_ranges(a), iova_free_bytes(a));
}

static void alloc_or_die(IovaAllocator *a, uint64_t size, uint64_t limit, uint64_t *ret, const char *workload) {
        int r = iova_alloc(a, size, size, limit, ret);
        if (r < 0)
                die("%s: allocating %" PRIu64 " bytes: %s", workload, size, strerror(-r));
}

static void release_or_die(IovaAllocator *a, uint64_t iova, uint64_t size, const char *workload) {
        int r = iova_release(a, iova, size);
        if (r < 0)
                die("%s: releasing 0x%" PRIx64 "+0x%" PRIx64 ": %s", workload, iova, size, strerror(-r));
}

static int cmp_u64(const void *x, const void *y) {
        uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;
        return a < b ? -1 : a > b;
}

static int cmp_double(const void *x, const void *y) {
        double a = *(const double *) x, b = *(const double *) y;
        return a < b ? -1 : a > b;
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

/*
 * W1: allocate size-aligned 4 KiB ranges, then free them in random order.
 * Allocation is lowest-first, so leases pack from 0 upwards; freeing them
 * at random cuts the space into about n/4 ranges half-way, then merges
 * it back into one.
 */
static void run_w1(const Params *p, Result *res) {
        _cleanup_(iova_allocator_freep) IovaAllocator *a = space_new();
        _cleanup_free_ uint64_t *lease = u64_buffer(p->w1_leases);
        size_t n = p->w1_leases;
        Rng rng = { SEED };
        uint64_t t0, t1;

        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
                alloc_or_die(a, PAGE, UINT64_MAX, &lease[i], "W1");
        t1 = now_ns();
        res->w1_alloc = (double) (t1 - t0) / (double) n;

        for (size_t i = n - 1; i > 0; i--) {
                size_t j = (size_t) rng_below(&rng, i + 1);
                uint64_t t = lease[i];
                lease[i] = lease[j];
                lease[j] = t;
        }

        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
                release_or_die(a, lease[i], PAGE, "W1");
        t1 = now_ns();
        res->w1_free = (double) (t1 - t0) / (double) n;
        res->w1_lease = res->w1_alloc + res->w1_free;

        verify_empty(a, "W1");
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

static inline void w2_op(IovaAllocator *a, Lease *leases, const Op *op) {
        Lease *l = &leases[op->victim];
        uint64_t size = w2_sizes[op->size_class];

        release_or_die(a, l->iova, l->size, "W2");
        alloc_or_die(a, size, UINT64_MAX, &l->iova, "W2");
        l->size = size;
}

/*
 * W2: a steady state of live leases of mixed sizes, each operation freeing
 * a random lease and allocating a new one. The operation scripts are drawn
 * before each pass so the timed loop runs nothing but the allocator. The
 * peak free-range count is sampled in the untimed passes only.
 */
static void run_w2(const Params *p, Result *res) {
        _cleanup_(iova_allocator_freep) IovaAllocator *a = space_new();
        _cleanup_free_ Lease *leases = xcalloc(p->w2_live, sizeof(Lease));
        _cleanup_free_ Op *ops = xcalloc(p->w2_ops, sizeof(Op));
        _cleanup_free_ uint64_t *lat = u64_buffer(p->w2_ops);
        size_t n = p->w2_ops, peak = 0;
        Rng rng = { SEED };
        uint64_t t0, t1;

        for (size_t i = 0; i < p->w2_live; i++) {
                leases[i].size = w2_sizes[w2_size_class(&rng)];
                alloc_or_die(a, leases[i].size, UINT64_MAX, &leases[i].iova, "W2");
                if (iova_free_ranges(a) > peak)
                        peak = iova_free_ranges(a);
        }

        /* Warm up into the steady state's fragmentation. */
        w2_script(&rng, ops, n, p->w2_live);
        for (size_t i = 0; i < n; i++) {
                w2_op(a, leases, &ops[i]);
                if (iova_free_ranges(a) > peak)
                        peak = iova_free_ranges(a);
        }

        w2_script(&rng, ops, n, p->w2_live);
        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
                w2_op(a, leases, &ops[i]);
        t1 = now_ns();
        res->w2_op = (double) (t1 - t0) / (double) n;

        /* Separate pass: one clock read pair per operation. */
        w2_script(&rng, ops, n, p->w2_live);
        for (size_t i = 0; i < n; i++) {
                t0 = now_ns();
                w2_op(a, leases, &ops[i]);
                t1 = now_ns();
                lat[i] = t1 - t0;
                if (iova_free_ranges(a) > peak)
                        peak = iova_free_ranges(a);
        }
        qsort(lat, n, sizeof(uint64_t), cmp_u64);
        res->w2_p50 = percentile(lat, n, 0.50);
        res->w2_p99 = percentile(lat, n, 0.99);
        res->w2_p999 = percentile(lat, n, 0.999);
        res->w2_peak_nodes = (double) peak;

        verify(a, "W2");
        for (size_t i = 0; i < p->w2_live; i++)
                release_or_die(a, leases[i].iova, leases[i].size, "W2");
        verify_empty(a, "W2");
}

/* 4 KiB pages below 4 GiB, less the MSI window. */
static size_t w3_pages(void) {
        return (size_t) ((LIMIT_4G + 1 - (MSI_LAST + 1 - MSI_START)) / PAGE);
}

/*
 * W3: everything below 4 GiB is taken, then every other page is freed, so
 * the low space holds many free pages but not one free, aligned 8 KiB
 * block. A limited 8 KiB request must fail; an unlimited one goes above.
 */
static void run_w3(const Params *p, Result *res) {
        _cleanup_(iova_allocator_freep) IovaAllocator *a = space_new();
        size_t n_pages = w3_pages(), n = p->w3_probes, filled;
        _cleanup_free_ uint64_t *lease = xcalloc(n_pages, sizeof(uint64_t));
        _cleanup_free_ uint64_t *above = u64_buffer(n);
        _cleanup_free_ uint64_t *lat = u64_buffer(n);
        uint64_t t0, t1, iova;
        int r;

        for (filled = 0;; filled++) {
                r = iova_alloc(a, PAGE, PAGE, LIMIT_4G, &iova);
                if (r == -ENOSPC)
                        break;
                if (r < 0)
                        die("W3: filling below 4 GiB: %s", strerror(-r));
                if (filled == n_pages || iova > LIMIT_4G || (iova >= MSI_START && iova <= MSI_LAST))
                        die("W3: filling below 4 GiB: lease 0x%" PRIx64 " out of place", iova);
                lease[filled] = iova;
        }
        if (filled != n_pages)
                die("W3: %zu pages below 4 GiB, expected %zu", filled, n_pages);
        for (size_t i = 0; i < n_pages; i += 2)
                release_or_die(a, lease[i], PAGE, "W3");

        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
                r = iova_alloc(a, 2 * PAGE, 2 * PAGE, LIMIT_4G, &iova);
                if (r != -ENOSPC)
                        die("W3: limited 8 KiB allocation returned %d (%s), expected -ENOSPC",
                            r, r < 0 ? strerror(-r) : "success");
        }
        t1 = now_ns();
        res->w3_fail = (double) (t1 - t0) / (double) n;

        for (size_t i = 0; i < n; i++) {
                t0 = now_ns();
                r = iova_alloc(a, 2 * PAGE, 2 * PAGE, LIMIT_4G, &iova);
                t1 = now_ns();
                if (r != -ENOSPC)
                        die("W3: limited 8 KiB allocation returned %d (%s), expected -ENOSPC",
                            r, r < 0 ? strerror(-r) : "success");
                lat[i] = t1 - t0;
        }
        qsort(lat, n, sizeof(uint64_t), cmp_u64);
        res->w3_fail_p50 = percentile(lat, n, 0.50);
        res->w3_fail_p99 = percentile(lat, n, 0.99);
        res->w3_fail_p999 = percentile(lat, n, 0.999);

        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
                alloc_or_die(a, 2 * PAGE, UINT64_MAX, &above[i], "W3");
        t1 = now_ns();
        res->w3_unlimited = (double) (t1 - t0) / (double) n;

        verify(a, "W3");
        for (size_t i = 0; i < n; i++) {
                if (above[i] <= LIMIT_4G)
                        die("W3: unlimited 8 KiB lease at 0x%" PRIx64 ", below 4 GiB", above[i]);
                release_or_die(a, above[i], 2 * PAGE, "W3");
        }
        for (size_t i = 1; i < n_pages; i += 2)
                release_or_die(a, lease[i], PAGE, "W3");
        verify_empty(a, "W3");
}

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
        verify(a, "memory");
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

#define MEDIAN(field) median(res, p->runs, offsetof(Result, field))

static const char *verdict(double value, double target, bool strict, unsigned *missed) {
        if (strict ? value < target : value <= target)
                return "met";
        (*missed)++;
        return "NOT met";
}

static void print_row(const char *what, const char *value, const char *target, const char *verdict_text,
                      const char *reference) {
        char line[256];
        size_t len;

        snprintf(line, sizeof(line), "%-32s %20s  %-16s %-8s %s", what, value, target, verdict_text, reference);
        len = strlen(line);
        while (len > 0 && line[len - 1] == ' ')
                line[--len] = 0;
        puts(line);
}

static void row(const char *what, double value, const char *target, const char *verdict_text, const char *reference) {
        char v[32];

        snprintf(v, sizeof(v), "%.1f ns", value);
        print_row(what, v, target, verdict_text, reference);
}

static void row_percentiles(const char *what, double p50, double p99, double p999, unsigned *missed) {
        char v[48];

        snprintf(v, sizeof(v), "%.0f / %.0f / %.0f ns", p50, p99, p999);
        print_row(what, v, "p99.9 < 2000 ns", verdict(p999, TARGET_P999, true, missed), "");
}

static void usage(FILE *f) {
        fputs("Usage: iova-bench [--quick]\n"
              "Times the IOVA allocator (ns per operation, median of runs) against its targets.\n"
              "  --quick   fewer runs and smaller workloads, a few seconds in all\n",
              f);
}

int main(int argc, char *argv[]) {
        const Params *p = &params_full;
        Result res[MAX_RUNS] = {};
        double node_bytes, overhead, load[1];
        unsigned missed = 0;

        for (int i = 1; i < argc; i++) {
                if (streq_ptr(argv[i], "--quick"))
                        p = &params_quick;
                else if (streq_ptr(argv[i], "--help") || streq_ptr(argv[i], "-h")) {
                        usage(stdout);
                        return EXIT_SUCCESS;
                } else {
                        usage(stderr);
                        return EXIT_FAILURE;
                }
        }

        for (unsigned run = 0; run < p->runs; run++) {
                run_w1(p, &res[run]);
                run_w2(p, &res[run]);
                run_w3(p, &res[run]);
        }
        node_bytes = bytes_per_node();
        overhead = clock_overhead();

        printf("iova-bench (%s): 48-bit space, 4 KiB pages, MSI window 0x%" PRIx64 "-0x%" PRIx64 " reserved\n",
               p->name, MSI_START, MSI_LAST);
        printf("median of %u runs; W1 %zu leases; W2 %zu live leases, %zu ops; W3 %zu pages below 4 GiB, %zu probes\n\n",
               p->runs, p->w1_leases, p->w2_live, p->w2_ops, w3_pages(), p->w3_probes);

        print_row("", "measured", "target", "verdict", "reference (kernel iova.c, as measured on this machine class)");
        row("W1 alloc+free per lease", MEDIAN(w1_lease), "<= 150 ns",
            verdict(MEDIAN(w1_lease), TARGET_W1_LEASE, false, &missed), REF_W1_LEASE);
        row("   alloc", MEDIAN(w1_alloc), "", "", "");
        row("   free", MEDIAN(w1_free), "", "", "");
        row("W2 op (free + alloc), mean", MEDIAN(w2_op), "<= 150 ns",
            verdict(MEDIAN(w2_op), TARGET_W2_OP, false, &missed), REF_W2_OP);
        row_percentiles("   p50 / p99 / p99.9 per op", MEDIAN(w2_p50), MEDIAN(w2_p99), MEDIAN(w2_p999),
                        &missed);
        row("W3 failing alloc below 4 GiB", MEDIAN(w3_fail), "<= 100 ns",
            verdict(MEDIAN(w3_fail), TARGET_W3_FAIL, false, &missed), REF_W3_FAIL);
        row_percentiles("   p50 / p99 / p99.9 per alloc", MEDIAN(w3_fail_p50), MEDIAN(w3_fail_p99),
                        MEDIAN(w3_fail_p999), &missed);
        row("W3 unlimited alloc", MEDIAN(w3_unlimited), "", "", "");

        printf("\nper-op latencies include one clock read pair (%.0f ns here)\n", overhead);
        /* W1 and W2 are bound by memory latency: other load on the machine shows in them first. */
        if (getloadavg(load, 1) == 1)
                printf("load average at the end: %.2f (compare figures from an otherwise idle machine)\n", load[0]);
        if (node_bytes > 0)
                printf("memory: %.1f bytes per free-range node; W2 peak %.0f nodes (%.2f MiB)\n", node_bytes,
                       MEDIAN(w2_peak_nodes), MEDIAN(w2_peak_nodes) * node_bytes / (double) MiB);
        else
                printf("memory: bytes per node not measurable with this C library; W2 peak %.0f nodes\n",
                       MEDIAN(w2_peak_nodes));
        if (p == &params_quick)
                printf("quick run: smaller workloads fit the caches better; the targets apply to the full run\n");
        if (missed == 0)
                printf("all targets met\n");
        else
                printf("%u target%s NOT met\n", missed, missed == 1 ? "" : "s");
        return EXIT_SUCCESS;
}
