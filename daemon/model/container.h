/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Containers and their leases as IOVA space: one IOMMU domain, its attached
 * groups, the union of their reserved regions, the usable ranges left, an
 * IOVA allocator over them, DMA mappings and per-uid quotas. No D-Bus, no
 * lease table, no persistence: the manager (manager.h) gives leases their
 * ids and owners and writes them down; this module takes only what it
 * needs (the backend, the configuration, the platform as sysfs shows it).
 *
 * Every mutating function either succeeds completely or changes nothing,
 * and says why in an IovadError.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "persist/conf.h"
#include "model/error.h"
#include "iommu/iova-alloc.h"
#include "iommu/region.h"
#include "platform/sysfs.h"

typedef struct Container Container;
typedef struct Client Client;
typedef struct Lease Lease;

/*
 * iovad's one mapping of a span of a memfd and its one duplicate of the
 * memfd, shared by the leases of one batch (container_lease_batch()):
 * each points into it, and it goes with the last of them.
 */
typedef struct LeaseMapping {
        int memfd;
        void *base;
        uint64_t length;      /* as mapped: a hugetlb memfd's rounded up to its page */
        uint64_t offset;      /* of base, into the memfd */
        unsigned refs;        /* the leases pointing into it */
        struct LeaseMapping *kept_next; /* on the container's kept list (undo of a batch kept pages pinned) */
} LeaseMapping;

struct Lease {
        uint64_t id;          /* the manager's; 0 until it gives one */
        Container *container;
        Client *client;       /* the manager's: the bus connection it belongs to, NULL when persistent */
        uint64_t iova;
        uint64_t size;
        uid_t owner;
        bool persistent;
        bool mapped;
        bool writable;
        bool stuck;           /* the kernel failed to unmap it: its range stays taken */
        int memfd;            /* mapped leases: the memory (a batch's lease: its mapping's, not its own), else -1 */
        void *vaddr;          /* mapped leases: iovad's mapping of it */
        LeaseMapping *mapping; /* a batch's lease: the mapping vaddr points into; NULL: vaddr is its own */
        uint64_t offset;      /* into memfd */

        Lease *hash_next;                  /* the manager's id table */
        Lease *c_prev, *c_next;            /* the container's leases */
        Lease *cl_prev, *cl_next;          /* the manager's: the client's leases */
};

/* Per-uid use of one container, for quotas. */
typedef struct QuotaUse {
        uid_t uid;
        uint32_t leases;
        uint32_t dma_entries;
        uint64_t mapped_bytes;
} QuotaUse;

struct Container {
        char *name;
        Backend *backend;      /* not owned */
        const Config *config;  /* not owned: quotas and policy reservations */

        uid_t *users;          /* sorted, unique */
        size_t n_users;

        unsigned *groups;      /* attach order */
        size_t n_groups;

        BackendContainer *kernel;
        Range aperture;        /* valid while n_groups > 0 */
        uint64_t page_sizes;
        uint32_t dma_avail;
        RegionList regions;    /* every attached group's, plus policy */
        RangeList usable;
        IovaAllocator *alloc;  /* NULL while no group is attached */
        bool faulted;          /* the kernel misbehaved on an unmap: no new leases */
        /*
         * Adopted from the fd store and being restored: mapped leases take
         * over the kernel's mappings (backend_adopt_dma()) instead of
         * mapping; adopted[] counts the outcomes (BackendAdoption).
         */
        bool adopting;
        unsigned adopted[3];
        /*
         * Left to the next iovad: container_free() then unmaps and detaches
         * nothing, and only closes its fds (systemd's fd store has copies).
         */
        bool kept;
        bool reserve_peer_windows; /* the groups' peer-to-peer windows are holes (origin "p2p"), from creation on */

        Lease *leases;
        size_t n_leases;
        /*
         * Mappings of batches whose undo could not unmap a piece: the
         * kernel keeps pages of them pinned, so they stay mapped until
         * the container (and with it the kernel's mappings) goes.
         */
        LeaseMapping *kept_mappings;
        QuotaUse *quota;
        size_t n_quota;
};

/* One option set for Lease / MapMemory / AllocateMapped. */
typedef struct LeaseOptions {
        bool has_alignment;    /* else the smallest page size */
        uint64_t alignment;
        uint64_t limit;        /* UINT64_MAX: none */
        bool fixed;
        uint64_t iova;
        bool persistent;
        bool readonly;
        bool hugepages;
} LeaseOptions;

#define LEASE_OPTIONS_INIT { .limit = UINT64_MAX }

/* A conflict found by container_check_attach(). */
typedef struct AttachConflict {
        uint64_t start, end;
        RegionType type;
        Lease *lease;
} AttachConflict;

/*
 * How full the container's software MSI window would get (docs/profiles.md,
 * "MSI window sizing"): behind an SMMU the kernel maps one page per
 * distinct MSI doorbell page the domain's devices target into the window,
 * upwards from its start and without a bound, so that past its end MSI
 * pages land on IOVAs leases may use.
 */
typedef struct MsiWindowUse {
        bool has_window;       /* false: no software MSI window (x86, or MSIs not translated) */
        Range window;
        uint64_t granule;      /* the page the kernel maps per doorbell */
        uint32_t needed;       /* doorbell pages the devices may need */
        uint32_t capacity;     /* pages the window holds */
        MsiSource source;      /* where the doorbells came from; MSI_SOURCE_NONE: unknown, one page counted */
} MsiWindowUse;

/*
 * The MSI window's use by the groups attached to @c, and @extra (may be
 * NULL) as if it were attached too. Never fails.
 */
void container_msi_window(const Container *c, const SysfsPlatform *p, const SysfsGroup *extra, MsiWindowUse *ret);

/* Largest alignment a lease may ask for. */
#define LEASE_MAX_ALIGNMENT (1ULL << 30)

/* INVALID_ARGS for a bad name or no users, KERNEL when the backend has no container for us. */
int container_new(Backend *b, const Config *config, const char *name, const uid_t *users, size_t n_users,
                  Container **ret, IovadError *e);
/**
 * container_adopt() - a container around @kernel, a container a previous
 * iovad made (backend container_adopt()), with @groups attached, its
 * picture of the IOVA space read from the kernel (with the groups' peer
 * windows as holes when @reserve_peer_windows). Takes @kernel over (on
 * failure too). Marked adopting: the caller restores its leases, then
 * ends that. The errors of container_new() and container_refresh().
 */
int container_adopt(Backend *b, const Config *config, const char *name, const uid_t *users, size_t n_users,
                    bool reserve_peer_windows, BackendContainer *kernel, const unsigned *groups, size_t n_groups,
                    const SysfsPlatform *p, Container **ret, IovadError *e);
/*
 * Unmaps and frees every lease left (their owners are the caller's
 * business), detaches every group, frees. The kernel drops whatever an
 * unmap left behind when the container goes.
 */
Container *container_free(Container *c);

bool container_name_valid(const char *name);
bool container_has_user(const Container *c, uid_t uid);
bool container_has_group(const Container *c, unsigned group);

/**
 * container_check_attach() - what attaching @g would conflict with.
 * Returns the number of conflicts and an array of them in *@ret (NULL when
 * there are none). EXISTS: already attached here; NOT_VIABLE or
 * INTERRUPT_ISOLATION: the kernel would refuse it. Whether another
 * container holds the group is the manager's question.
 */
ssize_t container_check_attach(Container *c, const SysfsPlatform *p, const SysfsGroup *g, AttachConflict **ret,
                               IovadError *e);

/* RESERVED_CONFLICT listing what it hits, the refusals of check_attach, KERNEL. */
int container_attach(Container *c, const SysfsPlatform *p, const SysfsGroup *g, IovadError *e);
/* NOT_ATTACHED when not attached; BUSY when it is the last group and leases live, or the kernel says busy. */
int container_detach(Container *c, const SysfsPlatform *p, unsigned group, IovadError *e);

/**
 * container_lease_new() - reserve IOVA space for @owner, optionally mapping memory.
 * @memfd: -1 for an IOVA-only lease, else a sealed memfd the lease takes
 * over (closed on failure too); @offset into it. The lease is the
 * container's, with id 0 and no client, until the manager takes it.
 * Errors: NOT_ATTACHED, INVALID_ARGS, BAD_MEMORY, QUOTA_EXCEEDED,
 * DMA_LIMIT, NO_SPACE, RESERVED_CONFLICT, KERNEL (also when the container
 * is faulted), NO_MEMORY.
 */
int container_lease_new(Container *c, uid_t owner, uint64_t size, const LeaseOptions *o, int memfd, uint64_t offset,
                        Lease **ret, IovadError *e);

/* One piece of a batch (container_lease_batch()): a range of the memfd and where it goes. */
typedef struct LeasePiece {
        uint64_t offset;       /* into the memfd */
        uint64_t size;
        uint64_t iova;         /* LEASE_IOVA_AUTO: allocated; any other value is fixed (0 included) */
} LeasePiece;

/* No range of a positive size starts here (its end would pass 2^64): "choose one". */
#define LEASE_IOVA_AUTO UINT64_MAX
/* The most pieces one batch may hold (the default dma_entry_limit). */
#define LEASE_BATCH_MAX 65535

/**
 * container_lease_batch() - @n mapped leases of @memfd for @owner, all or none.
 * Every piece is checked first (options @o as for container_lease_new(),
 * with each piece's own fixed or automatic IOVA), then the quotas and the
 * DMA budget for all @n at once, then IOVA space is taken for all of them,
 * and only then is anything mapped; a MAP_DMA that fails unmaps the pieces
 * mapped before it. @memfd stays the caller's. The batch takes one
 * duplicate of it and maps the span of its pieces once (pieces may overlap
 * there); its leases share both (Lease.mapping) and the last one released
 * unmaps and closes them. The pieces' pages are faulted in before the first
 * MAP_DMA where the kernel can (MADV_POPULATE_READ). On success the leases are in @ret[0..@n-1] (the container's,
 * id 0, as from container_lease_new()). On failure nothing changed and
 * *@ret_failed is the index of the piece that failed, named with its
 * offset and size in @e, or -1 when the batch as a whole was refused.
 * Errors: those of container_lease_new(); INVALID_ARGS for no pieces or
 * more than LEASE_BATCH_MAX.
 */
int container_lease_batch(Container *c, uid_t owner, const LeaseOptions *o, int memfd, const LeasePiece *pieces,
                          size_t n, Lease **ret, ssize_t *ret_failed, IovadError *e);

/**
 * container_lease_release() - unmap (if mapped), give the IOVA space back, free.
 * The kernel must say it unmapped exactly the lease's bytes. When it fails
 * or says otherwise the lease stays, marked stuck, its range kept out of
 * the allocator; the container is marked faulted; KERNEL is returned.
 */
int container_lease_release(Container *c, Lease *l, IovadError *e);

/*
 * A memfd of @size bytes for AllocateMapped, sealed so that its pages can
 * never go away from under DMA (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL).
 * INVALID_ARGS for a size that is not a positive multiple of the page
 * size, KERNEL when the memfd cannot be made (no huge pages, no memory).
 */
int container_memfd_new(Container *c, uint64_t size, bool hugepages, int *ret_fd, IovadError *e);

/* Sorted, disjoint ranges of the container's leases, for conflict checks and layouts. */
int container_lease_ranges(const Container *c, Range **ret, Lease ***ret_leases, size_t *ret_n);

/*
 * The regions @g brings into @c: its reserved regions and, when @c
 * reserves peer windows, the MMIO windows its devices' DMA could reach
 * without the IOMMU (p2p.h) as "reserved" with origin "p2p". -ENOMEM.
 */
int container_group_regions(const Container *c, const SysfsPlatform *p, const SysfsGroup *g, RegionList *ret);

/* Recompute regions/usable/allocator and the backend info; keeps leases. */
int container_refresh(Container *c, const SysfsPlatform *p, IovadError *e);

/* Formats "Group 5 cannot be attached ...: ..." for @n conflicts into @e as RESERVED_CONFLICT. */
int container_conflicts_error(const Container *c, unsigned group, const AttachConflict *cf, size_t n, IovadError *e);
