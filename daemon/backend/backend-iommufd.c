/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iommufd backend: one iommufd context (/dev/iommu) with one I/O
 * address space (IOAS) per BackendContainer; a group is attached by binding
 * each of its vfio-pci devices' cdevs (/dev/vfio/devices/vfioN) to the
 * context (VFIO_DEVICE_BIND_IOMMUFD) and attaching them to the IOAS
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT). The usable ranges are the IOAS's
 * (IOMMU_IOAS_IOVA_RANGES), asked after every attach and detach; maps are
 * IOMMU_IOAS_MAP at a fixed IOVA. Errors follow backend.h's contract, which
 * is type1's: where iommufd says something else for the same condition it
 * is translated, and said so below.
 *
 * A device cdev can be bound once only, so the backend holds one bound fd
 * per device and Device.Open hands out duplicates of it. The kernel cannot
 * tell iovad whether a duplicate is still open, so a detach first looks
 * for other processes holding the device (as type1's detach fails with
 * EBUSY while a device fd is open) and refuses with EBUSY.
 */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/iommufd-uapi.h"
#include "util/macro.h"
#include "platform/sysfs.h"

#define IOMMUFD_PATH "/dev/iommu"
#define VFIO_DEVICES_DIR "/dev/vfio/devices"

typedef struct IommufdDevice {
        char address[16];
        int fd;                 /* the cdev, bound to the container's context and attached to its IOAS */
        dev_t rdev;
        uint32_t dev_id;
} IommufdDevice;

typedef struct IommufdGroup {
        unsigned id;
        IommufdDevice *devices;
        size_t n_devices;
} IommufdGroup;

typedef struct IommufdBackend {
        Backend backend;
        /* What the kernel says it charges pinned pages to (IOMMU_OPTION_RLIMIT_MODE). */
        bool rlimit_process;
} IommufdBackend;

struct BackendContainer {
        IommufdBackend *backend;
        int fd;                 /* /dev/iommu: a context of its own, so its object ids name nothing else */
        uint32_t ioas_id;
        IommufdGroup *groups;
        size_t n_groups;
};

/* Whether snprintf() of @n characters fitted in @size. */
static bool fits(int n, size_t size) {
        return n >= 0 && (size_t) n < size;
}

static void group_close(IommufdGroup *g) {
        /* Closing a bound cdev detaches and unbinds the device. */
        for (size_t i = 0; i < g->n_devices; i++)
                safe_close(g->devices[i].fd);
        free(g->devices);
        g->devices = NULL;
        g->n_devices = 0;
}

static IommufdGroup *container_find_group(BackendContainer *c, unsigned id) {
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i].id == id)
                        return &c->groups[i];
        return NULL;
}

/*
 * A new context with its IOAS. Pinned pages go to the mapping process's
 * locked_vm (as type1's do) when the kernel lets iovad choose; it must be
 * chosen before the context holds an object.
 */
static int context_open(IommufdBackend *b, int *ret_fd, uint32_t *ret_ioas, bool *ret_process) {
        struct iovad_iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
        struct iovad_iommu_option opt = {
                .size = sizeof(opt),
                .option_id = IOVAD_IOMMU_OPTION_RLIMIT_MODE,
                .op = IOVAD_IOMMU_OPTION_OP_SET,
                .val64 = 1,
        };
        _cleanup_close_ int fd = -1;

        fd = open(IOMMUFD_PATH, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        /* EPERM without CAP_SYS_RESOURCE: the kernel keeps charging the user. */
        if (ioctl(fd, IOVAD_IOMMU_OPTION, &opt) < 0 && errno != EPERM)
                return -errno;
        opt = (struct iovad_iommu_option) {
                .size = sizeof(opt),
                .option_id = IOVAD_IOMMU_OPTION_RLIMIT_MODE,
                .op = IOVAD_IOMMU_OPTION_OP_GET,
        };
        if (ioctl(fd, IOVAD_IOMMU_OPTION, &opt) < 0)
                return -errno;
        if (opt.val64 > 1)
                return -EPROTO;

        if (ioctl(fd, IOVAD_IOMMU_IOAS_ALLOC, &alloc) < 0)
                return -errno;

        if (ret_process)
                *ret_process = opt.val64 == 1;
        *ret_ioas = alloc.out_ioas_id;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int iommufd_container_new(Backend *base, BackendContainer **ret) {
        IommufdBackend *b = (IommufdBackend *) base;
        _cleanup_free_ BackendContainer *c = NULL;
        int r;

        assert(b);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->backend = b;
        r = context_open(b, &c->fd, &c->ioas_id, NULL);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

static void iommufd_container_free(BackendContainer *c) {
        if (!c)
                return;
        /* The devices go first; closing the context then frees the IOAS and every mapping. */
        for (size_t i = 0; i < c->n_groups; i++)
                group_close(&c->groups[i]);
        free(c->groups);
        safe_close(c->fd);
        free(c);
}

/* "major:minor\n" of a sysfs dev attribute. */
static int read_devnum(const char *path, dev_t *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        unsigned major, minor;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (fscanf(f, "%u:%u", &major, &minor) != 2)
                return -EIO;
        *ret = makedev(major, minor);
        return 0;
}

static bool is_vfio_cdev_name(const char *s) {
        if (strncmp(s, "vfio", 4) != 0 || s[4] == '\0')
                return false;
        for (s += 4; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/*
 * The cdev of device @address below @sysfs_root: <dev>/vfio-dev/vfioN,
 * whose dev attribute the node in /dev/vfio/devices must match. -ENODEV
 * when the device has none (not on vfio-pci, or a kernel without
 * CONFIG_VFIO_DEVICE_CDEV).
 */
static int find_cdev(const char *sysfs_root, const char *address, char *ret_path, size_t size, dev_t *ret_rdev) {
        _cleanup_closedir_ DIR *d = NULL;
        char path[PATH_MAX];
        struct dirent *de;

        if (!pci_address_valid(address))
                return -EINVAL;
        (void) snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/vfio-dev", sysfs_root, address);
        d = opendir(path);
        if (!d)
                return errno == ENOENT ? -ENODEV : -errno;
        while ((de = readdir(d))) {
                char dev[PATH_MAX];
                int r;

                if (!is_vfio_cdev_name(de->d_name))
                        continue;
                if (!fits(snprintf(dev, sizeof(dev), "%s/%s/dev", path, de->d_name), sizeof(dev)))
                        return -ENAMETOOLONG;
                r = read_devnum(dev, ret_rdev);
                if (r == -ENOENT)
                        /* Registered with VFIO, but the kernel makes no cdevs. */
                        return -ENODEV;
                if (r < 0)
                        return r;
                (void) snprintf(ret_path, size, VFIO_DEVICES_DIR "/%s", de->d_name);
                return 0;
        }
        return -ENODEV;
}

/* The driver bound to @address, "" when none. */
static int device_driver(const char *sysfs_root, const char *address, char *ret, size_t size) {
        char path[PATH_MAX], target[PATH_MAX];
        const char *name;
        ssize_t n;

        (void) snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", sysfs_root, address);
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0) {
                if (errno != ENOENT)
                        return -errno;
                n = 0;
        }
        target[n] = '\0';
        name = strrchr(target, '/');
        return fits(snprintf(ret, size, "%s", name ? name + 1 : target), size) ? 0 : -ENAMETOOLONG;
}

/* Opens, binds and attaches one device; -EBUSY when someone else has it bound. */
static int device_attach(BackendContainer *c, const char *address, IommufdDevice *ret) {
        struct iovad_vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = c->fd };
        struct iovad_vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = c->ioas_id };
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX];
        struct stat st;
        dev_t rdev;
        int r;

        r = find_cdev(c->backend->backend.sysfs_root, address, path, sizeof(path), &rdev);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ENODEV : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* The node must be the device sysfs names, not whatever sits at that path. */
        if (!S_ISCHR(st.st_mode) || st.st_rdev != rdev)
                return -ENODEV;

        /*
         * EPERM: interrupt isolation (iommufd.allow_unsafe_interrupts), or
         * another device of the group is on a host driver (not viable).
         * EBUSY: its group is in use through /dev/vfio/GROUP. EINVAL with
         * arguments that are right: the device is already bound through
         * another cdev open, which the contract calls EBUSY.
         */
        if (ioctl(fd, IOVAD_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0)
                return errno == EINVAL ? -EBUSY : -errno;

        /*
         * EINVAL, or EADDRINUSE when the device's reserved regions or
         * aperture hit existing mappings of the IOAS: the contract's EINVAL.
         */
        if (ioctl(fd, IOVAD_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0)
                return errno == EADDRINUSE ? -EINVAL : -errno;

        *ret = (IommufdDevice) {
                .fd = TAKE_FD(fd),
                .rdev = rdev,
                .dev_id = bind.out_devid,
        };
        /* pci_address_valid() said it fits. */
        memcpy(ret->address, address, MIN(strlen(address) + 1, sizeof(ret->address) - 1));
        return 0;
}

static int address_filter(const struct dirent *de) {
        return pci_address_valid(de->d_name);
}

static int iommufd_attach_group(BackendContainer *c, unsigned group) {
        const char *root = c->backend->backend.sysfs_root;
        IommufdGroup g = { .id = group }, *groups;
        struct dirent **list = NULL;
        char path[PATH_MAX];
        size_t n_foreign = 0;
        int n, r = 0;

        assert(c);

        if (container_find_group(c, group))
                return -EBUSY;

        groups = reallocarray(c->groups, c->n_groups + 1, sizeof(IommufdGroup));
        if (!groups)
                return -ENOMEM;
        c->groups = groups;

        (void) snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%u/devices", root, group);
        n = scandir(path, &list, address_filter, alphasort);
        if (n < 0)
                return -errno;

        g.devices = calloc(n > 0 ? (size_t) n : 1, sizeof(IommufdDevice));
        if (!g.devices)
                r = -ENOMEM;
        for (int i = 0; r >= 0 && i < n; i++) {
                char driver[NAME_MAX + 1];

                r = device_driver(root, list[i]->d_name, driver, sizeof(driver));
                if (r < 0)
                        break;
                /* Without a driver a device does no DMA, and none can probe it while the group is ours. */
                if (driver[0] == '\0')
                        continue;
                if (!sysfs_driver_is_vfio(driver)) {
                        /* The kernel refuses the bind of the others for it (EPERM). */
                        n_foreign++;
                        continue;
                }
                r = device_attach(c, list[i]->d_name, &g.devices[g.n_devices]);
                if (r >= 0)
                        g.n_devices++;
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);

        /* A group with nothing iovad can bind is not viable either. */
        if (r >= 0 && g.n_devices == 0)
                r = n_foreign > 0 ? -EPERM : -ENODEV;
        if (r < 0) {
                group_close(&g);
                free(g.devices);
                return r;
        }
        c->groups[c->n_groups++] = g;
        return 0;
}

/*
 * Whether a process other than this one has an fd on character device
 * @rdev open: what is left of a Device.Open. An fd on its way in a
 * message that no process has received yet is not seen.
 */
static int device_held_elsewhere(dev_t rdev) {
        _cleanup_closedir_ DIR *proc = NULL;
        pid_t self = getpid();
        struct dirent *de;

        proc = opendir("/proc");
        if (!proc)
                return -errno;
        while ((de = readdir(proc))) {
                _cleanup_closedir_ DIR *fds = NULL;
                char path[64];
                struct dirent *fe;
                char *end;
                long pid;

                pid = strtol(de->d_name, &end, 10);
                if (*end != '\0' || pid <= 0 || pid == self)
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
                fds = opendir(path);
                if (!fds)
                        continue; /* gone, or a kernel thread */
                while ((fe = readdir(fds))) {
                        struct stat st;

                        if (fe->d_name[0] == '.')
                                continue;
                        if (fstatat(dirfd(fds), fe->d_name, &st, 0) < 0)
                                continue;
                        if (S_ISCHR(st.st_mode) && st.st_rdev == rdev)
                                return 1;
                }
        }
        return 0;
}

static int iommufd_detach_group(BackendContainer *c, unsigned group) {
        IommufdGroup *g;
        int r;

        assert(c);

        g = container_find_group(c, group);
        if (!g)
                return -ENXIO;

        for (size_t i = 0; i < g->n_devices; i++) {
                r = device_held_elsewhere(g->devices[i].rdev);
                if (r < 0)
                        return r;
                if (r > 0)
                        return -EBUSY;
        }

        for (size_t i = 0; i < g->n_devices; i++) {
                struct iovad_vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };

                if (ioctl(g->devices[i].fd, IOVAD_VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach) >= 0)
                        continue;
                /* Put the group back as it was: attached, all of it. */
                r = -errno;
                while (i-- > 0) {
                        struct iovad_vfio_device_attach_iommufd_pt attach = {
                                .argsz = sizeof(attach),
                                .pt_id = c->ioas_id,
                        };
                        (void) ioctl(g->devices[i].fd, IOVAD_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);
                }
                return r;
        }
        group_close(g);
        *g = c->groups[--c->n_groups];
        return 0;
}

static int iommufd_get_info(BackendContainer *c, BackendInfo *ret) {
        _cleanup_free_ struct iovad_iommu_iova_range *ranges = NULL;
        struct iovad_iommu_ioas_iova_ranges q;
        BackendInfo bi = {};
        uint32_t room = 0;
        int r;

        assert(c);
        assert(ret);

        if (c->n_groups == 0)
                return -ENXIO;

        /* Ask for the count, make room, ask again: the set can change in between. */
        for (unsigned tries = 0;; tries++) {
                q = (struct iovad_iommu_ioas_iova_ranges) {
                        .size = sizeof(q),
                        .ioas_id = c->ioas_id,
                        .num_iovas = room,
                        .allowed_iovas = (uint64_t) (uintptr_t) ranges,
                };
                if (ioctl(c->fd, IOVAD_IOMMU_IOAS_IOVA_RANGES, &q) >= 0)
                        break;
                /* EMSGSIZE: more ranges than room, their number in num_iovas. */
                if (errno != EMSGSIZE)
                        return -errno;
                if (tries >= 4 || q.num_iovas <= room || q.num_iovas > 65536)
                        return -EPROTO;
                free(ranges);
                room = q.num_iovas;
                ranges = calloc(room, sizeof(*ranges));
                if (!ranges)
                        return -ENOMEM;
        }

        if (q.num_iovas > room)
                return -EPROTO;
        for (uint32_t i = 0; i < q.num_iovas; i++) {
                if (ranges[i].last < ranges[i].start) {
                        range_list_clear(&bi.usable);
                        return -EPROTO;
                }
                r = range_list_add(&bi.usable, ranges[i].start, ranges[i].last);
                if (r < 0) {
                        range_list_clear(&bi.usable);
                        return r;
                }
        }

        /*
         * iommufd reports no page-size bitmap, only the alignment a map
         * needs (at most PAGE_SIZE; 1 means any): that is the one page size
         * iovad can rely on.
         */
        uint64_t page = q.out_iova_alignment, sys = (uint64_t) sysconf(_SC_PAGESIZE);
        if (page == 0 || !is_pow2_u64(page)) {
                range_list_clear(&bi.usable);
                return -EPROTO;
        }
        bi.page_sizes = MAX(page, sys);
        /* No DMA_AVAIL: iommufd has no per-container entry limit. */
        bi.has_dma_avail = false;
        *ret = bi;
        return 0;
}

static int iommufd_map_dma(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, bool writable) {
        struct iovad_iommu_ioas_map map = {
                .size = sizeof(map),
                .flags = IOVAD_IOMMU_IOAS_MAP_FIXED_IOVA | IOVAD_IOMMU_IOAS_MAP_READABLE |
                         (writable ? IOVAD_IOMMU_IOAS_MAP_WRITEABLE : 0),
                .ioas_id = c->ioas_id,
                .user_va = (uint64_t) (uintptr_t) vaddr,
                .length = size,
                .iova = iova,
        };

        assert(c);

        if (c->n_groups == 0)
                return -ENXIO;

        /*
         * EINVAL outside the usable ranges (a reserved IOVA) or misaligned,
         * EEXIST overlapping a mapping; EADDRINUSE would be a reserved range
         * too; ENOMEM past RLIMIT_MEMLOCK.
         */
        if (ioctl(c->fd, IOVAD_IOMMU_IOAS_MAP, &map) < 0)
                return errno == EADDRINUSE ? -EINVAL : -errno;
        if (map.iova != iova)
                return -EPROTO;
        return 0;
}

static int iommufd_unmap_dma(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped) {
        struct iovad_iommu_ioas_unmap unmap = {
                .size = sizeof(unmap),
                .ioas_id = c->ioas_id,
                .iova = iova,
                .length = size,
        };

        assert(c);

        if (c->n_groups == 0)
                return -ENXIO;

        if (ioctl(c->fd, IOVAD_IOMMU_IOAS_UNMAP, &unmap) < 0) {
                /*
                 * ENOENT: nothing mapped there, or the range cuts a mapping.
                 * type1 unmaps nothing and says so with a size of 0; so does
                 * this, and the caller's size check names it.
                 */
                if (errno != ENOENT)
                        return -errno;
                unmap.length = 0;
        }
        *ret_unmapped = unmap.length;
        return 0;
}

static int iommufd_open_device(BackendContainer *c, unsigned group, const char *address) {
        IommufdGroup *g;

        assert(c);
        assert(address);

        if (!pci_address_valid(address))
                return -EINVAL;
        g = container_find_group(c, group);
        if (!g)
                return -ENXIO;
        for (size_t i = 0; i < g->n_devices; i++)
                if (strcmp(g->devices[i].address, address) == 0) {
                        /* The same open file: a cdev binds once. Never inherited by a child of ours. */
                        int fd = fcntl(g->devices[i].fd, F_DUPFD_CLOEXEC, 3);
                        return fd < 0 ? -errno : fd;
                }
        return -ENOENT;
}

static int iommufd_bind_vfio(Backend *b, const char *address) {
        return backend_pci_bind_vfio(b, address);
}

static int iommufd_unbind_vfio(Backend *b, const char *address, const char *previous_driver) {
        return backend_pci_unbind_vfio(b, address, previous_driver);
}

static void iommufd_backend_free(Backend *b) {
        if (!b)
                return;
        free(b->sysfs_root);
        free(b->platform);
        free((IommufdBackend *) b);
}

static const BackendOps backend_iommufd_ops = {
        .name = "iommufd",
        .free = iommufd_backend_free,
        .container_new = iommufd_container_new,
        .container_free = iommufd_container_free,
        .attach_group = iommufd_attach_group,
        .detach_group = iommufd_detach_group,
        .get_info = iommufd_get_info,
        .map_dma = iommufd_map_dma,
        .unmap_dma = iommufd_unmap_dma,
        .open_device = iommufd_open_device,
        .bind_vfio = iommufd_bind_vfio,
        .unbind_vfio = iommufd_unbind_vfio,
};

int backend_iommufd_new(const char *sysfs_root, Backend **ret) {
        IommufdBackend *b;
        _cleanup_close_ int fd = -1;
        uint32_t ioas;
        int r;

        assert(ret);

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->backend.ops = &backend_iommufd_ops;

        /* Fail here, with the reason, rather than at the first container. */
        r = context_open(b, &fd, &ioas, &b->rlimit_process);
        if (r >= 0) {
                b->backend.sysfs_root = strdup(sysfs_root ?: "/sys");
                if (!b->backend.sysfs_root)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = backend_describe_platform(b->backend.sysfs_root, &b->backend.platform);
        if (r < 0) {
                iommufd_backend_free(&b->backend);
                return r;
        }
        *ret = &b->backend;
        return 0;
}

const char *backend_iommufd_accounting(const Backend *base) {
        const IommufdBackend *b = (const IommufdBackend *) base;

        if (!base || base->ops != &backend_iommufd_ops)
                return NULL;
        return b->rlimit_process ? "iovad's own locked memory (RLIMIT_MODE 1, as type1 does)"
                                 : "the user iovad runs as (RLIMIT_MODE 0: no CAP_SYS_RESOURCE to change it)";
}

int backend_iommufd_usable(const char *sysfs_root, char **ret_reason) {
        _cleanup_closedir_ DIR *d = NULL;
        char path[PATH_MAX];
        struct dirent *de;
        bool any_vfio = false;

        if (access(IOMMUFD_PATH, F_OK) < 0)
                return asprintf(ret_reason, "%s is missing (a kernel without CONFIG_IOMMUFD)", IOMMUFD_PATH) < 0
                               ? -ENOMEM : 0;

        (void) snprintf(path, sizeof(path), "%s/bus/pci/devices", sysfs_root);
        d = opendir(path);
        while (d && (de = readdir(d))) {
                char driver[NAME_MAX + 1], cdev[PATH_MAX];
                dev_t rdev;

                if (!pci_address_valid(de->d_name) ||
                    device_driver(sysfs_root, de->d_name, driver, sizeof(driver)) < 0 ||
                    !sysfs_driver_is_vfio(driver))
                        continue;
                any_vfio = true;
                if (find_cdev(sysfs_root, de->d_name, cdev, sizeof(cdev), &rdev) >= 0 && access(cdev, F_OK) >= 0) {
                        *ret_reason = NULL;
                        return 1;
                }
        }
        /* Nothing on vfio-pci yet to tell: iommufd if there is no type1 to fall back on. */
        if (!any_vfio && access("/dev/vfio/vfio", F_OK) < 0) {
                *ret_reason = NULL;
                return 1;
        }
        return asprintf(ret_reason,
                        any_vfio ? "the devices on vfio-pci have no cdev in " VFIO_DEVICES_DIR
                                   " (a kernel without CONFIG_VFIO_DEVICE_CDEV)"
                                 : "no device is on vfio-pci to show a cdev in " VFIO_DEVICES_DIR) < 0
                       ? -ENOMEM : 0;
}

int backend_iommufd_open_delegate(Backend *base, const char *address, int *ret_iommufd, int *ret_device) {
        _cleanup_close_ int iommufd = -1, device = -1;
        char path[PATH_MAX];
        struct stat st;
        dev_t rdev;
        int r;

        if (!base || base->ops != &backend_iommufd_ops)
                return -EOPNOTSUPP;
        r = find_cdev(base->sysfs_root, address, path, sizeof(path), &rdev);
        if (r < 0)
                return r;

        /* A fresh context: its objects and ids are the holder's alone. */
        iommufd = open(IOMMUFD_PATH, O_RDWR | O_CLOEXEC);
        if (iommufd < 0)
                return -errno;
        /* Unbound: the holder binds it to that context itself. */
        device = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (device < 0)
                return errno == ENOENT ? -ENODEV : -errno;
        if (fstat(device, &st) < 0)
                return -errno;
        if (!S_ISCHR(st.st_mode) || st.st_rdev != rdev)
                return -ENODEV;

        *ret_iommufd = TAKE_FD(iommufd);
        *ret_device = TAKE_FD(device);
        return 0;
}

int backend_iommufd_device_in_use(Backend *base, const char *address) {
        char path[PATH_MAX];
        dev_t rdev;
        int r;

        if (!base || base->ops != &backend_iommufd_ops)
                return -EOPNOTSUPP;
        r = find_cdev(base->sysfs_root, address, path, sizeof(path), &rdev);
        if (r < 0)
                return r;
        return device_held_elsewhere(rdev);
}
