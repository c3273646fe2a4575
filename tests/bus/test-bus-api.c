/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Interface v1 through sd-bus as root: every method of Manager, Container,
 * Lease and Device, and the error each refusal must carry, with the
 * container unchanged after every refusal.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bus-env.h"

#define APERTURE_39 ((1ULL << 39) - 1)
#define PAGE_SIZES_VTD (4096ULL | 2097152ULL | 1073741824ULL)

START_TEST(test_manager_properties) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *version = NULL, *backend = NULL, *platform = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        version = prop_s(bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "Version");
        backend = prop_s(bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "Backend");
        platform = prop_s(bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "Platform");
        ck_assert_str_eq(version, IOVAD_VERSION_EXPECTED);
        ck_assert_str_eq(backend, "simulated");
        ck_assert_str_eq(platform, "x86-vtd");

        /* Unknown groups, for both methods that take one without a container. */
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_GROUP, "GetGroupReservedRegions", "u", 4242);
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_GROUP, "GetGroupReservedRegions", "u", UINT32_MAX);
        env_stop(&e);
}
END_TEST

START_TEST(test_container_lifecycle) {
        static const char *const bad_names[] = {
                "", "a b", "a/b", "ä", "x123456789x123456789x123456789x123456789x123456789x123456789x12345",
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *added = NULL, *removed = NULL;
        _cleanup_(freep) char *path = NULL, *want = NULL, *name = NULL, *other = NULL;
        const char *n, *o, *got;
        Signal sa = {}, sr = {};
        uint32_t users[8];
        TRange ap;
        TRange usable[4];
        bool found = false;
        BusEnv e;
        int r;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        ck_assert_int_ge(sd_bus_match_signal(bus, &added, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH,
                                             "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", signal_record, &sa),
                         0);
        ck_assert_int_ge(sd_bus_match_signal(bus, &removed, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH,
                                             "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", signal_record,
                                             &sr),
                         0);

        /* A name that needs escaping: the path is sd_bus_path_encode()'s. */
        path = create_container(bus, "vm-1.a_b", NULL, 0);
        want = iovad_container_path("vm-1.a_b");
        ck_assert_str_eq(path, want);
        process_until(bus, &sa.seen, 10 * 1000 * 1000);
        ck_assert_int_ge(sd_bus_message_read(sa.last, "o", &got), 0);
        ck_assert_str_eq(got, path);

        reply = manager_ok(bus, "GetContainer", "s", "vm-1.a_b");
        ck_assert_int_ge(sd_bus_message_read(reply, "o", &got), 0);
        ck_assert_str_eq(got, path);
        reply = sd_bus_message_unref(reply);

        reply = manager_ok(bus, "ListContainers", NULL);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(so)"), 0);
        while ((r = sd_bus_message_read(reply, "(so)", &n, &o)) > 0) {
                ck_assert_str_eq(n, "vm-1.a_b");
                ck_assert_str_eq(o, path);
                found = true;
        }
        ck_assert_int_ge(r, 0);
        ck_assert(found);
        reply = sd_bus_message_unref(reply);

        /* Before any attach: no domain, no IOVA space. */
        name = prop_s(bus, path, IOVAD_CONTAINER_IFACE, "Name");
        ck_assert_str_eq(name, "vm-1.a_b");
        ck_assert_uint_eq(prop_au(bus, path, IOVAD_CONTAINER_IFACE, "Users", users, 8), 1);
        ck_assert_uint_eq(users[0], 0); /* default: the caller */
        ck_assert_uint_eq(prop_au(bus, path, IOVAD_CONTAINER_IFACE, "Groups", users, 8), 0);
        ap = prop_range(bus, path, IOVAD_CONTAINER_IFACE, "Aperture");
        ck_assert_uint_eq(ap.start, 0);
        ck_assert_uint_eq(ap.end, 0);
        ck_assert_uint_eq(prop_ranges(bus, path, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, 4), 0);
        ck_assert_uint_eq(prop_u(bus, path, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 0);
        {
                TRegion regs[4];
                ck_assert_uint_eq(prop_regions(bus, path, regs, 4), 0);
        }

        /* Refusals. */
        manager_fail(bus, IOVAD_ERROR_EXISTS, "CreateContainer", "sa{sv}", "vm-1.a_b", 0);
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, "GetContainer", "s", "nope");
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++)
                manager_fail(bus, ERR_INVALID_ARGS, "CreateContainer", "sa{sv}", bad_names[i], 0);
        manager_fail(bus, ERR_INVALID_ARGS, "CreateContainer", "sa{sv}", "x", 1, "colour", "s", "blue");
        manager_fail(bus, ERR_INVALID_ARGS, "CreateContainer", "sa{sv}", "x", 1, "users", "u", 65534);
        manager_fail(bus, ERR_INVALID_ARGS, "CreateContainer", "sa{sv}", "x", 1, "users", "as", 1, "nobody");
        manager_fail(bus, ERR_INVALID_ARGS, "CreateContainer", "sa{sv}", "x", 1, "users", "au", 0);
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, "GetContainer", "s", "x");

        /* Users are kept sorted and unique. */
        {
                const uid_t u[] = { UID_NOBODY, UID_OTHER, UID_NOBODY };
                other = create_container(bus, "shared", u, ELEMENTSOF(u));
                ck_assert_uint_eq(prop_au(bus, other, IOVAD_CONTAINER_IFACE, "Users", users, 8), 2);
                ck_assert_uint_eq(users[0], UID_OTHER);
                ck_assert_uint_eq(users[1], UID_NOBODY);
        }

        sd_bus_message_unref(container_ok(bus, path, "Destroy", NULL));
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, "GetContainer", "s", "vm-1.a_b");
        container_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, path, "Destroy", NULL);
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, path, IOVAD_CONTAINER_IFACE, "Name");
        process_until(bus, &sr.seen, 10 * 1000 * 1000);
        ck_assert_int_ge(sd_bus_message_read(sr.last, "o", &got), 0);
        ck_assert_str_eq(got, path);

        /* The name is free again. */
        free(path);
        path = create_container(bus, "vm-1.a_b", NULL, 0);
        sd_bus_message_unref(sa.last);
        sd_bus_message_unref(sr.last);
        env_stop(&e);
}
END_TEST

START_TEST(test_attach_detach) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *d = NULL, *dev5 = NULL, *dev12 = NULL, *in5 = NULL, *in12 = NULL,
                              *before = NULL;
        uint32_t groups[8];
        TRange usable[8], ap;
        TRegion regs[8];
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        d = create_container(bus, "d", NULL, 0);

        attach(bus, c, 5);
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", groups, 8), 1);
        ck_assert_uint_eq(groups[0], 5);
        ap = prop_range(bus, c, IOVAD_CONTAINER_IFACE, "Aperture");
        ck_assert_uint_eq(ap.start, 0);
        ck_assert_uint_eq(ap.end, APERTURE_39);
        ck_assert_uint_eq(prop_regions(bus, c, regs, 8), 1);
        ck_assert_uint_eq(regs[0].start, MSI_START);
        ck_assert_uint_eq(regs[0].end, MSI_END);
        ck_assert_str_eq(regs[0].type, "msi");
        ck_assert_str_eq(regs[0].origin, "group 5");
        ck_assert_uint_eq(prop_ranges(bus, c, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, 8), 2);
        ck_assert_uint_eq(usable[0].start, 0);
        ck_assert_uint_eq(usable[0].end, MSI_START - 1);
        ck_assert_uint_eq(usable[1].start, MSI_END + 1);
        ck_assert_uint_eq(usable[1].end, APERTURE_39);
        ck_assert_uint_eq(prop_t(bus, c, IOVAD_CONTAINER_IFACE, "PageSizes"), PAGE_SIZES_VTD);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);

        /* Devices know their container. */
        dev5 = iovad_device_path("0000:01:00.0");
        dev12 = iovad_device_path("0000:02:00.0");
        in5 = prop_s(bus, dev5, IOVAD_DEVICE_IFACE, "Container");
        in12 = prop_s(bus, dev12, IOVAD_DEVICE_IFACE, "Container");
        ck_assert_str_eq(in5, c);
        ck_assert_str_eq(in12, "/");

        /* Refusals change nothing. */
        before = container_snapshot(bus, c);
        container_fail(bus, IOVAD_ERROR_EXISTS, c, "AttachGroup", "u", 5);
        container_fail(bus, IOVAD_ERROR_EXISTS, c, "CheckAttach", "u", 5);
        container_fail(bus, IOVAD_ERROR_BUSY, d, "AttachGroup", "u", 5);
        container_fail(bus, IOVAD_ERROR_BUSY, d, "CheckAttach", "u", 5);
        container_fail(bus, IOVAD_ERROR_NO_SUCH_GROUP, c, "AttachGroup", "u", 4242);
        container_fail(bus, IOVAD_ERROR_NO_SUCH_GROUP, c, "CheckAttach", "u", 4242);
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "DetachGroup", "u", 12);
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "DetachGroup", "u", 4242);
        assert_unchanged(bus, c, before, "refused attaches and detaches");

        attach(bus, c, 12);
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", groups, 8), 2);
        ck_assert_uint_eq(groups[0], 5);
        ck_assert_uint_eq(groups[1], 12);
        free(in12);
        in12 = prop_s(bus, dev12, IOVAD_DEVICE_IFACE, "Container");
        ck_assert_str_eq(in12, c);

        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 5));
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", groups, 8), 1);
        ck_assert_uint_eq(groups[0], 12);
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "DetachGroup", "u", 5);
        free(in5);
        in5 = prop_s(bus, dev5, IOVAD_DEVICE_IFACE, "Container");
        ck_assert_str_eq(in5, "/");

        /* A detached group is free for another container. */
        attach(bus, d, 5);
        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 12));
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", groups, 8), 0);
        ck_assert_uint_eq(prop_ranges(bus, c, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, 8), 0);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 0);
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "Lease", "ta{sv}", PAGE, 0);

        /* Destroy gives the groups back. */
        sd_bus_message_unref(container_ok(bus, d, "Destroy", NULL));
        attach(bus, c, 5);
        env_stop(&e);
}
END_TEST

START_TEST(test_properties_changed_on_attach) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(freep) char *c = NULL;
        const char *iface, *prop;
        bool groups_seen = false, usable_seen = false;
        Signal s = {};
        BusEnv e;
        int r;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        ck_assert_int_ge(sd_bus_match_signal(bus, &slot, IOVAD_BUS_NAME, c, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged", signal_record, &s),
                         0);
        attach(bus, c, 5);
        process_until(bus, &s.seen, 10 * 1000 * 1000);

        ck_assert_int_ge(sd_bus_message_read(s.last, "s", &iface), 0);
        ck_assert_str_eq(iface, IOVAD_CONTAINER_IFACE);
        ck_assert_int_ge(sd_bus_message_enter_container(s.last, 'a', "{sv}"), 0);
        while ((r = sd_bus_message_enter_container(s.last, 'e', "sv")) > 0) {
                ck_assert_int_ge(sd_bus_message_read(s.last, "s", &prop), 0);
                if (streq(prop, "Groups")) {
                        const void *data;
                        size_t size;
                        ck_assert_int_ge(sd_bus_message_enter_container(s.last, 'v', "au"), 0);
                        ck_assert_int_ge(sd_bus_message_read_array(s.last, 'u', &data, &size), 0);
                        ck_assert_uint_eq(size, sizeof(uint32_t));
                        ck_assert_uint_eq(*(const uint32_t *) data, 5);
                        ck_assert_int_ge(sd_bus_message_exit_container(s.last), 0);
                        groups_seen = true;
                } else {
                        usable_seen = usable_seen || streq(prop, "UsableRanges");
                        ck_assert_int_ge(sd_bus_message_skip(s.last, "v"), 0);
                }
                ck_assert_int_ge(sd_bus_message_exit_container(s.last), 0);
        }
        ck_assert_int_ge(r, 0);
        ck_assert_msg(groups_seen, "PropertiesChanged on attach lacks Groups");
        ck_assert_msg(usable_seen, "PropertiesChanged on attach lacks UsableRanges");

        /* And on detach. */
        s.seen = false;
        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 5));
        process_until(bus, &s.seen, 10 * 1000 * 1000);
        sd_bus_message_unref(s.last);
        env_stop(&e);
}
END_TEST

START_TEST(test_lease_basic) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *l = NULL, *owner_c = NULL;
        _cleanup_(closep) int fd = -1;
        uint64_t iova, id;
        LeaseInfo li[4];
        char tail;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);

        /* No group, no IOVA space. */
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "Lease", "ta{sv}", PAGE, 0);
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "AllocateMapped", "ta{sv}", PAGE, 0);
        fd = sealed_memfd(PAGE, 0);
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "MapMemory", "htta{sv}", fd, 0, PAGE, 0);
        ck_assert_uint_eq(list_leases(bus, c, li, 4), 0);

        attach(bus, c, 5);
        l = lease(bus, c, 2 * PAGE, &iova);
        ck_assert_msg(sscanf(l, IOVAD_LEASE_PREFIX "/%" SCNu64 "%c", &id, &tail) == 1, "odd lease path %s", l);
        ck_assert_uint_eq(iova % PAGE, 0);
        ck_assert_msg(iova + 2 * PAGE - 1 < MSI_START || iova > MSI_END, "lease in the MSI window: 0x%" PRIx64, iova);
        ck_assert_uint_eq(prop_t(bus, l, IOVAD_LEASE_IFACE, "Iova"), iova);
        ck_assert_uint_eq(prop_t(bus, l, IOVAD_LEASE_IFACE, "Size"), 2 * PAGE);
        owner_c = prop_s(bus, l, IOVAD_LEASE_IFACE, "Container");
        ck_assert_str_eq(owner_c, c);
        ck_assert_uint_eq(prop_u(bus, l, IOVAD_LEASE_IFACE, "Owner"), 0);
        ck_assert(!prop_b(bus, l, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(prop_b(bus, l, IOVAD_LEASE_IFACE, "Writable"));

        ck_assert_uint_eq(list_leases(bus, c, li, 4), 1);
        ck_assert_str_eq(li[0].path, l);
        ck_assert_uint_eq(li[0].iova, iova);
        ck_assert_uint_eq(li[0].size, 2 * PAGE);
        ck_assert(!li[0].mapped);

        release(bus, l);
        ck_assert_uint_eq(list_leases(bus, c, li, 4), 0);
        /*
         * A lease that does not exist (any more) is an unknown object: sd-bus
         * answers for fallback paths that iovad's lookup does not find.
         */
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, l, IOVAD_LEASE_IFACE, "Release", NULL));
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, l, IOVAD_LEASE_IFACE, "Iova");
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, IOVAD_LEASE_PREFIX "/999999", IOVAD_LEASE_IFACE, "Release", NULL));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, IOVAD_LEASE_PREFIX "/0", IOVAD_LEASE_IFACE, "Release", NULL));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, IOVAD_LEASE_PREFIX "/x", IOVAD_LEASE_IFACE, "Release", NULL));

        /* The space is free again: a fixed lease there works. */
        free(lease_fixed(bus, c, iova, 2 * PAGE));
        env_stop(&e);
}
END_TEST

START_TEST(test_lease_options) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *fixed = NULL;
        const char *path;
        uint64_t iova;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);

        /* Take page 0 so that alignment has something to skip. */
        fixed = lease_fixed(bus, c, 0, PAGE);

        reply = container_ok(bus, c, "Lease", "ta{sv}", PAGE, 1, "alignment", "t", 2097152ULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_eq(iova % 2097152ULL, 0);
        ck_assert_uint_ne(iova, 0);
        reply = sd_bus_message_unref(reply);

        reply = container_ok(bus, c, "Lease", "ta{sv}", 2097152ULL, 1, "alignment", "t", 1ULL << 30);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_eq(iova % (1ULL << 30), 0);
        reply = sd_bus_message_unref(reply);

        /* A 32-bit device: the whole lease below 4 GiB. */
        reply = container_ok(bus, c, "Lease", "ta{sv}", 16 * PAGE, 1, "limit", "t", 0xffffffffULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_le(iova + 16 * PAGE - 1, 0xffffffffULL);
        reply = sd_bus_message_unref(reply);

        /* A limit high up, with an alignment: both hold. */
        reply = container_ok(bus, c, "Lease", "ta{sv}", 4 * PAGE, 2, "limit", "t", 0x7fffffffULL, "alignment", "t",
                             0x10000ULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_le(iova + 4 * PAGE - 1, 0x7fffffffULL);
        ck_assert_uint_eq(iova % 0x10000ULL, 0);
        reply = sd_bus_message_unref(reply);

        /* A fixed address just above the MSI window, and at the very top of the aperture. */
        free(lease_fixed(bus, c, MSI_END + 1, PAGE));
        free(lease_fixed(bus, c, (1ULL << 39) - PAGE, PAGE));

        /* Fixed with a limit it fits under. */
        reply = container_ok(bus, c, "Lease", "ta{sv}", PAGE, 2, "iova", "t", 0x400000ULL, "limit", "t", 0x400fffULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_eq(iova, 0x400000ULL);
        env_stop(&e);
}
END_TEST

START_TEST(test_lease_invalid_args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *l = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        l = lease_fixed(bus, c, 0x100000, PAGE);
        before = container_snapshot(bus, c);

        /* Sizes. */
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", 0ULL, 0);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE - 1, 0);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE + 1, 0);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", UINT64_MAX, 0);
        /* Options: unknown, of the wrong type, or for another method. */
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "colour", "s", "blue");
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "alignment", "u", 4096);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "limit", "i", -1);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "iova", "s", "0x1000");
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "persistent", "t", 1ULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "readonly", "b", 1);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "hugepages", "b", 1);
        /* Alignments: a power of two from the smallest page size up to 1 GiB. */
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "alignment", "t", 0ULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "alignment", "t", 1ULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "alignment", "t", 2048ULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "alignment", "t", 3ULL * PAGE);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "alignment", "t", 1ULL << 31);
        /* A limit below the size. */
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", 2 * PAGE, 1, "limit", "t", PAGE - 1);
        /* Fixed addresses: unaligned, overflowing, outside the aperture, across the limit. */
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", 0x200001ULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", 2 * PAGE, 1, "iova", "t", UINT64_MAX - PAGE + 1);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", 1ULL << 39);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", 2 * PAGE, 1, "iova", "t", (1ULL << 39) - PAGE);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", 2 * PAGE, 2, "iova", "t", 0x200000ULL, "limit",
                       "t", 0x200fffULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "Lease", "ta{sv}", PAGE, 2, "iova", "t", 0x201000ULL, "alignment",
                       "t", 0x2000ULL);
        /* The same checks hold for the other two ways to lease. */
        container_fail(bus, ERR_INVALID_ARGS, c, "AllocateMapped", "ta{sv}", 0ULL, 0);
        container_fail(bus, ERR_INVALID_ARGS, c, "AllocateMapped", "ta{sv}", PAGE + 1, 0);
        container_fail(bus, ERR_INVALID_ARGS, c, "AllocateMapped", "ta{sv}", PAGE, 1, "iova", "t", 0x200000ULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "AllocateMapped", "ta{sv}", PAGE, 1, "readonly", "t", 1ULL);
        container_fail(bus, ERR_INVALID_ARGS, c, "AllocateMapped", "ta{sv}", PAGE, 1, "colour", "s", "blue");
        {
                _cleanup_(closep) int fd = sealed_memfd(4 * PAGE, 0);
                container_fail(bus, ERR_INVALID_ARGS, c, "MapMemory", "htta{sv}", fd, 0ULL, 0ULL, 0);
                container_fail(bus, ERR_INVALID_ARGS, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE - 1, 0);
                /* An offset into the memfd that is not page aligned is bad memory, as docs/api.md says. */
                container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", fd, 100ULL, PAGE, 0);
                container_fail(bus, ERR_INVALID_ARGS, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 1, "hugepages",
                               "b", 1);
                container_fail(bus, ERR_INVALID_ARGS, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 1, "readonly", "s",
                               "yes");
                container_fail(bus, ERR_INVALID_ARGS, c, "MapMemory", "htta{sv}", fd, 0ULL, 2 * PAGE, 1, "iova", "t",
                               UINT64_MAX - PAGE + 1);
                container_fail(bus, ERR_INVALID_ARGS, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 1, "iova", "t",
                               1ULL << 40);
        }
        assert_unchanged(bus, c, before, "invalid arguments");
        env_stop(&e);
}
END_TEST

/*
 * Lease and Release skip sd-bus's object lookup when they are well formed
 * (server.c's filter); every other form must get what sd-bus's own
 * dispatch answers, as for any other method.
 */
START_TEST(test_lease_release_dispatch) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *esc = NULL, *l = NULL, *l2 = NULL, *before = NULL;
        char *msg;
        uint64_t iova;
        LeaseInfo li[4];
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        esc = create_container(bus, "vm-1.a_b", NULL, 0);
        attach(bus, c, 5);
        attach(bus, esc, 12);
        before = container_snapshot(bus, c);

        /* The wrong signature: sd-bus's own InvalidArgs, with its text. */
        msg = call_fail(bus, ERR_INVALID_ARGS, c, IOVAD_CONTAINER_IFACE, "Lease", "t", PAGE);
        ck_assert_str_eq(msg, "Invalid arguments 't' to call org.iovad1.Container.Lease(), expecting 'ta{sv}'.");
        free(msg);
        free(call_fail(bus, ERR_INVALID_ARGS, c, IOVAD_CONTAINER_IFACE, "Lease", "ta{sv}u", PAGE, 0, 1));
        /* No such container, a path below a container, the prefix itself, the wrong interface. */
        container_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, IOVAD_CONTAINER_PREFIX "/nope", "Lease", "ta{sv}", PAGE, 0);
        container_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, IOVAD_CONTAINER_PREFIX "/c/x", "Lease", "ta{sv}", PAGE, 0);
        container_fail(bus, "org.freedesktop.DBus.Error.UnknownMethod", IOVAD_CONTAINER_PREFIX, "Lease", "ta{sv}", PAGE, 0);
        free(call_fail(bus, "org.freedesktop.DBus.Error.UnknownMethod", c, IOVAD_LEASE_IFACE, "Lease", "ta{sv}", PAGE,
                       0));
        assert_unchanged(bus, c, before, "malformed Lease calls");

        /* An escaped name (sd_bus_path_decode() in the lookup) and options (a non-empty dict) still lease. */
        l = lease(bus, esc, PAGE, &iova);
        sd_bus_message_unref(call_ok(bus, esc, IOVAD_CONTAINER_IFACE, "Lease", "ta{sv}", PAGE, 1, "alignment", "t",
                                     4 * PAGE));
        ck_assert_uint_eq(list_leases(bus, esc, li, 4), 2);
        ck_assert(strcmp(li[0].path, l) == 0 ? li[1].iova % (4 * PAGE) == 0 : li[0].iova % (4 * PAGE) == 0);

        /* Release: arguments it does not take, the wrong interface, then the real thing, twice. */
        msg = call_fail(bus, ERR_INVALID_ARGS, l, IOVAD_LEASE_IFACE, "Release", "u", 1);
        ck_assert_str_eq(msg, "Invalid arguments 'u' to call org.iovad1.Lease.Release(), expecting ''.");
        free(msg);
        free(call_fail(bus, "org.freedesktop.DBus.Error.UnknownMethod", l, IOVAD_CONTAINER_IFACE, "Release", NULL));
        ck_assert_uint_eq(list_leases(bus, esc, li, 4), 2);
        release(bus, l);
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, l, IOVAD_LEASE_IFACE, "Release", NULL));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, IOVAD_LEASE_PREFIX "/01", IOVAD_LEASE_IFACE, "Release", NULL));
        ck_assert_uint_eq(list_leases(bus, esc, li, 4), 1);
        l2 = strdup(li[0].path);
        ck_assert_ptr_nonnull(l2);
        ck_assert_str_ne(l2, l);
        release(bus, l2);
        ck_assert_uint_eq(list_leases(bus, esc, li, 4), 0);
        env_stop(&e);
}
END_TEST

START_TEST(test_lease_no_space) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *low = NULL;
        const char *path;
        uint64_t iova;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);

        /* Bigger than every usable range together. */
        container_fail(bus, IOVAD_ERROR_NO_SPACE, c, "Lease", "ta{sv}", 1ULL << 39, 0);
        /* A limit too low for anything left. */
        low = lease_fixed(bus, c, 0, PAGE);
        container_fail(bus, IOVAD_ERROR_NO_SPACE, c, "Lease", "ta{sv}", PAGE, 1, "limit", "t", PAGE - 1);
        container_fail(bus, IOVAD_ERROR_NO_SPACE, c, "AllocateMapped", "ta{sv}", PAGE, 1, "limit", "t", PAGE - 1);
        release(bus, low);

        /* Fill everything below 4 GiB: the first range whole, then what lies above the MSI window. */
        reply = container_ok(bus, c, "Lease", "ta{sv}", MSI_START, 1, "limit", "t", 0xffffffffULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_eq(iova, 0);
        reply = sd_bus_message_unref(reply);
        reply = container_ok(bus, c, "Lease", "ta{sv}", 0x100000000ULL - (MSI_END + 1), 1, "limit", "t",
                             0xffffffffULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_eq(iova, MSI_END + 1);
        reply = sd_bus_message_unref(reply);

        before = container_snapshot(bus, c);
        container_fail(bus, IOVAD_ERROR_NO_SPACE, c, "Lease", "ta{sv}", PAGE, 1, "limit", "t", 0xffffffffULL);
        container_fail(bus, IOVAD_ERROR_NO_SPACE, c, "AllocateMapped", "ta{sv}", PAGE, 1, "limit", "t",
                       0xffffffffULL);
        {
                _cleanup_(closep) int fd = sealed_memfd(PAGE, 0);
                container_fail(bus, IOVAD_ERROR_NO_SPACE, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 1, "limit", "t",
                               0xffffffffULL);
        }
        assert_unchanged(bus, c, before, "NoSpace");
        /* Above 4 GiB there is room. */
        reply = container_ok(bus, c, "Lease", "ta{sv}", PAGE, 0);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_ge(iova, 0x100000000ULL);
        env_stop(&e);
}
END_TEST

START_TEST(test_lease_reserved_conflict) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *l = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        l = lease_fixed(bus, c, 0x100000, 4 * PAGE);
        before = container_snapshot(bus, c);

        /* Into the MSI window, across its start and across its end. */
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", MSI_START);
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", 2 * PAGE, 1, "iova", "t",
                       MSI_START - PAGE);
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", 2 * PAGE, 1, "iova", "t",
                       MSI_END + 1 - PAGE);
        /* Over another lease, in part or whole. */
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", 0x102000ULL);
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", 2 * PAGE, 1, "iova", "t",
                       0x0ff000ULL);
        {
                _cleanup_(closep) int fd = sealed_memfd(PAGE, 0);
                container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 1,
                               "iova", "t", MSI_START + 0x10000ULL);
                container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 1,
                               "iova", "t", 0x103000ULL);
        }
        assert_unchanged(bus, c, before, "ReservedConflict");
        env_stop(&e);
}
END_TEST

/* Group 14's RMRR direct regions at 0xe8000 and 0xf4000 meet leases sitting there. */
START_TEST(test_attach_conflict) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *l1 = NULL, *l2 = NULL, *msg = NULL, *dev = NULL,
                              *in = NULL;
        const char *type, *path;
        uint64_t start, end, id1, id2;
        char want[64];
        uint32_t groups[8];
        TRange usable[16];
        TRegion regs[16];
        size_t n;
        int r;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        l1 = lease_fixed(bus, c, 0xe8000, PAGE);
        ck_assert_int_eq(sscanf(l1, IOVAD_LEASE_PREFIX "/%" SCNu64, &id1), 1);
        before = container_snapshot(bus, c);

        /* The dry run names the region and the lease. */
        reply = container_ok(bus, c, "CheckAttach", "u", 14);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ttso)"), 0);
        ck_assert_int_gt(sd_bus_message_read(reply, "(ttso)", &start, &end, &type, &path), 0);
        ck_assert_uint_eq(start, 0xe8000);
        ck_assert_uint_eq(end, 0xe8fff);
        ck_assert_str_eq(type, "direct");
        ck_assert_str_eq(path, l1);
        ck_assert_int_eq(sd_bus_message_read(reply, "(ttso)", &start, &end, &type, &path), 0);
        reply = sd_bus_message_unref(reply);
        assert_unchanged(bus, c, before, "CheckAttach");

        /* The attach itself is refused, names the lease, and changes nothing. */
        msg = call_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, IOVAD_CONTAINER_IFACE, "AttachGroup", "u", 14);
        xsprintf(want, "lease %" PRIu64, id1);
        ck_assert_msg(strstr(msg, want), "the refusal does not name %s: %s", want, msg);
        ck_assert_msg(strstr(msg, "0xe8000"), "the refusal does not name the region: %s", msg);
        assert_unchanged(bus, c, before, "the refused AttachGroup");
        dev = iovad_device_path("0000:04:00.0");
        in = prop_s(bus, dev, IOVAD_DEVICE_IFACE, "Container");
        ck_assert_str_eq(in, "/");

        /* Two leases, two conflicts, and a lease elsewhere that does not count. */
        l2 = lease_fixed(bus, c, 0xf4000, 2 * PAGE);
        ck_assert_int_eq(sscanf(l2, IOVAD_LEASE_PREFIX "/%" SCNu64, &id2), 1);
        free(lease_fixed(bus, c, 0x200000, PAGE));
        free(before);
        before = container_snapshot(bus, c);
        reply = container_ok(bus, c, "CheckAttach", "u", 14);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ttso)"), 0);
        n = 0;
        bool saw1 = false, saw2 = false;
        while ((r = sd_bus_message_read(reply, "(ttso)", &start, &end, &type, &path)) > 0) {
                ck_assert_str_eq(type, "direct");
                if (streq(path, l1)) {
                        ck_assert_uint_eq(start, 0xe8000);
                        saw1 = true;
                } else {
                        ck_assert_str_eq(path, l2);
                        ck_assert_uint_eq(start, 0xf4000);
                        ck_assert_uint_eq(end, 0xf4fff);
                        saw2 = true;
                }
                n++;
        }
        ck_assert_int_ge(r, 0);
        ck_assert_uint_eq(n, 2);
        ck_assert(saw1 && saw2);
        reply = sd_bus_message_unref(reply);
        free(msg);
        msg = call_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, IOVAD_CONTAINER_IFACE, "AttachGroup", "u", 14);
        ck_assert_msg(strstr(msg, want), "the refusal does not name %s: %s", want, msg);
        xsprintf(want, "lease %" PRIu64, id2);
        ck_assert_msg(strstr(msg, want), "the refusal does not name %s: %s", want, msg);
        assert_unchanged(bus, c, before, "the refused AttachGroup with two conflicts");

        /* Without the leases in the way, the dry run is empty and the attach works. */
        release(bus, l1);
        release(bus, l2);
        reply = container_ok(bus, c, "CheckAttach", "u", 14);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ttso)"), 0);
        ck_assert_int_eq(sd_bus_message_read(reply, "(ttso)", &start, &end, &type, &path), 0);
        attach(bus, c, 14);
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", groups, 8), 2);
        ck_assert_uint_eq(groups[1], 14);
        free(in);
        in = prop_s(bus, dev, IOVAD_DEVICE_IFACE, "Container");
        ck_assert_str_eq(in, c);

        /* The direct regions show, with their origin, and are not usable. */
        n = prop_regions(bus, c, regs, 16);
        saw1 = saw2 = false;
        for (size_t i = 0; i < n; i++) {
                if (regs[i].start == 0xe8000 && regs[i].end == 0xe8fff) {
                        ck_assert_str_eq(regs[i].type, "direct");
                        ck_assert_str_eq(regs[i].origin, "group 14");
                        saw1 = true;
                }
                if (regs[i].start == 0xf4000 && regs[i].end == 0xf4fff)
                        saw2 = true;
        }
        ck_assert(saw1 && saw2);
        n = prop_ranges(bus, c, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, 16);
        for (size_t i = 0; i < n; i++) {
                ck_assert_msg(usable[i].end < 0xe8000 || usable[i].start > 0xe8fff, "0xe8000 is usable");
                ck_assert_msg(usable[i].end < 0xf4000 || usable[i].start > 0xf4fff, "0xf4000 is usable");
                ck_assert_msg(usable[i].end < 0xbddde000 || usable[i].start > 0xbdddefff, "0xbddde000 is usable");
        }
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", 0xe8000ULL);
        env_stop(&e);
}
END_TEST

START_TEST(test_detach_busy) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *l = NULL, *m = NULL;
        _cleanup_(closep) int fd = -1;
        uint32_t groups[8];
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        l = lease(bus, c, PAGE, NULL);
        m = allocate_mapped(bus, c, PAGE, NULL, &fd);
        before = container_snapshot(bus, c);
        container_fail(bus, IOVAD_ERROR_BUSY, c, "DetachGroup", "u", 5);
        assert_unchanged(bus, c, before, "the refused DetachGroup");

        /* Not the last group: it may go; then the other one is the last. */
        attach(bus, c, 12);
        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 5));
        free(before);
        before = container_snapshot(bus, c);
        container_fail(bus, IOVAD_ERROR_BUSY, c, "DetachGroup", "u", 12);
        assert_unchanged(bus, c, before, "the refused DetachGroup");

        release(bus, l);
        container_fail(bus, IOVAD_ERROR_BUSY, c, "DetachGroup", "u", 12);
        release(bus, m);
        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 12));
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", groups, 8), 0);
        env_stop(&e);
}
END_TEST

START_TEST(test_device_open) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *dev = NULL, *other = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        dev = iovad_device_path("0000:01:00.0");
        other = iovad_device_path("0000:02:00.0");

        free(call_fail(bus, IOVAD_ERROR_NOT_ATTACHED, dev, IOVAD_DEVICE_IFACE, "Open", NULL));
        attach(bus, c, 5);
        /*
         * The simulated device fd holds its group as a VFIO device fd does:
         * the kernel will not detach the group while it is open.
         */
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = call_ok(bus, dev, IOVAD_DEVICE_IFACE, "Open",
                                                                                 NULL);
                int fd;

                ck_assert_int_ge(sd_bus_message_read(reply, "h", &fd), 0);
                ck_assert_int_ge(fd, 0);
                container_fail(bus, IOVAD_ERROR_BUSY, c, "DetachGroup", "u", 5);
        }
        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 5));
        attach(bus, c, 5);
        free(call_fail(bus, IOVAD_ERROR_NOT_ATTACHED, other, IOVAD_DEVICE_IFACE, "Open", NULL));

        /* A well-formed address with no device is NoSuchDevice; a path that is no address names nothing. */
        {
                _cleanup_(freep) char *none = iovad_device_path("0000:7f:1f.7");
                _cleanup_(freep) char *junk = iovad_device_path("not-an-address");
                free(call_fail(bus, IOVAD_ERROR_NO_SUCH_DEVICE, none, IOVAD_DEVICE_IFACE, "Open", NULL));
                free(call_fail(bus, IOVAD_ERROR_NO_SUCH_DEVICE, none, IOVAD_DEVICE_IFACE, "Bind", NULL));
                prop_fail(bus, IOVAD_ERROR_NO_SUCH_DEVICE, none, IOVAD_DEVICE_IFACE, "Driver");
                free(call_fail(bus, ERR_UNKNOWN_OBJECT, junk, IOVAD_DEVICE_IFACE, "Open", NULL));
        }
        /* Binding a device that is on vfio-pci already changes nothing. */
        sd_bus_message_unref(call_ok(bus, dev, IOVAD_DEVICE_IFACE, "Bind", NULL));
        env_stop(&e);
}
END_TEST

/* Destroy with live leases: Busy, as documented in org.iovad1.Container.xml, and nothing changes. */
START_TEST(test_destroy_with_leases) {
        /* Destroy releases everything: leases go, the group is free for another container. */
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *c2 = NULL, *l = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        l = lease(bus, c, PAGE, NULL);
        sd_bus_message_unref(container_ok(bus, c, "Destroy", NULL));
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, l, IOVAD_LEASE_IFACE, "Release", NULL));
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, "GetContainer", "s", "c");
        c2 = create_container(bus, "c2", NULL, 0);
        attach(bus, c2, 5);
        env_stop(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-api");
        TCase *tc = env_tcase("api");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_manager_properties);
        tcase_add_test(tc, test_container_lifecycle);
        tcase_add_test(tc, test_attach_detach);
        tcase_add_test(tc, test_properties_changed_on_attach);
        tcase_add_test(tc, test_lease_basic);
        tcase_add_test(tc, test_lease_options);
        tcase_add_test(tc, test_lease_invalid_args);
        tcase_add_test(tc, test_lease_release_dispatch);
        tcase_add_test(tc, test_lease_no_space);
        tcase_add_test(tc, test_lease_reserved_conflict);
        tcase_add_test(tc, test_attach_conflict);
        tcase_add_test(tc, test_detach_busy);
        tcase_add_test(tc, test_device_open);
        tcase_add_test(tc, test_destroy_with_leases);
        suite_add_tcase(s, tc);

        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
