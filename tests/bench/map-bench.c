/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * map-bench: what mapping memory for DMA through iovad costs against the
 * raw VFIO ioctls, on a real kernel's VFIO (the kernel tier's guest:
 * tests/kernel/map-bench.sh boots it and runs this program there).
 *
 * One run, one IOMMU group, one sealed memfd (1 GiB by default), its pages
 * touched first so that no method pays for allocating them. For each piece
 * size (4 KiB, 2 MiB, 1 GiB) the same pieces at the same IOVAs are mapped
 * and then unmapped, five ways, one after the other:
 *
 *   raw      VFIO_IOMMU_MAP_DMA / UNMAP_DMA on a type1v2 container of this
 *            process's own, from one mmap of the memfd (what a VMM does)
 *   raw, fresh mmap  the same from a new mmap of the memfd that nothing
 *            has touched, as iovad's own mapping of a client's memfd is:
 *            pinning then fills its page tables first
 *   bus      Container.MapMemory per piece over the system bus, then
 *            Lease.Release per lease
 *   direct   the same over a direct connection (OpenDirectConnection)
 *   batched  Container.MapMemoryBatch over the direct connection (all
 *            pieces in one call; 65,535 at most per call), then
 *            Manager.ReleaseLeases
 *
 * The raw container is closed before iovad's container takes the group,
 * and iovad's container gives it back before the next raw run.
 * 1 GiB as 4 KiB pieces would be 262,144 mappings, four times the kernel's
 * dma_entry_limit, so the 4 KiB pieces cover the first --small-pieces of
 * them (1,024 by default, 4 MiB: under TCG each call over the bus takes
 * milliseconds). Under TCG every figure is slow; the
 * ratios between methods of one run are what it shows.
 *
 * With --hugetlb the memfd is of 2 MiB huge pages (MFD_HUGETLB), so that a
 * fresh mapping of it fills one page-table entry per 2 MiB instead of 512.
 *
 * --rounds=N measures each size N times over and keeps each figure's
 * best, the one least disturbed by other work on the machine.
 *
 * Run as root with DBUS_SYSTEM_BUS_ADDRESS pointing at the bus iovad is
 * on. Exit status 0 whether or not the target is met, 1 when something
 * fails, 2 for a bad command line.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "iovad-bus.h"

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define KIB UINT64_C(1024)
#define MIB (KIB * KIB)
#define GIB (KIB * MIB)
#define IOVA_BASE (4 * GIB)     /* above the 32-bit holes (MSI window), within a 39-bit aperture */
#define BATCH_MAX 65535
#define TARGET_BATCH_RATIO 1.2  /* batched 2 MiB pieces against raw */

typedef enum Method {
        M_RAW,
        M_RAW_FRESH,
        M_BUS,
        M_DIRECT,
        M_BATCHED,
        _M_MAX,
} Method;

static const char *const method_names[_M_MAX] = { "raw ioctls", "raw, fresh mmap", "iovad bus", "iovad direct", "iovad batched" };

typedef struct Bench {
        unsigned group;
        uint64_t total;
        size_t small_pieces;
        unsigned rounds;        /* each figure the best of this many */
        bool hugetlb;           /* the memfd of 2 MiB huge pages: no 4 KiB pieces */
        int memfd;
        uint8_t *mem;           /* the raw method's (and the touching) mapping of all of it */
        sd_bus *bus, *direct;
        char *container;
} Bench;

static _Noreturn _printf_(1, 2) void fail(const char *fmt, ...) {
        va_list ap;

        fflush(stdout);
        fprintf(stderr, "map-bench: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
        exit(EXIT_FAILURE);
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* ---- raw VFIO ---- */

typedef struct Raw {
        int container, group;
} Raw;

static Raw raw_open(unsigned group) {
        struct vfio_group_status status = { .argsz = sizeof(status) };
        char path[64];
        Raw r;

        r.container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
        if (r.container < 0)
                fail("/dev/vfio/vfio: %m");
        if (ioctl(r.container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
                fail("VFIO_GET_API_VERSION: not %d", VFIO_API_VERSION);
        if (ioctl(r.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
                fail("no VFIO_TYPE1v2_IOMMU");
        snprintf(path, sizeof(path), "/dev/vfio/%u", group);
        r.group = open(path, O_RDWR | O_CLOEXEC);
        if (r.group < 0)
                fail("%s: %m", path);
        if (ioctl(r.group, VFIO_GROUP_GET_STATUS, &status) < 0)
                fail("VFIO_GROUP_GET_STATUS: %m");
        if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
                fail("group %u is not viable (every device on vfio-pci?)", group);
        if (ioctl(r.group, VFIO_GROUP_SET_CONTAINER, &r.container) < 0)
                fail("VFIO_GROUP_SET_CONTAINER: %m");
        if (ioctl(r.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
                fail("VFIO_SET_IOMMU: %m");
        return r;
}

static void raw_close(Raw *r) {
        if (ioctl(r->group, VFIO_GROUP_UNSET_CONTAINER) < 0)
                fail("VFIO_GROUP_UNSET_CONTAINER: %m");
        close(r->group);
        close(r->container);
}

static void raw_map(uint8_t *mem, Raw *r, uint64_t size, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct vfio_iommu_type1_dma_map map = {
                        .argsz = sizeof(map),
                        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                        .vaddr = (uintptr_t) (mem + i * size),
                        .iova = IOVA_BASE + i * size,
                        .size = size,
                };
                if (ioctl(r->container, VFIO_IOMMU_MAP_DMA, &map) < 0)
                        fail("VFIO_IOMMU_MAP_DMA of piece %zu (0x%" PRIx64 "+0x%" PRIx64 "): %m", i, (uint64_t) map.iova, size);
        }
}

static void raw_unmap(Raw *r, uint64_t size, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct vfio_iommu_type1_dma_unmap unmap = {
                        .argsz = sizeof(unmap),
                        .iova = IOVA_BASE + i * size,
                        .size = size,
                };
                if (ioctl(r->container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0 || unmap.size != size)
                        fail("VFIO_IOMMU_UNMAP_DMA of piece %zu: %m", i);
        }
}

/* ---- iovad ---- */

static void call_or_fail(sd_bus *bus, const char *path, const char *iface, const char *member, sd_bus_message **ret,
                         const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_call_methodv(bus, IOVAD_BUS_NAME, path, iface, member, &error, ret, types, ap);
        va_end(ap);
        if (r < 0)
                fail("%s.%s on %s: %s: %s", iface, member, path, error.name ?: strerror(-r), error.message ?: "");
}

static sd_bus *open_direct(Bench *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus *d = NULL;
        int fd, copy, r;

        call_or_fail(b->bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "OpenDirectConnection", &reply, "a{sv}", 0);
        if (sd_bus_message_read(reply, "h", &fd) < 0)
                fail("OpenDirectConnection: bad reply");
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                fail("dup: %m");
        r = sd_bus_new(&d);
        if (r >= 0)
                r = sd_bus_set_fd(d, copy, copy);
        if (r >= 0)
                r = sd_bus_start(d);
        if (r < 0)
                fail("direct connection: %s", strerror(-r));
        return d;
}

static void setup_iovad(Bench *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_open_system(&b->bus);
        if (r < 0)
                fail("cannot connect to the system bus: %s", strerror(-r));
        call_or_fail(b->bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "CreateContainer", &reply, "sa{sv}", "map-bench",
                     0);
        if (sd_bus_message_read(reply, "o", &path) < 0)
                fail("CreateContainer: bad reply");
        b->container = strdup(path);
        if (!b->container)
                fail("out of memory");
        b->direct = open_direct(b);
}

/* The group goes back and forth: the raw container and iovad's cannot hold it at once. */
static void iovad_attach(Bench *b, bool attach) {
        call_or_fail(b->bus, b->container, IOVAD_CONTAINER_IFACE, attach ? "AttachGroup" : "DetachGroup", NULL, "u",
                     (uint32_t) b->group);
}

/* MapMemory per piece on @bus; the leases' paths in @paths. */
static void iovad_map(Bench *b, sd_bus *bus, uint64_t size, size_t n, char **paths) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *path;
                uint64_t iova;

                call_or_fail(bus, b->container, IOVAD_CONTAINER_IFACE, "MapMemory", &reply, "htta{sv}", b->memfd,
                             i * size, size, 1, "iova", "t", IOVA_BASE + i * size);
                if (sd_bus_message_read(reply, "ot", &path, &iova) < 0 || iova != IOVA_BASE + i * size)
                        fail("MapMemory: bad reply");
                paths[i] = strdup(path);
                if (!paths[i])
                        fail("out of memory");
        }
}

static void iovad_release(sd_bus *bus, size_t n, char **paths) {
        for (size_t i = 0; i < n; i++) {
                call_or_fail(bus, paths[i], IOVAD_LEASE_IFACE, "Release", NULL, NULL);
                free(paths[i]);
                paths[i] = NULL;
        }
}

static void batch_map(Bench *b, uint64_t size, size_t n, char **paths) {
        for (size_t first = 0; first < n; first += BATCH_MAX) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                size_t k = n - first < BATCH_MAX ? n - first : BATCH_MAX, got = 0;
                const char *path;
                uint64_t iova;
                int r;

                r = sd_bus_message_new_method_call(b->direct, &m, IOVAD_BUS_NAME, b->container, IOVAD_CONTAINER_IFACE,
                                                   "MapMemoryBatch");
                if (r >= 0)
                        r = sd_bus_message_append(m, "h", b->memfd);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "(ttt)");
                for (size_t i = first; r >= 0 && i < first + k; i++)
                        r = sd_bus_message_append(m, "(ttt)", i * size, size, IOVA_BASE + i * size);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "a{sv}", 0);
                if (r < 0)
                        fail("cannot build MapMemoryBatch: %s", strerror(-r));
                r = sd_bus_call(b->direct, m, 0, &error, &reply);
                if (r < 0)
                        fail("MapMemoryBatch: %s: %s", error.name ?: strerror(-r), error.message ?: "");
                r = sd_bus_message_enter_container(reply, 'a', "(ot)");
                while (r >= 0 && (r = sd_bus_message_read(reply, "(ot)", &path, &iova)) > 0) {
                        if (got >= k || iova != IOVA_BASE + (first + got) * size)
                                fail("MapMemoryBatch: bad reply");
                        paths[first + got] = strdup(path);
                        if (!paths[first + got++])
                                fail("out of memory");
                }
                if (r < 0 || got != k)
                        fail("MapMemoryBatch: bad reply");
        }
}

static void batch_release(Bench *b, size_t n, char **paths) {
        for (size_t first = 0; first < n; first += BATCH_MAX) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                size_t k = n - first < BATCH_MAX ? n - first : BATCH_MAX;
                int r;

                r = sd_bus_message_new_method_call(b->direct, &m, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH,
                                                   IOVAD_MANAGER_IFACE, "ReleaseLeases");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "o");
                for (size_t i = first; r >= 0 && i < first + k; i++)
                        r = sd_bus_message_append(m, "o", paths[i]);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r < 0)
                        fail("cannot build ReleaseLeases: %s", strerror(-r));
                r = sd_bus_call(b->direct, m, 0, &error, &reply);
                if (r < 0)
                        fail("ReleaseLeases: %s: %s", error.name ?: strerror(-r), error.message ?: "");
        }
        for (size_t i = 0; i < n; i++) {
                free(paths[i]);
                paths[i] = NULL;
        }
}

/* ---- the run ---- */

typedef struct Figures {
        uint64_t size;
        size_t n;
        double map_ms[_M_MAX], unmap_ms[_M_MAX];
} Figures;

static Figures measure(Bench *b, uint64_t size, size_t n) {
        Figures f = { .size = size, .n = n };
        char **paths = calloc(n, sizeof(char *));
        uint64_t t0, t1, t2;
        Raw raw;

        if (!paths)
                fail("out of memory");
        fprintf(stderr, "map-bench: %zu pieces of %" PRIu64 " KiB\n", n, size / KIB);

        raw = raw_open(b->group);
        t0 = now_ns();
        raw_map(b->mem, &raw, size, n);
        t1 = now_ns();
        raw_unmap(&raw, size, n);
        t2 = now_ns();
        f.map_ms[M_RAW] = (double) (t1 - t0) / 1e6;
        f.unmap_ms[M_RAW] = (double) (t2 - t1) / 1e6;

        uint8_t *fresh = mmap(NULL, size * n, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
        if (fresh == MAP_FAILED)
                fail("mmap: %m");
        t0 = now_ns();
        raw_map(fresh, &raw, size, n);
        t1 = now_ns();
        raw_unmap(&raw, size, n);
        t2 = now_ns();
        (void) munmap(fresh, size * n);
        f.map_ms[M_RAW_FRESH] = (double) (t1 - t0) / 1e6;
        f.unmap_ms[M_RAW_FRESH] = (double) (t2 - t1) / 1e6;
        raw_close(&raw);
        iovad_attach(b, true);

        for (Method m = M_BUS; m <= M_DIRECT; m++) {
                sd_bus *bus = m == M_BUS ? b->bus : b->direct;
                t0 = now_ns();
                iovad_map(b, bus, size, n, paths);
                t1 = now_ns();
                iovad_release(bus, n, paths);
                t2 = now_ns();
                f.map_ms[m] = (double) (t1 - t0) / 1e6;
                f.unmap_ms[m] = (double) (t2 - t1) / 1e6;
        }

        t0 = now_ns();
        batch_map(b, size, n, paths);
        t1 = now_ns();
        batch_release(b, n, paths);
        t2 = now_ns();
        f.map_ms[M_BATCHED] = (double) (t1 - t0) / 1e6;
        f.unmap_ms[M_BATCHED] = (double) (t2 - t1) / 1e6;
        iovad_attach(b, false);
        free(paths);
        return f;
}

/*
 * measure() @b->rounds times, one size after the other, each figure the
 * best of them: on a machine other work shares, the best is the one least
 * disturbed.
 */
static Figures measure_best(Bench *b, uint64_t size, size_t n) {
        Figures best = measure(b, size, n);

        for (unsigned r = 1; r < b->rounds; r++) {
                Figures f = measure(b, size, n);
                for (Method m = 0; m < _M_MAX; m++) {
                        if (f.map_ms[m] < best.map_ms[m])
                                best.map_ms[m] = f.map_ms[m];
                        if (f.unmap_ms[m] < best.unmap_ms[m])
                                best.unmap_ms[m] = f.unmap_ms[m];
                }
        }
        return best;
}

/* The floor of one call to iovad: GetContainer, which does nothing but look a name up, p50 of @n. */
static double call_floor_us(Bench *b, sd_bus *bus, size_t n) {
        uint64_t *ns = calloc(n, sizeof(uint64_t));

        if (!ns)
                fail("out of memory");
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                call_or_fail(bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "GetContainer", NULL, "s", "map-bench");
                ns[i] = now_ns() - t0;
        }
        for (size_t i = 1; i < n; i++)
                for (size_t k = i; k > 0 && ns[k - 1] > ns[k]; k--) {
                        uint64_t x = ns[k];
                        ns[k] = ns[k - 1];
                        ns[k - 1] = x;
                }
        double p50 = (double) ns[n / 2] / 1e3;
        free(ns);
        return p50;
}

static void size_name(char buf[static 16], uint64_t size) {
        if (size >= GIB)
                snprintf(buf, 16, "%" PRIu64 " GiB", size / GIB);
        else if (size >= MIB)
                snprintf(buf, 16, "%" PRIu64 " MiB", size / MIB);
        else
                snprintf(buf, 16, "%" PRIu64 " KiB", size / KIB);
}

static void print_table(const Figures *f, size_t n, bool unmap) {
        printf("\n%s:\n\n| pieces | ", unmap ? "Unmapping (raw UNMAP_DMA, Release, ReleaseLeases)" : "Mapping");
        for (Method m = 0; m < _M_MAX; m++)
                printf("%s | ", method_names[m]);
        printf("\n|---|");
        for (Method m = 0; m < _M_MAX; m++)
                printf("---:|");
        printf("\n");
        for (size_t i = 0; i < n; i++) {
                const double *ms = unmap ? f[i].unmap_ms : f[i].map_ms;
                char sz[16];

                size_name(sz, f[i].size);
                printf("| %zu × %s | %.1f ms (%.2f µs each) |", f[i].n, sz, ms[M_RAW],
                       ms[M_RAW] * 1e3 / (double) f[i].n);
                for (Method m = M_RAW_FRESH; m < _M_MAX; m++)
                        printf(" %.1f ms (%.2f×) |", ms[m], ms[m] / ms[M_RAW]);
                printf("\n");
        }
}

static void help(void) {
        printf("Usage: map-bench [--total=BYTES] [--small-pieces=N] [--hugetlb] [--rounds=N] GROUP\n"
               "Maps a sealed memfd of --total bytes (default 1 GiB) into IOMMU group GROUP as 4 KiB\n"
               "(the first N, default 1024), 2 MiB and 1 GiB pieces: raw VFIO ioctls, then iovad over\n"
               "the bus, over a direct connection, and batched. Runs as root, with iovad on the bus\n"
               "DBUS_SYSTEM_BUS_ADDRESS names and GROUP's devices on vfio-pci. --hugetlb makes the\n"
               "memfd of 2 MiB huge pages (MFD_HUGETLB, the default size; they must be reserved), without 4 KiB pieces.\n"
               "--rounds=N measures every size N times and prints each figure's best (default 1).\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "total", required_argument, NULL, 't' },
                { "small-pieces", required_argument, NULL, 's' },
                { "hugetlb", no_argument, NULL, 'H' },
                { "rounds", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        Bench b = { .total = GIB, .small_pieces = 1024, .rounds = 1, .memfd = -1 };
        Figures f[3];
        size_t nf = 0;
        char *end;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        b.total = strtoull(optarg, &end, 0);
                        if (*end || b.total == 0 || b.total % (2 * MIB) != 0) {
                                fprintf(stderr, "map-bench: --total must be a multiple of 2 MiB\n");
                                return 2;
                        }
                        break;
                case 's':
                        b.small_pieces = strtoull(optarg, &end, 0);
                        if (*end || b.small_pieces == 0 || b.small_pieces > BATCH_MAX) {
                                fprintf(stderr, "map-bench: --small-pieces must be 1 to %d\n", BATCH_MAX);
                                return 2;
                        }
                        break;
                case 'H':
                        b.hugetlb = true;
                        break;
                case 'r': {
                        unsigned long x = strtoul(optarg, &end, 10);
                        if (*end || x == 0 || x > 100) {
                                fprintf(stderr, "map-bench: --rounds must be 1 to 100\n");
                                return 2;
                        }
                        b.rounds = (unsigned) x;
                        break;
                }
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                default:
                        return 2;
                }
        if (argc - optind != 1) {
                help();
                return 2;
        }
        b.group = (unsigned) strtoul(argv[optind], &end, 10);
        if (*end) {
                fprintf(stderr, "map-bench: bad group '%s'\n", argv[optind]);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (b.small_pieces * 4 * KIB > b.total)
                b.small_pieces = (size_t) (b.total / (4 * KIB));

        b.memfd = memfd_create("map-bench", MFD_CLOEXEC | MFD_ALLOW_SEALING | (b.hugetlb ? MFD_HUGETLB : 0));
        if (b.memfd < 0 || ftruncate(b.memfd, (off_t) b.total) < 0 ||
            fcntl(b.memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
                fail("memfd: %m");
        b.mem = mmap(NULL, b.total, PROT_READ | PROT_WRITE, MAP_SHARED, b.memfd, 0);
        if (b.mem == MAP_FAILED)
                fail("mmap of the memfd: %m");
        /* Every page allocated before anything is timed. */
        for (uint64_t o = 0; o < b.total; o += b.hugetlb ? 2 * MIB : 4 * KIB)
                b.mem[o] = 1;

        setup_iovad(&b);
        double floor_bus = call_floor_us(&b, b.bus, 200), floor_direct = call_floor_us(&b, b.direct, 200);
        if (!b.hugetlb)
                f[nf++] = measure_best(&b, 4 * KIB, b.small_pieces);
        f[nf++] = measure_best(&b, 2 * MIB, (size_t) (b.total / (2 * MIB)));
        if (b.total % GIB == 0)
                f[nf++] = measure_best(&b, GIB, (size_t) (b.total / GIB));

        printf("map-bench: IOMMU group %u, a memfd of %" PRIu64 " MiB%s, pieces at IOVA 0x%" PRIx64 " on, one run",
               b.group, b.total / MIB, b.hugetlb ? " of 2 MiB huge pages" : "", IOVA_BASE);
        if (b.rounds > 1)
                printf(" (each figure the best of %u rounds)", b.rounds);
        printf(";\nratios against the raw ioctls of the same pieces in the same run.\n");
        printf("The floor of one call (GetContainer, p50 of 200): %.0f µs over the bus, %.0f µs direct.\n", floor_bus,
               floor_direct);
        print_table(f, nf, false);
        print_table(f, nf, true);
        for (size_t i = 0; i < nf; i++)
                if (f[i].size == 2 * MIB) {
                        double ratio = f[i].map_ms[M_BATCHED] / f[i].map_ms[M_RAW];
                        printf("\nBatched mapping of %zu × 2 MiB: %.2f× the raw ioctls (target ≤ %.1f×: %s).\n", f[i].n,
                               ratio, TARGET_BATCH_RATIO, ratio <= TARGET_BATCH_RATIO ? "met" : "**NOT met**");
                }

        call_or_fail(b.bus, b.container, IOVAD_CONTAINER_IFACE, "Destroy", NULL, NULL);
        sd_bus_flush_close_unref(b.direct);
        sd_bus_flush_close_unref(b.bus);
        return EXIT_SUCCESS;
}
