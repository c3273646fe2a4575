/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * systemd's file descriptor store, as iovad uses it: the memfd of every
 * mapped lease is pushed there (FDSTORE=1, FDNAME=lease-ID) while the lease
 * lives and removed when it goes, so that a restarted iovad gets the memory
 * back (LISTEN_FDS / LISTEN_FDNAMES) and maps it again at the same IOVA.
 * This module owns the names. Without a service manager (no
 * $NOTIFY_SOCKET) pushing does nothing and says so.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct FdStore FdStore;

/* The fds passed at start (sd_listen_fds_with_names()); an empty store when there are none. */
int fd_store_load(FdStore **ret);
/* A store of @n fds named @names (taken over, like the fds), for tests and other sources. */
int fd_store_new(int *fds, char **names, size_t n, FdStore **ret);
/* Closes what nobody took, and asks the service manager to drop it too. */
FdStore *fd_store_free(FdStore *s);

/* How many fds nobody has taken yet. */
size_t fd_store_untaken(const FdStore *s);

/* The memfd of lease @id, now the caller's; -ENOENT when the store has none. */
int fd_store_take_lease(FdStore *s, uint64_t id);

/*
 * Pushes a copy of @fd as lease @id's memory. Returns 1 when a service
 * manager took it, 0 when there is none, negative on failure.
 */
int fd_store_push_lease(uint64_t id, int fd);
/* Drops lease @id's memory from the service manager's store (a no-op without one). */
void fd_store_remove_lease(uint64_t id);
