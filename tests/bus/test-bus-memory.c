/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory under DMA: AllocateMapped's sealed memfd, MapMemory with the
 * client's own, the memfds iovad must refuse, and the DMA entry limit,
 * with DmaMappingsAvailable counting every mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bus-env.h"

START_TEST(test_allocate_mapped) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *l = NULL, *ro = NULL;
        _cleanup_(closep) int fd = -1, rofd = -1;
        uint64_t iova;
        struct stat st;
        LeaseInfo li[4];
        uint8_t *p;
        int seals;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);

        l = allocate_mapped(bus, c, 3 * PAGE, &iova, &fd);
        ck_assert_uint_eq(iova % PAGE, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_size, 3 * PAGE);
        seals = fcntl(fd, F_GET_SEALS);
        ck_assert_int_ge(seals, 0);
        ck_assert_msg(seals & F_SEAL_SHRINK, "the memfd is not sealed against shrinking (seals 0x%x)", seals);
        ck_assert_msg(!(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)), "a writable lease's memfd is write-sealed");
        ck_assert_int_lt(ftruncate(fd, PAGE), 0);
        ck_assert_int_eq(errno, EPERM);

        /* The client can use the memory. */
        p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        for (size_t i = 0; i < 3 * PAGE; i++)
                p[i] = (uint8_t) (i * 7);
        for (size_t i = 0; i < 3 * PAGE; i++)
                ck_assert_uint_eq(p[i], (uint8_t) (i * 7));
        ck_assert_int_eq(munmap(p, 3 * PAGE), 0);

        ck_assert(prop_b(bus, l, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(prop_b(bus, l, IOVAD_LEASE_IFACE, "Writable"));
        ck_assert_uint_eq(prop_t(bus, l, IOVAD_LEASE_IFACE, "Size"), 3 * PAGE);
        ck_assert_uint_eq(prop_t(bus, l, IOVAD_LEASE_IFACE, "Iova"), iova);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65534);
        ck_assert_uint_eq(list_leases(bus, c, li, 4), 1);
        ck_assert(li[0].mapped);

        /* Read-only for devices; limit honoured. */
        reply = container_ok(bus, c, "AllocateMapped", "ta{sv}", PAGE, 2, "readonly", "b", 1, "limit", "t",
                             0xffffffffULL);
        {
                const char *path;
                int f;
                ck_assert_int_ge(sd_bus_message_read(reply, "oth", &path, &iova, &f), 0);
                ro = strdup(path);
                rofd = fcntl(f, F_DUPFD_CLOEXEC, 3);
                ck_assert_int_ge(rofd, 0);
        }
        ck_assert_uint_le(iova + PAGE - 1, 0xffffffffULL);
        ck_assert(!prop_b(bus, ro, IOVAD_LEASE_IFACE, "Writable"));
        ck_assert(prop_b(bus, ro, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65533);

        release(bus, l);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65534);
        release(bus, ro);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        ck_assert_uint_eq(list_leases(bus, c, li, 4), 0);
        env_stop(&e);
}
END_TEST

START_TEST(test_map_memory) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(freep) char *c = NULL, *l = NULL, *l2 = NULL, *l3 = NULL;
        _cleanup_(closep) int fd = -1, wfd = -1;
        const char *path;
        uint64_t iova;
        Signal s = {};
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        ck_assert_int_ge(sd_bus_match_signal(bus, &slot, IOVAD_BUS_NAME, c, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged", signal_record, &s),
                         0);

        fd = sealed_memfd(8 * PAGE, 0);
        reply = container_ok(bus, c, "MapMemory", "htta{sv}", fd, 0ULL, 4 * PAGE, 0);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        l = strdup(path);
        reply = sd_bus_message_unref(reply);
        ck_assert(prop_b(bus, l, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(prop_b(bus, l, IOVAD_LEASE_IFACE, "Writable"));
        ck_assert_uint_eq(prop_t(bus, l, IOVAD_LEASE_IFACE, "Size"), 4 * PAGE);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65534);
        /* DmaMappingsAvailable announces its change. */
        process_until(bus, &s.seen, 10 * 1000 * 1000);

        /* The rest of the memfd, at a fixed address. */
        reply = container_ok(bus, c, "MapMemory", "htta{sv}", fd, 4 * PAGE, 4 * PAGE, 1, "iova", "t", 0x40000000ULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        ck_assert_uint_eq(iova, 0x40000000ULL);
        l2 = strdup(path);
        reply = sd_bus_message_unref(reply);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65533);

        /* A write-sealed memfd maps read-only. */
        wfd = sealed_memfd(PAGE, F_SEAL_WRITE);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", wfd, 0ULL, PAGE, 0);
        reply = container_ok(bus, c, "MapMemory", "htta{sv}", wfd, 0ULL, PAGE, 1, "readonly", "b", 1);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        l3 = strdup(path);
        ck_assert(!prop_b(bus, l3, IOVAD_LEASE_IFACE, "Writable"));
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65532);

        s.seen = false;
        release(bus, l);
        process_until(bus, &s.seen, 10 * 1000 * 1000);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65533);
        release(bus, l2);
        release(bus, l3);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        sd_bus_message_unref(s.last);
        env_stop(&e);
}
END_TEST

START_TEST(test_bad_memory) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL;
        _cleanup_(closep) int file = -1, unsealed = -1, shortfd = -1, devnull = -1, dir = -1;
        char path[700];
        int p[2];
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        free(lease(bus, c, PAGE, NULL));
        before = container_snapshot(bus, c);

        /* Not a memfd: a pipe, a regular file, a character device, a directory. */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", p[0], 0ULL, PAGE, 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", p[1], 0ULL, PAGE, 0);
        close(p[0]);
        close(p[1]);
        xsprintf(path, "%s/plain-file", e.dir);
        file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(ftruncate(file, 4 * PAGE), 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", file, 0ULL, PAGE, 0);
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", devnull, 0ULL, PAGE, 0);
        dir = open(e.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", dir, 0ULL, PAGE, 0);

        /* A memfd without F_SEAL_SHRINK, with or without sealing allowed. */
        unsealed = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_ge(unsealed, 0);
        ck_assert_int_eq(ftruncate(unsealed, 4 * PAGE), 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", unsealed, 0ULL, PAGE, 0);
        ck_assert_int_eq(fcntl(unsealed, F_ADD_SEALS, F_SEAL_GROW), 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", unsealed, 0ULL, PAGE, 0);
        {
                _cleanup_(closep) int nosealing = memfd_create("nosealing", MFD_CLOEXEC);
                ck_assert_int_ge(nosealing, 0);
                ck_assert_int_eq(ftruncate(nosealing, 4 * PAGE), 0);
                container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", nosealing, 0ULL, PAGE, 0);
        }

        /* Too short: for the size, for offset + size, or an offset past the end. */
        shortfd = sealed_memfd(2 * PAGE, 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", shortfd, 0ULL, 4 * PAGE, 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", shortfd, PAGE, 2 * PAGE, 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", shortfd, 4 * PAGE, PAGE, 0);
        container_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, "MapMemory", "htta{sv}", shortfd, UINT64_MAX - PAGE + 1,
                       PAGE, 0);

        assert_unchanged(bus, c, before, "BadMemory");
        /* The same memfd, sized right, is fine. */
        sd_bus_message_unref(container_ok(bus, c, "MapMemory", "htta{sv}", shortfd, PAGE, PAGE, 0));
        env_stop(&e);
}
END_TEST

/* x86-smalldma: dma_entry_limit is 16. */
START_TEST(test_dma_limit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *now = NULL;
        _cleanup_(closep) int fd = -1;
        char *leases[16];
        BusEnv e;

        env_start(&e, "x86-smalldma", NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 20);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 16);
        for (unsigned i = 0; i < 16; i++) {
                leases[i] = allocate_mapped(bus, c, PAGE, NULL, NULL);
                ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 15 - i);
        }
        before = container_snapshot(bus, c);
        container_fail(bus, IOVAD_ERROR_DMA_LIMIT, c, "AllocateMapped", "ta{sv}", PAGE, 0);
        fd = sealed_memfd(PAGE, 0);
        container_fail(bus, IOVAD_ERROR_DMA_LIMIT, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0);
        now = container_snapshot(bus, c);
        ck_assert_str_eq(before, now);

        /* IOVA-only leases need no entry. */
        free(lease(bus, c, PAGE, NULL));
        /* One released, one available. */
        release(bus, leases[3]);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 1);
        sd_bus_message_unref(container_ok(bus, c, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0));
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 0);
        container_fail(bus, IOVAD_ERROR_DMA_LIMIT, c, "AllocateMapped", "ta{sv}", PAGE, 0);
        for (unsigned i = 0; i < 16; i++)
                free(leases[i]);
        env_stop(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-memory");
        TCase *tc = env_tcase("memory");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_allocate_mapped);
        tcase_add_test(tc, test_map_memory);
        tcase_add_test(tc, test_bad_memory);
        tcase_add_test(tc, test_dma_limit);
        suite_add_tcase(s, tc);

        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
