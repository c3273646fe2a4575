/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iova-ranges --iommufd ADDRESS...
 * iova-ranges --iommufd-fds IOMMUFD DEVICE
 *
 * The kernel's own answer on iommufd, for the kernel tier: the first form
 * opens /dev/iommu, makes one IOAS, binds each PCI device's VFIO cdev
 * (found through sysfs, <device>/vfio-dev/vfioN) to it and attaches it,
 * then prints what IOMMU_IOAS_IOVA_RANGES says, and closes everything (the
 * devices are free again afterwards). The second form does the same with
 * an iommufd and a device cdev that are already open, as fd numbers (what
 * iovactl open-delegated passes on), and also maps one page of its own
 * memory at a free IOVA and unmaps it again: what a delegated VMM does.
 *
 * stdout: one line per range, "0x%016x 0x%016x" (start, inclusive end),
 * then "alignment 0x%x" (out_iova_alignment); with --iommufd-fds also
 * "map 0x%x ok". Exit status 0 on success, 1 on failure (stderr says why).
 *
 * The structures are the kernel's uapi (linux/iommufd.h, linux/vfio.h of
 * 6.6 and later), declared here because Debian 12's headers lack them; it
 * deliberately shares no code with iovad.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iova-ranges-iommufd.h"

typedef uint64_t u64a __attribute__((aligned(8)));

struct ioas_alloc { uint32_t size, flags, out_ioas_id; };
struct iova_range { u64a start, last; };
struct ioas_iova_ranges { uint32_t size, ioas_id, num_iovas, reserved; u64a allowed_iovas, out_iova_alignment; };
struct ioas_map { uint32_t size, flags, ioas_id, reserved; u64a user_va, length, iova; };
struct ioas_unmap { uint32_t size, ioas_id; u64a iova, length; };
struct bind_iommufd { uint32_t argsz, flags; int32_t iommufd; uint32_t out_devid; };
struct attach_pt { uint32_t argsz, flags, pt_id; };

#define IOMMU_IOAS_ALLOC _IO(';', 0x81)
#define IOMMU_IOAS_IOVA_RANGES _IO(';', 0x84)
#define IOMMU_IOAS_MAP _IO(';', 0x85)
#define IOMMU_IOAS_UNMAP _IO(';', 0x86)
#define MAP_FIXED_IOVA 1u
#define MAP_WRITEABLE 2u
#define MAP_READABLE 4u
#define VFIO_DEVICE_BIND_IOMMUFD _IO(';', 100 + 18)
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(';', 100 + 19)

#define MAX_DEVICES 16
#define MAX_RANGES 64

static int bind_attach(int iommufd, uint32_t ioas, int dev, const char *what) {
        struct bind_iommufd b = { .argsz = sizeof(b), .iommufd = iommufd };
        struct attach_pt a = { .argsz = sizeof(a), .pt_id = ioas };

        if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &b) < 0) {
                fprintf(stderr, "iova-ranges: VFIO_DEVICE_BIND_IOMMUFD %s: %m\n", what);
                return -1;
        }
        if (ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a) < 0) {
                fprintf(stderr, "iova-ranges: VFIO_DEVICE_ATTACH_IOMMUFD_PT %s: %m\n", what);
                return -1;
        }
        return 0;
}

/* Prints the ranges; *ret_free an IOVA of a free page in them (the first range's start). */
static int print_ranges(int iommufd, uint32_t ioas, uint64_t *ret_free) {
        struct iova_range r[MAX_RANGES];
        struct ioas_iova_ranges q = {
                .size = sizeof(q), .ioas_id = ioas, .num_iovas = MAX_RANGES,
                .allowed_iovas = (uint64_t) (uintptr_t) r,
        };

        if (ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &q) < 0) {
                fprintf(stderr, "iova-ranges: IOMMU_IOAS_IOVA_RANGES: %m\n");
                return -1;
        }
        if (q.num_iovas == 0) {
                fprintf(stderr, "iova-ranges: no usable range\n");
                return -1;
        }
        for (uint32_t i = 0; i < q.num_iovas; i++)
                printf("0x%016llx 0x%016llx\n", (unsigned long long) r[i].start, (unsigned long long) r[i].last);
        printf("alignment 0x%llx\n", (unsigned long long) q.out_iova_alignment);
        if (ret_free)
                *ret_free = (r[0].start + 0xfffff) & ~(uint64_t) 0xfffff;
        return 0;
}

static int open_cdev(const char *address) {
        char path[512];
        struct dirent *de;
        DIR *d;
        int fd = -1;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", address);
        d = opendir(path);
        if (!d) {
                fprintf(stderr, "iova-ranges: %s: %m (not on vfio-pci, or no VFIO cdevs)\n", path);
                return -1;
        }
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "vfio", 4) == 0) {
                        snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
                        fd = open(path, O_RDWR | O_CLOEXEC);
                        if (fd < 0)
                                fprintf(stderr, "iova-ranges: %s: %m\n", path);
                        break;
                }
        closedir(d);
        if (fd < 0 && !de)
                fprintf(stderr, "iova-ranges: %s has no vfio cdev\n", address);
        return fd;
}

static int alloc_ioas(int iommufd, uint32_t *ret) {
        struct ioas_alloc a = { .size = sizeof(a) };

        if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &a) < 0) {
                fprintf(stderr, "iova-ranges: IOMMU_IOAS_ALLOC: %m\n");
                return -1;
        }
        *ret = a.out_ioas_id;
        return 0;
}

static int map_own_page(int iommufd, uint32_t ioas, uint64_t iova) {
        struct ioas_map m = {
                .size = sizeof(m), .flags = MAP_FIXED_IOVA | MAP_READABLE | MAP_WRITEABLE, .ioas_id = ioas,
                .length = 4096, .iova = iova,
        };
        struct ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas, .iova = iova, .length = 4096 };
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return -1;
        memset(p, 0x5a, 4096);
        m.user_va = (uint64_t) (uintptr_t) p;
        if (ioctl(iommufd, IOMMU_IOAS_MAP, &m) < 0) {
                fprintf(stderr, "iova-ranges: IOMMU_IOAS_MAP at 0x%llx: %m\n", (unsigned long long) iova);
                return -1;
        }
        if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &u) < 0 || u.length != 4096) {
                fprintf(stderr, "iova-ranges: IOMMU_IOAS_UNMAP at 0x%llx: %m (length 0x%llx)\n",
                        (unsigned long long) iova, (unsigned long long) u.length);
                return -1;
        }
        printf("map 0x%llx ok\n", (unsigned long long) iova);
        munmap(p, 4096);
        return 0;
}

static int parse_fd(const char *s) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
                return -1;
        return (int) v;
}

int iova_ranges_iommufd(int argc, char *argv[], int fds_mode) {
        int devs[MAX_DEVICES], n = 0, iommufd, r = 0;
        uint32_t ioas;
        uint64_t free_iova = 0;

        if (fds_mode) {
                int dev;

                if (argc != 3 || (iommufd = parse_fd(argv[1])) < 0 || (dev = parse_fd(argv[2])) < 0) {
                        fprintf(stderr, "usage: iova-ranges --iommufd-fds IOMMUFD DEVICE\n");
                        return 2;
                }
                if (alloc_ioas(iommufd, &ioas) < 0 || bind_attach(iommufd, ioas, dev, argv[2]) < 0 ||
                    print_ranges(iommufd, ioas, &free_iova) < 0 || map_own_page(iommufd, ioas, free_iova) < 0)
                        return 1;
                return fflush(stdout) == 0 ? 0 : 1;
        }

        if (argc < 2 || argc - 1 > MAX_DEVICES) {
                fprintf(stderr, "usage: iova-ranges --iommufd ADDRESS...\n");
                return 2;
        }
        iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
        if (iommufd < 0) {
                fprintf(stderr, "iova-ranges: /dev/iommu: %m\n");
                return 1;
        }
        if (alloc_ioas(iommufd, &ioas) < 0)
                r = -1;
        for (int i = 1; r == 0 && i < argc; i++) {
                int fd = open_cdev(argv[i]);

                if (fd < 0) {
                        r = -1;
                        break;
                }
                devs[n++] = fd;
                r = bind_attach(iommufd, ioas, fd, argv[i]);
        }
        if (r == 0)
                r = print_ranges(iommufd, ioas, NULL);
        /* Closing a bound cdev detaches and unbinds it: the devices are free for iovad. */
        for (int i = n - 1; i >= 0; i--)
                close(devs[i]);
        close(iommufd);
        if (fflush(stdout) != 0)
                r = -1;
        return r < 0 ? 1 : 0;
}
