/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iova-ranges GROUP... — print the usable IOVA ranges the kernel reports for
 * these VFIO groups attached together to one fresh type1v2 container.
 *
 * The kernel tier's oracle for iovad's UsableRanges: it runs before iovad
 * starts, attaches every group, asks VFIO_IOMMU_GET_INFO for its
 * IOVA_RANGE capability and detaches again, so the groups are free for iovad
 * afterwards. It deliberately shares no code with iovad.
 *
 * stdout, one line per range, sorted as the kernel sorts them:
 *   0x%016x 0x%016x        start and inclusive end, lower-case hex
 * followed by
 *   pgsizes 0x%x           iova_pgsizes
 * Diagnostics go to stderr. Exit status 0 on success, 1 on any failure
 * (including a missing IOVA_RANGE capability).
 *
 * iova-ranges --iommufd ADDRESS... asks iommufd instead (iova-ranges-iommufd.c).
 *
 * iova-ranges --top-page GROUP... probes instead for type1's wrap at 2^64
 * (fixed in 6.18 by "vfio/type1: handle DMA map/unmap up to the
 * addressable limit"): it maps one page at IOVA 0 and one at the last page
 * below 2^64, unmaps the top one and prints
 *   top-unmap rc=R size=0x%x        what UNMAP_DMA said (size written back)
 *   low-page mapped|unmapped        whether IOVA 0 is still mapped after it
 * then unmaps everything.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iova-ranges-iommufd.h"

#define MAX_GROUPS 16

/* GET_INFO with the argsz re-query: the kernel raises argsz when the
 * capability chain does not fit, and the call is repeated with that size. */
static int get_info(int container, struct vfio_iommu_type1_info **ret) {
        uint32_t argsz = sizeof(struct vfio_iommu_type1_info);

        for (int attempt = 0; attempt < 4; attempt++) {
                struct vfio_iommu_type1_info *info = calloc(1, argsz);

                if (!info)
                        return -ENOMEM;
                info->argsz = argsz;
                if (ioctl(container, VFIO_IOMMU_GET_INFO, info) < 0) {
                        int r = -errno;

                        free(info);
                        return r;
                }
                if (info->argsz <= argsz) {
                        *ret = info;
                        return 0;
                }
                argsz = info->argsz;
                free(info);
        }
        return -EMSGSIZE;
}

static int print_ranges(int container) {
        struct vfio_iommu_type1_info *info = NULL;
        uint32_t off;
        int r, found = 0;

        r = get_info(container, &info);
        if (r < 0) {
                fprintf(stderr, "iova-ranges: VFIO_IOMMU_GET_INFO: %s\n", strerror(-r));
                return r;
        }

        off = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0;
        while (off != 0) {
                struct vfio_info_cap_header *h;

                if (off < sizeof(*info) || off + sizeof(*h) > info->argsz) {
                        fprintf(stderr, "iova-ranges: capability offset %u out of bounds\n", off);
                        free(info);
                        return -EBADMSG;
                }
                h = (struct vfio_info_cap_header *) ((char *) info + off);
                if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
                        struct vfio_iommu_type1_info_cap_iova_range *c = (void *) h;

                        if (off + sizeof(*c) + (uint64_t) c->nr_iovas * sizeof(c->iova_ranges[0]) > info->argsz) {
                                fprintf(stderr, "iova-ranges: IOVA_RANGE truncated\n");
                                free(info);
                                return -EBADMSG;
                        }
                        for (uint32_t i = 0; i < c->nr_iovas; i++)
                                printf("0x%016" PRIx64 " 0x%016" PRIx64 "\n",
                                       (uint64_t) c->iova_ranges[i].start,
                                       (uint64_t) c->iova_ranges[i].end);
                        found = 1;
                }
                if (h->next != 0 && h->next <= off) {
                        fprintf(stderr, "iova-ranges: capability chain loops\n");
                        free(info);
                        return -EBADMSG;
                }
                off = h->next;
        }
        if (info->flags & VFIO_IOMMU_INFO_PGSIZES)
                printf("pgsizes 0x%" PRIx64 "\n", (uint64_t) info->iova_pgsizes);
        free(info);

        if (!found) {
                fprintf(stderr, "iova-ranges: no IOVA_RANGE capability\n");
                return -ENODATA;
        }
        return 0;
}

static int map_page(int container, void *vaddr, uint64_t iova) {
        struct vfio_iommu_type1_dma_map map = {
                .argsz = sizeof(map),
                .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                .vaddr = (uintptr_t) vaddr,
                .iova = iova,
                .size = 4096,
        };
        return ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0 ? -errno : 0;
}

static int probe_top_page(int container) {
        struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap), .iova = UINT64_MAX - 4095, .size = 4096 };
        void *mem = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        int r, rc;

        if (mem == MAP_FAILED)
                return -errno;
        r = map_page(container, mem, 0);
        if (r < 0) {
                fprintf(stderr, "iova-ranges: map at 0: %s\n", strerror(-r));
                return r;
        }
        r = map_page(container, (char *) mem + 4096, UINT64_MAX - 4095);
        if (r < 0) {
                fprintf(stderr, "iova-ranges: map at the top page: %s\n", strerror(-r));
                return r;
        }
        rc = ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0 ? -errno : 0;
        printf("top-unmap rc=%d size=0x%" PRIx64 "\n", rc, (uint64_t) unmap.size);
        /* Mapping IOVA 0 again fails with EEXIST while the first mapping is still there. */
        r = map_page(container, mem, 0);
        printf("low-page %s\n", r == -EEXIST ? "mapped" : "unmapped");
        /* Everything goes with the container; unmap what is known to be safe. */
        struct vfio_iommu_type1_dma_unmap low = { .argsz = sizeof(low), .iova = 0, .size = 4096 };
        (void) ioctl(container, VFIO_IOMMU_UNMAP_DMA, &low);
        return 0;
}

int main(int argc, char *argv[]) {
        int groups[MAX_GROUPS], n = 0, container, r = 0;
        bool top_page = argc > 1 && strcmp(argv[1], "--top-page") == 0;

        /* iommufd: iova-ranges-iommufd.c */
        if (argc > 1 && (strcmp(argv[1], "--iommufd") == 0 || strcmp(argv[1], "--iommufd-fds") == 0))
                return iova_ranges_iommufd(argc - 1, argv + 1, strcmp(argv[1], "--iommufd-fds") == 0);

        if (top_page) {
                argv++;
                argc--;
        }
        if (argc < 2 || argc - 1 > MAX_GROUPS) {
                fprintf(stderr, "usage: iova-ranges GROUP...\n");
                return 2;
        }

        container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
        if (container < 0) {
                fprintf(stderr, "iova-ranges: /dev/vfio/vfio: %m\n");
                return 1;
        }
        if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
            ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
                fprintf(stderr, "iova-ranges: no VFIO type1v2 support\n");
                return 1;
        }

        for (int i = 1; i < argc; i++) {
                struct vfio_group_status st = { .argsz = sizeof(st) };
                char path[64];
                char *end;
                unsigned long g;
                int fd;

                errno = 0;
                g = strtoul(argv[i], &end, 10);
                if (errno != 0 || end == argv[i] || *end != '\0') {
                        fprintf(stderr, "iova-ranges: bad group '%s'\n", argv[i]);
                        r = -EINVAL;
                        break;
                }
                snprintf(path, sizeof(path), "/dev/vfio/%lu", g);
                fd = open(path, O_RDWR | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        fprintf(stderr, "iova-ranges: %s: %m\n", path);
                        break;
                }
                groups[n++] = fd;
                if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0 ||
                    !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
                        fprintf(stderr, "iova-ranges: group %lu not viable\n", g);
                        r = -EPERM;
                        break;
                }
                if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container) < 0) {
                        r = -errno;
                        fprintf(stderr, "iova-ranges: attach group %lu: %m\n", g);
                        break;
                }
                /* The IOMMU model is chosen once, after the first group. */
                if (i == 1 && ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
                        r = -errno;
                        fprintf(stderr, "iova-ranges: VFIO_SET_IOMMU(TYPE1v2): %m\n");
                        break;
                }
        }

        if (r == 0)
                r = top_page ? probe_top_page(container) : print_ranges(container);

        /* Leave the groups free for iovad. */
        for (int i = n - 1; i >= 0; i--) {
                (void) ioctl(groups[i], VFIO_GROUP_UNSET_CONTAINER);
                close(groups[i]);
        }
        close(container);
        if (fflush(stdout) != 0)
                r = -EIO;
        return r < 0 ? 1 : 0;
}
