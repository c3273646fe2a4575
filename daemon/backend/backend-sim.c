/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
 *  - detaching the last group drops every mapping, as the kernel does;
 *  - a container's state lives in a memfd (its fd) and its groups are
 *    locks on an open file (their fds), so that both outlive this process
 *    in systemd's fd store and a restarted iovad can adopt them; a device
 *    fd keeps its group from being opened or detached elsewhere (-EBUSY);
 *  - UNMAP_DMA and MAP_DMA with the VADDR flags invalidate and replace
 *    the virtual address of whole mappings, as VFIO_UPDATE_VADDR does.
 */

typedef struct SimBackend SimBackend;

#define SIM_STATE_MAGIC UINT64_C(0x6d69732d6461766f) /* "ovad-sim" */
#define SIM_STATE_VERSION 1
#define SIM_GROUPS_MAX 64
/* Device locks lie past every group's byte in the groups file. */
#define SIM_DEVICE_LOCKS ((off_t) 1 << 32)

enum {
        SIM_MAP_WRITE = 1 << 0,
        SIM_MAP_VADDR_INVALID = 1 << 1,
};

typedef struct SimMapping {
        uint64_t iova;
        uint64_t last;
        uint64_t vaddr;
        uint32_t flags;
        uint32_t reserved;
} SimMapping;

/*
 * What the kernel keeps of a container, kept in a memfd (the container's
 * fd): it outlives the process that made it for as long as an fd of it
 * is open somewhere, in systemd's fd store for instance, as a kernel
 * container does.
 */
typedef struct SimState {
        uint64_t magic;
        uint32_t version;
        uint32_t n_groups;
        uint32_t groups[SIM_GROUPS_MAX]; /* attach order */
        uint32_t dma_avail;
        uint32_t reserved;
        uint64_t n_maps;
        uint64_t allocated;
        SimMapping maps[];               /* sorted by iova */
} SimState;

/*
 * Groups are byte locks (OFD locks, which belong to an open file and so
 * pass with it to other processes) in one file, RUNTIME_DIR/sim-vfio-groups:
 * an open group holds a write lock on byte N, as /dev/vfio/N opens only
 * once; an open device fd is an open file of its own with a read lock on
 * byte SIM_DEVICE_LOCKS + N, which keeps its group from being opened
 * again or detached, as a device fd holds its group's file in the kernel.
 */
struct BackendContainer {
        SimBackend *sim;
        int fd;                 /* the state memfd */
        SimState *st;
        size_t st_size;
        int group_fds[SIM_GROUPS_MAX]; /* parallel to st->groups */
        RangeList usable;
        BackendContainer *prev, *next;
};

struct SimBackend {
        Backend base;
        Profile *profile;
        char *groups_path;
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
static int compute_usable(const SimBackend *s, const uint32_t *groups, size_t n, RangeList *ret) {
        RegionList all = {};
        Range ap = aperture(s);
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                const ProfileGroup *g = group_of(s, groups[i]);
                r = g ? region_list_append_list(&all, &g->regions) : -ENOENT;
        }
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
        free(s->groups_path);
        free(b->sysfs_root);
        free(b->platform);
        free(s);
}

static size_t state_size(uint64_t allocated) {
        size_t n = sizeof(SimState) + (size_t) allocated * sizeof(SimMapping);
        long page = sysconf(_SC_PAGESIZE);
        return (n + (size_t) page - 1) & ~((size_t) page - 1);
}

static void container_link(SimBackend *s, BackendContainer *c) {
        for (size_t i = 0; i < SIM_GROUPS_MAX; i++)
                c->group_fds[i] = -1;
        c->sim = s;
        c->next = s->containers;
        if (s->containers)
                s->containers->prev = c;
        s->containers = c;
}

static void sim_container_free(BackendContainer *c) {
        if (!c)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else if (c->sim->containers == c)
                c->sim->containers = c->next;
        if (c->next)
                c->next->prev = c->prev;
        /* The state stays in the memfd for whoever else holds it, as a kernel container does. */
        for (size_t i = 0; i < SIM_GROUPS_MAX; i++)
                safe_close(c->group_fds[i]);
        if (c->st)
                (void) munmap(c->st, c->st_size);
        safe_close(c->fd);
        range_list_clear(&c->usable);
        free(c);
}

static int sim_container_new(Backend *b, BackendContainer **ret) {
        SimBackend *s = sim_of(b);
        BackendContainer *c = calloc(1, sizeof(*c));
        void *p;

        if (!c)
                return -ENOMEM;
        container_link(s, c);
        c->fd = memfd_create("iovad-sim-container", MFD_CLOEXEC);
        c->st_size = state_size(64);
        if (c->fd < 0 || ftruncate(c->fd, (off_t) c->st_size) < 0)
                goto fail;
        p = mmap(NULL, c->st_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
        if (p == MAP_FAILED)
                goto fail;
        c->st = p;
        c->st->magic = SIM_STATE_MAGIC;
        c->st->version = SIM_STATE_VERSION;
        c->st->dma_avail = s->profile->dma_entry_limit;
        c->st->allocated = (c->st_size - sizeof(SimState)) / sizeof(SimMapping);
        *ret = c;
        return 0;
fail:;
        int r = -errno;
        sim_container_free(c);
        return r;
}

static bool holds_group(const BackendContainer *c, unsigned group) {
        for (size_t i = 0; i < c->st->n_groups; i++)
                if (c->st->groups[i] == group)
                        return true;
        return false;
}

/* Whether an open file other than @fd's holds a lock on byte @at of the groups file. */
static bool lock_held(int fd, off_t at) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
                return false;
        return fl.l_type != F_UNLCK;
}

static int lock_byte(int fd, short type, off_t at) {
        struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

        if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
                return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
        return 0;
}

/* Read-only is enough for a read lock: a device fd, which goes to a client, can take no write lock. */
static int open_groups_file(SimBackend *s, bool writable) {
        int fd = open(s->groups_path, (writable ? O_RDWR : O_RDONLY) | O_CREAT | O_CLOEXEC, 0600);
        return fd < 0 ? -errno : fd;
}

/* "open /dev/vfio/N": -EBUSY while another open file has the group, or a device fd of it is open. */
static int group_open(SimBackend *s, unsigned group) {
        _cleanup_close_ int fd = open_groups_file(s, true);
        int r;

        if (fd < 0)
                return fd;
        if (lock_held(fd, SIM_DEVICE_LOCKS + group))
                return -EBUSY;
        r = lock_byte(fd, F_WRLCK, group);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

static int group_viable(SimBackend *s, unsigned group) {
        SysfsPlatform *p = NULL;
        int r;

        /* Viability is about drivers, which Bind/Unbind change: read the tree as the kernel would know it. */
        r = sysfs_read_platform(s->base.sysfs_root, &p, NULL);
        if (r < 0)
                return r;
        const SysfsGroup *sg = sysfs_find_group(p, group);
        bool viable = sg && sysfs_group_viable(p, sg);
        sysfs_platform_free(p);
        return viable ? 0 : -EPERM;
}

static int sim_attach_group(BackendContainer *c, unsigned group) {
        SimBackend *s = c->sim;
        const ProfileGroup *g = group_of(s, group);
        RangeList usable = {};
        _cleanup_close_ int fd = -1;
        int r;

        if (!g)
                return -ENOENT; /* no /dev/vfio/N */
        for (BackendContainer *o = s->containers; o; o = o->next)
                if (holds_group(o, group))
                        return -EBUSY;
        if (c->st->n_groups >= SIM_GROUPS_MAX)
                return -ENOSPC;
        fd = group_open(s, group);
        if (fd < 0)
                return fd;

        r = group_viable(s, group);
        if (r < 0)
                return r;
        if (!s->profile->interrupt_remapping && !s->profile->allow_unsafe_interrupts)
                return -EPERM;

        /* The new group's reserved regions must not cover a mapping (relaxable ones are ignored). */
        for (size_t i = 0; i < g->regions.n; i++) {
                const Region *reg = &g->regions.items[i];
                if (reg->type == REGION_DIRECT_RELAXABLE)
                        continue;
                for (size_t k = 0; k < c->st->n_maps; k++)
                        if (c->st->maps[k].iova <= reg->end && reg->start <= c->st->maps[k].last)
                                return -EINVAL;
        }

        c->st->groups[c->st->n_groups] = group;
        r = compute_usable(s, c->st->groups, c->st->n_groups + 1, &usable);
        if (r < 0)
                return r;
        c->group_fds[c->st->n_groups] = TAKE_FD(fd);
        c->st->n_groups++;
        range_list_clear(&c->usable);
        c->usable = usable;
        return 0;
}

static int sim_detach_group(BackendContainer *c, unsigned group) {
        size_t i, n = c->st->n_groups;

        for (i = 0; i < n; i++)
                if (c->st->groups[i] == group)
                        break;
        if (i == n)
                return -ENOENT;
        /* VFIO_GROUP_UNSET_CONTAINER refuses while a device fd of the group is open. */
        if (lock_held(c->group_fds[i], SIM_DEVICE_LOCKS + group))
                return -EBUSY;
        safe_close(c->group_fds[i]);
        memmove(c->st->groups + i, c->st->groups + i + 1, (n - i - 1) * sizeof(uint32_t));
        memmove(c->group_fds + i, c->group_fds + i + 1, (n - i - 1) * sizeof(int));
        c->group_fds[n - 1] = -1;
        c->st->n_groups--;
        if (c->st->n_groups == 0) {
                /* The domain goes with its last group, and every mapping with it. */
                c->st->n_maps = 0;
                c->st->dma_avail = c->sim->profile->dma_entry_limit;
                range_list_clear(&c->usable);
                return 0;
        }
        return compute_usable(c->sim, c->st->groups, c->st->n_groups, &c->usable);
}

static int sim_get_info(BackendContainer *c, BackendInfo *ret) {
        BackendInfo info = {};

        if (c->st->n_groups == 0)
                return -ENXIO;
        info.page_sizes = c->sim->profile->page_sizes;
        info.has_aperture = true;
        info.aperture = aperture(c->sim);
        if (range_list_copy(&info.usable, &c->usable) < 0)
                return -ENOMEM;
        info.has_dma_avail = true;
        info.dma_avail = c->st->dma_avail;
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
        size_t lo = 0, hi = c->st->n_maps;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c->st->maps[mid].last < iova)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int grow_state(BackendContainer *c) {
        uint64_t a = c->st->allocated * 2;
        size_t size = state_size(a);
        void *p;

        if (ftruncate(c->fd, (off_t) size) < 0)
                return -errno;
        p = mremap(c->st, c->st_size, size, MREMAP_MAYMOVE);
        if (p == MAP_FAILED)
                return -errno;
        c->st = p;
        c->st_size = size;
        c->st->allocated = (size - sizeof(SimState)) / sizeof(SimMapping);
        return 0;
}

/* Checks shared by MAP_DMA and its VADDR form: a page-aligned range that does not wrap. */
static int check_range(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, uint64_t *ret_last) {
        uint64_t page = min_page(c->sim);

        if (c->st->n_groups == 0)
                return -EINVAL;
        if (!range_last(iova, size, ret_last) || (iova | size | (uint64_t) (uintptr_t) vaddr) & (page - 1))
                return -EINVAL;
        return 0;
}

static int sim_map_dma(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, bool writable) {
        uint64_t last;
        size_t i;
        int r;

        r = check_range(c, iova, size, vaddr, &last);
        if (r < 0)
                return r;
        if (!range_list_contains(&c->usable, iova, last))
                return -EINVAL;
        i = lower_bound(c, iova);
        if (i < c->st->n_maps && c->st->maps[i].iova <= last)
                return -EEXIST;
        if (c->st->dma_avail == 0)
                return -ENOSPC;
        if (c->st->n_maps == c->st->allocated) {
                r = grow_state(c);
                if (r < 0)
                        return r;
        }
        memmove(c->st->maps + i + 1, c->st->maps + i, (c->st->n_maps - i) * sizeof(SimMapping));
        c->st->maps[i] = (SimMapping) {
                .iova = iova,
                .last = last,
                .vaddr = (uint64_t) (uintptr_t) vaddr,
                .flags = writable ? SIM_MAP_WRITE : 0,
        };
        c->st->n_maps++;
        c->st->dma_avail--;
        return 0;
}

/*
 * The mappings UNMAP_DMA would touch: [*ret_first, *ret_end). -EINVAL when
 * one crosses an edge of the range, as type1v2 refuses to cut one in two.
 */
static int unmap_span(BackendContainer *c, uint64_t iova, uint64_t size, size_t *ret_first, size_t *ret_end) {
        uint64_t last;
        size_t i, j;

        if (!range_last(iova, size, &last))
                return -EINVAL;
        i = lower_bound(c, iova);
        if (i < c->st->n_maps && c->st->maps[i].iova < iova)
                return -EINVAL;
        for (j = i; j < c->st->n_maps && c->st->maps[j].iova <= last; j++)
                if (c->st->maps[j].last > last)
                        return -EINVAL;
        *ret_first = i;
        *ret_end = j;
        return 0;
}

static int sim_unmap_dma(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped) {
        uint64_t unmapped = 0;
        size_t i, j;
        int r;

        r = unmap_span(c, iova, size, &i, &j);
        if (r < 0)
                return r;
        for (size_t k = i; k < j; k++)
                unmapped += c->st->maps[k].last - c->st->maps[k].iova + 1;
        memmove(c->st->maps + i, c->st->maps + j, (c->st->n_maps - j) * sizeof(SimMapping));
        c->st->n_maps -= j - i;
        c->st->dma_avail += (uint32_t) (j - i);
        /* As type1 does, the size written back is what was unmapped. */
        *ret_unmapped = unmapped;
        return 0;
}

static int sim_invalidate_vaddr(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_bytes) {
        uint64_t bytes = 0;
        size_t i, j;
        int r;

        r = unmap_span(c, iova, size, &i, &j);
        if (r < 0)
                return r;
        /* One without an address already: type1 takes back what it did and refuses. */
        for (size_t k = i; k < j; k++)
                if (c->st->maps[k].flags & SIM_MAP_VADDR_INVALID)
                        return -EINVAL;
        for (size_t k = i; k < j; k++) {
                c->st->maps[k].flags |= SIM_MAP_VADDR_INVALID;
                c->st->maps[k].vaddr = 0;
                bytes += c->st->maps[k].last - c->st->maps[k].iova + 1;
        }
        *ret_bytes = bytes;
        return 0;
}

static int sim_update_vaddr(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr) {
        uint64_t last;
        SimMapping *m;
        size_t i;
        int r;

        r = check_range(c, iova, size, vaddr, &last);
        if (r < 0)
                return r;
        i = lower_bound(c, iova);
        if (i == c->st->n_maps || c->st->maps[i].iova > last)
                return -ENOENT;
        m = &c->st->maps[i];
        if (!(m->flags & SIM_MAP_VADDR_INVALID) || m->iova != iova || m->last != last)
                return -EINVAL;
        m->vaddr = (uint64_t) (uintptr_t) vaddr;
        m->flags &= ~SIM_MAP_VADDR_INVALID;
        return 0;
}

static int sim_open_device(BackendContainer *c, unsigned group, const char *address) {
        _cleanup_close_ int fd = -1;
        SysfsPlatform *p = NULL;
        int r;

        if (!holds_group(c, group))
                return -ENXIO;
        r = sysfs_read_platform(c->sim->base.sysfs_root, &p, NULL);
        if (r < 0)
                return r;
        const SysfsDevice *d = sysfs_find_device(p, address);
        bool in_group = d && d->iommu_group == (int) group;
        sysfs_platform_free(p);
        if (!in_group)
                return -ENOENT;
        /* An open file of its own, so that it lives on wherever the client takes it. */
        fd = open_groups_file(c->sim, false);
        if (fd < 0)
                return fd;
        r = lock_byte(fd, F_RDLCK, SIM_DEVICE_LOCKS + group);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

static int sim_container_fd(BackendContainer *c) {
        return c->st->n_groups > 0 ? c->fd : -ENXIO;
}

static int sim_group_fd(BackendContainer *c, unsigned group) {
        for (size_t i = 0; i < c->st->n_groups; i++)
                if (c->st->groups[i] == group)
                        return c->group_fds[i];
        return -ENXIO;
}

/* Whether @fd is the groups file, and holds group @group: GET_STATUS's answer, as the simulation keeps it. */
static int check_group_fd(SimBackend *s, int fd, unsigned group) {
        _cleanup_close_ int probe = -1;
        struct stat st, file;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (stat(s->groups_path, &file) < 0 || !S_ISREG(st.st_mode) || st.st_dev != file.st_dev ||
            st.st_ino != file.st_ino)
                return -EBADF;
        /* Held by some open file, and by this one: another's lock would refuse ours. */
        probe = open_groups_file(s, true);
        if (probe < 0)
                return probe;
        if (!lock_held(probe, group))
                return -EBADF;
        return lock_byte(fd, F_WRLCK, group) < 0 ? -EBADF : 0;
}

static int check_state(const SimState *st, size_t size, const unsigned *groups, size_t n) {
        if (size < sizeof(SimState) || st->magic != SIM_STATE_MAGIC || st->version != SIM_STATE_VERSION ||
            st->n_groups > SIM_GROUPS_MAX || st->allocated > (size - sizeof(SimState)) / sizeof(SimMapping) ||
            st->n_maps > st->allocated)
                return -EBADF;
        for (size_t i = 1; i < st->n_maps; i++)
                if (st->maps[i].iova <= st->maps[i - 1].last || st->maps[i].last < st->maps[i].iova)
                        return -EBADF;
        /* No IOMMU without a group: the kernel dropped it with the last one. */
        if (st->n_groups == 0)
                return -ENXIO;
        /* Every group named is in this container ("CONTAINER_SET"), and no other is. */
        if (st->n_groups != n)
                return -ENXIO;
        for (size_t i = 0; i < n; i++) {
                bool found = false;
                for (size_t k = 0; k < st->n_groups; k++)
                        found = found || st->groups[k] == groups[i];
                if (!found)
                        return -ENXIO;
        }
        return 0;
}

static int sim_container_adopt(Backend *b, int fd, const unsigned *groups, const int *group_fds, size_t n,
                               BackendContainer **ret) {
        SimBackend *s = sim_of(b);
        BackendContainer *c = calloc(1, sizeof(*c));
        struct stat st;
        void *p;
        int r;

        if (!c) {
                safe_close(fd);
                for (size_t i = 0; i < n; i++)
                        safe_close(group_fds[i]);
                return -ENOMEM;
        }
        container_link(s, c);
        c->fd = fd;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t) st.st_size < sizeof(SimState)) {
                r = -EBADF;
                goto fail;
        }
        c->st_size = (size_t) st.st_size;
        p = mmap(NULL, c->st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                r = -EBADF;
                goto fail;
        }
        c->st = p;
        r = check_state(c->st, c->st_size, groups, n);
        if (r < 0)
                goto fail;
        /* The state's order is the kernel's; the fds go with their groups. */
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < c->st->n_groups; k++)
                        if (c->st->groups[k] == groups[i])
                                c->group_fds[k] = group_fds[i];
        n = 0; /* all of them are @c's now */
        for (size_t k = 0; k < c->st->n_groups; k++) {
                unsigned g = c->st->groups[k];

                for (BackendContainer *o = s->containers; o; o = o->next)
                        if (o != c && holds_group(o, g)) {
                                r = -EBUSY;
                                goto fail;
                        }
                r = check_group_fd(s, c->group_fds[k], g);
                if (r >= 0)
                        r = group_viable(s, g);
                if (r < 0)
                        goto fail;
        }
        r = compute_usable(s, c->st->groups, c->st->n_groups, &c->usable);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        for (size_t i = 0; i < n; i++)
                safe_close(group_fds[i]);
        sim_container_free(c);
        return r;
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
        .container_fd = sim_container_fd,
        .group_fd = sim_group_fd,
        .container_adopt = sim_container_adopt,
        .invalidate_vaddr = sim_invalidate_vaddr,
        .update_vaddr = sim_update_vaddr,
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
        if (asprintf(&s->groups_path, "%s/sim-vfio-groups", runtime_dir) < 0)
                s->groups_path = NULL;
        if (!s->base.platform || !s->groups_path) {
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
