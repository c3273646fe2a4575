/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/container.h"
#include "platform/p2p.h"
#include "util/log.h"

bool container_name_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > 64)
                return false;
        for (const char *p = name; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
                      *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

int container_new(Backend *b, const Config *config, const char *name, const uid_t *users, size_t n_users,
                  Container **ret, IovadError *e) {
        Container *c;
        int r;

        if (!container_name_valid(name))
                return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                   "Container name '%s' is invalid: use 1 to 64 of A-Z a-z 0-9 - _ .", name);
        if (n_users == 0)
                return iovad_error(e, IOVAD_E_INVALID_ARGS, "A container needs at least one user");

        c = calloc(1, sizeof(*c));
        if (!c)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        c->backend = b;
        c->config = config;
        c->name = strdup(name);
        c->users = reallocarray(NULL, n_users, sizeof(uid_t));
        if (!c->name || !c->users) {
                container_free(c);
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        }
        /* Keep users sorted and unique so Users reads the same however it was given. */
        for (size_t i = 0; i < n_users; i++) {
                size_t j = c->n_users;
                bool dup = false;
                for (size_t k = 0; k < c->n_users; k++)
                        dup = dup || c->users[k] == users[i];
                if (dup)
                        continue;
                while (j > 0 && c->users[j - 1] > users[i]) {
                        c->users[j] = c->users[j - 1];
                        j--;
                }
                c->users[j] = users[i];
                c->n_users++;
        }
        r = b->ops->container_new(b, &c->kernel);
        if (r < 0) {
                container_free(c);
                return iovad_error(e, IOVAD_E_KERNEL, "Cannot create an IOMMU container: %s", strerror(-r));
        }
        /* Policy reservations are part of the picture from the start. */
        r = region_list_append_list(&c->regions, &config->reserved);
        if (r < 0) {
                container_free(c);
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        }
        *ret = c;
        return 0;
}

int container_adopt(Backend *b, const Config *config, const char *name, const uid_t *users, size_t n_users,
                    bool reserve_peer_windows, BackendContainer *kernel, const unsigned *groups, size_t n_groups,
                    const SysfsPlatform *p, Container **ret, IovadError *e) {
        Container *c;
        int r;

        r = container_new(b, config, name, users, n_users, &c, e);
        if (r < 0) {
                b->ops->container_free(kernel);
                return r;
        }
        /* The fresh kernel container container_new() made gives way to the adopted one. */
        b->ops->container_free(c->kernel);
        c->kernel = kernel;
        c->groups = reallocarray(NULL, n_groups > 0 ? n_groups : 1, sizeof(unsigned));
        if (!c->groups) {
                container_free(c);
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        }
        memcpy(c->groups, groups, n_groups * sizeof(unsigned));
        c->n_groups = n_groups;
        c->reserve_peer_windows = reserve_peer_windows;
        r = container_refresh(c, p, e);
        if (r < 0) {
                container_free(c);
                return r;
        }
        c->adopting = true;
        *ret = c;
        return 0;
}

static void lease_unlink(Lease *l) {
        Container *c = l->container;

        if (l->c_prev)
                l->c_prev->c_next = l->c_next;
        else
                c->leases = l->c_next;
        if (l->c_next)
                l->c_next->c_prev = l->c_prev;
        c->n_leases--;
        l->c_prev = l->c_next = NULL;
}

static void lease_link(Container *c, Lease *l) {
        l->c_prev = NULL;
        l->c_next = c->leases;
        if (c->leases)
                c->leases->c_prev = l;
        c->leases = l;
        c->n_leases++;
}

static QuotaUse *quota_get(Container *c, uid_t uid, bool create) {
        for (size_t i = 0; i < c->n_quota; i++)
                if (c->quota[i].uid == uid)
                        return &c->quota[i];
        if (!create)
                return NULL;
        QuotaUse *q = reallocarray(c->quota, c->n_quota + 1, sizeof(QuotaUse));
        if (!q)
                return NULL;
        c->quota = q;
        q[c->n_quota] = (QuotaUse) { .uid = uid };
        return &q[c->n_quota++];
}

static void quota_put(Container *c, const Lease *l) {
        QuotaUse *q = quota_get(c, l->owner, false);

        if (!q)
                return;
        q->leases--;
        if (l->mapped) {
                q->dma_entries--;
                q->mapped_bytes -= l->size;
        }
}

/* Unmaps @l's memory; 0 when the kernel unmapped exactly its bytes. */
static int lease_unmap(Container *c, Lease *l, IovadError *e) {
        uint64_t unmapped = 0;
        int r;

        r = c->backend->ops->unmap_dma(c->kernel, l->iova, l->size, &unmapped);
        if (r < 0)
                return iovad_error(e, IOVAD_E_KERNEL,
                                   "VFIO_IOMMU_UNMAP_DMA of lease %" PRIu64 " (0x%" PRIx64 "+0x%" PRIx64 ") failed: %s",
                                   l->id, l->iova, l->size, strerror(-r));
        if (unmapped != l->size)
                return iovad_error(e, IOVAD_E_KERNEL,
                                   "VFIO_IOMMU_UNMAP_DMA of lease %" PRIu64 " (0x%" PRIx64 "+0x%" PRIx64
                                   ") unmapped 0x%" PRIx64 " bytes: the kernel's mappings are not what iovad made, "
                                   "so container '%s' takes no new leases",
                                   l->id, l->iova, l->size, unmapped, c->name);
        if (c->dma_avail < UINT32_MAX)
                c->dma_avail++;
        return 0;
}

/* Drops a lease's hold on a batch's mapping; the last one unmaps it. NULL is a no-op. */
static void lease_mapping_unref(LeaseMapping *mp) {
        if (!mp)
                return;
        assert(mp->refs > 0);
        if (--mp->refs > 0)
                return;
        (void) munmap(mp->base, mp->length);
        safe_close(mp->memfd);
        free(mp);
}

/* Frees what @l holds in this process and the lease itself; the kernel side is done. */
static void lease_destroy(Container *c, Lease *l) {
        if (l->mapping)
                lease_mapping_unref(l->mapping); /* and with it the memfd */
        else {
                if (l->vaddr)
                        (void) munmap(l->vaddr, l->size);
                safe_close(l->memfd);
        }
        if (c->alloc) {
                /* Only a range this allocator handed out comes back here: a failure is a bug. */
                int r = iova_release(c->alloc, l->iova, l->size);
                if (r < 0)
                        log_error("Returning IOVA 0x%" PRIx64 "+0x%" PRIx64 " of lease %" PRIu64 " failed: %s",
                                  l->iova, l->size, l->id, strerror(-r));
        }
        quota_put(c, l);
        lease_unlink(l);
        free(l);
}

int container_lease_release(Container *c, Lease *l, IovadError *e) {
        int r;

        assert(l->container == c);
        if (l->stuck)
                return iovad_error(e, IOVAD_E_KERNEL,
                                   "Lease %" PRIu64 " could not be unmapped before: its range stays taken until "
                                   "container '%s' is destroyed",
                                   l->id, c->name);
        if (l->mapped) {
                r = lease_unmap(c, l, e);
                if (r < 0) {
                        l->stuck = true;
                        c->faulted = true;
                        return r;
                }
        }
        lease_destroy(c, l);
        return 0;
}

Container *container_free(Container *c) {
        if (!c)
                return NULL;
        while (c->leases) {
                Lease *l = c->leases;
                if (l->mapped && !l->stuck && !c->kept)
                        (void) lease_unmap(c, l, NULL);
                lease_destroy(c, l);
        }
        if (c->kernel) {
                for (size_t i = c->n_groups; i > 0 && !c->kept; i--)
                        (void) c->backend->ops->detach_group(c->kernel, c->groups[i - 1]);
                c->backend->ops->container_free(c->kernel);
        }
        while (c->kept_mappings) {
                LeaseMapping *mp = c->kept_mappings;
                c->kept_mappings = mp->kept_next;
                (void) munmap(mp->base, mp->length);
                safe_close(mp->memfd);
                free(mp);
        }
        iova_allocator_free(c->alloc);
        region_list_clear(&c->regions);
        range_list_clear(&c->usable);
        free(c->quota);
        free(c->groups);
        free(c->users);
        free(c->name);
        free(c);
        return NULL;
}

bool container_has_user(const Container *c, uid_t uid) {
        for (size_t i = 0; i < c->n_users; i++)
                if (c->users[i] == uid)
                        return true;
        return false;
}

bool container_has_group(const Container *c, unsigned group) {
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i] == group)
                        return true;
        return false;
}

static int lease_iova_cmp(const void *a, const void *b) {
        const Lease *x = *(Lease *const *) a, *y = *(Lease *const *) b;
        return x->iova < y->iova ? -1 : x->iova > y->iova;
}

int container_lease_ranges(const Container *c, Range **ret, Lease ***ret_leases, size_t *ret_n) {
        _cleanup_free_ Range *ranges = NULL;
        _cleanup_free_ Lease **leases = NULL;
        size_t n = 0;

        ranges = reallocarray(NULL, c->n_leases ? c->n_leases : 1, sizeof(Range));
        leases = reallocarray(NULL, c->n_leases ? c->n_leases : 1, sizeof(Lease *));
        if (!ranges || !leases)
                return -ENOMEM;
        for (Lease *l = c->leases; l; l = l->c_next)
                leases[n++] = l;
        qsort(leases, n, sizeof(Lease *), lease_iova_cmp);
        for (size_t i = 0; i < n; i++)
                ranges[i] = (Range) { leases[i]->iova, leases[i]->iova + (leases[i]->size - 1) };
        *ret = TAKE_PTR(ranges);
        if (ret_leases)
                *ret_leases = TAKE_PTR(leases);
        *ret_n = n;
        return 0;
}

/*
 * Whether the kernel would let @g into a container (viability, interrupt
 * isolation), and whether iovad.conf does. Where sysfs cannot tell the
 * isolation, the kernel is asked (manager_check_attach() probes, the attach
 * itself answers) rather than an attach it might accept refused here.
 */
static int check_isolation(const Container *c, const SysfsPlatform *p, const SysfsGroup *g, IovadError *e) {
        if (!sysfs_group_viable(p, g))
                return iovad_error(e, IOVAD_E_NOT_VIABLE,
                                   "Group %u is not viable: every device in it must be bound to vfio-pci or to no "
                                   "driver (see Device.Bind)",
                                   g->id);
        switch (p->isolation) {
        case ISOLATION_REMAPPED:
        case ISOLATION_ISOLATED_MSI:
        case ISOLATION_UNKNOWN:
                return 0;
        case ISOLATION_UNSAFE:
                if (c->config->refuse_unsafe_interrupts)
                        return iovad_error(e, IOVAD_E_INTERRUPT_ISOLATION,
                                           "Group %u cannot be attached: its MSIs are not isolated, and iovad.conf "
                                           "refuses unsafe interrupts (interrupts.refuse_unsafe) although the kernel "
                                           "allows them",
                                           g->id);
                return 0;
        case ISOLATION_NONE:
        case _ISOLATION_MAX:
                break;
        }
        return iovad_error(e, IOVAD_E_INTERRUPT_ISOLATION,
                           "Group %u cannot be attached: the platform has no interrupt remapping and "
                           "vfio_iommu_type1.allow_unsafe_interrupts is off",
                           g->id);
}

int container_group_regions(const Container *c, const SysfsPlatform *p, const SysfsGroup *g, RegionList *ret) {
        RegionList l = {};
        P2pReport rep = {};
        int r;

        r = region_list_append_list(&l, &g->regions);
        if (r >= 0 && c->reserve_peer_windows)
                r = p2p_group(p, g, &rep);
        for (size_t i = 0; r >= 0 && i < rep.n_windows; i++)
                r = region_list_add(&l, rep.windows[i].start, rep.windows[i].end, REGION_RESERVED, "p2p");
        p2p_report_done(&rep);
        if (r < 0) {
                region_list_clear(&l);
                return -ENOMEM;
        }
        *ret = l;
        return 0;
}

ssize_t container_check_attach(Container *c, const SysfsPlatform *p, const SysfsGroup *g, AttachConflict **ret,
                               IovadError *e) {
        _cleanup_(region_list_clear) RegionList regions = {};
        _cleanup_free_ Range *live = NULL;
        _cleanup_free_ Lease **leases = NULL;
        _cleanup_free_ RegionConflict *rc = NULL;
        size_t n_live;
        ssize_t n;
        int r;

        if (container_has_group(c, g->id))
                return iovad_error(e, IOVAD_E_EXISTS, "Group %u is already attached to '%s'", g->id, c->name);
        /* A dry run refuses what AttachGroup would refuse before it looks at leases. */
        r = check_isolation(c, p, g, e);
        if (r < 0)
                return r;
        r = container_lease_ranges(c, &live, &leases, &n_live);
        if (r < 0)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        if (container_group_regions(c, p, g, &regions) < 0)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        n = region_find_conflicts(&regions, live, n_live, ret ? &rc : NULL);
        if (n < 0)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        if (ret) {
                AttachConflict *out = NULL;
                if (n > 0) {
                        out = reallocarray(NULL, (size_t) n, sizeof(AttachConflict));
                        if (!out)
                                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
                        for (ssize_t i = 0; i < n; i++) {
                                const Region *reg = &regions.items[rc[i].region];
                                out[i] = (AttachConflict) {
                                        .start = reg->start,
                                        .end = reg->end,
                                        .type = reg->type,
                                        .lease = leases[rc[i].range],
                                };
                        }
                }
                *ret = out;
        }
        return n;
}

int container_conflicts_error(const Container *c, unsigned group, const AttachConflict *cf, size_t n, IovadError *e) {
        char buf[sizeof(e->message)];
        size_t off = 0;

        off += (size_t) snprintf(buf, sizeof(buf),
                                 "Group %u cannot be attached to '%s': its reserved regions hit %zu live lease%s:", group,
                                 c->name, n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n && off < sizeof(buf); i++)
                off += (size_t) snprintf(buf + off, sizeof(buf) - off,
                                         " %s region 0x%" PRIx64 "-0x%" PRIx64 " overlaps lease %" PRIu64
                                         " (0x%" PRIx64 "+0x%" PRIx64 ")%s",
                                         region_type_to_string(cf[i].type), cf[i].start, cf[i].end, cf[i].lease->id,
                                         cf[i].lease->iova, cf[i].lease->size, i + 1 < n ? ";" : "");
        return iovad_error(e, IOVAD_E_RESERVED_CONFLICT, "%s", buf);
}

int container_refresh(Container *c, const SysfsPlatform *p, IovadError *e) {
        RegionList regions = {};
        RangeList model = {}, usable = {};
        BackendInfo info = {};
        IovaAllocator *alloc = NULL;
        Range aperture = {};
        int r;

        r = region_list_append_list(&regions, &c->config->reserved);
        for (size_t i = 0; r >= 0 && i < c->n_groups; i++) {
                const SysfsGroup *g = sysfs_find_group(p, c->groups[i]);
                RegionList gr = {};

                if (!g)
                        continue;
                r = container_group_regions(c, p, g, &gr);
                if (r >= 0)
                        r = region_list_append_list(&regions, &gr);
                region_list_clear(&gr);
        }
        if (r < 0)
                goto oom;
        region_list_normalize(&regions);

        if (c->n_groups > 0) {
                uint64_t page;

                r = c->backend->ops->get_info(c->kernel, &info);
                if (r < 0) {
                        region_list_clear(&regions);
                        return iovad_error(e, IOVAD_E_KERNEL, "VFIO_IOMMU_GET_INFO failed: %s", strerror(-r));
                }
                if (info.page_sizes == 0 || info.usable.n == 0) {
                        r = iovad_error(e, IOVAD_E_KERNEL, "The kernel reported no page sizes or no usable IOVA range");
                        goto fail;
                }
                page = info.page_sizes & -info.page_sizes;
                /* What the kernel calls usable but would corrupt: a hole like any other, with its reason. */
                if (info.kernel_holes.n > 0) {
                        r = region_list_append_list(&regions, &info.kernel_holes);
                        if (r < 0)
                                goto oom;
                        region_list_normalize(&regions);
                }
                aperture = info.has_aperture
                                   ? info.aperture
                                   : (Range) { info.usable.items[0].start, info.usable.items[info.usable.n - 1].end };
                r = range_list_usable(&aperture, &regions, page, &model);
                if (r >= 0)
                        r = range_list_intersect(&model, &info.usable, &usable);
                if (r < 0)
                        goto oom;
                if (!range_list_equal(&model, &usable))
                        /* The kernel is authoritative; say where our picture of it was wrong. */
                        log_warning("Container '%s': the kernel's usable IOVA ranges differ from the reserved regions "
                                    "iovad knows of (%zu ranges modelled, %zu after the kernel's IOVA_RANGE); "
                                    "using the intersection",
                                    c->name, model.n, usable.n);

                r = iova_allocator_new(page, &alloc);
                for (size_t i = 0; r >= 0 && i < usable.n; i++)
                        r = iova_add_free(alloc, usable.items[i].start, usable.items[i].end);
                if (r < 0)
                        goto oom;
                for (Lease *l = c->leases; l; l = l->c_next) {
                        r = iova_reserve(alloc, l->iova, l->size);
                        if (r < 0) {
                                r = iovad_error(e, IOVAD_E_RESERVED_CONFLICT,
                                               "Lease %" PRIu64 " (0x%" PRIx64 "+0x%" PRIx64 ") would lie outside "
                                               "the usable IOVA ranges",
                                               l->id, l->iova, l->size);
                                goto fail;
                        }
                }
        }

        region_list_clear(&c->regions);
        c->regions = regions;
        range_list_clear(&c->usable);
        c->usable = usable;
        iova_allocator_free(c->alloc);
        c->alloc = alloc;
        c->aperture = aperture;
        c->page_sizes = info.page_sizes;
        c->dma_avail = info.has_dma_avail ? info.dma_avail : UINT32_MAX;
        range_list_clear(&model);
        backend_info_done(&info);
        return 0;

oom:
        r = iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
fail:
        region_list_clear(&regions);
        range_list_clear(&model);
        range_list_clear(&usable);
        iova_allocator_free(alloc);
        backend_info_done(&info);
        return r;
}

/*
 * Whether @r is a software MSI window: an msi region that is not the x86
 * interrupt window (which no IOMMU translates) and not a doorbell's own
 * frame. QEMU's virtio-iommu reports the ITS's 64 KiB GITS_TRANSLATER
 * frame as an msi region, a bypass where nothing is mapped; the SMMU
 * drivers' window (MSI_IOVA_BASE, 1 MiB at 0x8000000) may hold a doorbell
 * too, by numbers alone, as on QEMU's virt machine, yet is IOVA space.
 */
static bool is_sw_msi_window(const SysfsPlatform *p, const Region *r) {
        if (r->type != REGION_MSI)
                return false;
        if (r->start <= X86_MSI_END && r->end >= X86_MSI_START)
                return false;
        for (size_t i = 0; i < p->n_doorbells; i++)
                if (p->doorbells[i].address >= r->start && p->doorbells[i].address <= r->end &&
                    r->end - r->start < 0x10000)
                        return false;
        return true;
}

static bool find_sw_msi_window(const SysfsPlatform *p, const SysfsGroup *g, Range *ret) {
        for (size_t i = 0; g && i < g->regions.n; i++)
                if (is_sw_msi_window(p, &g->regions.items[i])) {
                        *ret = (Range) { g->regions.items[i].start, g->regions.items[i].end };
                        return true;
                }
        return false;
}

void container_msi_window(const Container *c, const SysfsPlatform *p, const SysfsGroup *extra, MsiWindowUse *ret) {
        MsiWindowUse u = { .source = p->doorbell_source };
        long cpu_page = sysconf(_SC_PAGESIZE);
        uint64_t last = 0;
        bool devices = false;

        /* The domain's first group brings the window (vfio_iommu_type1
         * takes the cookie's base from the group that creates the domain). */
        for (size_t i = 0; i <= c->n_groups; i++) {
                const SysfsGroup *g = i < c->n_groups ? sysfs_find_group(p, c->groups[i]) : extra;

                if (!g)
                        continue;
                if (!u.has_window)
                        u.has_window = find_sw_msi_window(p, g, &u.window);
                devices = devices || (g->devices && g->devices[0]);
        }
        if (!u.has_window) {
                *ret = (MsiWindowUse) {};
                return;
        }

        /* dma-iommu maps PAGE_SIZE per doorbell (cookie_msi_granule()), and
         * no less than the IOMMU's smallest page. */
        u.granule = cpu_page > 0 ? (uint64_t) cpu_page : 4096;
        if (c->n_groups > 0 && c->page_sizes != 0)
                u.granule = MAX(u.granule, c->page_sizes & -c->page_sizes);
        u.capacity = (uint32_t) MIN((u.window.end - u.window.start) / u.granule + 1, (uint64_t) UINT32_MAX);

        /* Every device may target every doorbell: iovad cannot see which
         * controller a device's MSIs go to (msi-map, IORT), so this is the
         * bound, which equals the need where one ITS serves the machine. */
        if (devices && p->n_doorbells == 0)
                u.needed = 1;
        for (size_t i = 0; devices && i < p->n_doorbells; i++) {
                uint64_t page = align_down_u64(p->doorbells[i].address, u.granule);

                /* Sorted by address, so equal pages are neighbours. */
                if (u.needed == 0 || page != last)
                        u.needed++;
                last = page;
        }
        *ret = u;
}

static int attach_errno_to_error(Container *c, unsigned group, int r, IovadError *e) {
        switch (-r) {
        case EPERM:
                return iovad_error(e, IOVAD_E_INTERRUPT_ISOLATION,
                                   "The kernel refused to attach group %u: %s (interrupt isolation or viability)", group,
                                   strerror(-r));
        case EINVAL:
                return iovad_error(e, IOVAD_E_RESERVED_CONFLICT,
                                   "The kernel refused to attach group %u to '%s': its reserved regions or aperture "
                                   "conflict with existing DMA mappings",
                                   group, c->name);
        case EBUSY:
                return iovad_error(e, IOVAD_E_BUSY, "Group %u is in use elsewhere: %s", group, strerror(-r));
        case ENOENT:
        case ENODEV:
                return iovad_error(e, IOVAD_E_NO_SUCH_GROUP, "Group %u: %s", group, strerror(-r));
        default:
                return iovad_error(e, IOVAD_E_KERNEL, "Attaching group %u failed: %s", group, strerror(-r));
        }
}

int container_attach(Container *c, const SysfsPlatform *p, const SysfsGroup *g, IovadError *e) {
        _cleanup_free_ AttachConflict *cf = NULL;
        unsigned *groups;
        ssize_t n;
        int r;

        n = container_check_attach(c, p, g, &cf, e);
        if (n < 0)
                return (int) n;
        if (n > 0)
                return container_conflicts_error(c, g->id, cf, (size_t) n, e);
        groups = reallocarray(c->groups, c->n_groups + 1, sizeof(unsigned));
        if (!groups)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        c->groups = groups;

        r = c->backend->ops->attach_group(c->kernel, g->id);
        if (r < 0)
                return attach_errno_to_error(c, g->id, r, e);
        c->groups[c->n_groups++] = g->id;

        r = container_refresh(c, p, e);
        if (r < 0) {
                /* Put things back as they were. */
                c->n_groups--;
                (void) c->backend->ops->detach_group(c->kernel, g->id);
                (void) container_refresh(c, p, NULL);
                return r;
        }
        return 0;
}

int container_detach(Container *c, const SysfsPlatform *p, unsigned group, IovadError *e) {
        size_t i;
        int r;

        for (i = 0; i < c->n_groups; i++)
                if (c->groups[i] == group)
                        break;
        if (i == c->n_groups)
                return iovad_error(e, IOVAD_E_NOT_ATTACHED, "Group %u is not attached to '%s'", group, c->name);
        /* The kernel tears the IOMMU domain down with its last group, mappings and all. */
        if (c->n_groups == 1 && c->n_leases > 0)
                return iovad_error(e, IOVAD_E_BUSY,
                                   "Group %u is the last group of '%s', which still has %zu lease%s: release them first",
                                   group, c->name, c->n_leases, c->n_leases == 1 ? "" : "s");

        r = c->backend->ops->detach_group(c->kernel, group);
        if (r == -EBUSY)
                return iovad_error(e, IOVAD_E_BUSY, "Group %u of '%s' is busy (a device of it is still open)", group,
                                   c->name);
        if (r < 0)
                return iovad_error(e, IOVAD_E_KERNEL, "Detaching group %u failed: %s", group, strerror(-r));
        memmove(c->groups + i, c->groups + i + 1, (c->n_groups - i - 1) * sizeof(unsigned));
        c->n_groups--;
        r = container_refresh(c, p, e);
        if (r < 0)
                log_warning("Container '%s' after detaching group %u: %s", c->name, group, e ? e->message : "");
        return 0;
}

static int check_memfd(int fd, uint64_t offset, uint64_t size, bool writable, IovadError *e) {
        char link[64], target[PATH_MAX];
        struct stat st;
        ssize_t n;
        int seals;

        /* A memfd shows as "/memfd:NAME (deleted)" in /proc. */
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return iovad_error(e, IOVAD_E_BAD_MEMORY, "The file descriptor is not a memfd");
        target[n] = 0;
        if (strncmp(target, "/memfd:", 7) != 0)
                return iovad_error(e, IOVAD_E_BAD_MEMORY, "The file descriptor is not a memfd (it is %s)",
                                   target);
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
                return iovad_error(e, IOVAD_E_BAD_MEMORY,
                                   "The memfd is not sealed with F_SEAL_SHRINK: pages under DMA could vanish "
                                   "(create it with MFD_ALLOW_SEALING and add the seal)");
        if (writable && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
                return iovad_error(e, IOVAD_E_BAD_MEMORY,
                                   "The memfd is sealed against writing: ask for a readonly mapping");
        if (offset > (uint64_t) st.st_size || size > (uint64_t) st.st_size - offset)
                return iovad_error(e, IOVAD_E_BAD_MEMORY,
                                   "The memfd is too short: %jd bytes, but offset 0x%" PRIx64 " + size 0x%" PRIx64
                                   " were asked for",
                                   (intmax_t) st.st_size, offset, size);
        return 0;
}

static int check_options(Container *c, uint64_t size, const LeaseOptions *o, IovadError *e) {
        uint64_t page = iova_page_size(c->alloc), last;

        if (size == 0 || size % page != 0)
                return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                   "Size 0x%" PRIx64 " is not a positive multiple of the page size 0x%" PRIx64, size,
                                   page);
        if (o->has_alignment &&
            (!is_pow2_u64(o->alignment) || o->alignment < page || o->alignment > LEASE_MAX_ALIGNMENT))
                return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                   "Alignment 0x%" PRIx64 " is not a power of two from the page size 0x%" PRIx64
                                   " up to 1 GiB",
                                   o->alignment, page);
        if (o->limit < size - 1)
                return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                   "Limit 0x%" PRIx64 " is below the size 0x%" PRIx64, o->limit, size);
        if (o->fixed) {
                if (o->iova % page != 0 || (o->alignment && o->iova % o->alignment != 0))
                        return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                           "IOVA 0x%" PRIx64 " is not aligned to 0x%" PRIx64, o->iova,
                                           o->alignment > page ? o->alignment : page);
                if (!range_last(o->iova, size, &last))
                        return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                           "IOVA 0x%" PRIx64 " + size 0x%" PRIx64 " overflows 64 bits", o->iova, size);
                if (o->iova < c->aperture.start || last > c->aperture.end)
                        return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                           "IOVA range 0x%" PRIx64 "-0x%" PRIx64 " is outside the aperture 0x%" PRIx64
                                           "-0x%" PRIx64,
                                           o->iova, last, c->aperture.start, c->aperture.end);
                if (last > o->limit)
                        return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                           "IOVA range 0x%" PRIx64 "-0x%" PRIx64 " crosses the limit 0x%" PRIx64,
                                           o->iova, last, o->limit);
        }
        return 0;
}

static int check_quota(Container *c, uid_t owner, uint64_t size, bool mapped, IovadError *e) {
        const Config *cfg = c->config;
        QuotaUse *q;

        if (owner == 0)
                return 0; /* root is not limited, as with disk quotas */
        q = quota_get(c, owner, false);
        QuotaUse use = q ? *q : (QuotaUse) { .uid = owner };
        if (use.leases >= cfg->max_leases)
                return iovad_error(e, IOVAD_E_QUOTA_EXCEEDED,
                                   "uid %u has %" PRIu32 " leases in '%s', the most allowed", (unsigned) owner,
                                   use.leases, c->name);
        if (mapped && use.dma_entries >= cfg->max_dma_entries)
                return iovad_error(e, IOVAD_E_QUOTA_EXCEEDED,
                                   "uid %u has %" PRIu32 " DMA mappings in '%s', the most allowed", (unsigned) owner,
                                   use.dma_entries, c->name);
        if (mapped && (size > cfg->max_mapped_bytes || use.mapped_bytes > cfg->max_mapped_bytes - size))
                return iovad_error(e, IOVAD_E_QUOTA_EXCEEDED,
                                   "uid %u would have %" PRIu64 " bytes mapped in '%s', over the quota of %" PRIu64,
                                   (unsigned) owner, use.mapped_bytes + size, c->name, cfg->max_mapped_bytes);
        return 0;
}

static int fixed_conflict(Container *c, uint64_t iova, uint64_t size, IovadError *e) {
        uint64_t last = iova + (size - 1);
        ssize_t i = region_list_find_overlap(&c->regions, iova, last, false);

        if (i >= 0) {
                const Region *r = &c->regions.items[i];
                return iovad_error(e, IOVAD_E_RESERVED_CONFLICT,
                                   "IOVA range 0x%" PRIx64 "-0x%" PRIx64 " overlaps the %s region 0x%" PRIx64
                                   "-0x%" PRIx64 " (%s)",
                                   iova, last, region_type_to_string(r->type), r->start, r->end, r->origin);
        }
        for (Lease *l = c->leases; l; l = l->c_next)
                if (l->iova <= last && iova <= l->iova + (l->size - 1))
                        return iovad_error(e, IOVAD_E_RESERVED_CONFLICT,
                                           "IOVA range 0x%" PRIx64 "-0x%" PRIx64 " overlaps lease %" PRIu64
                                           " (0x%" PRIx64 "+0x%" PRIx64 ")",
                                           iova, last, l->id, l->iova, l->size);
        return iovad_error(e, IOVAD_E_RESERVED_CONFLICT,
                           "IOVA range 0x%" PRIx64 "-0x%" PRIx64 " is not in a usable range", iova, last);
}

static int map_errno_to_error(int r, IovadError *e) {
        switch (-r) {
        case ENOSPC:
                return iovad_error(e, IOVAD_E_DMA_LIMIT,
                                   "The container has no DMA mapping entries left (dma_entry_limit)");
        case ENOMEM:
                return iovad_error(e, IOVAD_E_KERNEL,
                                   "The kernel could not pin the memory: %s (locked-memory limit?)", strerror(-r));
        default:
                return iovad_error(e, IOVAD_E_KERNEL, "VFIO_IOMMU_MAP_DMA failed: %s", strerror(-r));
        }
}

/* Takes over the kernel's mapping of a lease being restored into an adopted container. */
static int adopt_mapping(Container *c, uint64_t iova, uint64_t size, void *vaddr, bool writable, IovadError *e) {
        BackendAdoption how;
        int r;

        r = backend_adopt_dma(c->kernel, c->backend->ops, iova, size, vaddr, writable, &how);
        if (r == -EINVAL)
                return iovad_error(e, IOVAD_E_KERNEL,
                                   "The kernel's mappings of container '%s' cross the edges of 0x%" PRIx64 "+0x%" PRIx64
                                   ": they are not what iovad made there",
                                   c->name, iova, size);
        if (r < 0)
                return map_errno_to_error(r, e);
        c->adopted[how]++;
        if (how == BACKEND_MAPPED_AGAIN)
                log_warning("Container '%s' had nothing mapped at 0x%" PRIx64 "+0x%" PRIx64 ": mapped it again",
                            c->name, iova, size);
        else if (how == BACKEND_REPLACED)
                log_warning("Container '%s' had other mappings at 0x%" PRIx64 "+0x%" PRIx64
                            " than iovad's record: replaced them with the lease's memory",
                            c->name, iova, size);
        return 0;
}

/*
 * Fills the page tables of @len bytes at @addr, a fresh MAP_SHARED mapping
 * of a memfd, before MAP_DMA pins them: pinning takes a write fault for
 * every page not mapped yet, where these read faults let shmem map the
 * page cache's neighbouring pages with each (fault-around, 16 pages), and
 * a shared mapping's read fault maps a page writable when the mapping is.
 * It is only a head start: when it fails (EINVAL before Linux 5.14, no
 * memory, a signal) MAP_DMA pins what is left as before and names any
 * error for its lease, so the caller carries on. Returns 0 or -errno.
 */
static int populate_read(void *addr, uint64_t len) {
        if (madvise(addr, len, MADV_POPULATE_READ) < 0)
                return -errno;
        return 0;
}

int container_lease_new(Container *c, uid_t owner, uint64_t size, const LeaseOptions *o, int memfd, uint64_t offset,
                        Lease **ret, IovadError *e) {
        _cleanup_close_ int fd = memfd;
        bool mapped = memfd >= 0;
        void *vaddr = NULL;
        uint64_t iova;
        QuotaUse *q;
        Lease *l;
        int r;

        if (!c->alloc)
                return iovad_error(e, IOVAD_E_NOT_ATTACHED,
                                   "Container '%s' has no group attached: its IOVA space exists once one is", c->name);
        if (c->faulted)
                return iovad_error(e, IOVAD_E_KERNEL,
                                   "Container '%s' takes no new leases: the kernel failed to unmap one of its leases",
                                   c->name);
        r = check_options(c, size, o, e);
        if (r < 0)
                return r;
        if (mapped) {
                if (offset % iova_page_size(c->alloc) != 0)
                        return iovad_error(e, IOVAD_E_BAD_MEMORY, "Offset 0x%" PRIx64 " into the memfd is not page aligned", offset);
                r = check_memfd(fd, offset, size, !o->readonly, e);
                if (r < 0)
                        return r;
        }
        r = check_quota(c, owner, size, mapped, e);
        if (r < 0)
                return r;
        /* An adopted container's count already has the mappings being taken over. */
        if (mapped && c->dma_avail == 0 && !c->adopting)
                return iovad_error(e, IOVAD_E_DMA_LIMIT,
                                   "Container '%s' has no DMA mapping entries left (dma_entry_limit)", c->name);
        /* Make sure the quota slot exists before anything changes, so nothing fails after. */
        if (!quota_get(c, owner, true) || !(l = calloc(1, sizeof(Lease))))
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");

        if (o->fixed) {
                iova = o->iova;
                r = iova_reserve(c->alloc, iova, size);
                if (r == -EBUSY)
                        r = fixed_conflict(c, iova, size, e);
                else if (r < 0)
                        r = iovad_error_errno_(e, r, "Cannot reserve the fixed IOVA");
        } else {
                r = iova_alloc(c->alloc, size, o->has_alignment ? o->alignment : 0, o->limit, &iova);
                if (r == -ENOSPC)
                        r = iovad_error(e, IOVAD_E_NO_SPACE, "No usable IOVA range of '%s' fits 0x%" PRIx64 " bytes%s",
                                        c->name, size, o->limit != UINT64_MAX ? " below the limit" : "");
                else if (r < 0)
                        r = iovad_error_errno_(e, r, "Cannot allocate IOVA space");
        }
        if (r < 0) {
                free(l);
                return r;
        }

        if (mapped) {
                vaddr = mmap(NULL, size, PROT_READ | (o->readonly ? 0 : PROT_WRITE), MAP_SHARED, fd, (off_t) offset);
                if (vaddr == MAP_FAILED) {
                        r = iovad_error(e, IOVAD_E_BAD_MEMORY, "Cannot map the memfd: %m");
                        goto fail;
                }
                if (c->adopting)
                        r = adopt_mapping(c, iova, size, vaddr, !o->readonly, e);
                else {
                        (void) populate_read(vaddr, size); /* a head start only: MAP_DMA names any error */
                        r = c->backend->ops->map_dma(c->kernel, iova, size, vaddr, !o->readonly);
                        if (r < 0)
                                r = map_errno_to_error(r, e);
                }
                if (r < 0)
                        goto fail;
                if (!c->adopting)
                        c->dma_avail--;
        }

        *l = (Lease) {
                .container = c,
                .iova = iova,
                .size = size,
                .owner = owner,
                .persistent = o->persistent,
                .mapped = mapped,
                .writable = !o->readonly,
                .memfd = mapped ? TAKE_FD(fd) : -1,
                .vaddr = mapped ? vaddr : NULL,
                .offset = offset,
        };
        lease_link(c, l);
        q = quota_get(c, owner, false);
        q->leases++;
        if (mapped) {
                q->dma_entries++;
                q->mapped_bytes += size;
        }
        *ret = l;
        return 0;

fail:
        if (vaddr && vaddr != MAP_FAILED)
                (void) munmap(vaddr, size);
        (void) iova_release(c->alloc, iova, size);
        free(l);
        return r;
}

/* The quotas of @owner with @n more mapped leases of @bytes in all. */
static int check_quota_n(Container *c, uid_t owner, size_t n, uint64_t bytes, IovadError *e) {
        const Config *cfg = c->config;
        QuotaUse *q;

        if (owner == 0)
                return 0;
        q = quota_get(c, owner, false);
        QuotaUse use = q ? *q : (QuotaUse) { .uid = owner };
        if (n > cfg->max_leases || use.leases > cfg->max_leases - n)
                return iovad_error(e, IOVAD_E_QUOTA_EXCEEDED,
                                   "uid %u has %" PRIu32 " leases in '%s': %zu more would pass the most allowed, %" PRIu32,
                                   (unsigned) owner, use.leases, c->name, n, cfg->max_leases);
        if (n > cfg->max_dma_entries || use.dma_entries > cfg->max_dma_entries - n)
                return iovad_error(e, IOVAD_E_QUOTA_EXCEEDED,
                                   "uid %u has %" PRIu32 " DMA mappings in '%s': %zu more would pass the most allowed, %" PRIu32,
                                   (unsigned) owner, use.dma_entries, c->name, n, cfg->max_dma_entries);
        if (bytes > cfg->max_mapped_bytes || use.mapped_bytes > cfg->max_mapped_bytes - bytes)
                return iovad_error(e, IOVAD_E_QUOTA_EXCEEDED,
                                   "uid %u would have 0x%" PRIx64 " more bytes mapped in '%s', over the quota of %" PRIu64,
                                   (unsigned) owner, bytes, c->name, cfg->max_mapped_bytes);
        return 0;
}

/* Prefixes @e's message with the piece it is about. Returns @r. */
static int piece_error(IovadError *e, int r, size_t i, const LeasePiece *p) {
        char msg[sizeof(e->message)];

        if (!e)
                return r;
        memcpy(msg, e->message, sizeof(msg));
        (void) iovad_error(e, e->code, "Piece %zu (offset 0x%" PRIx64 ", size 0x%" PRIx64 "): %s", i, p->offset,
                           p->size, msg);
        return r;
}

/*
 * Duplicates @memfd (of @st) and maps the span of @pieces in it once, for
 * a batch: the mapping has no holders yet. A hugetlb memfd's span is
 * rounded up to its page (st_blksize), as the kernel maps it, so that
 * munmap() takes it whole; its size is a multiple of that page, so the
 * span stays inside it. TOO_MANY_FILES or KERNEL for the duplicate (named
 * for piece 0), BAD_MEMORY naming the piece the span starts at, NO_MEMORY.
 */
static int batch_mapping_new(int memfd, const struct stat *st, const LeasePiece *pieces, size_t n, bool readonly,
                             LeaseMapping **ret, ssize_t *ret_failed, IovadError *e) {
        uint64_t lo = UINT64_MAX, hi = 0, grain, length;
        _cleanup_free_ LeaseMapping *mp = NULL;
        _cleanup_close_ int fd = -1;
        size_t first = 0;
        void *base;

        for (size_t i = 0; i < n; i++) {
                if (pieces[i].offset < lo) {
                        lo = pieces[i].offset;
                        first = i;
                }
                /* Checked against the memfd's size: no overflow. */
                if (pieces[i].offset + pieces[i].size > hi)
                        hi = pieces[i].offset + pieces[i].size;
        }
        grain = st->st_blksize > 0 && is_pow2_u64((uint64_t) st->st_blksize) ? (uint64_t) st->st_blksize : 1;
        length = hi - lo;
        if (length % grain != 0)
                length += grain - length % grain;
        mp = malloc(sizeof(LeaseMapping));
        if (!mp) {
                *ret_failed = 0;
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        }
        fd = fcntl(memfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
                *ret_failed = 0;
                return iovad_error(e, errno == EMFILE || errno == ENFILE ? IOVAD_E_TOO_MANY_FILES : IOVAD_E_KERNEL,
                                   "Cannot duplicate the memfd: %m");
        }
        base = mmap(NULL, length, PROT_READ | (readonly ? 0 : PROT_WRITE), MAP_SHARED, fd, (off_t) lo);
        if (base == MAP_FAILED) {
                *ret_failed = (ssize_t) first;
                return iovad_error(e, IOVAD_E_BAD_MEMORY, "Cannot map the memfd: %m");
        }
        *mp = (LeaseMapping) { .memfd = TAKE_FD(fd), .base = base, .length = length, .offset = lo };
        *ret = TAKE_PTR(mp);
        return 0;
}

int container_lease_batch(Container *c, uid_t owner, const LeaseOptions *o, int memfd, const LeasePiece *pieces,
                          size_t n, Lease **ret, ssize_t *ret_failed, IovadError *e) {
        _cleanup_free_ bool *taken = NULL;
        LeaseMapping *mp = NULL;
        bool kept = false;
        uint64_t page, bytes = 0;
        size_t mapped = 0;
        ssize_t failed = -1;
        struct stat st;
        int r;

        *ret_failed = -1;
        if (!c->alloc)
                return iovad_error(e, IOVAD_E_NOT_ATTACHED,
                                   "Container '%s' has no group attached: its IOVA space exists once one is", c->name);
        if (c->faulted)
                return iovad_error(e, IOVAD_E_KERNEL,
                                   "Container '%s' takes no new leases: the kernel failed to unmap one of its leases",
                                   c->name);
        if (n == 0 || n > LEASE_BATCH_MAX)
                return iovad_error(e, IOVAD_E_INVALID_ARGS, "A batch holds 1 to %u pieces, not %zu", LEASE_BATCH_MAX, n);
        if (o->fixed)
                return iovad_error(e, IOVAD_E_INVALID_ARGS, "A batch gives each piece its IOVA, not one for all");
        /* The memfd once (a memfd, sealed, writable if asked), each piece's bounds against its size below. */
        r = check_memfd(memfd, 0, 0, !o->readonly, e);
        if (r < 0)
                return r;
        if (fstat(memfd, &st) < 0)
                return iovad_error(e, IOVAD_E_BAD_MEMORY, "Cannot read the memfd's size: %m");

        page = iova_page_size(c->alloc);
        for (size_t i = 0; i < n; i++) {
                const LeasePiece *p = &pieces[i];
                LeaseOptions po = *o;

                if (p->iova != LEASE_IOVA_AUTO) {
                        po.fixed = true;
                        po.iova = p->iova;
                }
                r = check_options(c, p->size, &po, e);
                if (r >= 0 && p->offset % page != 0)
                        r = iovad_error(e, IOVAD_E_BAD_MEMORY, "Offset 0x%" PRIx64 " into the memfd is not page aligned",
                                        p->offset);
                /*
                 * A hugetlb memfd maps only from its own page boundaries: the
                 * batch's one mapping would take such a piece, but a restart
                 * maps each lease on its own, as MapMemory does, and could not.
                 */
                if (r >= 0 && st.st_blksize > 0 && p->offset % (uint64_t) st.st_blksize != 0)
                        r = iovad_error(e, IOVAD_E_BAD_MEMORY,
                                        "Offset 0x%" PRIx64 " into the memfd is not aligned to its pages of 0x%jx bytes",
                                        p->offset, (intmax_t) st.st_blksize);
                if (r >= 0 && (p->offset > (uint64_t) st.st_size || p->size > (uint64_t) st.st_size - p->offset))
                        r = iovad_error(e, IOVAD_E_BAD_MEMORY,
                                        "The memfd is too short: %jd bytes, but offset 0x%" PRIx64 " + size 0x%" PRIx64
                                        " were asked for",
                                        (intmax_t) st.st_size, p->offset, p->size);
                if (r >= 0 && p->size > UINT64_MAX - bytes)
                        r = iovad_error(e, IOVAD_E_INVALID_ARGS, "The pieces' sizes add up past 64 bits");
                if (r < 0) {
                        *ret_failed = (ssize_t) i;
                        return piece_error(e, r, i, p);
                }
                bytes += p->size;
        }
        /* The whole batch against the quotas and the kernel's DMA entries, before any of it is mapped. */
        r = check_quota_n(c, owner, n, bytes, e);
        if (r < 0)
                return r;
        if (c->dma_avail < n)
                return iovad_error(e, IOVAD_E_DMA_LIMIT,
                                   "Container '%s' has %" PRIu32 " DMA mapping entries left (dma_entry_limit), "
                                   "fewer than the batch's %zu pieces",
                                   c->name, c->dma_avail, n);
        if (!quota_get(c, owner, true))
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        for (size_t i = 0; i < n; i++) {
                ret[i] = calloc(1, sizeof(Lease));
                if (!ret[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(ret[k]);
                        return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
                }
                ret[i]->memfd = -1;
        }

        /*
         * IOVA space for every piece, the fixed ones first so that no
         * chosen one takes their place: a fixed one in a hole, on a lease
         * or on another piece fails here, before anything is mapped.
         */
        taken = calloc(n, sizeof(bool));
        if (!taken) {
                r = iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
                failed = 0;
                goto fail;
        }
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        const LeasePiece *p = &pieces[i];
                        uint64_t iova;

                        if ((p->iova != LEASE_IOVA_AUTO) != (pass == 0))
                                continue;
                        if (p->iova != LEASE_IOVA_AUTO) {
                                iova = p->iova;
                                r = iova_reserve(c->alloc, iova, p->size);
                                if (r == -EBUSY) {
                                        r = 0;
                                        for (size_t k = 0; r == 0 && k < n; k++)
                                                if (taken[k] && ret[k]->iova <= iova + (p->size - 1) &&
                                                    iova <= ret[k]->iova + (pieces[k].size - 1))
                                                        r = iovad_error(e, IOVAD_E_RESERVED_CONFLICT,
                                                                        "IOVA range 0x%" PRIx64 "-0x%" PRIx64
                                                                        " overlaps piece %zu of the batch",
                                                                        iova, iova + (p->size - 1), k);
                                        if (r == 0)
                                                r = fixed_conflict(c, iova, p->size, e);
                                } else if (r < 0)
                                        r = iovad_error_errno_(e, r, "Cannot reserve the fixed IOVA");
                        } else {
                                r = iova_alloc(c->alloc, p->size, o->has_alignment ? o->alignment : 0, o->limit, &iova);
                                if (r == -ENOSPC)
                                        r = iovad_error(e, IOVAD_E_NO_SPACE,
                                                        "No usable IOVA range of '%s' fits 0x%" PRIx64 " bytes%s",
                                                        c->name, p->size, o->limit != UINT64_MAX ? " below the limit" : "");
                                else if (r < 0)
                                        r = iovad_error_errno_(e, r, "Cannot allocate IOVA space");
                        }
                        if (r < 0) {
                                failed = (ssize_t) i;
                                goto fail;
                        }
                        ret[i]->iova = iova;
                        taken[i] = true;
                }

        /*
         * One duplicate of the memfd and one mapping of the span of all
         * pieces in it, shared by the leases: a dup(), mmap() and close()
         * per piece cost system calls and a VMA each, and pieces that lie
         * next to each other in the memfd are one range of page tables
         * to fill. The span may have gaps; they take address space only,
         * nothing touches them. A duplicate of its own per lease would
         * change nothing for the fd store either: it is the same open
         * file, and each lease's name is pushed with it.
         */
        r = batch_mapping_new(memfd, &st, pieces, n, o->readonly, &mp, &failed, e);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                ret[i]->vaddr = (uint8_t *) mp->base + (pieces[i].offset - mp->offset);
                ret[i]->mapping = mp;
                ret[i]->memfd = mp->memfd;
        }
        mp->refs = (unsigned) n;
        /* The pieces' pages only, not the gaps between them, a run of adjacent or overlapping ones at a time. */
        for (size_t i = 0, k; i < n; i = k) {
                uint64_t start = pieces[i].offset, end = start + pieces[i].size;

                for (k = i + 1; k < n && pieces[k].offset <= end && pieces[k].offset + pieces[k].size >= start; k++) {
                        start = MIN(start, pieces[k].offset);
                        end = MAX(end, pieces[k].offset + pieces[k].size);
                }
                if (populate_read((uint8_t *) mp->base + (start - mp->offset), end - start) < 0)
                        break;
        }

        for (; mapped < n; mapped++) {
                const LeasePiece *p = &pieces[mapped];
                Lease *l = ret[mapped];

                r = c->backend->ops->map_dma(c->kernel, l->iova, p->size, l->vaddr, !o->readonly);
                if (r < 0) {
                        r = map_errno_to_error(r, e);
                        failed = (ssize_t) mapped;
                        goto fail;
                }
        }

        for (size_t i = 0; i < n; i++) {
                Lease *l = ret[i];
                QuotaUse *q = quota_get(c, owner, false);

                *l = (Lease) {
                        .container = c,
                        .iova = l->iova,
                        .size = pieces[i].size,
                        .owner = owner,
                        .persistent = o->persistent,
                        .mapped = true,
                        .writable = !o->readonly,
                        .memfd = l->memfd,
                        .vaddr = l->vaddr,
                        .mapping = l->mapping,
                        .offset = pieces[i].offset,
                };
                lease_link(c, l);
                q->leases++;
                q->dma_entries++;
                q->mapped_bytes += l->size;
                c->dma_avail--;
        }
        return 0;

fail:
        piece_error(e, r, (size_t) failed, &pieces[failed]);
        *ret_failed = failed;
        for (size_t i = 0; i < n; i++) {
                Lease *l = ret[i];
                bool keep = false;

                if (i < mapped) {
                        uint64_t unmapped = 0;
                        int k = c->backend->ops->unmap_dma(c->kernel, l->iova, pieces[i].size, &unmapped);
                        if (k < 0 || unmapped != pieces[i].size) {
                                /*
                                 * The kernel keeps pages of it pinned: its range stays out of the
                                 * allocator and its memory mapped until the container goes.
                                 */
                                log_error("Container '%s': undoing piece %zu of a batch, VFIO_IOMMU_UNMAP_DMA of "
                                          "0x%" PRIx64 "+0x%" PRIx64 " failed: no new leases",
                                          c->name, i, l->iova, pieces[i].size);
                                c->faulted = true;
                                keep = true;
                        }
                }
                if (keep) {
                        /* Its hold on the mapping (and its memfd) goes to the container, once per mapping. */
                        if (!kept) {
                                l->mapping->kept_next = c->kept_mappings;
                                c->kept_mappings = l->mapping;
                                kept = true;
                        } else
                                l->mapping->refs--;
                } else {
                        lease_mapping_unref(l->mapping);
                        if (taken && taken[i])
                                (void) iova_release(c->alloc, l->iova, pieces[i].size);
                }
                free(l);
                ret[i] = NULL;
        }
        return r;
}

int container_memfd_new(Container *c, uint64_t size, bool hugepages, int *ret_fd, IovadError *e) {
        _cleanup_close_ int fd = -1;

        if (size == 0 || (c->alloc && size % iova_page_size(c->alloc) != 0))
                return iovad_error(e, IOVAD_E_INVALID_ARGS,
                                   "Size 0x%" PRIx64 " is not a positive multiple of the page size", size);
        fd = memfd_create("iovad-lease", MFD_CLOEXEC | MFD_ALLOW_SEALING | (hugepages ? MFD_HUGETLB : 0));
        if (fd < 0)
                return iovad_error(e,
                                   errno == ENOMEM                     ? IOVAD_E_NO_MEMORY
                                   : errno == EMFILE || errno == ENFILE ? IOVAD_E_TOO_MANY_FILES
                                                                        : IOVAD_E_KERNEL,
                                   "Cannot create a memfd: %m");
        if (ftruncate(fd, (off_t) size) < 0)
                return iovad_error(e, IOVAD_E_KERNEL, "Cannot size the memfd to 0x%" PRIx64 ": %m", size);
        /* The client may write the memory but never take pages away from under DMA. */
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                return iovad_error(e, IOVAD_E_KERNEL, "Cannot seal the memfd: %m");
        *ret_fd = TAKE_FD(fd);
        return 0;
}
