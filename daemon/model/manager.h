/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The model's one context and the orchestrator of a lease's life: the
 * platform as sysfs shows it, the containers, the lease table, the clients
 * (bus connections, by unique name) that own leases, and what outlives the
 * process (the state file, the lease journal, systemd's fd store). Every
 * operation that creates, changes or ends a container or a lease comes
 * through here; this module calls down into container.h, the backend and
 * the persistence modules, never up. No D-Bus: the bus glue tells the
 * manager when a client has left (manager_client_gone()) and which clients
 * are still on the bus after a restart.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "persist/conf.h"
#include "model/container.h"
#include "model/error.h"
#include "persist/fd-store.h"
#include "persist/lease-journal.h"
#include "persist/state.h"
#include "platform/p2p.h"
#include "platform/sysfs.h"

typedef struct Manager Manager;

/* A bus connection that owns leases; its leases go when it leaves the bus. */
struct Client {
        char *name;                 /* unique bus name */
        uid_t uid;                  /* its connection's uid, which never changes */
        Lease *leases;
        size_t n_leases;
        void *userdata;             /* the bus glue's (its tracking of the name) */
        Client *prev, *next;
        Client *hash_next;          /* the manager's table by name */
};

struct Manager {
        Backend *backend;
        SysfsPlatform *platform;
        Config config;

        char *state_dir;            /* NULL: nothing is written (tests) */
        char *runtime_dir;

        Container **containers;
        size_t n_containers;

        Lease **lease_table;        /* buckets of a chained hash by id */
        size_t lease_buckets;
        size_t n_leases;
        uint64_t next_lease_id;
        /*
         * Ids below this may have been handed out: the state file says so
         * before any of them is, so that no restart (with or without the
         * runtime directory and its journal) gives an id out twice.
         */
        uint64_t lease_id_reserved;

        Client *clients;
        Client **client_table;      /* buckets of a chained hash by name; NULL until the first client */
        size_t client_buckets, n_clients;

        /*
         * Memory fds held for mapped leases, against a budget below the
         * process's fd limit, so that iovad always has fds left for its
         * bus (a message's fds, a new connection) and its files.
         */
        size_t n_memfds;
        size_t memfd_budget;        /* 0: none (tests) */
        struct { uid_t uid; uint32_t n; } *memfd_use;
        size_t n_memfd_use;

        /* Devices handed to vfio-pci by Bind, and the driver they had; saved in the state file. */
        Rebind *rebind;
        size_t n_rebind;

        /* Devices delegated to a uid (model/delegate.h); not saved. */
        struct Delegation *delegations;
        size_t n_delegations;

        /* Leases of bus connections, for a restart (lease-journal.h); NULL until manager_restore(). */
        LeaseJournal *journal;
        uint64_t journaled;         /* the newest lease in the journal, answered or not */
        char bus_id[33];

        /* The CDI spec (platform/cdi.h), rewritten when the devices it lists change; NULL dir: none. */
        char *cdi_dir;
        char *cdi_hook;
        char *cdi_bus_socket;
        char *cdi_written;          /* the text last written, so that an unchanged spec is not rewritten */

        bool restoring;             /* re-creating what the state, journal and fd store hold */
        /* A batch is under way: manager_save_state() is done once when it ends (save_wanted). */
        unsigned save_deferred;
        bool save_wanted;
        bool stopping;              /* shutting down: what goes now is kept for the next start */
};

/**
 * manager_new() - a manager on @backend (taken over), with @config (taken
 * over) and the directories for state and runtime files.
 */
int manager_new(Backend *backend, Config *config, const char *state_dir, const char *runtime_dir, Manager **ret);
Manager *manager_free(Manager *m);

/*
 * Sets the global memory-fd budget from the process's fd limit (raising
 * the soft limit to the hard one first): the limit less @headroom.
 */
int manager_set_fd_budget(Manager *m, size_t headroom);

/*
 * Whether @uid may have one more memory fd held for it: QUOTA_EXCEEDED
 * past its own budget (iovad.conf quota.memfds; root has none),
 * TOO_MANY_FILES past iovad's. Asked before a memfd is made for it, and
 * again by manager_lease().
 */
int manager_check_memfd_budget(Manager *m, uid_t uid, IovadError *e);

/*
 * From now on, keep the CDI spec of the devices iovad hands out in @dir
 * (cdi.bind_devices of the configuration: the devices its hook may bind),
 * naming @hook and the host's system bus socket @bus_socket; written by
 * every manager_refresh_platform() whose devices or drivers changed it.
 * -ENOMEM.
 */
int manager_set_cdi(Manager *m, const char *dir, const char *hook, const char *bus_socket);

/* Re-read devices and groups through the backend's sysfs root (and the CDI spec). KERNEL when that fails. */
int manager_refresh_platform(Manager *m, IovadError *e);

Container *manager_find_container(Manager *m, const char *name);
/* The container @group is attached to, or NULL. */
Container *manager_container_of_group(Manager *m, unsigned group);

/* EXISTS, and the errors of container_new(). */
int manager_create_container(Manager *m, const char *name, const uid_t *users, size_t n_users, Container **ret,
                             IovadError *e);
/* The same, with the option of reserving the groups' peer-to-peer windows (Container.reserve_peer_windows). */
int manager_create_container_full(Manager *m, const char *name, const uid_t *users, size_t n_users,
                                  bool reserve_peer_windows, Container **ret, IovadError *e);
/* Releases every lease of @c (their objects go), detaches its groups and frees it. */
void manager_destroy_container(Manager *m, Container *c);

/* NO_SUCH_GROUP, BUSY (in another container), and the errors of container_check_attach(). */
ssize_t manager_check_attach(Manager *m, Container *c, unsigned group, AttachConflict **ret, IovadError *e);
/* Re-reads the platform (drivers change), then as manager_check_attach() and container_attach(). */
int manager_attach_group(Manager *m, Container *c, unsigned group, IovadError *e);
int manager_detach_group(Manager *m, Container *c, unsigned group, IovadError *e);
/*
 * The software MSI window's use in @c (container_msi_window()) with group
 * @group attached as well; NO_SUCH_GROUP.
 */
int manager_check_msi_window(Manager *m, Container *c, unsigned group, MsiWindowUse *ret, IovadError *e);

/* The peer-to-peer report of group @group (p2p_group()); NO_SUCH_GROUP, NO_MEMORY. */
int manager_group_p2p(Manager *m, unsigned group, P2pReport *ret, IovadError *e);

/**
 * manager_lease() - a new lease in @c for @owner: IOVA space, the memory
 * of @memfd mapped if it is >= 0 (taken over, closed on failure too), an
 * id, @client as its owner unless persistent, and a record in the journal
 * or the state file and the fd store. Errors: those of container_lease_new().
 */
int manager_lease(Manager *m, Container *c, uid_t owner, Client *client, uint64_t size, const LeaseOptions *o,
                  int memfd, uint64_t offset, Lease **ret, IovadError *e);
/**
 * manager_lease_batch() - @n mapped leases of one @memfd (the caller's,
 * not taken over) for @owner, as container_lease_batch(): all or none,
 * the uid's memory-fd budget checked for all @n first. Each gets an id,
 * @client (unless persistent) and its record; @ret[0..@n-1] has them in
 * the order of @pieces. *@ret_failed: the failing piece, or -1.
 */
int manager_lease_batch(Manager *m, Container *c, uid_t owner, Client *client, const LeaseOptions *o, int memfd,
                        const LeasePiece *pieces, size_t n, Lease **ret, ssize_t *ret_failed, IovadError *e);
/**
 * manager_release_leases() - releases @n leases, all or none: NO_SUCH_LEASE
 * for an id that is unknown (or listed twice), ACCESS_DENIED for one
 * @caller may not release (not its owner, and @caller is not root), and
 * then nothing is released; *@ret_failed is its index. Once they are
 * checked every one is released; KERNEL when the kernel failed to unmap
 * some (they stay, as with manager_release_lease(); *@ret_failed the
 * first of them). Containers whose DMA entries came back go in
 * @changed (up to @n_max); *@ret_n_changed says how many.
 */
int manager_release_leases(Manager *m, uid_t caller, const uint64_t *ids, size_t n, ssize_t *ret_failed,
                           Container **changed, size_t n_max, size_t *ret_n_changed, IovadError *e);
/* Ends @l: unmapped, its range freed, its records gone. KERNEL when the kernel failed to unmap it (it stays). */
int manager_release_lease(Manager *m, Lease *l, IovadError *e);
Lease *manager_find_lease(Manager *m, uint64_t id);

/* The Client for a bus name (whose connection has @uid), created on first use. */
int manager_get_client(Manager *m, const char *name, uid_t uid, Client **ret);
Client *manager_find_client(Manager *m, const char *name);
/*
 * @c left the bus: its leases are released and it is freed. Containers
 * whose DMA mappings came back are listed in @changed (up to @n_max of
 * them); returns how many there are.
 */
size_t manager_client_gone(Manager *m, Client *c, Container **changed, size_t n_max);

/* NO_SUCH_DEVICE, NOT_VIABLE (no group), BUSY, NOT_SUPPORTED, KERNEL. Returns 1 when bound now, 0 when it already was. */
int manager_bind_device(Manager *m, const char *address, IovadError *e);
/* NO_SUCH_DEVICE, BUSY (its group is attached), NOT_ATTACHED (not on vfio-pci), NOT_SUPPORTED, KERNEL. */
int manager_unbind_device(Manager *m, const char *address, IovadError *e);

/**
 * manager_restore() - bring back what a previous iovad left: containers,
 * persistent leases and bound devices from the state file, then the
 * leases of bus connections from the journal of the bus @bus_id (their
 * clients are created; the caller then says which of them are still
 * connected), mapping memory again from @fds where it was kept. Logs what
 * it cannot restore; never fails the start.
 */
void manager_restore(Manager *m, const char *bus_id, FdStore *fds);
/* After manager_restore() and the departed clients' manager_client_gone(): journal rewritten, state saved. */
void manager_restore_done(Manager *m);

/*
 * The bus glue has written every reply so far to the bus: the journal
 * notes that the leases made up to now were answered. A restore drops a
 * journaled lease whose call was never answered (iovad died between the
 * record and the reply), since no client knows of it.
 */
void manager_leases_answered(Manager *m);
/*
 * The bus glue is about to send the reply that hands @l to its client:
 * from now on a restore keeps @l even without the note above, since the
 * client may have the reply (iovad dying after the reply and before the
 * note must not lose it).
 */
void manager_lease_replying(Manager *m, const Lease *l);

/*
 * A clean stop: every container's and group's fd leaves systemd's fd
 * store, so that once iovad is gone the kernel lets go of the groups and
 * the DMA mappings (memfds stay: the next start maps them again).
 */
void manager_release_kernel_fds(Manager *m);
/*
 * An exit for the service manager to start iovad again (the bus went
 * away): every container is left in the kernel as it is, mappings and
 * groups, for the next iovad to adopt from the fd store.
 */
void manager_keep_kernel(Manager *m);

/* Writes the state file; logs on failure (state is best effort at runtime). */
void manager_save_state(Manager *m);
/* Rewrites the lease journal from the live leases (after a restore, and when it has grown). */
int manager_compact_journal(Manager *m);
