/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * systemd's file descriptor store, as iovad uses it: the memfd of every
 * mapped lease is pushed there (FDSTORE=1, FDNAME=lease-ID) while the lease
 * lives and removed when it goes, so that a restarted iovad gets the memory
 * back (LISTEN_FDS / LISTEN_FDNAMES) and maps it again at the same IOVA;
 * the fd of every container with a group attached (container-NAME) and of
 * every attached group (group-N) likewise, so that a restarted iovad adopts
 * the kernel's containers with their mappings. This module owns the names.
 * Without a service manager (no $NOTIFY_SOCKET) pushing does nothing and
 * says so.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct FdStore FdStore;

typedef enum FdStoreKind {
        FD_STORE_LEASE,        /* lease-ID: a mapped lease's memfd */
        FD_STORE_CONTAINER,    /* container-NAME: a container's /dev/vfio/vfio */
        FD_STORE_GROUP,        /* group-N: an attached group's /dev/vfio/N */
} FdStoreKind;

/* The longest name: "container-" and a container name of 64 characters. */
#define FD_STORE_NAME_MAX 80

/**
 * fd_store_name() - the name of a stored fd of @kind: lease @id, group
 * @id, or container @container. -EINVAL for a container name that is not
 * 1 to 64 of A-Z a-z 0-9 - _ . (container_name_valid()'s rule), or a
 * group above UINT32_MAX.
 */
int fd_store_name(FdStoreKind kind, uint64_t id, const char *container, char buf[static FD_STORE_NAME_MAX]);
/**
 * fd_store_name_parse() - what a stored fd's name says: its kind, and the
 * id (lease, group) or the container name (a pointer into @name). Only
 * names fd_store_name() makes are accepted (decimal without leading
 * zeros); -EINVAL for anything else.
 */
int fd_store_name_parse(const char *name, FdStoreKind *ret_kind, uint64_t *ret_id, const char **ret_container);

/* The fds passed at start (sd_listen_fds_with_names()); an empty store when there are none. */
int fd_store_load(FdStore **ret);
/* A store of @n fds named @names (taken over, like the fds), for tests and other sources. */
int fd_store_new(int *fds, char **names, size_t n, FdStore **ret);
/* Closes what nobody took, and asks the service manager to drop it too. */
FdStore *fd_store_free(FdStore *s);

/*
 * Closes every untaken fd of @kind and asks the service manager to drop
 * it too; returns how many there were.
 */
size_t fd_store_drop(FdStore *s, FdStoreKind kind);

/* How many fds nobody has taken yet. */
size_t fd_store_untaken(const FdStore *s);

/* The memfd of lease @id, now the caller's; -ENOENT when the store has none. */
int fd_store_take_lease(FdStore *s, uint64_t id);
/* The fd of container @name, or of group @group, now the caller's; -ENOENT when the store has none. */
int fd_store_take_container(FdStore *s, const char *name);
int fd_store_take_group(FdStore *s, unsigned group);

/*
 * Pushes lease @id's memory: @fd opened anew (a separate open file, since
 * the service manager keeps one fd per open file), with @fd's access mode.
 * Returns 1 when a service manager took it, 0 when there is none ($NOTIFY_SOCKET
 * unset), negative on failure.
 */
int fd_store_push_lease(uint64_t id, int fd);
/* Drops lease @id's memory from the service manager's store (a no-op without one). */
void fd_store_remove_lease(uint64_t id);

/* As fd_store_push_lease() and fd_store_remove_lease(), for a container's fd and a group's. */
int fd_store_push_container(const char *name, int fd);
void fd_store_remove_container(const char *name);
int fd_store_push_group(unsigned group, int fd);
void fd_store_remove_group(unsigned group);
