/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mapping a batch's leases share (container_lease_batch()): one
 * mapping of the memfd per batch, each lease's vaddr showing its own
 * piece of the memory (overlapping pieces too), and the mapping gone with
 * the last lease whatever the order of the releases, the client leaving,
 * the container being destroyed, the batch's undo; kept while a lease the
 * kernel could not unmap is left, and kept by the container when the undo
 * could not unmap a piece. The simulated backend, its map_dma and
 * unmap_dma wrapped to fail on request; the mappings counted in
 * /proc/self/maps by the memfd's name.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "model/manager.h"
#include "platform/profile.h"
#include "util/macro.h"

#define PROFILES SOURCE_ROOT "/daemon/profiles"
#define PAGE 4096ULL
#define MEMFD_NAME "batch-mapping-test"

typedef struct World {
        char dir[64];
        char state[96];
        char runtime[96];
} World;

static const BackendOps *sim_ops;
static BackendOps wrapped;
static unsigned n_map, n_unmap, fail_map_at, fail_unmap_at; /* the 1-based call that fails; 0 none */

static int failing_map(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, bool writable) {
        if (++n_map == fail_map_at)
                return -EFAULT;
        return sim_ops->map_dma(c, iova, size, vaddr, writable);
}

static int failing_unmap(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped) {
        if (++n_unmap == fail_unmap_at)
                return -EIO;
        return sim_ops->unmap_dma(c, iova, size, ret_unmapped);
}

static Manager *world_manager(World *w) {
        _cleanup_free_ char *msg = NULL;
        Profile *p = NULL;
        Backend *b = NULL;
        Manager *m = NULL;
        Config c;

        snprintf(w->dir, sizeof(w->dir), "/tmp/test-batch-mapping.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(w->dir));
        snprintf(w->state, sizeof(w->state), "%s/state", w->dir);
        snprintf(w->runtime, sizeof(w->runtime), "%s/run", w->dir);
        ck_assert_int_eq(mkdir(w->state, 0700), 0);
        ck_assert_int_eq(mkdir(w->runtime, 0755), 0);
        ck_assert_msg(profile_load("x86-vtd", PROFILES, &p, &msg) == 0, "x86-vtd: %s", msg);
        ck_assert_int_eq(backend_sim_new(p, w->runtime, &b), 0);
        sim_ops = b->ops;
        wrapped = *b->ops;
        wrapped.map_dma = failing_map;
        wrapped.unmap_dma = failing_unmap;
        b->ops = &wrapped;
        n_map = n_unmap = fail_map_at = fail_unmap_at = 0;
        config_init(&c);
        ck_assert_int_eq(manager_new(b, &c, w->state, w->runtime, &m), 0);
        ck_assert_int_eq(manager_refresh_platform(m, NULL), 0);
        return m;
}

static void world_done(World *w, Manager *m) {
        char cmd[128];

        manager_free(m);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
        ck_assert_int_eq(system(cmd), 0);
}

static Container *container_with(Manager *m, uid_t user) {
        IovadError e = {};
        Container *c;

        ck_assert_int_eq(manager_create_container(m, "c", &user, 1, &c, &e), 0);
        ck_assert_msg(manager_attach_group(m, c, 5, &e) == 0, "%s", e.message);
        return c;
}

/* A sealed memfd of @pages pages, page i filled with the byte 'A' + i. */
static int pattern_memfd(size_t pages) {
        int fd = memfd_create(MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        uint8_t buf[PAGE];

        ck_assert_int_ge(fd, 0);
        for (size_t i = 0; i < pages; i++) {
                memset(buf, 'A' + (int) i, sizeof(buf));
                ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), (off_t) (i * PAGE)), (ssize_t) sizeof(buf));
        }
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
        return fd;
}

/* How many mappings of the test's memfd this process has. */
static size_t memfd_mappings(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
        char line[512];
        size_t n = 0;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                n += strstr(line, "/memfd:" MEMFD_NAME) != NULL;
        return n;
}

/* @l's memory is page @page of the memfd onwards, for @pages pages. */
static void check_shows(const Lease *l, size_t page, size_t pages) {
        const uint8_t *p = l->vaddr;

        ck_assert_ptr_nonnull(p);
        for (size_t i = 0; i < pages; i++) {
                ck_assert_int_eq(p[i * PAGE], 'A' + (int) (page + i));
                ck_assert_int_eq(p[i * PAGE + PAGE - 1], 'A' + (int) (page + i));
        }
}

static void batch(Manager *m, Container *c, int fd, const LeasePiece *pieces, size_t n, Lease **ls) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        ssize_t failed;

        ck_assert_msg(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, n, ls, &failed, &e) == 0, "%s",
                      e.message);
}

/* Four adjacent pieces, released one at a time in each of these orders: the mapping goes with the last. */
START_TEST(test_release_orders) {
        static const size_t orders[][4] = { { 0, 1, 2, 3 }, { 3, 2, 1, 0 }, { 1, 3, 0, 2 }, { 2, 0, 3, 1 } };
        LeasePiece pieces[4];
        Lease *ls[4];
        World w;
        Manager *m = world_manager(&w);
        Container *c = container_with(m, 1000);
        int fd = pattern_memfd(6);

        /* Pieces at pages 1..4, given out of order. */
        for (size_t i = 0; i < 4; i++)
                pieces[i] = (LeasePiece) { (1 + (i * 3) % 4) * PAGE, PAGE, LEASE_IOVA_AUTO };
        for (size_t k = 0; k < ELEMENTSOF(orders); k++) {
                ck_assert_uint_eq(memfd_mappings(), 0);
                batch(m, c, fd, pieces, 4, ls);
                /* One mapping for the batch, not one per piece. */
                ck_assert_uint_eq(memfd_mappings(), 1);
                for (size_t i = 0; i < 4; i++) {
                        ck_assert_ptr_nonnull(ls[i]->mapping);
                        ck_assert_ptr_eq(ls[i]->mapping, ls[0]->mapping);
                        ck_assert_uint_eq(ls[i]->offset, pieces[i].offset);
                        check_shows(ls[i], pieces[i].offset / PAGE, 1);
                }
                ck_assert_uint_eq(ls[0]->mapping->refs, 4);
                for (size_t j = 0; j < 4; j++) {
                        IovadError e = {};
                        Lease *l = ls[orders[k][j]];

                        ck_assert_msg(manager_release_lease(m, l, &e) == 0, "%s", e.message);
                        ck_assert_uint_eq(memfd_mappings(), j < 3 ? 1 : 0);
                        /* The others still show their memory. */
                        for (size_t i = j + 1; i < 4; i++)
                                check_shows(ls[orders[k][i]], pieces[orders[k][i]].offset / PAGE, 1);
                }
                ck_assert_uint_eq(c->n_leases, 0);
                ck_assert_uint_eq(m->n_memfds, 0);
        }
        close(fd);
        world_done(&w, m);
}
END_TEST

/* Pieces that overlap in the memfd: the same memory at two IOVAs, written through one, read through the other. */
START_TEST(test_overlapping_pieces) {
        const LeasePiece pieces[] = {
                { 0, 2 * PAGE, LEASE_IOVA_AUTO },
                { PAGE, 2 * PAGE, LEASE_IOVA_AUTO },
                { 0, PAGE, LEASE_IOVA_AUTO },
                { 5 * PAGE, PAGE, LEASE_IOVA_AUTO }, /* past a gap */
        };
        uint64_t ids[4];
        Container *changed[2];
        Lease *ls[4];
        IovadError e = {};
        ssize_t failed;
        size_t n_changed;
        uint8_t b;
        World w;
        Manager *m = world_manager(&w);
        Container *c = container_with(m, 1000);
        int fd = pattern_memfd(6);

        batch(m, c, fd, pieces, ELEMENTSOF(pieces), ls);
        ck_assert_uint_eq(memfd_mappings(), 1);
        check_shows(ls[0], 0, 2);
        check_shows(ls[1], 1, 2);
        check_shows(ls[2], 0, 1);
        check_shows(ls[3], 5, 1);
        ck_assert_ptr_eq((uint8_t *) ls[1]->vaddr, (uint8_t *) ls[0]->vaddr + PAGE);
        ck_assert_ptr_eq(ls[2]->vaddr, ls[0]->vaddr);
        for (size_t i = 1; i < 4; i++)
                ck_assert_uint_ne(ls[i]->iova, ls[0]->iova);
        ((uint8_t *) ls[1]->vaddr)[10] = 'z';
        ck_assert_int_eq(((uint8_t *) ls[0]->vaddr)[PAGE + 10], 'z');
        ck_assert_int_eq(pread(fd, &b, 1, (off_t) PAGE + 10), 1);
        ck_assert_int_eq(b, 'z');

        /* All of them in one ReleaseLeases: the mapping goes with them. */
        for (size_t i = 0; i < 4; i++)
                ids[i] = ls[i]->id;
        ck_assert_int_eq(manager_release_leases(m, 1000, ids, 4, &failed, changed, 2, &n_changed, &e), 0);
        ck_assert_uint_eq(memfd_mappings(), 0);
        ck_assert_uint_eq(c->n_leases, 0);
        close(fd);
        world_done(&w, m);
}
END_TEST

/* The client leaves, or the container is destroyed, with the batch's leases: the mapping goes. */
START_TEST(test_client_gone_and_destroy) {
        LeasePiece pieces[3];
        Container *changed[2];
        Client *cl;
        Lease *ls[3];
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        ssize_t failed;
        World w;
        Manager *m = world_manager(&w);
        Container *c = container_with(m, 1000);
        int fd = pattern_memfd(3);

        for (size_t i = 0; i < 3; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, LEASE_IOVA_AUTO };
        ck_assert_int_ge(manager_get_client(m, ":1.42", 1000, &cl), 0);
        ck_assert_msg(manager_lease_batch(m, c, 1000, cl, &o, fd, pieces, 3, ls, &failed, &e) == 0, "%s", e.message);
        ck_assert_uint_eq(memfd_mappings(), 1);
        /* One released first, then the client goes with the other two. */
        ck_assert_int_eq(manager_release_lease(m, ls[1], &e), 0);
        ck_assert_uint_eq(memfd_mappings(), 1);
        ck_assert_uint_eq(manager_client_gone(m, cl, changed, 2), 1);
        ck_assert_uint_eq(memfd_mappings(), 0);
        ck_assert_uint_eq(c->n_leases, 0);

        batch(m, c, fd, pieces, 3, ls);
        ck_assert_uint_eq(memfd_mappings(), 1);
        manager_destroy_container(m, c);
        ck_assert_uint_eq(memfd_mappings(), 0);
        close(fd);
        world_done(&w, m);
}
END_TEST

/* A MAP_DMA fails midway: the undo takes the mapping away with the pieces. */
START_TEST(test_undo) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        LeasePiece pieces[5];
        Lease *ls[5];
        IovadError e = {};
        ssize_t failed;
        World w;
        Manager *m = world_manager(&w);
        Container *c = container_with(m, 1000);
        int fd = pattern_memfd(5);

        for (size_t i = 0; i < 5; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, LEASE_IOVA_AUTO };
        fail_map_at = 3;
        ck_assert_int_eq(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 5, ls, &failed, &e),
                         -iovad_error_errno(IOVAD_E_KERNEL));
        ck_assert_int_eq(failed, 2);
        ck_assert_uint_eq(n_unmap, 2);
        ck_assert_uint_eq(memfd_mappings(), 0);
        ck_assert_ptr_null(c->kept_mappings);
        ck_assert(!c->faulted);
        ck_assert_uint_eq(c->n_leases, 0);
        close(fd);
        world_done(&w, m);
}
END_TEST

/*
 * The undo cannot unmap a piece: the kernel keeps its pages pinned, so
 * the batch's mapping stays, held by the container, until it goes.
 */
START_TEST(test_undo_keeps_pinned) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        LeasePiece pieces[4];
        Lease *ls[4];
        IovadError e = {};
        ssize_t failed;
        World w;
        Manager *m = world_manager(&w);
        Container *c = container_with(m, 1000);
        int fd = pattern_memfd(4);

        for (size_t i = 0; i < 4; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, LEASE_IOVA_AUTO };
        fail_map_at = 4;
        fail_unmap_at = 2; /* the second of the undo's three */
        ck_assert_int_eq(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 4, ls, &failed, &e),
                         -iovad_error_errno(IOVAD_E_KERNEL));
        ck_assert_int_eq(failed, 3);
        ck_assert_uint_eq(n_unmap, 3);
        ck_assert(c->faulted);
        ck_assert_uint_eq(c->n_leases, 0);
        ck_assert_uint_eq(memfd_mappings(), 1);
        ck_assert_ptr_nonnull(c->kept_mappings);
        ck_assert_uint_eq(c->kept_mappings->refs, 1);
        ck_assert_ptr_null(c->kept_mappings->kept_next);
        manager_destroy_container(m, c);
        ck_assert_uint_eq(memfd_mappings(), 0);
        close(fd);
        world_done(&w, m);
}
END_TEST

/* A lease the kernel could not unmap stays, and with it the mapping, after the others are released. */
START_TEST(test_stuck_lease_keeps_mapping) {
        LeasePiece pieces[3];
        Lease *ls[3];
        IovadError e = {};
        World w;
        Manager *m = world_manager(&w);
        Container *c = container_with(m, 1000);
        int fd = pattern_memfd(3);

        for (size_t i = 0; i < 3; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, LEASE_IOVA_AUTO };
        batch(m, c, fd, pieces, 3, ls);
        fail_unmap_at = 1;
        ck_assert_int_eq(manager_release_lease(m, ls[1], &e), -iovad_error_errno(IOVAD_E_KERNEL));
        ck_assert(ls[1]->stuck);
        ck_assert_int_eq(manager_release_lease(m, ls[0], &e), 0);
        ck_assert_int_eq(manager_release_lease(m, ls[2], &e), 0);
        ck_assert_uint_eq(c->n_leases, 1);
        ck_assert_uint_eq(memfd_mappings(), 1);
        check_shows(ls[1], 1, 1);
        ck_assert_uint_eq(ls[1]->mapping->refs, 1);
        manager_destroy_container(m, c);
        ck_assert_uint_eq(memfd_mappings(), 0);
        close(fd);
        world_done(&w, m);
}
END_TEST

/* A readonly batch maps the memory readonly and shows it all the same. */
START_TEST(test_readonly) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        LeasePiece pieces[2] = { { 0, PAGE, LEASE_IOVA_AUTO }, { PAGE, PAGE, LEASE_IOVA_AUTO } };
        Lease *ls[2];
        IovadError e = {};
        ssize_t failed;
        World w;
        Manager *m = world_manager(&w);
        Container *c = container_with(m, 1000);
        int fd = pattern_memfd(2);
        _cleanup_fclose_ FILE *f = NULL;
        char line[512];
        bool found = false;

        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
        o.readonly = true;
        ck_assert_msg(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 2, ls, &failed, &e) == 0, "%s", e.message);
        check_shows(ls[0], 0, 1);
        check_shows(ls[1], 1, 1);
        ck_assert(!ls[0]->writable);
        f = fopen("/proc/self/maps", "re");
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                if (strstr(line, "/memfd:" MEMFD_NAME)) {
                        ck_assert_msg(strstr(line, " r--s ") != NULL, "%s", line);
                        found = true;
                }
        ck_assert(found);
        close(fd);
        world_done(&w, m);
}
END_TEST

int main(void) {
        Suite *s = suite_create("batch-mapping");
        TCase *tc = tcase_create("batch-mapping");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_release_orders);
        tcase_add_test(tc, test_overlapping_pieces);
        tcase_add_test(tc, test_client_gone_and_destroy);
        tcase_add_test(tc, test_undo);
        tcase_add_test(tc, test_undo_keeps_pinned);
        tcase_add_test(tc, test_stuck_lease_keeps_mapping);
        tcase_add_test(tc, test_readonly);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
