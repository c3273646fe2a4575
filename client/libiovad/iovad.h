/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef IOVAD_H
#define IOVAD_H

/*
 * libiovad: the C client library of iovad, the IOMMU and VFIO broker
 * (D-Bus service org.iovad1). It leases IOVA space, maps memory for DMA
 * and opens VFIO devices on behalf of an unprivileged program: a VMM, a
 * container runtime, a DPDK-style application.
 *
 *   #include <iovad.h>        cc ... $(pkg-config --cflags --libs libiovad)
 *
 * Conventions (docs/libiovad.md says more):
 *
 * - Every function that can fail returns 0 or a positive value on success
 *   and a negative errno on failure. When iovad (or the bus) refused a
 *   call, the errno is the one iovad's error list gives its D-Bus error
 *   name (org.iovad1.Error.NoSuchContainer is -ENOENT, QuotaExceeded
 *   -EDQUOT, AccessDenied -EACCES, InvalidArgs -EINVAL, ...: the table in
 *   docs/api.md), and iovad_last_error() returns that name and iovad's
 *   message until the next call on the same handle. The errnos listed
 *   below are those a caller can act on; any call can also fail with
 *   -ENOMEM, and with -EHOSTUNREACH (org.freedesktop.DBus.Error.ServiceUnknown),
 *   -ETIMEDOUT (NoReply), -ECONNRESET or -ENOTCONN when iovad cannot be
 *   reached.
 * - Out-parameters (ret_*) are written only on success. Strings and arrays
 *   returned through them belong to the caller: free() them, or the
 *   matching *_free() function.
 * - A handle is not thread-safe: use it from one thread at a time.
 * - Names are container names; addresses are PCI addresses as lspci
 *   prints them ("0000:01:00.0" or "01:00.0"); a lease is named by its id
 *   ("17") or its object path ("/org/iovad1/lease/17").
 *
 * ABI: every function is versioned LIBIOVAD_1 (soname libiovad.so.1).
 * Structures the caller allocates (iovad_lease_options) or indexes in
 * arrays (iovad_lease_info) keep their size and layout: new fields take
 * reserved space. Structures only the library allocates
 * (iovad_container_info) may grow at their end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A connection to iovad: opaque. */
typedef struct iovad iovad;
/* An asynchronous call in flight: opaque. */
typedef struct iovad_call iovad_call;

/* ---- Connection ---------------------------------------------------------- */

/* Flags of iovad_open() and iovad_open_bus(). */
enum {
        /*
         * A peer-to-peer "direct connection" to iovad: the handle asks
         * iovad over the bus for one (Manager.OpenDirectConnection) and
         * makes every call over it, with no bus daemon in between. It
         * acts for the caller's uid, and so does whoever holds its
         * socket (iovad_open_fd()); privileged calls on it are refused
         * (-EACCES) to everyone but root, its leases go when the handle
         * is freed, and no signals come over it. An iovad without direct
         * connections is -EOPNOTSUPP: never the bus silently.
         */
        IOVAD_OPEN_DIRECT = UINT64_C(1) << 0,
        /*
         * Let polkit ask the user for a password on privileged calls
         * (the ALLOW_INTERACTIVE_AUTHORIZATION flag on every call made
         * through the handle). Only useful when someone can type it.
         */
        IOVAD_OPEN_INTERACTIVE = UINT64_C(1) << 1,
};

/**
 * iovad_open() - connect to iovad on the system bus
 * @ret: the new handle, on success
 * @flags: IOVAD_OPEN_* flags, or 0
 *
 * Opens a new connection of its own to the system bus, which
 * DBUS_SYSTEM_BUS_ADDRESS overrides as in every sd-bus program. Nothing is
 * sent to iovad yet: a missing daemon shows at the first call (or is
 * started by D-Bus activation).
 *
 * With IOVAD_OPEN_DIRECT it asks iovad for a direct connection at once
 * (so a missing daemon shows here), closes the bus connection again and
 * keeps the direct one: every call of the handle goes over it, and
 * iovad_get_bus() returns it. There is no handle to keep the error's name
 * in when this fails: the errno alone tells.
 *
 * Return: 0; -EINVAL for unknown flags; the errno of the failed connect
 * (-ENOENT, -ECONNREFUSED, -EACCES, ...) when the bus cannot be reached;
 * with IOVAD_OPEN_DIRECT, -EOPNOTSUPP when iovad has no direct
 * connections, -EDQUOT when the uid has as many open as it may
 * (QuotaExceeded), -EMFILE when iovad serves as many as it can
 * (TooManyFiles), the bus's errno when iovad cannot be reached
 * (-EHOSTUNREACH for a name nobody owns, ...).
 */
int iovad_open(iovad **ret, uint64_t flags);

/**
 * iovad_open_bus() - use iovad over a bus connection the caller has
 * @ret: the new handle, on success
 * @bus: a started sd-bus connection to the bus iovad is on (as
 *       sd_bus_open_system() makes one); the handle takes a reference
 * @flags: IOVAD_OPEN_* flags, or 0
 *
 * The handle never changes the connection's settings (only
 * iovad_attach_event() attaches it to a loop, when asked to) and does not
 * close it: iovad_free() drops its reference only. If the connection is
 * attached to an sd_event loop already, that loop runs the asynchronous
 * calls' callbacks.
 *
 * With IOVAD_OPEN_DIRECT @bus is only used to ask for the direct
 * connection, which the handle then owns and closes; if @bus is attached
 * to an sd_event loop, the direct connection is attached to the same loop
 * (at SD_EVENT_PRIORITY_NORMAL) and detached by iovad_free().
 *
 * Return: 0; -EINVAL for a NULL @bus or unknown flags; with
 * IOVAD_OPEN_DIRECT, the errors of iovad_open().
 */
int iovad_open_bus(iovad **ret, sd_bus *bus, uint64_t flags);

/**
 * iovad_open_fd() - use a direct connection someone handed over
 * @ret: the new handle, on success
 * @fd: the socket Manager.OpenDirectConnection returned, not used yet by
 *      any sd-bus connection (e.g. received from a parent process)
 * @flags: IOVAD_OPEN_* flags, or 0; IOVAD_OPEN_DIRECT is implied
 *
 * The fd is a capability: the connection acts for the uid that opened it,
 * whoever holds it, so a privileged parent can ask for one and hand it to
 * a sandboxed child that has no bus access at all. The handle works as one
 * of iovad_open(&h, IOVAD_OPEN_DIRECT): the same calls, errors and refusals.
 * On success the handle owns @fd (it is closed by iovad_free(), and the
 * connection's leases go then, unless a copy of the fd is still open
 * elsewhere); on failure @fd is left as it was.
 *
 * Return: 0; -EINVAL for unknown flags; -EBADF for a negative or closed
 * @fd; -ENOTSOCK when @fd is not a socket.
 */
int iovad_open_fd(iovad **ret, int fd, uint64_t flags);

/**
 * iovad_free() - close a handle
 * @h: a handle, or NULL
 *
 * Asynchronous calls still in flight are cancelled without calling their
 * callbacks. It may be called from a callback; inside iovad_process() or
 * iovad_wait() the handle then goes when they return. A connection opened
 * by iovad_open() (or a direct connection, which the handle always owns)
 * is flushed and closed, so every non-persistent lease made through it
 * ends (iovad releases a client's leases when it leaves the bus or closes
 * its direct connection).
 *
 * Return: NULL.
 */
iovad *iovad_free(iovad *h);

/**
 * iovad_get_bus() - the handle's bus connection
 * @h: a handle
 *
 * For calls libiovad does not wrap (properties, signals). The reference
 * stays the handle's.
 *
 * Return: the connection.
 */
sd_bus *iovad_get_bus(iovad *h);

/* ---- Errors -------------------------------------------------------------- */

/**
 * iovad_last_error() - why the last call on a handle failed
 * @h: a handle
 * @ret_name: the D-Bus error name (e.g. "org.iovad1.Error.NoSpace"), or
 *            NULL when the call failed before anything was sent (bad
 *            arguments, out of memory); may be NULL
 * @ret_message: iovad's message (or the library's, or strerror's when
 *               there was none); may be NULL
 *
 * Each call on @h resets it; in an asynchronous call's callback it is
 * that call's error. The strings stay valid until the next call on @h.
 *
 * Return: the failed call's negative errno, or 0 when the last call
 * succeeded (then both strings are NULL).
 */
int iovad_last_error(iovad *h, const char **ret_name, const char **ret_message);

/* ---- Containers ---------------------------------------------------------- */

/* Flags of iovad_container_create(). */
enum {
        /* Keep the MMIO windows the groups' DMA could reach without the IOMMU free of leases. */
        IOVAD_CONTAINER_RESERVE_PEER_WINDOWS = UINT64_C(1) << 0,
};

typedef struct iovad_range {
        uint64_t start;
        uint64_t end; /* inclusive */
} iovad_range;

typedef struct iovad_region {
        uint64_t start;
        uint64_t end;  /* inclusive */
        char *type;    /* "msi", "reserved", "direct", "direct-relaxable", "p2p", ... */
        char *origin;  /* why: "group 5", "policy", ... */
} iovad_region;

/* A container as iovad shows it; allocated by the library only. */
typedef struct iovad_container_info {
        char *name;
        char *object;                   /* its D-Bus object path */
        uint32_t *groups;               /* attached IOMMU groups */
        size_t n_groups;
        uint32_t *users;                /* uids allowed to use it */
        size_t n_users;
        iovad_range aperture;           /* meaningful once a group is attached */
        iovad_region *reserved_regions;
        size_t n_reserved_regions;
        iovad_range *usable_ranges;     /* where leases may go */
        size_t n_usable_ranges;
        uint64_t page_sizes;            /* bitmap of IOMMU page sizes */
        uint32_t dma_mappings_available;
        bool reserve_peer_windows;
} iovad_container_info;

/**
 * iovad_container_create() - create a container (privileged)
 * @h: a handle
 * @name: 1 to 64 characters of [A-Za-z0-9_.-]
 * @users: the uids allowed to use it, or NULL for the caller
 * @n_users: the number of @users
 * @flags: IOVAD_CONTAINER_* flags, or 0
 * @ret_object: its object path, or NULL
 *
 * Return: 0; -EINVAL (bad name, unknown flags), -EEXIST (the name is
 * taken), -EACCES (neither root nor allowed by polkit), -EOPNOTSUPP.
 */
int iovad_container_create(iovad *h, const char *name, const uint32_t *users, size_t n_users, uint64_t flags,
                           char **ret_object);

/**
 * iovad_container_destroy() - destroy a container (privileged)
 * @h: a handle
 * @name: the container
 *
 * Releases every lease in it (unmapping mapped ones) and detaches every
 * group first.
 *
 * Return: 0; -ENOENT (no such container), -EACCES.
 */
int iovad_container_destroy(iovad *h, const char *name);

/**
 * iovad_container_attach_group() - attach an IOMMU group (privileged)
 * @h: a handle
 * @name: the container
 * @group: the IOMMU group number
 *
 * Return: 0; -ENOENT (no such container), -ENODEV (no such group), -EEXIST
 * (attached here already), -EBUSY (attached to another container),
 * -EADDRINUSE (a reserved region of the group overlaps a lease; the
 * message lists them), -EPERM (group not viable, or no interrupt
 * isolation), -EMFILE, -EIO, -EACCES.
 */
int iovad_container_attach_group(iovad *h, const char *name, uint32_t group);

/**
 * iovad_container_detach_group() - detach an IOMMU group (privileged)
 * @h: a handle
 * @name: the container
 * @group: the IOMMU group number
 *
 * Return: 0; -ENOENT, -ENXIO (not attached here), -EBUSY (a device of the
 * group is open, or leases need the last group), -EACCES.
 */
int iovad_container_detach_group(iovad *h, const char *name, uint32_t group);

/**
 * iovad_container_object() - a container's D-Bus object path
 * @h: a handle
 * @name: the container
 * @ret_object: the path (free it)
 *
 * Return: 0; -ENOENT (no such container).
 */
int iovad_container_object(iovad *h, const char *name, char **ret_object);

/**
 * iovad_container_get_info() - groups, aperture, usable ranges and more
 * @h: a handle
 * @name: the container
 * @ret: the information; free it with iovad_container_info_free()
 *
 * Return: 0; -ENOENT (no such container); -EBADMSG (iovad answered
 * something this library does not understand).
 */
int iovad_container_get_info(iovad *h, const char *name, iovad_container_info **ret);

/**
 * iovad_container_info_free() - free what iovad_container_get_info() made
 * @info: the information, or NULL
 *
 * Return: NULL.
 */
iovad_container_info *iovad_container_info_free(iovad_container_info *info);

/**
 * iovad_list_containers() - the names of every container
 * @h: a handle
 * @ret_names: a NULL-terminated array; free it with iovad_strv_free()
 *
 * Return: the number of names.
 */
int iovad_list_containers(iovad *h, char ***ret_names);

/**
 * iovad_strv_free() - free a NULL-terminated array of strings
 * @l: the array, or NULL
 *
 * Return: NULL.
 */
char **iovad_strv_free(char **l);

/**
 * iovad_resolve_container() - the container a reference names
 * @h: a handle
 * @reference: a container name, or "device:ADDRESS" for the container
 *             holding that PCI device's IOMMU group (as container runtimes
 *             pass IOVAD_CONTAINER=device:0000:00:04.0 to a workload)
 * @ret_name: the container's name (free it)
 *
 * Return: 0; -ENOENT (no such container); -EINVAL (empty reference, or
 * not a PCI address after "device:"); -ENODEV (no such device); -ENXIO
 * (the device's group is in no container).
 */
int iovad_resolve_container(iovad *h, const char *reference, char **ret_name);

/* ---- Leases -------------------------------------------------------------- */

/* Which fields of iovad_lease_options are given, and boolean options. */
enum {
        IOVAD_LEASE_ALIGNMENT = UINT64_C(1) << 0,  /* .alignment: a power of two */
        IOVAD_LEASE_LIMIT = UINT64_C(1) << 1,      /* .limit: highest IOVA allowed, inclusive */
        IOVAD_LEASE_FIXED_IOVA = UINT64_C(1) << 2, /* .iova: at this address, else none */
        IOVAD_LEASE_PERSISTENT = UINT64_C(1) << 3, /* outlive the connection (privileged) */
        IOVAD_LEASE_READONLY = UINT64_C(1) << 4,   /* devices may only read the memory */
        IOVAD_LEASE_HUGEPAGES = UINT64_C(1) << 5,  /* AllocateMapped: back it with huge pages */
};

/*
 * Options of a lease; NULL means none. Which apply: iovad_lease()
 * ALIGNMENT, LIMIT, FIXED_IOVA, PERSISTENT; iovad_map_memory() those and
 * READONLY; iovad_allocate_mapped() LIMIT, READONLY, HUGEPAGES. iovad
 * refuses one that does not apply with -EINVAL.
 */
typedef struct iovad_lease_options {
        uint64_t flags; /* IOVAD_LEASE_* */
        uint64_t alignment;
        uint64_t limit;
        uint64_t iova;
        uint64_t reserved[4]; /* zero */
} iovad_lease_options;

/* A lease. */
typedef struct iovad_lease_info {
        uint64_t id;
        char object[64]; /* "/org/iovad1/lease/ID" */
        uint64_t iova;
        uint64_t size;
        bool mapped;     /* memory is mapped at it (MapMemory, AllocateMapped) */
        bool writable;   /* devices may write the memory */
        bool persistent; /* iovad_lease_get_info() only: kept across restarts */
        uint32_t owner;  /* iovad_lease_get_info() only: the owner's uid */
        uint64_t reserved[4];
} iovad_lease_info;

/**
 * iovad_lease() - lease IOVA space, nothing mapped
 * @h: a handle
 * @container: the container's name
 * @size: bytes, a non-zero multiple of the smallest page size
 * @options: or NULL
 * @ret: the lease, or NULL
 *
 * The lease ends when it is released or, unless persistent, when the
 * handle's connection closes.
 *
 * Return: 0; -ENOENT (no such container), -EINVAL (bad size, alignment,
 * address, option), -ENOSPC (no usable range fits), -EADDRINUSE (the fixed
 * IOVA hits a reserved region or lease), -EDQUOT (quota), -ENXIO (no group
 * attached), -EACCES (not a user of the container).
 */
int iovad_lease(iovad *h, const char *container, uint64_t size, const iovad_lease_options *options,
                iovad_lease_info *ret);

/**
 * iovad_map_memory() - map the caller's memfd for DMA
 * @h: a handle
 * @container: the container's name
 * @memfd: a memfd sealed with F_SEAL_SHRINK; iovad keeps its own copy
 * @offset: page-aligned offset into @memfd
 * @size: bytes to map
 * @options: or NULL; IOVAD_LEASE_FIXED_IOVA picks the address, else iovad
 * @ret: the lease, or NULL
 *
 * Return: as iovad_lease(), and -EBADF (not a memfd, not sealed, too
 * short, offset unaligned), -ENOBUFS (no DMA mappings left), -EMFILE.
 */
int iovad_map_memory(iovad *h, const char *container, int memfd, uint64_t offset, uint64_t size,
                     const iovad_lease_options *options, iovad_lease_info *ret);

/**
 * iovad_allocate_mapped() - have iovad allocate memory and map it
 * @h: a handle
 * @container: the container's name
 * @size: bytes
 * @options: or NULL
 * @ret: the lease, or NULL
 * @ret_memfd: the sealed memfd of the memory (close it), or NULL
 *
 * Return: as iovad_map_memory().
 */
int iovad_allocate_mapped(iovad *h, const char *container, uint64_t size, const iovad_lease_options *options,
                          iovad_lease_info *ret, int *ret_memfd);

/**
 * iovad_release() - release a lease: unmap it and free its IOVA space
 * @h: a handle
 * @lease: its id or object path
 *
 * Return: 0; -EINVAL (neither an id nor a lease path), -ENOENT (no such
 * lease), -EACCES (not the owner).
 */
int iovad_release(iovad *h, const char *lease);

/**
 * iovad_lease_get_info() - a lease's properties
 * @h: a handle
 * @lease: its id or object path
 * @ret: the lease
 *
 * Return: 0; -EINVAL, -ENOENT, -EACCES as iovad_release().
 */
int iovad_lease_get_info(iovad *h, const char *lease, iovad_lease_info *ret);

/**
 * iovad_container_list_leases() - the leases of a container the caller may see
 * @h: a handle
 * @container: the container's name
 * @ret_leases: an array (free() it); writable, persistent and owner are
 *              not filled (ListLeases does not say: iovad_lease_get_info())
 *
 * Return: the number of leases; -ENOENT (no such container).
 */
int iovad_container_list_leases(iovad *h, const char *container, iovad_lease_info **ret_leases);

/* ---- Asynchronous calls -------------------------------------------------- */

/*
 * Called once when an asynchronous call completes: @result is 0 or a
 * negative errno as the synchronous call returns (iovad_last_error(h)
 * tells why, during the callback). @info is the lease on success and NULL
 * otherwise (and always NULL for iovad_release_async()). @memfd is the
 * memory of iovad_allocate_mapped_async(), which the callback owns and
 * must close; -1 otherwise.
 */
typedef void (*iovad_lease_callback)(iovad *h, int result, const iovad_lease_info *info, int memfd,
                                     void *userdata);

/*
 * The asynchronous variants: they return at once with 0 (or a negative
 * errno, without calling @callback, when the call could not be sent) and
 * @callback runs from iovad_process(), iovad_wait() or the attached
 * sd_event loop. @ret_call, if not NULL, can cancel the call with
 * iovad_call_cancel() until the callback has run. Errors as the
 * synchronous calls.
 */
int iovad_lease_async(iovad *h, const char *container, uint64_t size, const iovad_lease_options *options,
                      iovad_lease_callback callback, void *userdata, iovad_call **ret_call);
int iovad_map_memory_async(iovad *h, const char *container, int memfd, uint64_t offset, uint64_t size,
                           const iovad_lease_options *options, iovad_lease_callback callback, void *userdata,
                           iovad_call **ret_call);
int iovad_allocate_mapped_async(iovad *h, const char *container, uint64_t size, const iovad_lease_options *options,
                                iovad_lease_callback callback, void *userdata, iovad_call **ret_call);
int iovad_release_async(iovad *h, const char *lease, iovad_lease_callback callback, void *userdata,
                        iovad_call **ret_call);

/**
 * iovad_call_cancel() - cancel an asynchronous call
 * @call: from an *_async() call whose callback has not run yet, or NULL
 *
 * The callback will not run. What iovad already did stays done: a lease
 * made meanwhile lives until released or until the connection closes.
 * Called from the call's own callback, it does nothing.
 *
 * Return: NULL.
 */
iovad_call *iovad_call_cancel(iovad_call *call);

/* ---- Event loops --------------------------------------------------------- */

/**
 * iovad_attach_event() - dispatch the handle from an sd_event loop
 * @h: a handle
 * @event: the loop, or NULL for the thread's default loop
 * @priority: the priority of its event sources (SD_EVENT_PRIORITY_NORMAL)
 *
 * As with any sd-bus connection, the loop's exit (sd_event_exit()) flushes
 * and closes the connection: afterwards calls fail with -ENOTCONN.
 *
 * Return: 0; -EBUSY (attached already, or the caller's bus is attached to
 * another loop).
 */
int iovad_attach_event(iovad *h, sd_event *event, int64_t priority);

/**
 * iovad_detach_event() - undo iovad_attach_event()
 * @h: a handle
 *
 * Return: 0.
 */
int iovad_detach_event(iovad *h);

/**
 * iovad_get_fd() - the fd a foreign event loop (poll, epoll) watches
 * @h: a handle
 *
 * Watch it for iovad_get_events(), wake up after iovad_get_timeout(),
 * then call iovad_process(). The fd stays the handle's.
 *
 * Return: the fd; -ENOTCONN (the connection is closed).
 */
int iovad_get_fd(iovad *h);

/**
 * iovad_get_events() - the poll events to watch the fd for
 * @h: a handle
 *
 * Return: POLLIN, POLLOUT or both; -ENOTCONN.
 */
int iovad_get_events(iovad *h);

/**
 * iovad_get_timeout() - how long a foreign loop may sleep
 * @h: a handle
 * @ret_usec: microseconds from now (0: process at once), UINT64_MAX for
 *            no timeout
 *
 * Return: 0; -ENOTCONN.
 */
int iovad_get_timeout(iovad *h, uint64_t *ret_usec);

/**
 * iovad_process() - do what is pending: read, write, run callbacks
 * @h: a handle
 *
 * Returns when nothing more can be done without waiting.
 *
 * Return: 0; -ECONNRESET or -ENOTCONN when the connection broke.
 */
int iovad_process(iovad *h);

/**
 * iovad_wait() - wait for the handle's fd, then iovad_process()
 * @h: a handle
 * @timeout_usec: at most this long; UINT64_MAX for no limit
 *
 * For programs without an event loop that use the asynchronous calls.
 *
 * Return: 0; the errors of iovad_process().
 */
int iovad_wait(iovad *h, uint64_t timeout_usec);

/* ---- Devices ------------------------------------------------------------- */

/**
 * iovad_device_open() - a device's VFIO fd
 * @h: a handle
 * @address: the PCI address
 * @ret_fd: the fd (close it)
 *
 * Return: 0; -EINVAL (not a PCI address), -ENODEV (no such device), -ENXIO
 * (its group is in no container), -EACCES (not a user of that container),
 * -EMFILE, -EIO.
 */
int iovad_device_open(iovad *h, const char *address, int *ret_fd);

/**
 * iovad_device_bind() - hand a device to vfio-pci (privileged)
 * @h: a handle
 * @address: the PCI address
 *
 * Return: 0; -EINVAL, -ENODEV, -EBUSY (its group is in a container),
 * -EOPNOTSUPP, -EACCES, -EIO.
 */
int iovad_device_bind(iovad *h, const char *address);

/**
 * iovad_device_unbind() - give a device back to its driver (privileged)
 * @h: a handle
 * @address: the PCI address
 *
 * Return: as iovad_device_bind().
 */
int iovad_device_unbind(iovad *h, const char *address);

/**
 * iovad_device_container() - the container a device's group is attached to
 * @h: a handle
 * @address: the PCI address
 * @ret_name: the container's name (free it), or NULL when there is none
 *
 * Return: 1 and the name; 0 and NULL when the group is in no container;
 * -EINVAL (not a PCI address), -ENODEV (no such device).
 */
int iovad_device_container(iovad *h, const char *address, char **ret_name);

#ifdef __cplusplus
}
#endif

#endif
