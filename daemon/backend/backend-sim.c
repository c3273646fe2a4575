/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "util/macro.h"
#include "platform/sysfs-write.h"

/*
 * The simulated backend: VFIO type1's behaviour on a platform profile.
 * Devices and groups live in a sysfs-shaped tree written from the profile,
 * so discovery and driver binding go through the same reader as on a real
 * host; the IOMMU side (domains, mappings, DMA entries) is modelled here
 * after drivers/vfio/vfio_iommu_type1.c:
 *
 *  - a group attaches only if it is viable and interrupts are isolated
 *    (remapping, or allow_unsafe_interrupts), else -EPERM;
 *  - a group whose reserved regions (other than direct-relaxable) overlap
 *    an existing mapping is refused with -EINVAL;
 *  - the usable ranges (IOVA_RANGE) are the aperture minus the reserved
 *    regions of every attached group, split exactly at region edges;
 *  - MAP_DMA outside them is -EINVAL, over another mapping -EEXIST, past
 *    dma_entry_limit -ENOSPC; UNMAP_DMA removes whole mappings inside the
 *    range and refuses (-EINVAL) to cut one in two;
 *  - detaching the last group drops every mapping, as the kernel does.
 */

typedef struct SimBackend SimBackend;

typedef struct SimMapping {
        uint64_t iova;
        uint64_t last;
} SimMapping;

struct BackendContainer {
        SimBackend *sim;
        unsigned *groups;
        size_t n_groups;
        SimMapping *maps; /* sorted by iova */
        size_t n_maps;
        size_t allocated;
        uint32_t dma_avail;
        RangeList usable;
        BackendContainer *prev, *next;
};

struct SimBackend {
        Backend base;
        Profile *profile;
        BackendContainer *containers;
};

static SimBackend *sim_of(Backend *b) {
        return (SimBackend *) b;
}

static uint64_t min_page(const SimBackend *s) {
        return s->profile->page_sizes & -s->profile->page_sizes;
}

static Range aperture(const SimBackend *s) {
        unsigned bits = s->profile->aperture_bits;
        return (Range) { 0, bits >= 64 ? UINT64_MAX : (1ULL << bits) - 1 };
}

static const ProfileGroup *group_of(const SimBackend *s, unsigned id) {
        return profile_find_group(s->profile, id);
}

/* Usable ranges for a set of groups, as type1 computes its IOVA list. */
static int compute_usable(const SimBackend *s, const unsigned *groups, size_t n, RangeList *ret) {
        RegionList all = {};
        Range ap = aperture(s);
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++)
                r = region_list_append_list(&all, &group_of(s, groups[i])->regions);
        if (r >= 0)
                r = range_list_usable(&ap, &all, 1, ret); /* the kernel splits at the exact edges */
        region_list_clear(&all);
        return r;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void sim_free(Backend *b) {
        SimBackend *s = sim_of(b);

        /* The tree is this process's picture of the simulated machine: it goes with it. */
        if (b->sysfs_root)
                (void) nftw(b->sysfs_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

        profile_free(s->profile);
        free(b->sysfs_root);
        free(b->platform);
        free(s);
}

static int sim_container_new(Backend *b, BackendContainer **ret) {
        SimBackend *s = sim_of(b);
        BackendContainer *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->sim = s;
        c->dma_avail = s->profile->dma_entry_limit;
        c->next = s->containers;
        if (s->containers)
                s->containers->prev = c;
        s->containers = c;
        *ret = c;
        return 0;
}

static void sim_container_free(BackendContainer *c) {
        if (!c)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else
                c->sim->containers = c->next;
        if (c->next)
                c->next->prev = c->prev;
        range_list_clear(&c->usable);
        free(c->maps);
        free(c->groups);
        free(c);
}

static bool holds_group(const BackendContainer *c, unsigned group) {
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i] == group)
                        return true;
        return false;
}

static int sim_attach_group(BackendContainer *c, unsigned group) {
        SimBackend *s = c->sim;
        const ProfileGroup *g = group_of(s, group);
        SysfsPlatform *p = NULL;
        RangeList usable = {};
        unsigned *groups;
        int r;

        if (!g)
                return -ENOENT; /* no /dev/vfio/N */
        for (BackendContainer *o = s->containers; o; o = o->next)
                if (holds_group(o, group))
                        return -EBUSY;

        /* Viability is about drivers, which Bind/Unbind change: read the tree as the kernel would know it. */
        r = sysfs_read_platform(s->base.sysfs_root, &p, NULL);
        if (r < 0)
                return r;
        const SysfsGroup *sg = sysfs_find_group(p, group);
        bool viable = sg && sysfs_group_viable(p, sg);
        sysfs_platform_free(p);
        if (!viable)
                return -EPERM;
        if (!s->profile->interrupt_remapping && !s->profile->allow_unsafe_interrupts)
                return -EPERM;

        /* The new group's reserved regions must not cover a mapping (relaxable ones are ignored). */
        for (size_t i = 0; i < g->regions.n; i++) {
                const Region *reg = &g->regions.items[i];
                if (reg->type == REGION_DIRECT_RELAXABLE)
                        continue;
                for (size_t k = 0; k < c->n_maps; k++)
                        if (c->maps[k].iova <= reg->end && reg->start <= c->maps[k].last)
                                return -EINVAL;
        }

        groups = reallocarray(c->groups, c->n_groups + 1, sizeof(unsigned));
        if (!groups)
                return -ENOMEM;
        c->groups = groups;
        groups[c->n_groups] = group;
        r = compute_usable(s, groups, c->n_groups + 1, &usable);
        if (r < 0)
                return r;
        c->n_groups++;
        range_list_clear(&c->usable);
        c->usable = usable;
        return 0;
}

static int sim_detach_group(BackendContainer *c, unsigned group) {
        size_t i;

        for (i = 0; i < c->n_groups; i++)
                if (c->groups[i] == group)
                        break;
        if (i == c->n_groups)
                return -ENOENT;
        memmove(c->groups + i, c->groups + i + 1, (c->n_groups - i - 1) * sizeof(unsigned));
        c->n_groups--;
        if (c->n_groups == 0) {
                /* The domain goes with its last group, and every mapping with it. */
                c->n_maps = 0;
                c->dma_avail = c->sim->profile->dma_entry_limit;
                range_list_clear(&c->usable);
                return 0;
        }
        return compute_usable(c->sim, c->groups, c->n_groups, &c->usable);
}

static int sim_get_info(BackendContainer *c, BackendInfo *ret) {
        BackendInfo info = {};

        if (c->n_groups == 0)
                return -ENXIO;
        info.page_sizes = c->sim->profile->page_sizes;
        info.has_aperture = true;
        info.aperture = aperture(c->sim);
        if (range_list_copy(&info.usable, &c->usable) < 0)
                return -ENOMEM;
        info.has_dma_avail = true;
        info.dma_avail = c->dma_avail;
        /* The simulated kernel has the bugs of the release the profile names. */
        if (backend_kernel_holes(c->sim->profile->kernel_release, &info.usable, min_page(c->sim),
                                 &info.kernel_holes) < 0) {
                backend_info_done(&info);
                return -ENOMEM;
        }
        *ret = info;
        return 0;
}

/* Index of the first mapping whose last byte is >= iova. */
static size_t lower_bound(const BackendContainer *c, uint64_t iova) {
        size_t lo = 0, hi = c->n_maps;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c->maps[mid].last < iova)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int sim_map_dma(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, bool writable) {
        uint64_t page = min_page(c->sim), last;
        size_t i;

        if (c->n_groups == 0)
                return -EINVAL;
        if (!range_last(iova, size, &last) || (iova | size | (uint64_t) (uintptr_t) vaddr) & (page - 1))
                return -EINVAL;
        if (!range_list_contains(&c->usable, iova, last))
                return -EINVAL;
        i = lower_bound(c, iova);
        if (i < c->n_maps && c->maps[i].iova <= last)
                return -EEXIST;
        if (c->dma_avail == 0)
                return -ENOSPC;
        if (c->n_maps == c->allocated) {
                size_t a = c->allocated ? c->allocated * 2 : 64;
                SimMapping *m = reallocarray(c->maps, a, sizeof(SimMapping));
                if (!m)
                        return -ENOMEM;
                c->maps = m;
                c->allocated = a;
        }
        memmove(c->maps + i + 1, c->maps + i, (c->n_maps - i) * sizeof(SimMapping));
        c->maps[i] = (SimMapping) { iova, last };
        c->n_maps++;
        c->dma_avail--;
        return 0;
}

static int sim_unmap_dma(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped) {
        uint64_t last, unmapped = 0;
        size_t i, j;

        if (!range_last(iova, size, &last))
                return -EINVAL;
        i = lower_bound(c, iova);
        /* Cutting a mapping in two is refused, as type1 does. */
        if (i < c->n_maps && c->maps[i].iova < iova)
                return -EINVAL;
        for (j = i; j < c->n_maps && c->maps[j].iova <= last; j++) {
                if (c->maps[j].last > last)
                        return -EINVAL;
                unmapped += c->maps[j].last - c->maps[j].iova + 1;
        }
        memmove(c->maps + i, c->maps + j, (c->n_maps - j) * sizeof(SimMapping));
        c->n_maps -= j - i;
        c->dma_avail += (uint32_t) (j - i);
        /* As type1 does, the size written back is what was unmapped. */
        *ret_unmapped = unmapped;
        return 0;
}

static int sim_open_device(BackendContainer *c, unsigned group, const char *address) {
        return -EOPNOTSUPP; /* there is no device behind a profile */
}

static int write_file(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC | O_CREAT, 0644);
        size_t n = strlen(value);

        if (fd < 0)
                return -errno;
        if (write(fd, value, n) != (ssize_t) n)
                return -EIO;
        return 0;
}

/* Point ADDR/driver at bus/pci/drivers/NAME (or at nothing), as probing does. */
static int set_driver(const char *root, const char *address, const char *driver) {
        char path[PATH_MAX], target[PATH_MAX];

        snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", root, address);
        if (access(path, F_OK) < 0)
                return -ENODEV;
        snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", root, address);
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        if (!driver || !*driver)
                return 0;
        snprintf(target, sizeof(target), "%s/bus/pci/drivers/%s", root, driver);
        if (mkdir(target, 0755) < 0 && errno != EEXIST)
                return -errno;
        snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
        return symlink(target, path) < 0 ? -errno : 0;
}

static bool device_in_use(SimBackend *s, const char *address) {
        SysfsPlatform *p = NULL;
        bool busy = false;

        if (sysfs_read_platform(s->base.sysfs_root, &p, NULL) < 0)
                return false;
        const SysfsDevice *d = sysfs_find_device(p, address);
        if (d && d->iommu_group >= 0)
                for (BackendContainer *c = s->containers; c; c = c->next)
                        busy = busy || holds_group(c, (unsigned) d->iommu_group);
        sysfs_platform_free(p);
        return busy;
}

static int sim_bind_vfio(Backend *b, const char *address) {
        char path[PATH_MAX];
        int r;

        snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver_override", b->sysfs_root, address);
        r = write_file(path, "vfio-pci\n");
        if (r < 0)
                return r == -ENOENT ? -ENODEV : r;
        return set_driver(b->sysfs_root, address, "vfio-pci");
}

static int sim_unbind_vfio(Backend *b, const char *address, const char *previous_driver) {
        char path[PATH_MAX];
        int r;

        /* vfio-pci cannot let go of a device whose group is in use. */
        if (device_in_use(sim_of(b), address))
                return -EBUSY;
        snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver_override", b->sysfs_root, address);
        r = write_file(path, "\n");
        if (r < 0)
                return r == -ENOENT ? -ENODEV : r;
        return set_driver(b->sysfs_root, address, previous_driver);
}

static const BackendOps sim_ops = {
        .name = "simulated",
        .free = sim_free,
        .container_new = sim_container_new,
        .container_free = sim_container_free,
        .attach_group = sim_attach_group,
        .detach_group = sim_detach_group,
        .get_info = sim_get_info,
        .map_dma = sim_map_dma,
        .unmap_dma = sim_unmap_dma,
        .open_device = sim_open_device,
        .bind_vfio = sim_bind_vfio,
        .unbind_vfio = sim_unbind_vfio,
};

int backend_sim_new(Profile *profile, const char *runtime_dir, Backend **ret) {
        SimBackend *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->base.ops = &sim_ops;
        s->profile = profile;
        if (asprintf(&s->base.sysfs_root, "%s/sysfs.XXXXXX", runtime_dir) < 0) {
                s->base.sysfs_root = NULL;
                r = -ENOMEM;
                goto fail;
        }
        if (!mkdtemp(s->base.sysfs_root)) {
                r = -errno;
                free(s->base.sysfs_root);
                s->base.sysfs_root = NULL;
                goto fail;
        }
        s->base.platform = strdup(profile->name);
        if (!s->base.platform) {
                r = -ENOMEM;
                goto fail;
        }
        r = sysfs_write_profile(profile, s->base.sysfs_root);
        if (r < 0)
                goto fail;
        *ret = &s->base;
        return 0;
fail:
        s->profile = NULL; /* the caller keeps its profile on failure */
        sim_free(&s->base);
        return r;
}
