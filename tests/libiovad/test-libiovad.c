/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiovad against the real iovad on a private bus: every function, the
 * synchronous calls and the asynchronous ones (from an sd_event loop and
 * from a poll() loop), and the errors: the errno, the daemon's error name
 * and its message, and the library's own refusals, which have no name.
 *
 * "test-libiovad --direct" runs every test with IOVAD_OPEN_DIRECT handles
 * (the same calls and results over a direct connection), and then the
 * direct connection's own cases: leases that go with the handle, the uid it
 * acts for, iovad_open_fd(), the per-uid limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "bus-env.h"
#include "iovad.h"

static void *mfree_(void *p) {
        free(p);
        return NULL;
}

/* The last error of @h is @want_errno with D-Bus name @want_name (NULL: a local one) and a message. */
#define assert_error(h, want_errno, want_name) assert_error_at(__LINE__, (h), (want_errno), (want_name))
static void assert_error_at(int line, iovad *h, int want_errno, const char *want_name) {
        const char *name, *message;
        int r = iovad_last_error(h, &name, &message);

        ck_assert_msg(r == want_errno, "line %d: last error %d (%s), expected %d", line, r, message ?: "-", want_errno);
        if (want_name)
                ck_assert_msg(name && streq(name, want_name), "line %d: error name %s, expected %s", line,
                              name ?: "(none)", want_name);
        else
                ck_assert_msg(!name, "line %d: a local error has the name %s", line, name);
        ck_assert_msg(message && *message, "line %d: no error message", line);
}

/* IOVAD_OPEN_DIRECT with --direct: every handle of the tests talks to iovad peer-to-peer. */
static uint64_t open_flags;

static iovad *open_handle(void) {
        iovad *h = NULL;

        ck_assert_int_eq(iovad_open(&h, open_flags), 0);
        ck_assert_ptr_nonnull(h);
        return h;
}

/* A pattern through one mapping of @fd, read back through a new one. */
static void check_memory(int fd, size_t size, uint8_t seed) {
        uint8_t *p;

        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        for (size_t i = 0; i < size; i++)
                p[i] = (uint8_t) (i * 31 + seed);
        ck_assert_int_eq(munmap(p, size), 0);
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        for (size_t i = 0; i < size; i++)
                ck_assert_uint_eq(p[i], (uint8_t) (i * 31 + seed));
        ck_assert_int_eq(munmap(p, size), 0);
}

START_TEST(test_connection) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        iovad *h = NULL, *h2 = NULL;
        char **names = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        ck_assert_int_eq(iovad_open(&h, UINT64_C(1) << 40), -EINVAL);
        ck_assert_ptr_null(h);
        ck_assert_int_eq(iovad_open_bus(&h, NULL, 0), -EINVAL);
        bus = env_connect();

        /* DBUS_SYSTEM_BUS_ADDRESS (set by the harness) leads iovad_open() to the private bus. */
        h = open_handle();
        ck_assert_ptr_nonnull(iovad_get_bus(h));
        ck_assert_int_eq(iovad_list_containers(h, &names), 0);
        ck_assert_ptr_nonnull(names);
        ck_assert_ptr_null(names[0]);
        names = iovad_strv_free(names);
        ck_assert_int_eq(iovad_last_error(h, NULL, NULL), 0);

        /* A caller's connection: used, not closed. */
        ck_assert_int_eq(iovad_open_bus(&h2, bus, IOVAD_OPEN_INTERACTIVE | open_flags), 0);
        /* A direct handle asks over the caller's connection and talks over its own. */
        if (open_flags & IOVAD_OPEN_DIRECT)
                ck_assert_ptr_ne(iovad_get_bus(h2), bus);
        else
                ck_assert_ptr_eq(iovad_get_bus(h2), bus);
        ck_assert_int_eq(iovad_container_create(h2, "mine", NULL, 0, 0, NULL), 0);
        h2 = iovad_free(h2);
        ck_assert_int_eq(iovad_list_containers(h, &names), 1);
        ck_assert_str_eq(names[0], "mine");
        names = iovad_strv_free(names);
        ck_assert_int_eq(sd_bus_is_open(bus), 1);
        ck_assert_ptr_null(iovad_free(NULL));
        h = iovad_free(h);
        env_stop(&e);
}
END_TEST

START_TEST(test_containers) {
        const uint32_t users[] = { 0, UID_NOBODY };
        _cleanup_(freep) char *object = NULL, *path = NULL, *name = NULL;
        iovad_container_info *info = NULL;
        const char *message;
        char **names = NULL;
        iovad *h;
        BusEnv e;
        bool msi = false;
        int fd = -1;

        env_start(&e, NULL, NULL);
        h = open_handle();

        /* Bad input: the daemon's error name, errno and message. */
        ck_assert_int_eq(iovad_container_create(h, "no way", NULL, 0, 0, NULL), -EINVAL);
        assert_error(h, -EINVAL, ERR_INVALID_ARGS);
        ck_assert_int_eq(iovad_last_error(h, NULL, &message), -EINVAL);
        ck_assert_msg(strstr(message, "no way"), "the message does not name the bad name: %s", message);
        /* The library's own refusals have no name. */
        ck_assert_int_eq(iovad_container_create(h, "c", NULL, 0, UINT64_C(1) << 9, NULL), -EINVAL);
        assert_error(h, -EINVAL, NULL);
        ck_assert_int_eq(iovad_container_create(h, NULL, NULL, 0, 0, NULL), -EINVAL);
        assert_error(h, -EINVAL, NULL);

        ck_assert_int_eq(iovad_container_create(h, "c", users, ELEMENTSOF(users), 0, &object), 0);
        ck_assert_int_eq(iovad_last_error(h, NULL, NULL), 0);
        ck_assert_str_eq(object, "/org/iovad1/container/c");
        ck_assert_int_eq(iovad_container_create(h, "c", NULL, 0, 0, NULL), -EEXIST);
        assert_error(h, -EEXIST, IOVAD_ERROR_EXISTS);
        ck_assert_int_eq(iovad_container_create(h, "p2p", NULL, 0, IOVAD_CONTAINER_RESERVE_PEER_WINDOWS, NULL), 0);
        ck_assert_int_eq(iovad_list_containers(h, &names), 2);
        ck_assert(streq(names[0], "c") || streq(names[1], "c"));
        ck_assert(streq(names[0], "p2p") || streq(names[1], "p2p"));
        ck_assert_ptr_null(names[2]);
        names = iovad_strv_free(names);

        ck_assert_int_eq(iovad_container_object(h, "c", &path), 0);
        ck_assert_str_eq(path, object);
        ck_assert_int_eq(iovad_container_object(h, "nope", &name), -ENOENT);
        assert_error(h, -ENOENT, IOVAD_ERROR_NO_SUCH_CONTAINER);
        ck_assert_ptr_null(name);
        ck_assert_int_eq(iovad_container_destroy(h, "nope"), -ENOENT);
        assert_error(h, -ENOENT, IOVAD_ERROR_NO_SUCH_CONTAINER);

        /* Before an attach, and after. */
        ck_assert_int_eq(iovad_container_get_info(h, "c", &info), 0);
        ck_assert_uint_eq(info->n_groups, 0);
        ck_assert_uint_eq(info->n_usable_ranges, 0);
        info = iovad_container_info_free(info);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), 0);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), -EEXIST);
        assert_error(h, -EEXIST, IOVAD_ERROR_EXISTS);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 77), -ENODEV);
        assert_error(h, -ENODEV, IOVAD_ERROR_NO_SUCH_GROUP);
        ck_assert_int_eq(iovad_container_attach_group(h, "p2p", 5), -EBUSY);
        assert_error(h, -EBUSY, IOVAD_ERROR_BUSY);
        ck_assert_int_eq(iovad_container_get_info(h, "c", &info), 0);
        ck_assert_str_eq(info->name, "c");
        ck_assert_str_eq(info->object, object);
        ck_assert_uint_eq(info->n_groups, 1);
        ck_assert_uint_eq(info->groups[0], 5);
        ck_assert_uint_eq(info->n_users, 2);
        ck_assert_uint_eq(info->users[0], 0);
        ck_assert_uint_eq(info->users[1], UID_NOBODY);
        ck_assert_uint_eq(info->aperture.start, 0);
        ck_assert_uint_eq(info->aperture.end, (UINT64_C(1) << 39) - 1);
        ck_assert_uint_eq(info->n_usable_ranges, 2);
        ck_assert_uint_eq(info->usable_ranges[0].start, 0);
        ck_assert_uint_eq(info->usable_ranges[0].end, MSI_START - 1);
        ck_assert_uint_eq(info->usable_ranges[1].start, MSI_END + 1);
        ck_assert_uint_eq(info->usable_ranges[1].end, (UINT64_C(1) << 39) - 1);
        ck_assert(info->page_sizes & PAGE);
        ck_assert_uint_eq(info->dma_mappings_available, 65535);
        ck_assert(!info->reserve_peer_windows);
        for (size_t i = 0; i < info->n_reserved_regions; i++)
                if (info->reserved_regions[i].start == MSI_START && info->reserved_regions[i].end == MSI_END &&
                    streq(info->reserved_regions[i].type, "msi") && streq(info->reserved_regions[i].origin, "group 5"))
                        msi = true;
        ck_assert_msg(msi, "the MSI window of group 5 is not among the reserved regions");
        info = iovad_container_info_free(info);
        ck_assert_int_eq(iovad_container_get_info(h, "p2p", &info), 0);
        ck_assert(info->reserve_peer_windows);
        info = iovad_container_info_free(info);
        ck_assert_int_eq(iovad_container_get_info(h, "nope", &info), -ENOENT);
        ck_assert_ptr_null(info);

        /* Devices and the container references a runtime hands to a workload. */
        ck_assert_int_eq(iovad_device_container(h, "01:00.0", &name), 1);
        ck_assert_str_eq(name, "c");
        name = mfree_(name);
        ck_assert_int_eq(iovad_device_container(h, "0000:02:00.0", &name), 0);
        ck_assert_ptr_null(name);
        ck_assert_int_eq(iovad_device_container(h, "0000:7f:00.0", &name), -ENODEV);
        assert_error(h, -ENODEV, IOVAD_ERROR_NO_SUCH_DEVICE);
        ck_assert_int_eq(iovad_device_container(h, "zz", &name), -EINVAL);
        assert_error(h, -EINVAL, NULL);
        ck_assert_int_eq(iovad_resolve_container(h, "c", &name), 0);
        ck_assert_str_eq(name, "c");
        name = mfree_(name);
        ck_assert_int_eq(iovad_resolve_container(h, "device:0000:01:00.0", &name), 0);
        ck_assert_str_eq(name, "c");
        name = mfree_(name);
        ck_assert_int_eq(iovad_resolve_container(h, "device:01:00.1", &name), 0);
        ck_assert_str_eq(name, "c");
        name = mfree_(name);
        ck_assert_int_eq(iovad_resolve_container(h, "device:02:00.0", &name), -ENXIO);
        assert_error(h, -ENXIO, NULL);
        ck_assert_int_eq(iovad_resolve_container(h, "device:0000:7f:00.0", &name), -ENODEV);
        ck_assert_int_eq(iovad_resolve_container(h, "device:", &name), -EINVAL);
        ck_assert_int_eq(iovad_resolve_container(h, "", &name), -EINVAL);
        ck_assert_int_eq(iovad_resolve_container(h, "nope", &name), -ENOENT);
        assert_error(h, -ENOENT, IOVAD_ERROR_NO_SUCH_CONTAINER);
        ck_assert_ptr_null(name);

        /* Device fds: of a device in the container; not of one in none. */
        ck_assert_int_eq(iovad_device_open(h, "01:00.0", &fd), 0);
        ck_assert_int_gt(fd, 2);
        ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
        ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        ck_assert_int_eq(iovad_container_detach_group(h, "c", 5), -EBUSY);
        assert_error(h, -EBUSY, IOVAD_ERROR_BUSY);
        close(fd);
        fd = -1;
        ck_assert_int_eq(iovad_device_open(h, "02:00.0", &fd), -ENXIO);
        assert_error(h, -ENXIO, IOVAD_ERROR_NOT_ATTACHED);
        ck_assert_int_eq(fd, -1);
        ck_assert_int_eq(iovad_device_open(h, "1:0.0", &fd), -EINVAL);
        assert_error(h, -EINVAL, NULL);

        /* Drivers: 00:14.0 goes to vfio-pci and back. */
        ck_assert_int_eq(iovad_device_bind(h, "00:14.0"), 0);
        {
                _cleanup_(freep) char *dev = iovad_device_path("0000:00:14.0");
                _cleanup_(freep) char *driver = prop_s(iovad_get_bus(h), dev, IOVAD_DEVICE_IFACE, "Driver");
                ck_assert_str_eq(driver, "vfio-pci");
                ck_assert_int_eq(iovad_device_unbind(h, "00:14.0"), 0);
                free(driver);
                driver = prop_s(iovad_get_bus(h), dev, IOVAD_DEVICE_IFACE, "Driver");
                ck_assert_str_eq(driver, "xhci_hcd");
        }
        ck_assert_int_eq(iovad_device_bind(h, "0000:7f:00.0"), -ENODEV);
        ck_assert_int_eq(iovad_device_unbind(h, "bogus"), -EINVAL);

        ck_assert_int_eq(iovad_container_detach_group(h, "c", 5), 0);
        ck_assert_int_eq(iovad_container_detach_group(h, "c", 5), -ENXIO);
        assert_error(h, -ENXIO, IOVAD_ERROR_NOT_ATTACHED);
        ck_assert_int_eq(iovad_container_destroy(h, "c"), 0);
        ck_assert_int_eq(iovad_container_destroy(h, "c"), -ENOENT);
        ck_assert_int_eq(iovad_container_destroy(h, "p2p"), 0);
        ck_assert_int_eq(iovad_list_containers(h, &names), 0);
        names = iovad_strv_free(names);
        iovad_free(h);
        env_stop(&e);
}
END_TEST

START_TEST(test_leases) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        iovad_lease_options o = {};
        iovad_lease_info fixed, aligned, mapped, ro, alloc, got, *leases = NULL;
        iovad *h, *h2;
        int memfd, unsealed, fd = -1;
        char id[32];
        BusEnv e;

        env_start(&e, NULL, NULL);
        h = open_handle();
        ck_assert_int_eq(iovad_container_create(h, "c", NULL, 0, 0, &c), 0);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &fixed), -ENXIO);
        assert_error(h, -ENXIO, IOVAD_ERROR_NOT_ATTACHED);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), 0);

        /* Lease: a fixed address, persistent; an aligned one below 4 GiB. */
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_FIXED_IOVA | IOVAD_LEASE_PERSISTENT, .iova = 0xe8000 };
        ck_assert_int_eq(iovad_lease(h, "c", 2 * PAGE, &o, &fixed), 0);
        ck_assert_uint_eq(fixed.iova, 0xe8000);
        ck_assert_uint_eq(fixed.size, 2 * PAGE);
        ck_assert(!fixed.mapped);
        ck_assert_uint_gt(fixed.id, 0);
        xsprintf(id, "/org/iovad1/lease/%llu", (unsigned long long) fixed.id);
        ck_assert_str_eq(fixed.object, id);
        ck_assert_int_eq(iovad_lease_get_info(h, fixed.object, &got), 0);
        ck_assert_uint_eq(got.iova, 0xe8000);
        ck_assert_uint_eq(got.size, 2 * PAGE);
        ck_assert_uint_eq(got.id, fixed.id);
        ck_assert(got.persistent);
        ck_assert(!got.mapped);
        ck_assert_uint_eq(got.owner, 0);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_ALIGNMENT | IOVAD_LEASE_LIMIT, .alignment = 2 << 20,
                                    .limit = 0xffffffff };
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, &o, &aligned), 0);
        ck_assert_uint_eq(aligned.iova % (2 << 20), 0);
        ck_assert_uint_le(aligned.iova + PAGE - 1, 0xffffffff);
        xsprintf(id, "%llu", (unsigned long long) aligned.id);
        ck_assert_int_eq(iovad_lease_get_info(h, id, &got), 0);
        ck_assert(!got.persistent);
        ck_assert_uint_eq(got.iova, aligned.iova);

        /* Refusals: the daemon's names and errnos; the library's own without a name. */
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_FIXED_IOVA, .iova = MSI_START };
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, &o, &got), -EADDRINUSE);
        assert_error(h, -EADDRINUSE, IOVAD_ERROR_RESERVED_CONFLICT);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE + 1, NULL, &got), -EINVAL);
        assert_error(h, -EINVAL, ERR_INVALID_ARGS);
        ck_assert_int_eq(iovad_lease(h, "nope", PAGE, NULL, &got), -ENOENT);
        assert_error(h, -ENOENT, IOVAD_ERROR_NO_SUCH_CONTAINER);
        ck_assert_int_eq(iovad_lease(h, "c", UINT64_C(1) << 40, NULL, &got), -ENOSPC);
        assert_error(h, -ENOSPC, IOVAD_ERROR_NO_SPACE);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_HUGEPAGES };
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, &o, &got), -EINVAL);
        assert_error(h, -EINVAL, ERR_INVALID_ARGS);
        o = (iovad_lease_options) { .flags = UINT64_C(1) << 33 };
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, &o, &got), -EINVAL);
        assert_error(h, -EINVAL, NULL);
        o = (iovad_lease_options) { .reserved[2] = 1 };
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, &o, &got), -EINVAL);
        assert_error(h, -EINVAL, NULL);

        /* MapMemory: the client's memfd, written before and after. */
        memfd = sealed_memfd(4 * PAGE, F_SEAL_GROW);
        check_memory(memfd, 4 * PAGE, 1);
        ck_assert_int_eq(iovad_map_memory(h, "c", memfd, 0, 4 * PAGE, NULL, &mapped), 0);
        ck_assert(mapped.mapped);
        ck_assert(mapped.writable);
        ck_assert_uint_eq(mapped.size, 4 * PAGE);
        check_memory(memfd, 4 * PAGE, 2);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_READONLY | IOVAD_LEASE_FIXED_IOVA, .iova = 0x40000000 };
        ck_assert_int_eq(iovad_map_memory(h, "c", memfd, PAGE, PAGE, &o, &ro), 0);
        ck_assert_uint_eq(ro.iova, 0x40000000);
        ck_assert(!ro.writable);
        ck_assert_int_eq(iovad_lease_get_info(h, ro.object, &got), 0);
        ck_assert(!got.writable);
        ck_assert(got.mapped);
        unsealed = memfd_create("unsealed", MFD_CLOEXEC);
        ck_assert_int_ge(unsealed, 0);
        ck_assert_int_eq(ftruncate(unsealed, PAGE), 0);
        ck_assert_int_eq(iovad_map_memory(h, "c", unsealed, 0, PAGE, NULL, &got), -EBADF);
        assert_error(h, -EBADF, IOVAD_ERROR_BAD_MEMORY);
        ck_assert_int_eq(iovad_map_memory(h, "c", memfd, 0, 8 * PAGE, NULL, &got), -EBADF);
        assert_error(h, -EBADF, IOVAD_ERROR_BAD_MEMORY);
        ck_assert_int_eq(iovad_map_memory(h, "c", -1, 0, PAGE, NULL, &got), -EBADF);
        assert_error(h, -EBADF, NULL);
        close(unsealed);

        /* AllocateMapped: iovad's sealed memfd, which the client reads back. */
        ck_assert_int_eq(iovad_allocate_mapped(h, "c", 8 * PAGE, NULL, &alloc, &fd), 0);
        ck_assert_int_gt(fd, 2);
        ck_assert(alloc.mapped);
        ck_assert(alloc.writable);
        ck_assert(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
        check_memory(fd, 8 * PAGE, 3);
        close(fd);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_READONLY | IOVAD_LEASE_LIMIT, .limit = 0xffffffff };
        ck_assert_int_eq(iovad_allocate_mapped(h, "c", PAGE, &o, &got, NULL), 0);
        ck_assert(!got.writable);
        ck_assert_uint_le(got.iova + PAGE - 1, 0xffffffff);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_FIXED_IOVA, .iova = 0 };
        ck_assert_int_eq(iovad_allocate_mapped(h, "c", PAGE, &o, &got, &fd), -EINVAL);
        assert_error(h, -EINVAL, ERR_INVALID_ARGS);
        ck_assert_int_eq(iovad_allocate_mapped(h, "c", 0, NULL, &got, &fd), -EINVAL);

        /* Six leases: fixed, aligned, mapped, ro, alloc and the read-only allocation; ListLeases shows them. */
        ck_assert_int_eq(iovad_container_list_leases(h, "c", &leases), 6);
        {
                bool seen = false;
                for (size_t i = 0; i < 6; i++)
                        if (leases[i].id == fixed.id && leases[i].iova == 0xe8000 && !leases[i].mapped &&
                            streq(leases[i].object, fixed.object))
                                seen = true;
                ck_assert(seen);
        }
        leases = mfree_(leases);
        ck_assert_int_eq(iovad_container_list_leases(h, "nope", &leases), -ENOENT);

        /* Release, by id and by path; a lease once only. */
        xsprintf(id, "%llu", (unsigned long long) aligned.id);
        ck_assert_int_eq(iovad_release(h, id), 0);
        ck_assert_int_eq(iovad_release(h, id), -ENOENT);
        assert_error(h, -ENOENT, IOVAD_ERROR_NO_SUCH_LEASE);
        ck_assert_int_eq(iovad_lease_get_info(h, id, &got), -ENOENT);
        ck_assert_int_eq(iovad_release(h, mapped.object), 0);
        ck_assert_int_eq(iovad_release(h, "bogus"), -EINVAL);
        assert_error(h, -EINVAL, NULL);
        ck_assert_int_eq(iovad_release(h, "/org/iovad1/container/c"), -EINVAL);
        assert_error(h, -EINVAL, NULL);
        ck_assert_int_eq(iovad_release(h, NULL), -EINVAL);

        ck_assert_int_eq(iovad_container_list_leases(h, "c", &leases), 4);
        leases = mfree_(leases);

        /* Closing the handle ends its connection and with it every lease but the persistent one. */
        iovad_free(h);
        bus = env_connect();
        wait_leases(bus, c, 1);
        h2 = open_handle();
        ck_assert_int_eq(iovad_container_list_leases(h2, "c", &leases), 1);
        ck_assert_uint_eq(leases[0].id, fixed.id);
        leases = mfree_(leases);
        ck_assert_int_eq(iovad_release(h2, fixed.object), 0);
        iovad_free(h2);
        close(memfd);
        env_stop(&e);
}
END_TEST

/* What the asynchronous tests' callbacks saw. */
typedef struct Done {
        unsigned calls;
        int result;
        iovad_lease_info info;
        bool has_info;
        int memfd;
        char error_name[128];
        sd_event *event;
        unsigned want; /* exit the loop after this many */
        iovad_call *call;
} Done;

static void on_done(iovad *h, int result, const iovad_lease_info *info, int memfd, void *userdata) {
        Done *d = userdata;
        const char *name = NULL;

        d->calls++;
        d->result = result;
        d->has_info = info != NULL;
        if (info)
                d->info = *info;
        d->memfd = memfd;
        /* The callback's own error, as the synchronous call would leave it. */
        ck_assert_int_eq(iovad_last_error(h, &name, NULL), result < 0 ? result : 0);
        snprintf(d->error_name, sizeof(d->error_name), "%s", name ?: "");
        if (d->event && d->calls == d->want)
                sd_event_exit(d->event, 0);
}

static void on_never(iovad *h, int result, const iovad_lease_info *info, int memfd, void *userdata) {
        ck_abort_msg("a cancelled call's callback ran");
}

START_TEST(test_async_sd_event) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        Done lease = {}, map = {}, alloc = {}, fail = {}, rel = {}, relfail = {};
        iovad_call *call = NULL, *cancelled = NULL;
        iovad_lease_options o = {};
        iovad_lease_info got;
        int memfd;
        iovad *h;
        BusEnv e;

        env_start(&e, NULL, NULL);
        h = open_handle();
        ck_assert_int_eq(iovad_container_create(h, "c", NULL, 0, 0, NULL), 0);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), 0);
        ck_assert_int_eq(sd_event_new(&event), 0);
        ck_assert_int_eq(iovad_attach_event(h, event, SD_EVENT_PRIORITY_NORMAL), 0);
        ck_assert_int_eq(iovad_attach_event(h, event, SD_EVENT_PRIORITY_NORMAL), -EBUSY);
        assert_error(h, -EBUSY, NULL);

        /* Four at once, one of them refused; all complete from the loop, not from the calls. */
        memfd = sealed_memfd(2 * PAGE, 0);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_LIMIT, .limit = 0xffffffff };
        ck_assert_int_eq(iovad_lease_async(h, "c", 4 * PAGE, &o, on_done, &lease, &call), 0);
        ck_assert_ptr_nonnull(call);
        ck_assert_int_eq(iovad_map_memory_async(h, "c", memfd, 0, 2 * PAGE, NULL, on_done, &map, NULL), 0);
        /* The library keeps its own copy of the memfd until the call carries it. */
        close(memfd);
        ck_assert_int_eq(iovad_allocate_mapped_async(h, "c", 4 * PAGE, NULL, on_done, &alloc, NULL), 0);
        ck_assert_int_eq(iovad_lease_async(h, "nope", PAGE, NULL, on_done, &fail, NULL), 0);
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, on_never, NULL, &cancelled), 0);
        ck_assert_ptr_null(iovad_call_cancel(cancelled));
        ck_assert_uint_eq(lease.calls + map.calls + alloc.calls + fail.calls, 0);

        while (lease.calls + map.calls + alloc.calls + fail.calls < 4)
                ck_assert_int_ge(sd_event_run(event, 10 * 1000 * 1000), 0);
        ck_assert_int_eq(lease.result, 0);
        ck_assert(lease.has_info);
        ck_assert_uint_le(lease.info.iova + 4 * PAGE - 1, 0xffffffff);
        ck_assert_uint_eq(lease.info.size, 4 * PAGE);
        ck_assert(!lease.info.mapped);
        ck_assert_int_eq(lease.memfd, -1);
        ck_assert_int_eq(map.result, 0);
        ck_assert(map.info.mapped);
        ck_assert_int_eq(alloc.result, 0);
        ck_assert(alloc.info.mapped);
        ck_assert_int_gt(alloc.memfd, 2);
        check_memory(alloc.memfd, 4 * PAGE, 4);
        close(alloc.memfd);
        ck_assert_int_eq(fail.result, -ENOENT);
        ck_assert(!fail.has_info);
        ck_assert_str_eq(fail.error_name, IOVAD_ERROR_NO_SUCH_CONTAINER);

        /* What the callbacks said is what iovad has. */
        ck_assert_int_eq(iovad_lease_get_info(h, lease.info.object, &got), 0);
        ck_assert_uint_eq(got.iova, lease.info.iova);
        ck_assert_int_eq(iovad_lease_get_info(h, alloc.info.object, &got), 0);
        ck_assert(got.mapped);

        ck_assert_int_eq(iovad_release_async(h, lease.info.object, on_done, &rel, NULL), 0);
        ck_assert_int_eq(iovad_release_async(h, "999999", on_done, &relfail, NULL), 0);
        ck_assert_int_eq(iovad_release_async(h, "bogus", on_done, &relfail, NULL), -EINVAL);
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, NULL, NULL, NULL), -EINVAL);
        while (rel.calls + relfail.calls < 2)
                ck_assert_int_ge(sd_event_run(event, 10 * 1000 * 1000), 0);
        ck_assert_int_eq(rel.result, 0);
        ck_assert(!rel.has_info);
        ck_assert_int_eq(relfail.result, -ENOENT);
        ck_assert_str_eq(relfail.error_name, IOVAD_ERROR_NO_SUCH_LEASE);
        ck_assert_int_eq(iovad_lease_get_info(h, lease.info.object, &got), -ENOENT);

        /* The loop also runs sd_event_loop() style, and a handle may go with calls in flight. */
        ck_assert_int_eq(iovad_detach_event(h), 0);
        ck_assert_int_eq(iovad_attach_event(h, event, SD_EVENT_PRIORITY_NORMAL), 0);
        lease = (Done) { .event = event, .want = 1 };
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, on_done, &lease, NULL), 0);
        ck_assert_int_eq(sd_event_loop(event), 0);
        ck_assert_int_eq(lease.result, 0);
        /* As sd-bus does: the loop's exit flushed and closed the connection. */
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, on_never, NULL, NULL), -ENOTCONN);
        assert_error(h, -ENOTCONN, NULL);
        iovad_free(h);

        /* A handle freed with a call in flight: the call is cancelled, its memory freed. */
        h = open_handle();
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, on_never, NULL, NULL), 0);
        ck_assert_int_eq(iovad_map_memory_async(h, "c", 0, 0, PAGE, NULL, on_never, NULL, NULL), 0);
        iovad_free(h);
        env_stop(&e);
}
END_TEST

static void on_done_cancel_self(iovad *h, int result, const iovad_lease_info *info, int memfd, void *userdata) {
        Done *d = userdata;

        on_done(h, result, info, memfd, userdata);
        /* Too late to cancel: a no-op, not a double free. */
        ck_assert_ptr_null(iovad_call_cancel(d->call));
}

static void on_done_free(iovad *h, int result, const iovad_lease_info *info, int memfd, void *userdata) {
        on_done(h, result, info, memfd, userdata);
        iovad_free(h);
}

/* A poll() loop, as a program with its own event loop drives the handle. */
static void poll_until(iovad *h, const unsigned *calls, unsigned want) {
        uint64_t deadline = now_usec() + 30 * 1000 * 1000;

        while (*calls < want) {
                struct pollfd p = {};
                uint64_t timeout;
                int events;

                ck_assert_uint_lt(now_usec(), deadline);
                p.fd = iovad_get_fd(h);
                ck_assert_int_ge(p.fd, 0);
                events = iovad_get_events(h);
                ck_assert_int_ge(events, 0);
                p.events = (short) events;
                ck_assert_int_eq(iovad_get_timeout(h, &timeout), 0);
                ck_assert_int_ge(poll(&p, 1, timeout == UINT64_MAX || timeout > 1000000 ? 1000 : (int) (timeout / 1000)), 0);
                ck_assert_int_eq(iovad_process(h), 0);
        }
}

START_TEST(test_async_poll) {
        Done lease = {}, alloc = {}, rel = {}, map = {};
        iovad_lease_options o = {};
        iovad *h;
        int memfd;
        BusEnv e;

        env_start(&e, NULL, NULL);
        h = open_handle();
        ck_assert_int_eq(iovad_container_create(h, "c", NULL, 0, 0, NULL), 0);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), 0);

        o = (iovad_lease_options) { .flags = IOVAD_LEASE_FIXED_IOVA, .iova = 0x10000000 };
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, &o, on_done, &lease, NULL), 0);
        ck_assert_int_eq(iovad_allocate_mapped_async(h, "c", 2 * PAGE, NULL, on_done, &alloc, NULL), 0);
        memfd = sealed_memfd(PAGE, 0);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_FIXED_IOVA, .iova = MSI_START };
        ck_assert_int_eq(iovad_map_memory_async(h, "c", memfd, 0, PAGE, &o, on_done, &map, NULL), 0);
        close(memfd);
        poll_until(h, &lease.calls, 1);
        poll_until(h, &alloc.calls, 1);
        poll_until(h, &map.calls, 1);
        ck_assert_int_eq(lease.result, 0);
        ck_assert_uint_eq(lease.info.iova, 0x10000000);
        ck_assert_int_eq(alloc.result, 0);
        check_memory(alloc.memfd, 2 * PAGE, 5);
        close(alloc.memfd);
        ck_assert_int_eq(map.result, -EADDRINUSE);
        ck_assert_str_eq(map.error_name, IOVAD_ERROR_RESERVED_CONFLICT);

        /* iovad_wait(), for a program without a loop. */
        ck_assert_int_eq(iovad_release_async(h, lease.info.object, on_done, &rel, NULL), 0);
        while (rel.calls < 1)
                ck_assert_int_eq(iovad_wait(h, 10 * 1000 * 1000), 0);
        ck_assert_int_eq(rel.result, 0);
        ck_assert_int_eq(iovad_release(h, alloc.info.object), 0);

        lease = (Done) {};
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, on_done_cancel_self, &lease, &lease.call), 0);
        while (lease.calls < 1)
                ck_assert_int_eq(iovad_wait(h, 10 * 1000 * 1000), 0);
        ck_assert_int_eq(lease.result, 0);
        ck_assert_int_eq(iovad_release(h, lease.info.object), 0);
        iovad_free(h);

        /* A callback may free its handle, with another call still in flight. */
        h = open_handle();
        lease = (Done) {};
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, on_done_free, &lease, NULL), 0);
        ck_assert_int_eq(iovad_lease_async(h, "c", PAGE, NULL, on_done_free, &lease, NULL), 0);
        while (lease.calls < 1)
                ck_assert_int_eq(iovad_wait(h, 10 * 1000 * 1000), 0);
        ck_assert_uint_eq(lease.calls, 1);
        env_stop(&e);
}
END_TEST

/* As uid 65534, a user of "c" with a quota of two leases. */
static void quota_client(void *userdata) {
        iovad_lease_info a, b, c;
        iovad *h = open_handle();

        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &a), 0);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &b), 0);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &c), -EDQUOT);
        assert_error(h, -EDQUOT, IOVAD_ERROR_QUOTA_EXCEEDED);
        ck_assert_int_eq(iovad_lease_get_info(h, a.object, &c), 0);
        ck_assert_uint_eq(c.owner, UID_NOBODY);
        /* Privileged calls are not a container user's. */
        ck_assert_int_eq(iovad_container_create(h, "mine", NULL, 0, 0, NULL), -EACCES);
        assert_error(h, -EACCES, ERR_ACCESS_DENIED);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 12), -EACCES);
        ck_assert_int_eq(iovad_device_bind(h, "00:14.0"), -EACCES);
        ck_assert_int_eq(iovad_release(h, a.object), 0);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &c), 0);
        iovad_free(h);
}

/* As uid 1000, not a user of "c". */
static void stranger_client(void *userdata) {
        const char *root_lease = userdata;
        iovad_lease_info got;
        iovad *h = open_handle();
        int fd = -1;

        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &got), -EACCES);
        assert_error(h, -EACCES, ERR_ACCESS_DENIED);
        ck_assert_int_eq(iovad_allocate_mapped(h, "c", PAGE, NULL, &got, &fd), -EACCES);
        ck_assert_int_eq(iovad_device_open(h, "01:00.0", &fd), -EACCES);
        assert_error(h, -EACCES, ERR_ACCESS_DENIED);
        ck_assert_int_eq(iovad_release(h, root_lease), -EACCES);
        assert_error(h, -EACCES, ERR_ACCESS_DENIED);
        iovad_free(h);
}

START_TEST(test_users_and_quota) {
        const uint32_t users[] = { 0, UID_NOBODY };
        iovad_lease_info mine;
        iovad *h;
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"leases\": 2 } }");
        h = open_handle();
        ck_assert_int_eq(iovad_container_create(h, "c", users, ELEMENTSOF(users), 0, NULL), 0);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), 0);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &mine), 0);
        run_as(UID_NOBODY, quota_client, NULL);
        run_as(UID_OTHER, stranger_client, mine.object);
        ck_assert_int_eq(iovad_release(h, mine.object), 0);
        iovad_free(h);
        env_stop(&e);
}
END_TEST

START_TEST(test_no_daemon) {
        iovad *h;
        iovad_lease_info got;
        const char *name;
        BusEnv e;

        env_start(&e, NULL, NULL);
        env_daemon_stop(&e);
        if (open_flags & IOVAD_OPEN_DIRECT) {
                /* A direct handle asks iovad at once: no daemon, no handle, the bus's errno. */
                h = NULL;
                ck_assert_int_eq(iovad_open(&h, open_flags), -EHOSTUNREACH);
                ck_assert_ptr_null(h);
                env_daemon_start(&e);
                env_stop(&e);
                return;
        }
        h = open_handle();
        /* Nobody owns org.iovad1 and nothing activates it: the bus says so. */
        ck_assert_int_lt(iovad_lease(h, "c", PAGE, NULL, &got), 0);
        ck_assert_int_lt(iovad_last_error(h, &name, NULL), 0);
        ck_assert_ptr_nonnull(name);
        ck_assert_msg(strncmp(name, "org.freedesktop.DBus.Error.", 27) == 0, "error %s", name);
        iovad_free(h);
        env_daemon_start(&e);
        env_stop(&e);
}
END_TEST

/* ---- Direct connections only ---- */

/* Up to @timeout_usec for iovad to see a closed direct connection: opening or leasing works again. */
static int retry_until_ok(int (*fn)(void *userdata), void *userdata) {
        uint64_t end = now_usec() + 10 * 1000 * 1000;
        int r;

        while ((r = fn(userdata)) < 0 && now_usec() < end)
                usleep(20 * 1000);
        return r;
}

/* Its own socket, peer to peer; fds both ways; its leases go with iovad_free(), as root sees on the bus. */
START_TEST(test_direct_handle) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(freep) char *c = NULL;
        iovad_lease_options o = {};
        iovad_lease_info plain, mapped, alloc, persistent;
        LeaseInfo li[8];
        Done later = {};
        sd_bus *b2;
        iovad *h, *h2;
        int memfd, allocfd = -1, devfd = -1;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        ck_assert_int_eq(iovad_open(&h, IOVAD_OPEN_DIRECT), 0);
        ck_assert_ptr_nonnull(iovad_get_bus(h));
        /* Not a bus client: no Hello, no unique name, no bus daemon in between. */
        ck_assert_int_eq(sd_bus_is_bus_client(iovad_get_bus(h)), 0);
        ck_assert_int_gt(iovad_get_fd(h), 2);

        /* Root may make the privileged calls on it. */
        ck_assert_int_eq(iovad_container_create(h, "c", NULL, 0, 0, &c), 0);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), 0);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &plain), 0);
        memfd = sealed_memfd(2 * PAGE, 0);
        ck_assert_int_eq(iovad_map_memory(h, "c", memfd, 0, 2 * PAGE, NULL, &mapped), 0);
        ck_assert(mapped.mapped);
        ck_assert_int_eq(iovad_allocate_mapped(h, "c", PAGE, NULL, &alloc, &allocfd), 0);
        ck_assert_int_gt(allocfd, 2);
        check_memory(allocfd, PAGE, 7);
        o = (iovad_lease_options) { .flags = IOVAD_LEASE_PERSISTENT };
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, &o, &persistent), 0);
        /* A device fd comes over the socket too. */
        ck_assert_int_eq(iovad_device_open(h, "01:00.0", &devfd), 0);
        ck_assert_int_gt(devfd, 2);
        close(devfd);
        /* Errors keep their names over it. */
        ck_assert_int_eq(iovad_lease(h, "nope", PAGE, NULL, &plain), -ENOENT);
        assert_error(h, -ENOENT, IOVAD_ERROR_NO_SUCH_CONTAINER);
        ck_assert_uint_eq(list_leases(bus, c, li, ELEMENTSOF(li)), 4);

        /* Freeing the handle closes the socket: all but the persistent lease go. */
        h = iovad_free(h);
        wait_leases(bus, c, 1);
        ck_assert_uint_eq(list_leases(bus, c, li, ELEMENTSOF(li)), 1);
        ck_assert_str_eq(li[0].path, persistent.object);
        release(bus, persistent.object);

        /* From iovad_open_bus() on a connection in an sd_event loop: the direct handle runs from that loop. */
        ck_assert_int_eq(sd_event_new(&event), 0);
        b2 = env_connect();
        ck_assert_int_eq(sd_bus_attach_event(b2, event, SD_EVENT_PRIORITY_NORMAL), 0);
        ck_assert_int_eq(iovad_open_bus(&h2, b2, IOVAD_OPEN_DIRECT), 0);
        ck_assert_ptr_ne(iovad_get_bus(h2), b2);
        ck_assert_ptr_eq(sd_bus_get_event(iovad_get_bus(h2)), event);
        /* Attached already, to the caller's loop. */
        ck_assert_int_eq(iovad_attach_event(h2, event, SD_EVENT_PRIORITY_NORMAL), -EBUSY);
        ck_assert_int_eq(iovad_map_memory_async(h2, "c", memfd, 0, PAGE, NULL, on_done, &later, NULL), 0);
        close(memfd);
        /* Run, not loop: the loop's exit would close the connections attached to it. */
        while (later.calls < 1)
                ck_assert_int_ge(sd_event_run(event, 10 * 1000 * 1000), 0);
        ck_assert_uint_eq(later.calls, 1);
        ck_assert_int_eq(later.result, 0);
        ck_assert(later.info.mapped);
        ck_assert_uint_eq(list_leases(bus, c, li, ELEMENTSOF(li)), 1);
        h2 = iovad_free(h2);
        wait_leases(bus, c, 0);
        /* The caller's connection is the caller's: the handle did not close it. */
        ck_assert_int_eq(sd_bus_is_open(b2), 1);
        sd_bus_flush_close_unref(b2);
        ck_assert_int_eq(allocfd >= 0 ? close(allocfd) : 0, 0);
        env_stop(&e);
}
END_TEST

static int lease_one(void *userdata) {
        iovad_lease_info l;

        return iovad_lease(userdata, "c", PAGE, NULL, &l);
}

/* As uid 65534, a user of "c" with a quota of two leases: one handle on the bus, one direct. */
static void direct_nobody_client(void *userdata) {
        iovad_lease_info a, b, c, got;
        const char *message;
        iovad *hb, *hd;

        ck_assert_int_eq(iovad_open(&hb, 0), 0);
        ck_assert_int_eq(iovad_open(&hd, IOVAD_OPEN_DIRECT), 0);
        /* The direct connection acts for 65534, as the bus does. */
        ck_assert_int_eq(iovad_lease(hd, "c", PAGE, NULL, &a), 0);
        ck_assert_int_eq(iovad_lease_get_info(hd, a.object, &got), 0);
        ck_assert_uint_eq(got.owner, UID_NOBODY);
        ck_assert_int_eq(iovad_lease_get_info(hb, a.object, &got), 0);
        ck_assert_uint_eq(got.owner, UID_NOBODY);
        /* One quota for the uid, over the bus and the direct connection together. */
        ck_assert_int_eq(iovad_lease(hb, "c", PAGE, NULL, &b), 0);
        ck_assert_int_eq(iovad_lease(hd, "c", PAGE, NULL, &c), -EDQUOT);
        assert_error(hd, -EDQUOT, IOVAD_ERROR_QUOTA_EXCEEDED);
        ck_assert_int_eq(iovad_lease(hb, "c", PAGE, NULL, &c), -EDQUOT);
        /* Persistent leases and the privileged calls: refused on the direct connection, saying so. */
        ck_assert_int_eq(iovad_container_create(hd, "mine", NULL, 0, 0, NULL), -EACCES);
        assert_error(hd, -EACCES, ERR_ACCESS_DENIED);
        ck_assert_int_eq(iovad_last_error(hd, NULL, &message), -EACCES);
        ck_assert_msg(strstr(message, "direct connection"), "the message does not say why: %s", message);
        ck_assert_int_eq(iovad_container_attach_group(hd, "c", 12), -EACCES);
        assert_error(hd, -EACCES, ERR_ACCESS_DENIED);
        ck_assert_int_eq(iovad_device_bind(hd, "00:14.0"), -EACCES);
        assert_error(hd, -EACCES, ERR_ACCESS_DENIED);
        ck_assert_int_eq(iovad_container_destroy(hd, "c"), -EACCES);
        assert_error(hd, -EACCES, ERR_ACCESS_DENIED);
        /* Another uid's lease is not 65534's over a direct connection either. */
        ck_assert_int_eq(iovad_release(hd, userdata), -EACCES);
        assert_error(hd, -EACCES, ERR_ACCESS_DENIED);
        /* Its own, over the bus's handle or the direct one alike. */
        ck_assert_int_eq(iovad_release(hd, b.object), 0);
        ck_assert_int_eq(iovad_lease(hd, "c", PAGE, NULL, &b), 0);
        /* The direct handle's leases go with it, and the quota with them. */
        hd = iovad_free(hd);
        ck_assert_int_eq(retry_until_ok(lease_one, hb), 0);
        ck_assert_int_eq(retry_until_ok(lease_one, hb), 0);
        ck_assert_int_eq(iovad_lease(hb, "c", PAGE, NULL, &c), -EDQUOT);
        iovad_free(hb);
}

START_TEST(test_direct_uid) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const uint32_t users[] = { 0, UID_NOBODY };
        _cleanup_(freep) char *c = NULL;
        iovad_lease_info mine;
        iovad *h;
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"leases\": 2 } }");
        bus = env_connect();
        h = open_handle();
        ck_assert_int_eq(iovad_container_create(h, "c", users, ELEMENTSOF(users), 0, &c), 0);
        ck_assert_int_eq(iovad_container_attach_group(h, "c", 5), 0);
        ck_assert_int_eq(iovad_lease(h, "c", PAGE, NULL, &mine), 0);
        run_as(UID_NOBODY, direct_nobody_client, mine.object);
        /* What 65534 left: the two leases of its bus handle, gone with it too. */
        wait_leases(bus, c, 1);
        ck_assert_int_eq(iovad_release(h, mine.object), 0);
        iovad_free(h);
        env_stop(&e);
}
END_TEST

/* As uid 1000, a stranger to "c", holding a direct connection root opened. */
static void capability_client(void *userdata) {
        iovad_lease_info got, info;
        int fd = *(int *) userdata, memfd = -1;
        iovad *hb, *hd;

        /* Over the bus 1000 is 1000. */
        ck_assert_int_eq(iovad_open(&hb, 0), 0);
        ck_assert_int_eq(iovad_lease(hb, "c", PAGE, NULL, &got), -EACCES);
        assert_error(hb, -EACCES, ERR_ACCESS_DENIED);
        iovad_free(hb);
        /* Whoever holds the fd acts as the uid that opened it: root. */
        ck_assert_int_eq(iovad_open_fd(&hd, fd, 0), 0);
        ck_assert_int_eq(iovad_allocate_mapped(hd, "c", PAGE, NULL, &got, &memfd), 0);
        check_memory(memfd, PAGE, 3);
        close(memfd);
        ck_assert_int_eq(iovad_lease_get_info(hd, got.object, &info), 0);
        ck_assert_uint_eq(info.owner, 0);
        ck_assert_int_eq(iovad_release(hd, got.object), 0);
        ck_assert_int_eq(iovad_lease(hd, "c", PAGE, NULL, &got), 0);
        /* The handle took the fd: it is closed with the handle. */
        iovad_free(hd);
        ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
        ck_assert_int_eq(errno, EBADF);
}

START_TEST(test_direct_open_fd) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const uint32_t users[] = { 0 };
        _cleanup_(freep) char *c = NULL;
        LeaseInfo li[4];
        int fd, copy, memfd, pair[2];
        iovad *h = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        reply = manager_ok(bus, "OpenDirectConnection", "a{sv}", 0);
        ck_assert_int_ge(sd_bus_message_read(reply, "h", &fd), 0);
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(copy, 0);
        /* The reply's own copy would keep the connection open. */
        reply = sd_bus_message_unref(reply);

        /* Refused, and the fd left as it was. */
        ck_assert_int_eq(iovad_open_fd(&h, -1, 0), -EBADF);
        ck_assert_int_eq(iovad_open_fd(&h, 1000, 0), -EBADF);
        memfd = sealed_memfd(PAGE, 0);
        ck_assert_int_eq(iovad_open_fd(&h, memfd, 0), -ENOTSOCK);
        ck_assert_int_ge(fcntl(memfd, F_GETFD), 0);
        close(memfd);
        ck_assert_int_eq(iovad_open_fd(&h, copy, UINT64_C(1) << 40), -EINVAL);
        ck_assert_int_eq(iovad_open_fd(NULL, copy, 0), -EINVAL);
        ck_assert_ptr_null(h);
        ck_assert_int_ge(fcntl(copy, F_GETFD), 0);

        /* A socket nobody serves: the start fails, nothing hangs, the fd is still the caller's. */
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        close(pair[1]);
        ck_assert_int_eq(iovad_open_fd(&h, pair[0], 0), -EPIPE);
        ck_assert_ptr_null(h);
        ck_assert_int_eq(close(pair[0]), 0);

        /* Handed to another uid: it acts as root there. */
        run_as(UID_OTHER, capability_client, &copy);
        /* This process's copy keeps the connection, and so the lease the child left, alive. */
        ck_assert_uint_eq(list_leases(bus, c, li, ELEMENTSOF(li)), 1);
        close(copy);
        wait_leases(bus, c, 0);
        env_stop(&e);
}
END_TEST

/* A direct connection ends with the iovad that served it: calls fail, a new handle works with the new iovad. */
START_TEST(test_direct_restart) {
        iovad_lease_info l;
        char **names = NULL;
        iovad *h, *h2;
        int r;
        BusEnv e;

        env_start(&e, NULL, NULL);
        ck_assert_int_eq(iovad_open(&h, IOVAD_OPEN_DIRECT), 0);
        ck_assert_int_eq(iovad_container_create(h, "c", NULL, 0, 0, NULL), 0);
        env_daemon_stop(&e);
        env_daemon_start(&e);
        r = iovad_lease(h, "c", PAGE, NULL, &l);
        ck_assert_msg(r == -ECONNRESET || r == -ENOTCONN, "a call on a dead direct connection: %d", r);
        ck_assert_int_eq(iovad_last_error(h, NULL, NULL), r);
        iovad_free(h);
        ck_assert_int_eq(iovad_open(&h2, IOVAD_OPEN_DIRECT), 0);
        ck_assert_int_ge(iovad_list_containers(h2, &names), 0);
        iovad_strv_free(names);
        iovad_free(h2);
        env_stop(&e);
}
END_TEST

static int open_direct_into(void *userdata) {
        return iovad_open(userdata, IOVAD_OPEN_DIRECT);
}

static void direct_one_client(void *userdata) {
        iovad *h;
        char **names = NULL;

        /* Another uid's direct connections do not count against this one's. */
        ck_assert_int_eq(iovad_open(&h, IOVAD_OPEN_DIRECT), 0);
        ck_assert_int_eq(iovad_list_containers(h, &names), 0);
        iovad_strv_free(names);
        iovad_free(h);
}

/* 8 direct connections per uid: the 9th is QuotaExceeded (-EDQUOT); a closed one frees its place. */
START_TEST(test_direct_limit) {
        iovad *h[8] = {}, *more = NULL, *bus_handle;
        char **names = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        for (size_t i = 0; i < ELEMENTSOF(h); i++)
                ck_assert_int_eq(iovad_open(&h[i], IOVAD_OPEN_DIRECT), 0);
        ck_assert_int_eq(iovad_open(&more, IOVAD_OPEN_DIRECT), -EDQUOT);
        ck_assert_ptr_null(more);
        /* The bus is not limited by it, and the open ones all work. */
        ck_assert_int_eq(iovad_open(&bus_handle, 0), 0);
        ck_assert_int_eq(iovad_list_containers(bus_handle, &names), 0);
        names = iovad_strv_free(names);
        for (size_t i = 0; i < ELEMENTSOF(h); i++) {
                ck_assert_int_eq(iovad_list_containers(h[i], &names), 0);
                names = iovad_strv_free(names);
        }
        ck_assert_int_eq(iovad_open_bus(&more, iovad_get_bus(bus_handle), IOVAD_OPEN_DIRECT), -EDQUOT);
        run_as(UID_NOBODY, direct_one_client, NULL);

        h[3] = iovad_free(h[3]);
        ck_assert_int_eq(retry_until_ok(open_direct_into, &h[3]), 0);
        ck_assert_int_eq(iovad_open(&more, IOVAD_OPEN_DIRECT), -EDQUOT);
        for (size_t i = 0; i < ELEMENTSOF(h); i++)
                iovad_free(h[i]);
        iovad_free(bus_handle);
        env_stop(&e);
}
END_TEST

int main(int argc, char *argv[]) {

        bool direct = argc == 2 && streq(argv[1], "--direct");
        Suite *s = suite_create(direct ? "libiovad-direct" : "libiovad");
        TCase *tc = env_tcase(direct ? "libiovad-direct" : "libiovad");
        SRunner *sr;
        int failed;

        if (argc > 2 || (argc == 2 && !direct)) {
                fprintf(stderr, "usage: %s [--direct]\n", argv[0]);
                return EXIT_FAILURE;
        }
        if (direct)
                open_flags = IOVAD_OPEN_DIRECT;
        env_init();
        tcase_add_test(tc, test_connection);
        tcase_add_test(tc, test_containers);
        tcase_add_test(tc, test_leases);
        tcase_add_test(tc, test_async_sd_event);
        tcase_add_test(tc, test_async_poll);
        tcase_add_test(tc, test_users_and_quota);
        tcase_add_test(tc, test_no_daemon);
        if (direct) {
                tcase_add_test(tc, test_direct_handle);
                tcase_add_test(tc, test_direct_uid);
                tcase_add_test(tc, test_direct_open_fd);
                tcase_add_test(tc, test_direct_limit);
                tcase_add_test(tc, test_direct_restart);
        }
        suite_add_tcase(s, tc);

        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
