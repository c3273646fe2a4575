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
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

int main(int argc, char *argv[]) {
        int groups[MAX_GROUPS], n = 0, container, r = 0;

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
                r = print_ranges(container);

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
