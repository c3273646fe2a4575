/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A batch's leases share one duplicate of the memfd and one mapping of it
 * in iovad (container_lease_batch()); across a restart through the fd
 * store each lease still comes back on its own: every lease's memory is
 * pushed under its own name, the restore maps each from its stored fd,
 * and the pieces' memory is the client's, overlapping pieces included.
 * iovad's own mappings of the memfd are measured in /proc/PID/maps: one of
 * the batch's span before the restart, one per lease after it, none once
 * all are released.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bus-env.h"

#define AUTO UINT64_MAX
#define N 4

typedef struct Piece {
        uint64_t offset, size, iova;
} Piece;

static uint64_t lease_id(const char *path) {
        uint64_t id;

        ck_assert_int_eq(sscanf(path, IOVAD_LEASE_PREFIX "/%" SCNu64, &id), 1);
        return id;
}

static int stored(const BusEnv *e, const char *lease_path) {
        char name[64];

        xsprintf(name, "lease-%" PRIu64, lease_id(lease_path));
        return env_fdstore_find(e, name);
}

static bool same_file(int a, int b) {
        struct stat x, y;

        ck_assert_int_ge(a, 0);
        ck_assert_int_ge(b, 0);
        ck_assert_int_eq(fstat(a, &x), 0);
        ck_assert_int_eq(fstat(b, &y), 0);
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/*
 * The bytes of iovad's mappings of the test's memfd (the kernel merges
 * mappings that meet in both address and file offset, so it counts bytes,
 * not mappings).
 */
static uint64_t daemon_mapped(const BusEnv *e) {
        char path[64], line[512];
        uint64_t n = 0;
        FILE *f;

        xsprintf(path, "/proc/%d/maps", (int) e->daemon_pid);
        f = fopen(path, "re");
        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f)) {
                unsigned long start, end;

                if (!strstr(line, "/memfd:iovad-bus-test"))
                        continue;
                ck_assert_int_eq(sscanf(line, "%lx-%lx", &start, &end), 2);
                n += end - start;
        }
        fclose(f);
        return n;
}

static void batch_ok(sd_bus *bus, const char *container, int fd, const Piece *pieces, size_t n, char **ret_paths,
                     uint64_t *ret_iovas) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path;
        uint64_t iova;
        size_t k = 0;
        int r;

        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, IOVAD_BUS_NAME, container, IOVAD_CONTAINER_IFACE,
                                                        "MapMemoryBatch"),
                         0);
        ck_assert_int_ge(sd_bus_message_append(m, "h", fd), 0);
        ck_assert_int_ge(sd_bus_message_open_container(m, 'a', "(ttt)"), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_ge(sd_bus_message_append(m, "(ttt)", pieces[i].offset, pieces[i].size, pieces[i].iova), 0);
        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
        ck_assert_int_ge(sd_bus_message_append(m, "a{sv}", 0), 0);
        r = sd_bus_call(bus, m, 0, &error, &reply);
        ck_assert_msg(r >= 0, "MapMemoryBatch failed: %s: %s%s", error.name, error.message, env_daemon_death());
        sd_bus_error_free(&error);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ot)"), 0);
        while ((r = sd_bus_message_read(reply, "(ot)", &path, &iova)) > 0) {
                ck_assert_uint_lt(k, n);
                ret_paths[k] = strdup(path);
                ret_iovas[k] = iova;
                k++;
        }
        ck_assert_int_ge(r, 0);
        ck_assert_uint_eq(k, n);
}

START_TEST(test_batch_restart) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { 0 };
        /* Pieces 0 and 3 overlap in the memfd: its first page at two IOVAs. */
        const Piece pieces[N] = {
                { 0, PAGE, AUTO }, { PAGE, PAGE, AUTO }, { 2 * PAGE, 2 * PAGE, AUTO }, { 0, 2 * PAGE, AUTO },
        };
        uint8_t page[PAGE];
        char *paths[N];
        uint64_t iovas[N];
        LeaseInfo li[8];
        BusEnv e;

        env_start(&e, NULL, NULL);
        env_daemon_stop(&e);
        env_fdstore_enable(&e);
        env_daemon_start(&e);
        bus = env_connect();
        c = create_container(bus, "vm", users, 1);
        attach(bus, c, 5);
        fd = sealed_memfd(4 * PAGE, 0);
        for (size_t i = 0; i < 4; i++) {
                memset(page, 'a' + (int) i, sizeof(page));
                ck_assert_int_eq(pwrite(fd, page, sizeof(page), (off_t) (i * PAGE)), (ssize_t) PAGE);
        }

        batch_ok(bus, c, fd, pieces, N, paths, iovas);
        /* One mapping of the pieces' span, not 6 pages of one per piece. */
        ck_assert_uint_eq(daemon_mapped(&e), 4 * PAGE);
        /* Each lease's memory under its own name, and the container's and its group's fds. */
        ck_assert_uint_eq(env_fdstore_collect(&e), N + 2);
        for (size_t i = 0; i < N; i++)
                ck_assert(same_file(stored(&e, paths[i]), fd));

        /* One goes before the restart: its name leaves the store, the others keep theirs. */
        release(bus, paths[1]);
        env_fdstore_collect(&e);
        ck_assert_int_lt(stored(&e, paths[1]), 0);
        ck_assert_uint_eq(daemon_mapped(&e), 4 * PAGE);

        env_daemon_kill(&e);
        env_daemon_start(&e);

        /* Back where they were, mapped, each on its own mapping of the client's memory. */
        ck_assert_uint_eq(list_leases(bus, c, li, 8), N - 1);
        for (size_t i = 0; i < N; i++) {
                if (i == 1)
                        continue;
                ck_assert_uint_eq(prop_t(bus, paths[i], IOVAD_LEASE_IFACE, "Iova"), iovas[i]);
                ck_assert_uint_eq(prop_t(bus, paths[i], IOVAD_LEASE_IFACE, "Size"), pieces[i].size);
                ck_assert(prop_b(bus, paths[i], IOVAD_LEASE_IFACE, "Mapped"));
                ck_assert(same_file(stored(&e, paths[i]), fd));
        }
        ck_assert_uint_eq(daemon_mapped(&e), 5 * PAGE);
        ck_assert_int_eq(pread(stored(&e, paths[3]), page, sizeof(page), (off_t) PAGE), (ssize_t) PAGE);
        ck_assert_int_eq(page[0], 'b');
        ck_assert_int_eq(page[PAGE - 1], 'b');

        /* Released one at a time, each mapping goes with its lease. */
        release(bus, paths[0]);
        ck_assert_uint_eq(daemon_mapped(&e), 4 * PAGE);
        release(bus, paths[3]);
        ck_assert_uint_eq(daemon_mapped(&e), 2 * PAGE);
        release(bus, paths[2]);
        ck_assert_uint_eq(daemon_mapped(&e), 0);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 0);
        for (size_t i = 0; i < N; i++)
                free(paths[i]);
        env_stop(&e);
}
END_TEST

/* A batch released piece by piece in a shuffled order: iovad's one mapping stays until the last. */
START_TEST(test_batch_release_order) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { 0 };
        static const size_t order[8] = { 5, 0, 7, 2, 6, 1, 4, 3 };
        Piece pieces[8];
        char *paths[8];
        uint64_t iovas[8];
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "vm", users, 1);
        attach(bus, c, 5);
        fd = sealed_memfd(8 * PAGE, 0);
        for (size_t i = 0; i < 8; i++)
                pieces[i] = (Piece) { (7 - i) * PAGE, PAGE, AUTO };
        batch_ok(bus, c, fd, pieces, 8, paths, iovas);
        ck_assert_uint_eq(daemon_mapped(&e), 8 * PAGE);
        for (size_t i = 0; i < 8; i++) {
                release(bus, paths[order[i]]);
                ck_assert_uint_eq(daemon_mapped(&e), i < 7 ? 8 * PAGE : 0);
        }
        for (size_t i = 0; i < 8; i++)
                free(paths[i]);
        env_stop(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-batch-restart");
        TCase *tc = env_tcase("batch-restart");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_batch_restart);
        tcase_add_test(tc, test_batch_release_order);
        suite_add_tcase(s, tc);
        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
