/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Containers and leases: the model behind org.iovad1.Container and
 * org.iovad1.Lease, with no D-Bus in it. A container is one IOMMU domain:
 * its attached groups, the union of their reserved regions, the usable
 * ranges left, an IOVA allocator over them and the leases handed out.
 *
 * Every mutating function either succeeds completely or changes nothing,
 * and says why in an IovadError.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "error.h"
#include "iova-alloc.h"
#include "region.h"

typedef struct Manager Manager;
typedef struct Container Container;
typedef struct Client Client;
typedef struct Lease Lease;

struct Lease {
        uint64_t id;
        Container *container;
        Client *client;       /* NULL when persistent */
        uint64_t iova;
        uint64_t size;
        uid_t owner;
        bool persistent;
        bool mapped;
        bool writable;
        int memfd;            /* mapped leases: the memory, else -1 */
        void *vaddr;          /* mapped leases: iovad's mapping of it */
        uint64_t offset;      /* into memfd */

        Lease *hash_next;                  /* Manager's id table */
        Lease *c_prev, *c_next;            /* Container's leases */
        Lease *cl_prev, *cl_next;          /* Client's leases */
};

/* Per-uid use of one container, for quotas. */
typedef struct QuotaUse {
        uid_t uid;
        uint32_t leases;
        uint32_t dma_entries;
        uint64_t mapped_bytes;
} QuotaUse;

struct Container {
        Manager *manager;
        char *name;
        char *path;

        uid_t *users;
        size_t n_users;

        unsigned *groups;      /* attach order */
        size_t n_groups;

        BackendContainer *backend;
        Range aperture;        /* valid while n_groups > 0 */
        uint64_t page_sizes;
        uint32_t dma_avail;
        RegionList regions;    /* every attached group's, plus policy */
        RangeList usable;
        IovaAllocator *alloc;  /* NULL while no group is attached */

        Lease *leases;
        size_t n_leases;
        QuotaUse *quota;
        size_t n_quota;
};

/* One option set for Lease / MapMemory / AllocateMapped. */
typedef struct LeaseOptions {
        uint64_t alignment;    /* 0: page size */
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

int container_new(Manager *m, const char *name, const uid_t *users, size_t n_users, Container **ret, IovadError *e);
/* Releases every lease (unmapping it), detaches every group, frees. */
Container *container_free(Container *c);

bool container_has_user(const Container *c, uid_t uid);
bool container_has_group(const Container *c, unsigned group);

/**
 * container_check_attach() - what attaching @group would conflict with.
 * Returns the number of conflicts and an array of them in *@ret (may be
 * NULL when there are none). -ENODEV: no such group; -EEXIST: already
 * attached here; -EBUSY: attached to another container.
 */
ssize_t container_check_attach(Container *c, unsigned group, AttachConflict **ret, IovadError *e);

/* -EADDRINUSE (ReservedConflict) listing what it hits; -EPERM for isolation or viability. */
int container_attach(Container *c, unsigned group, IovadError *e);
/* -ENXIO when not attached; -EBUSY when it is the last group and leases live. */
int container_detach(Container *c, unsigned group, IovadError *e);

/**
 * container_lease() - reserve IOVA space, optionally mapping memory.
 * @memfd: -1 for an IOVA-only lease, else a sealed memfd the lease takes
 * over (closed on failure too); @offset into it.
 */
int container_lease(Container *c, uid_t owner, Client *client, uint64_t size, const LeaseOptions *o, int memfd,
                    uint64_t offset, Lease **ret, IovadError *e);

/* Unmaps (if mapped), gives the IOVA space back and frees the lease. */
void lease_release(Lease *l);

/* Sorted, disjoint ranges of the container's leases, for conflict checks and layouts. */
int container_lease_ranges(const Container *c, Range **ret, Lease ***ret_leases, size_t *ret_n);

/* Recompute regions/usable/allocator and the backend info; keeps leases. */
int container_refresh(Container *c, IovadError *e);
