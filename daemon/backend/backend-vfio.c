/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vfio-type1 backend: the legacy container API of /dev/vfio with the
 * type1v2 IOMMU driver. One container fd per BackendContainer, one group fd
 * per attached group. Every error is the kernel's errno, except where the
 * contract in backend.h names another one for the same condition.
 */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "backend/backend.h"
#include "util/macro.h"
#include "platform/sysfs.h"
#include "iommu/vfio-caps.h"

#define VFIO_CONTAINER_PATH "/dev/vfio/vfio"
/* /dev/vfio/vfio is the misc device VFIO_MINOR (include/linux/miscdevice.h). */
#define VFIO_CONTAINER_MAJOR 10
#define VFIO_CONTAINER_MINOR 196
#define VFIO_PCI_DRIVER "vfio-pci"

/* How many IOMMU units the platform description names before it abbreviates. */
#define PLATFORM_UNITS_MAX 4

typedef struct VfioGroup {
        unsigned id;
        int fd;
} VfioGroup;

struct BackendContainer {
        /*
         * /dev/vfio/vfio, or -1 between the detach of the last group and the
         * next attach: the kernel drops the IOMMU driver with the last group,
         * so a fresh container is opened for the next one.
         */
        int fd;
        VfioGroup *groups;
        size_t n_groups;
        size_t n_allocated;
};

/* asprintf() leaves its pointer undefined on failure; this returns NULL instead. */
_printf_(1, 2)
static char *path_printf(const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);

        return r < 0 ? NULL : s;
}

static int container_open(int *ret) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = open(VFIO_CONTAINER_PATH, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        r = ioctl(fd, VFIO_GET_API_VERSION);
        if (r < 0)
                return -errno;
        if (r != VFIO_API_VERSION)
                return -ENOTSUP;

        /* 0 when no loaded IOMMU driver offers type1v2. */
        r = ioctl(fd, VFIO_CHECK_EXTENSION, (unsigned long) VFIO_TYPE1v2_IOMMU);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ENOTSUP;

        *ret = TAKE_FD(fd);
        return 0;
}

static VfioGroup *container_find_group(BackendContainer *c, unsigned id) {
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i].id == id)
                        return &c->groups[i];
        return NULL;
}

static int vfio_container_new(Backend *b, BackendContainer **ret) {
        _cleanup_free_ BackendContainer *c = NULL;
        int r;

        assert(b);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = -1;

        r = container_open(&c->fd);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

static void vfio_container_free(BackendContainer *c) {
        if (!c)
                return;

        /*
         * Closing a group fd detaches it from the container (once its device
         * fds are closed too), and closing the container releases the IOMMU
         * driver with every mapping; no explicit unset is needed.
         */
        for (size_t i = 0; i < c->n_groups; i++)
                safe_close(c->groups[i].fd);
        free(c->groups);
        safe_close(c->fd);
        free(c);
}

static int vfio_attach_group(BackendContainer *c, unsigned group) {
        struct vfio_group_status status = { .argsz = sizeof(status) };
        _cleanup_close_ int fd = -1;
        char path[sizeof("/dev/vfio/") + 3 * sizeof(unsigned)];
        int r;

        assert(c);

        /* The kernel refuses a second open of a group the same way. */
        if (container_find_group(c, group))
                return -EBUSY;

        /* Make room first, so nothing can fail once the kernel has said yes. */
        if (c->n_groups == c->n_allocated) {
                size_t n = c->n_allocated > 0 ? c->n_allocated * 2 : 4;
                VfioGroup *g;

                g = reallocarray(c->groups, n, sizeof(VfioGroup));
                if (!g)
                        return -ENOMEM;
                c->groups = g;
                c->n_allocated = n;
        }

        if (c->fd < 0) {
                r = container_open(&c->fd);
                if (r < 0)
                        return r;
        }

        (void) snprintf(path, sizeof(path), "/dev/vfio/%u", group);
        /* ENOENT: no such group; EBUSY: someone else, or another container, has it open. */
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0)
                return -errno;
        /* A device of the group is bound to a host driver: DMA isolation would be a lie. */
        if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
                return -EPERM;
        if (status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)
                return -EBUSY;

        /*
         * From the second group on, this attaches the group to the existing
         * IOMMU domain: EPERM for interrupt isolation, EINVAL when its
         * reserved regions hit existing mappings.
         */
        if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &c->fd) < 0)
                return -errno;

        /* The IOMMU driver is chosen once a first group is in; it attaches that group. */
        if (c->n_groups == 0 && ioctl(c->fd, VFIO_SET_IOMMU, (unsigned long) VFIO_TYPE1v2_IOMMU) < 0) {
                r = -errno;
                (void) ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
                return r;
        }

        c->groups[c->n_groups++] = (VfioGroup) {
                .id = group,
                .fd = TAKE_FD(fd),
        };
        return 0;
}

static int vfio_detach_group(BackendContainer *c, unsigned group) {
        VfioGroup *g;

        assert(c);

        g = container_find_group(c, group);
        if (!g)
                return -ENXIO;

        /* EBUSY while a device fd of the group is still open; the group stays attached. */
        if (ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER) < 0)
                return -errno;

        safe_close(g->fd);
        *g = c->groups[--c->n_groups];

        /*
         * With the last group the kernel released the IOMMU driver and every
         * mapping; start over with a fresh container on the next attach.
         */
        if (c->n_groups == 0) {
                safe_close(c->fd);
                c->fd = -1;
        }
        return 0;
}

static int get_info_ioctl(void *buf, size_t size, void *userdata) {
        const int *fd = userdata;

        /* The kernel takes the size from argsz, which the query has set to @size. */
        if (ioctl(*fd, VFIO_IOMMU_GET_INFO, buf) < 0)
                return -errno;
        return 0;
}

static int vfio_get_info(BackendContainer *c, BackendInfo *ret) {
        _cleanup_(vfio_iommu_info_done) VfioIommuInfo info = {};
        BackendInfo bi = {};
        int r;

        assert(c);
        assert(ret);

        if (c->n_groups == 0)
                return -ENXIO;

        r = vfio_iommu_info_query(get_info_ioctl, &c->fd, &info);
        if (r < 0)
                return r;

        bi.page_sizes = info.iova_pgsizes;
        bi.has_dma_avail = info.has_dma_avail;
        bi.dma_avail = info.dma_avail;

        if (info.has_iova_ranges) {
                bi.usable = info.iova_ranges;
                info.iova_ranges = (RangeList) {};
        } else {
                /*
                 * Without IOVA_RANGE (kernels before 5.4, or a container
                 * whose groups report no ranges) type1 checks maps against
                 * no list at all: every address is allowed by the kernel.
                 */
                r = range_list_add(&bi.usable, 0, UINT64_MAX);
                if (r < 0)
                        return r;
        }

        struct utsname u;
        r = backend_kernel_holes(uname(&u) >= 0 ? u.release : NULL, &bi.usable,
                                 bi.page_sizes & -bi.page_sizes, &bi.kernel_holes);
        if (r < 0) {
                backend_info_done(&bi);
                return r;
        }
        *ret = bi;
        return 0;
}

static int vfio_map_dma(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, bool writable) {
        struct vfio_iommu_type1_dma_map map = {
                .argsz = sizeof(map),
                .flags = VFIO_DMA_MAP_FLAG_READ | (writable ? VFIO_DMA_MAP_FLAG_WRITE : 0),
                .vaddr = (uint64_t) (uintptr_t) vaddr,
                .iova = iova,
                .size = size,
        };

        assert(c);

        if (c->n_groups == 0)
                return -ENXIO;

        /* EINVAL outside the usable ranges, EEXIST overlapping, ENOSPC past dma_entry_limit. */
        if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map) < 0)
                return -errno;
        return 0;
}

static int vfio_unmap_dma(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped) {
        struct vfio_iommu_type1_dma_unmap unmap = {
                .argsz = sizeof(unmap),
                .iova = iova,
                .size = size,
        };

        assert(c);

        if (c->n_groups == 0)
                return -ENXIO;

        if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
                return -errno;
        /* The kernel writes back how much it unmapped; the caller checks it. */
        *ret_unmapped = unmap.size;
        return 0;
}

static int vfio_open_device(BackendContainer *c, unsigned group, const char *address) {
        VfioGroup *g;
        int fd;

        assert(c);
        assert(address);

        if (!pci_address_valid(address))
                return -EINVAL;

        g = container_find_group(c, group);
        if (!g)
                return -ENXIO;

        fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, address);
        if (fd < 0)
                /* The kernel says ENODEV for a name not in the group; the contract says ENOENT. */
                return errno == ENODEV ? -ENOENT : -errno;

        /*
         * The kernel creates it close-on-exec, but the fd is handed to
         * clients and must never leak into a child of ours whatever the
         * kernel did.
         */
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                int r = -errno;

                safe_close(fd);
                return r;
        }
        return fd;
}

static int vfio_container_fd(BackendContainer *c) {
        assert(c);
        return c->n_groups > 0 ? c->fd : -ENXIO;
}

static int vfio_group_fd(BackendContainer *c, unsigned group) {
        VfioGroup *g;

        assert(c);
        g = container_find_group(c, group);
        return g ? g->fd : -ENXIO;
}

/* Whether @fd is /dev/vfio/@group: the same character device. */
static int check_group_fd(int fd, unsigned group) {
        char path[sizeof("/dev/vfio/") + 3 * sizeof(unsigned)];
        struct stat st, dev;

        (void) snprintf(path, sizeof(path), "/dev/vfio/%u", group);
        if (fstat(fd, &st) < 0)
                return -errno;
        /* No such node any more: the group is gone, and so cannot be this fd. */
        if (stat(path, &dev) < 0)
                return -EBADF;
        if (!S_ISCHR(st.st_mode) || !S_ISCHR(dev.st_mode) || st.st_rdev != dev.st_rdev)
                return -EBADF;
        return 0;
}

static int vfio_container_adopt(Backend *b, int fd, const unsigned *groups, const int *group_fds, size_t n,
                                BackendContainer **ret) {
        BackendContainer *c;
        struct stat st;
        int r;

        assert(b);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (c)
                c->groups = calloc(n > 0 ? n : 1, sizeof(VfioGroup));
        if (!c || !c->groups) {
                free(c);
                safe_close(fd);
                for (size_t i = 0; i < n; i++)
                        safe_close(group_fds[i]);
                return -ENOMEM;
        }
        /* From here on @c owns every fd, and frees them with itself on failure. */
        c->fd = fd;
        c->n_allocated = n > 0 ? n : 1;
        for (size_t i = 0; i < n; i++)
                c->groups[c->n_groups++] = (VfioGroup) { .id = groups[i], .fd = group_fds[i] };

        /* The container: /dev/vfio/vfio itself, speaking our API version. */
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != VFIO_CONTAINER_MAJOR ||
            minor(st.st_rdev) != VFIO_CONTAINER_MINOR || ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
                r = -EBADF;
                goto fail;
        }
        /*
         * With an IOMMU driver set, CHECK_EXTENSION asks that driver about
         * this container: type1 says UPDATE_VADDR only for a container it
         * drives (and none with emulated groups). Without one, it asks
         * every driver about no container, and type1 says no.
         */
        r = ioctl(fd, VFIO_CHECK_EXTENSION, (unsigned long) VFIO_TYPE1v2_IOMMU);
        if (r <= 0) {
                r = r < 0 ? -errno : -ENXIO;
                goto fail;
        }
        r = ioctl(fd, VFIO_CHECK_EXTENSION, (unsigned long) VFIO_UPDATE_VADDR);
        if (r <= 0) {
                r = r < 0 ? -errno : -ENOTSUP;
                goto fail;
        }

        for (size_t i = 0; i < n; i++) {
                struct vfio_group_status status = { .argsz = sizeof(status) };

                r = check_group_fd(group_fds[i], groups[i]);
                if (r < 0)
                        goto fail;
                if (ioctl(group_fds[i], VFIO_GROUP_GET_STATUS, &status) < 0) {
                        r = -errno;
                        goto fail;
                }
                if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
                        r = -EPERM;
                        goto fail;
                }
                if (!(status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)) {
                        r = -ENXIO;
                        goto fail;
                }
        }
        *ret = c;
        return 0;

fail:
        vfio_container_free(c);
        return r;
}

static int vfio_invalidate_vaddr(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_bytes) {
        struct vfio_iommu_type1_dma_unmap unmap = {
                .argsz = sizeof(unmap),
                .flags = VFIO_DMA_UNMAP_FLAG_VADDR,
                .iova = iova,
                .size = size,
        };

        assert(c);

        if (c->n_groups == 0)
                return -ENXIO;
        if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
                return -errno;
        *ret_bytes = unmap.size;
        return 0;
}

static int vfio_update_vaddr(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr) {
        /* The kernel wants neither READ nor WRITE here: the mapping keeps its own. */
        struct vfio_iommu_type1_dma_map map = {
                .argsz = sizeof(map),
                .flags = VFIO_DMA_MAP_FLAG_VADDR,
                .vaddr = (uint64_t) (uintptr_t) vaddr,
                .iova = iova,
                .size = size,
        };

        assert(c);

        if (c->n_groups == 0)
                return -ENXIO;
        if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map) < 0)
                return -errno;
        return 0;
}

/* One write(2), as sysfs attributes expect; the kernel's errno comes back. */
static int write_sysfs(const char *path, const char *value) {
        _cleanup_close_ int fd = -1;
        size_t n = strlen(value);
        ssize_t k;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        k = write(fd, value, n);
        if (k < 0)
                return -errno;
        if ((size_t) k != n)
                return -EIO;
        return 0;
}

/* The driver bound to the device at @dev ("" when none). */
static int read_driver(const char *dev, char **ret) {
        _cleanup_free_ char *link = NULL;
        char target[PATH_MAX];
        const char *name;
        ssize_t n;
        char *s;

        link = path_printf("%s/driver", dev);
        if (!link)
                return -ENOMEM;

        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0) {
                if (errno != ENOENT)
                        return -errno;
                n = 0;
        }
        target[n] = '\0';

        name = strrchr(target, '/');
        name = name ? name + 1 : target;

        s = strdup(name);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int device_dir(Backend *b, const char *address, char **ret) {
        char *dev;

        /* Validated, so it cannot walk out of bus/pci/devices. */
        if (!pci_address_valid(address))
                return -EINVAL;

        dev = path_printf("%s/bus/pci/devices/%s", b->sysfs_root, address);
        if (!dev)
                return -ENOMEM;
        if (access(dev, F_OK) < 0) {
                int r = -errno;

                free(dev);
                return r;
        }

        *ret = dev;
        return 0;
}

/* Best effort after a failed bind: no override, and the device back with @driver. */
static void bind_rollback(Backend *b, const char *override, const char *address, const char *driver) {
        _cleanup_free_ char *bind = NULL;

        (void) write_sysfs(override, "\n");
        if (driver[0] == '\0')
                return;
        bind = path_printf("%s/bus/pci/drivers/%s/bind", b->sysfs_root, driver);
        if (bind)
                (void) write_sysfs(bind, address);
}

static int vfio_bind_vfio(Backend *b, const char *address) {
        _cleanup_free_ char *dev = NULL, *driver = NULL, *bound = NULL, *vfio_pci = NULL,
                *override = NULL, *unbind = NULL, *probe = NULL;
        int r;

        assert(b);
        assert(address);

        r = device_dir(b, address, &dev);
        if (r < 0)
                return r;

        vfio_pci = path_printf("%s/bus/pci/drivers/" VFIO_PCI_DRIVER, b->sysfs_root);
        override = path_printf("%s/driver_override", dev);
        unbind = path_printf("%s/driver/unbind", dev);
        probe = path_printf("%s/bus/pci/drivers_probe", b->sysfs_root);
        if (!vfio_pci || !override || !unbind || !probe)
                return -ENOMEM;

        /* Without vfio-pci loaded the device would be left with no driver at all. */
        if (access(vfio_pci, F_OK) < 0)
                return errno == ENOENT ? -EOPNOTSUPP : -errno;

        r = read_driver(dev, &driver);
        if (r < 0)
                return r;

        /*
         * The override first: once the device is unbound, only vfio-pci may
         * take it, whatever else would match it.
         */
        r = write_sysfs(override, VFIO_PCI_DRIVER);
        if (r < 0)
                return r;

        if (strcmp(driver, VFIO_PCI_DRIVER) == 0)
                return 0;

        if (driver[0] != '\0') {
                r = write_sysfs(unbind, address);
                if (r < 0) {
                        bind_rollback(b, override, address, "");
                        return r;
                }
        }

        r = write_sysfs(probe, address);
        if (r < 0) {
                bind_rollback(b, override, address, driver);
                return r;
        }

        /*
         * drivers_probe probes synchronously but succeeds even when
         * vfio-pci refused the device, so look at what took it.
         */
        r = read_driver(dev, &bound);
        if (r < 0)
                return r;
        if (strcmp(bound, VFIO_PCI_DRIVER) != 0) {
                bind_rollback(b, override, address, driver);
                return -ENODEV;
        }
        return 0;
}

static int vfio_unbind_vfio(Backend *b, const char *address, const char *previous_driver) {
        _cleanup_free_ char *dev = NULL, *driver = NULL, *unbind = NULL, *override = NULL, *target = NULL;
        bool have_previous;
        int r;

        assert(b);
        assert(address);

        /* Giving it "back" to vfio-pci means letting the kernel pick. */
        have_previous = previous_driver && previous_driver[0] != '\0' &&
                strcmp(previous_driver, VFIO_PCI_DRIVER) != 0;
        if (have_previous && !driver_name_valid(previous_driver, NAME_MAX + 1))
                return -EINVAL;

        r = device_dir(b, address, &dev);
        if (r < 0)
                return r;

        unbind = path_printf("%s/driver/unbind", dev);
        override = path_printf("%s/driver_override", dev);
        if (have_previous)
                target = path_printf("%s/bus/pci/drivers/%s/bind", b->sysfs_root, previous_driver);
        else
                target = path_printf("%s/bus/pci/drivers_probe", b->sysfs_root);
        if (!unbind || !override || !target)
                return -ENOMEM;

        r = read_driver(dev, &driver);
        if (r < 0)
                return r;

        if (strcmp(driver, VFIO_PCI_DRIVER) == 0) {
                /*
                 * vfio-pci's remove waits until every fd of the device is
                 * closed, so this write blocks while a client holds one:
                 * callers unbind only devices that are not open.
                 */
                r = write_sysfs(unbind, address);
                if (r < 0)
                        return r;
        }

        /* A lone newline clears the override. */
        r = write_sysfs(override, "\n");
        if (r < 0)
                return r;

        /* Someone already gave it another driver: nothing left to hand back. */
        if (driver[0] != '\0' && strcmp(driver, VFIO_PCI_DRIVER) != 0)
                return 0;

        return write_sysfs(target, address);
}

static int unit_filter(const struct dirent *de) {
        return de->d_name[0] != '.';
}

/* What kind of IOMMU registered a unit, from the name its driver gives it. */
static const char *iommu_kind(const char *unit) {
        static const struct {
                const char *prefix;
                const char *kind;
        } table[] = {
                { "dmar",   "Intel VT-d"   },
                { "ivhd",   "AMD-Vi"       },
                { "smmu3.", "ARM SMMUv3"   },
                { "smmu.",  "ARM SMMU"     },
                { "virtio", "virtio-iommu" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strncmp(unit, table[i].prefix, strlen(table[i].prefix)) == 0)
                        return table[i].kind;
        return "IOMMU";
}

/* "Intel VT-d (dmar0, dmar1)" from <root>/class/iommu; "host" when it lists nothing. */
static int describe_platform(const char *root, char **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        struct dirent **units = NULL;
        size_t text_size = 0;
        int n, r = 0;

        path = path_printf("%s/class/iommu", root);
        if (!path)
                return -ENOMEM;

        n = scandir(path, &units, unit_filter, versionsort);
        if (n < 0) {
                /* The description is cosmetic: a host without the class is just "host". */
                if (errno == ENOMEM)
                        return -ENOMEM;
                n = 0;
        }
        if (n == 0) {
                free(units);
                text = strdup("host");
                if (!text)
                        return -ENOMEM;
                *ret = TAKE_PTR(text);
                return 0;
        }

        f = open_memstream(&text, &text_size);
        if (!f)
                r = -ENOMEM;
        else {
                fprintf(f, "%s (", iommu_kind(units[0]->d_name));
                for (int i = 0; i < n && i < PLATFORM_UNITS_MAX; i++)
                        fprintf(f, "%s%s", i > 0 ? ", " : "", units[i]->d_name);
                if (n > PLATFORM_UNITS_MAX)
                        fprintf(f, ", +%d more", n - PLATFORM_UNITS_MAX);
                fputc(')', f);
                if (fflush(f) != 0 || ferror(f))
                        r = -ENOMEM;
        }

        for (int i = 0; i < n; i++)
                free(units[i]);
        free(units);

        if (r < 0)
                return r;

        /* The stream's buffer is only final once it is closed. */
        (void) fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(text);
        return 0;
}

static void vfio_backend_free(Backend *b) {
        if (!b)
                return;
        free(b->sysfs_root);
        free(b->platform);
        free(b);
}

static const BackendOps backend_vfio_ops = {
        .name = "vfio-type1",
        .free = vfio_backend_free,
        .container_new = vfio_container_new,
        .container_free = vfio_container_free,
        .attach_group = vfio_attach_group,
        .detach_group = vfio_detach_group,
        .get_info = vfio_get_info,
        .map_dma = vfio_map_dma,
        .unmap_dma = vfio_unmap_dma,
        .open_device = vfio_open_device,
        .container_fd = vfio_container_fd,
        .group_fd = vfio_group_fd,
        .container_adopt = vfio_container_adopt,
        .invalidate_vaddr = vfio_invalidate_vaddr,
        .update_vaddr = vfio_update_vaddr,
        .bind_vfio = vfio_bind_vfio,
        .unbind_vfio = vfio_unbind_vfio,
};

DEFINE_TRIVIAL_CLEANUP_FUNC(Backend *, backend_free);

int backend_vfio_new(const char *sysfs_root, Backend **ret) {
        _cleanup_(backend_freep) Backend *b = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        assert(ret);

        /* Fail here, with the reason, rather than at the first container. */
        r = container_open(&fd);
        if (r < 0)
                return r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->ops = &backend_vfio_ops;

        b->sysfs_root = strdup(sysfs_root ?: "/sys");
        if (!b->sysfs_root)
                return -ENOMEM;

        r = describe_platform(b->sysfs_root, &b->platform);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(b);
        return 0;
}

/* Shared with the iommufd backend: binding and the description do not depend on the IOMMU API. */
int backend_pci_bind_vfio(Backend *b, const char *address) {
        return vfio_bind_vfio(b, address);
}

int backend_pci_unbind_vfio(Backend *b, const char *address, const char *previous_driver) {
        return vfio_unbind_vfio(b, address, previous_driver);
}

int backend_describe_platform(const char *sysfs_root, char **ret) {
        return describe_platform(sysfs_root, ret);
}
