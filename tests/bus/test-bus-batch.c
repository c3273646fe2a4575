/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Batches: Container.MapMemoryBatch maps many pieces of one memfd, all or
 * none, naming the piece that fails; quotas and the DMA budget are checked
 * for the whole batch before anything is mapped; Manager.ReleaseLeases
 * releases many leases, all or none.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "bus-env.h"

#define AUTO UINT64_MAX

typedef struct Piece {
        uint64_t offset, size, iova;
} Piece;

/* MapMemoryBatch(@fd, @pieces, {}) with @readonly when set. */
static sd_bus_message *new_batch(sd_bus *bus, const char *container, int fd, const Piece *pieces, size_t n) {
        sd_bus_message *m = NULL;

        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, IOVAD_BUS_NAME, container, IOVAD_CONTAINER_IFACE,
                                                        "MapMemoryBatch"),
                         0);
        ck_assert_int_ge(sd_bus_message_append(m, "h", fd), 0);
        ck_assert_int_ge(sd_bus_message_open_container(m, 'a', "(ttt)"), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_ge(sd_bus_message_append(m, "(ttt)", pieces[i].offset, pieces[i].size, pieces[i].iova), 0);
        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
        ck_assert_int_ge(sd_bus_message_append(m, "a{sv}", 0), 0);
        return m;
}

/* A batch that must succeed: the leases' paths (each strdup'd) and IOVAs. */
static void batch_ok(sd_bus *bus, const char *container, int fd, const Piece *pieces, size_t n, char **ret_paths,
                     uint64_t *ret_iovas) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = new_batch(bus, container, fd, pieces, n), *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path;
        uint64_t iova;
        size_t k = 0;
        int r;

        r = sd_bus_call(bus, m, 0, &error, &reply);
        ck_assert_msg(r >= 0, "MapMemoryBatch failed: %s: %s%s", error.name, error.message, env_daemon_death());
        sd_bus_error_free(&error);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ot)"), 0);
        while ((r = sd_bus_message_read(reply, "(ot)", &path, &iova)) > 0) {
                ck_assert_uint_lt(k, n);
                if (ret_paths)
                        ret_paths[k] = strdup(path);
                if (ret_iovas)
                        ret_iovas[k] = iova;
                k++;
        }
        ck_assert_int_ge(r, 0);
        ck_assert_uint_eq(k, n);
}

/* A batch that must fail with @want: its message (free it). */
static char *batch_fail(sd_bus *bus, const char *want, const char *container, int fd, const Piece *pieces, size_t n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = new_batch(bus, container, fd, pieces, n), *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *msg;
        int r;

        r = sd_bus_call(bus, m, 0, &error, &reply);
        ck_assert_msg(r < 0, "MapMemoryBatch succeeded, %s expected", want);
        ck_assert_msg(sd_bus_error_has_name(&error, want), "MapMemoryBatch: %s (%s), %s expected", error.name,
                      error.message, want);
        msg = strdup(error.message);
        sd_bus_error_free(&error);
        return msg;
}

static sd_bus_message *new_release(sd_bus *bus, char **paths, size_t n) {
        sd_bus_message *m = NULL;

        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE,
                                                        "ReleaseLeases"),
                         0);
        ck_assert_int_ge(sd_bus_message_open_container(m, 'a', "o"), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_ge(sd_bus_message_append(m, "o", paths[i]), 0);
        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
        return m;
}

static char *release_leases(sd_bus *bus, const char *want, char **paths, size_t n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = new_release(bus, paths, n), *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *msg = NULL;
        int r;

        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (!want)
                ck_assert_msg(r >= 0, "ReleaseLeases failed: %s: %s", error.name, error.message);
        else {
                ck_assert_msg(r < 0, "ReleaseLeases succeeded, %s expected", want);
                ck_assert_msg(sd_bus_error_has_name(&error, want), "ReleaseLeases: %s (%s), %s expected", error.name,
                              error.message, want);
                msg = strdup(error.message);
        }
        sd_bus_error_free(&error);
        return msg;
}

static void assert_contains(const char *msg, const char *want) {
        ck_assert_msg(strstr(msg, want), "'%s' does not say '%s'", msg, want);
}

START_TEST(test_batch_maps) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { 0 };
        char *paths[5];
        uint64_t iovas[5];
        LeaseInfo li[8];
        /* Fixed IOVA 0 is an address like any other; AUTO lets iovad choose. */
        const Piece pieces[] = {
                { 0, PAGE, AUTO }, { PAGE, 2 * PAGE, AUTO }, { 3 * PAGE, PAGE, 0 },
                { 4 * PAGE, PAGE, 0x100000 }, { 0, 4 * PAGE, AUTO },
        };
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        fd = sealed_memfd(8 * PAGE, 0);
        batch_ok(bus, c, fd, pieces, ELEMENTSOF(pieces), paths, iovas);
        ck_assert_uint_eq(iovas[2], 0);
        ck_assert_uint_eq(iovas[3], 0x100000);
        for (size_t i = 0; i < ELEMENTSOF(pieces); i++) {
                ck_assert(prop_b(bus, paths[i], IOVAD_LEASE_IFACE, "Mapped"));
                ck_assert_uint_eq(prop_t(bus, paths[i], IOVAD_LEASE_IFACE, "Iova"), iovas[i]);
                ck_assert_uint_eq(prop_t(bus, paths[i], IOVAD_LEASE_IFACE, "Size"), pieces[i].size);
        }
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535 - 5);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 5);

        /* Release three at once, then the rest. */
        free(release_leases(bus, NULL, paths, 3));
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 2);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535 - 2);
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, paths[0], IOVAD_LEASE_IFACE, "Iova");
        free(release_leases(bus, NULL, paths + 3, 2));
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 0);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        for (size_t i = 0; i < ELEMENTSOF(pieces); i++)
                free(paths[i]);
        env_stop(&e);
}
END_TEST

START_TEST(test_batch_all_or_nothing) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL;
        _cleanup_(closep) int fd = -1, unsealed = -1;
        char *msg;
        const uid_t users[] = { 0 };
        Piece pieces[] = { { 0, PAGE, AUTO }, { PAGE, PAGE, AUTO }, { 2 * PAGE, PAGE, MSI_START }, { 3 * PAGE, PAGE, AUTO } };
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        free(lease_fixed(bus, c, 0x200000, PAGE));
        fd = sealed_memfd(4 * PAGE, 0);
        before = container_snapshot(bus, c);

        /* A fixed IOVA in the MSI window, third of four. */
        msg = batch_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, fd, pieces, ELEMENTSOF(pieces));
        assert_contains(msg, "Piece 2 (offset 0x2000, size 0x1000)");
        assert_contains(msg, "msi");
        assert_unchanged(bus, c, before, "a batch with a piece in the MSI window");
        free(msg);

        /* On another lease. */
        pieces[2].iova = 0x200000;
        msg = batch_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, fd, pieces, ELEMENTSOF(pieces));
        assert_contains(msg, "Piece 2 ");
        assert_unchanged(bus, c, before, "a batch with a piece on a lease");
        free(msg);

        /* On an earlier piece of the same batch. */
        pieces[1].iova = 0x400000;
        pieces[2].iova = 0x400000;
        msg = batch_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, fd, pieces, ELEMENTSOF(pieces));
        assert_contains(msg, "Piece 2 ");
        assert_unchanged(bus, c, before, "a batch whose pieces overlap");
        free(msg);
        pieces[1].iova = pieces[2].iova = AUTO;

        /* Past the memfd's end, an unaligned offset, an empty piece, an IOVA that wraps. */
        pieces[3].size = 2 * PAGE;
        msg = batch_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, fd, pieces, ELEMENTSOF(pieces));
        assert_contains(msg, "Piece 3 (offset 0x3000, size 0x2000)");
        free(msg);
        pieces[3].size = PAGE;
        pieces[1].offset = 100;
        msg = batch_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, fd, pieces, ELEMENTSOF(pieces));
        assert_contains(msg, "Piece 1 (offset 0x64");
        free(msg);
        pieces[1].offset = PAGE;
        pieces[0].size = 0;
        msg = batch_fail(bus, ERR_INVALID_ARGS, c, fd, pieces, ELEMENTSOF(pieces));
        assert_contains(msg, "Piece 0 ");
        free(msg);
        pieces[0].size = PAGE;
        pieces[1].iova = UINT64_MAX - PAGE + 1 - PAGE;
        pieces[1].size = 2 * PAGE;
        msg = batch_fail(bus, ERR_INVALID_ARGS, c, fd, pieces, ELEMENTSOF(pieces));
        assert_contains(msg, "Piece 1 ");
        free(msg);
        pieces[1].iova = AUTO;
        pieces[1].size = PAGE;

        /* No pieces; the one-address option; not a sealed memfd. */
        msg = batch_fail(bus, ERR_INVALID_ARGS, c, fd, pieces, 0);
        free(msg);
        container_fail(bus, ERR_INVALID_ARGS, c, "MapMemoryBatch", "ha(ttt)a{sv}", fd, 1, 0ULL, PAGE, AUTO, 1, "iova",
                       "t", 0ULL);
        unsealed = memfd_create("plain", MFD_CLOEXEC);
        ck_assert_int_ge(unsealed, 0);
        ck_assert_int_eq(ftruncate(unsealed, 4 * PAGE), 0);
        msg = batch_fail(bus, IOVAD_ERROR_BAD_MEMORY, c, unsealed, pieces, ELEMENTSOF(pieces));
        free(msg);
        assert_unchanged(bus, c, before, "refused batches");

        /* The same batch, fixed nowhere bad, maps. */
        batch_ok(bus, c, fd, pieces, ELEMENTSOF(pieces), NULL, NULL);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535 - 4);
        env_stop(&e);
}
END_TEST

/* x86-smalldma: dma_entry_limit is 16; the whole batch is held against it before anything is mapped. */
START_TEST(test_batch_dma_limit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL;
        _cleanup_(closep) int fd = -1;
        Piece pieces[17];
        char *msg;
        BusEnv e;

        env_start(&e, "x86-smalldma", NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 20);
        fd = sealed_memfd(17 * PAGE, 0);
        for (size_t i = 0; i < ELEMENTSOF(pieces); i++)
                pieces[i] = (Piece) { i * PAGE, PAGE, AUTO };
        free(allocate_mapped(bus, c, PAGE, NULL, NULL));
        before = container_snapshot(bus, c);

        /* 16 pieces with 15 entries left: refused as a batch, no piece named, none mapped. */
        msg = batch_fail(bus, IOVAD_ERROR_DMA_LIMIT, c, fd, pieces, 16);
        assert_contains(msg, "15 DMA mapping entries left");
        ck_assert_msg(!strstr(msg, "Piece"), "%s", msg);
        assert_unchanged(bus, c, before, "a batch past the DMA budget");
        free(msg);
        batch_ok(bus, c, fd, pieces, 15, NULL, NULL);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 0);
        env_stop(&e);
}
END_TEST

typedef struct Peer {
        const char *container;
        const char *root_lease;
} Peer;

/* uid 65534 with quotas of 4 leases and 3 memory fds. */
static void quota_client(void *userdata) {
        const Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(closep) int fd = sealed_memfd(8 * PAGE, 0);
        Piece pieces[5];
        char *paths[4], *msg, *mine[2];
        LeaseInfo li[8];

        for (size_t i = 0; i < ELEMENTSOF(pieces); i++)
                pieces[i] = (Piece) { i * PAGE, PAGE, AUTO };
        msg = batch_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, fd, pieces, 5);
        free(msg);
        msg = batch_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, fd, pieces, 4);
        assert_contains(msg, "memory");
        free(msg);
        ck_assert_uint_eq(list_leases(bus, p->container, li, 8), 0);
        batch_ok(bus, p->container, fd, pieces, 3, paths, NULL);

        /* Someone else's lease in the list: AccessDenied, nothing released. */
        mine[0] = paths[0];
        mine[1] = (char *) p->root_lease;
        msg = release_leases(bus, ERR_ACCESS_DENIED, mine, 2);
        assert_contains(msg, "Lease 1 of the list");
        free(msg);
        ck_assert_uint_eq(list_leases(bus, p->container, li, 8), 3);
        free(release_leases(bus, NULL, paths, 3));
        ck_assert_uint_eq(list_leases(bus, p->container, li, 8), 0);
        for (size_t i = 0; i < 3; i++)
                free(paths[i]);
}

START_TEST(test_batch_quota_and_release) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *root_lease = NULL, *bogus = NULL;
        char *msg;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { UID_NOBODY };
        char *paths[3], *list[4];
        const Piece pieces[] = { { 0, PAGE, AUTO }, { PAGE, PAGE, AUTO }, { 2 * PAGE, PAGE, AUTO } };
        LeaseInfo li[8];
        Peer p;
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"leases\": 4, \"memfds\": 3 } }");
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        root_lease = lease(bus, c, PAGE, NULL);
        p.container = c;
        p.root_lease = root_lease;
        run_as(UID_NOBODY, quota_client, &p);

        /* An unknown lease, a path that is no lease, a lease twice: nothing released. */
        fd = sealed_memfd(3 * PAGE, 0);
        batch_ok(bus, c, fd, pieces, 3, paths, NULL);
        bogus = iovad_lease_path(999999);
        list[0] = paths[0];
        list[1] = paths[1];
        list[2] = bogus;
        list[3] = paths[2];
        msg = release_leases(bus, IOVAD_ERROR_NO_SUCH_LEASE, list, 4);
        assert_contains(msg, "Lease 2 of the list");
        free(msg);
        list[2] = (char *) "/org/iovad1/lease/x";
        msg = release_leases(bus, IOVAD_ERROR_NO_SUCH_LEASE, list, 4);
        assert_contains(msg, "Lease 2 of the list");
        free(msg);
        list[2] = paths[0];
        msg = release_leases(bus, IOVAD_ERROR_NO_SUCH_LEASE, list, 4);
        assert_contains(msg, "twice");
        free(msg);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 4);
        free(release_leases(bus, NULL, paths, 3));
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 1);
        /* An empty list releases nothing and is no error. */
        free(release_leases(bus, NULL, NULL, 0));
        for (size_t i = 0; i < 3; i++)
                free(paths[i]);
        env_stop(&e);
}
END_TEST

/* The leases of a batch are the connection's: they go with it, and come back after a crash. */
START_TEST(test_batch_connection_and_crash) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *other = NULL;
        _cleanup_(freep) char *c = NULL;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { 0 };
        Piece pieces[64];
        char *paths[64];
        uint64_t iovas[64];
        LeaseInfo li[80];
        BusEnv e;

        /* No fd store: its stand-in reads its socket only when asked, and 64 fds do not wait in it. */
        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        fd = sealed_memfd(64 * PAGE, 0);
        for (size_t i = 0; i < ELEMENTSOF(pieces); i++)
                pieces[i] = (Piece) { i * PAGE, PAGE, AUTO };

        other = env_connect();
        batch_ok(other, c, fd, pieces, 8, NULL, NULL);
        ck_assert_uint_eq(list_leases(bus, c, li, 80), 8);
        sd_bus_flush_close_unref(other);
        other = NULL;
        wait_leases(bus, c, 0);

        batch_ok(bus, c, fd, pieces, 64, paths, iovas);
        env_daemon_kill(&e);
        env_daemon_start(&e);
        /*
         * Answered: every one is back where it was (unmapped: without an
         * fd store their memory died with iovad, docs/state.md).
         */
        ck_assert_uint_eq(list_leases(bus, c, li, 80), 64);
        for (size_t i = 0; i < 64; i++)
                ck_assert_uint_eq(prop_t(bus, paths[i], IOVAD_LEASE_IFACE, "Iova"), iovas[i]);
        free(release_leases(bus, NULL, paths, 64));
        for (size_t i = 0; i < 64; i++)
                free(paths[i]);
        env_stop(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-batch");
        TCase *tc = env_tcase("batch");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_batch_maps);
        tcase_add_test(tc, test_batch_all_or_nothing);
        tcase_add_test(tc, test_batch_dma_limit);
        tcase_add_test(tc, test_batch_quota_and_release);
        tcase_add_test(tc, test_batch_connection_and_crash);
        suite_add_tcase(s, tc);

        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
