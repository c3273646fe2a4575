/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Batches in the model: container_lease_batch() and manager_lease_batch()
 * all or nothing, with a MAP_DMA that fails in the middle (the simulated
 * backend's operations wrapped to count calls and fail one), quotas and
 * the DMA budget checked before the first MAP_DMA, and
 * manager_release_leases() all or nothing. Then the mapping a batch's
 * leases share: one mapping of the memfd per batch, each lease's vaddr
 * showing its own piece of the memory (overlapping pieces too), and the
 * mapping gone with the last lease whatever the order of the releases,
 * the client leaving, the container being destroyed, the batch's undo;
 * kept while a lease the kernel could not unmap is left, and kept by the
 * container when the undo could not unmap a piece (the wrapped unmap_dma
 * fails on request too); the mappings counted in /proc/self/maps by the
 * memfd's name.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "model/manager.h"
#include "persist/state.h"
#include "platform/profile.h"
#include "util/macro.h"

#define PROFILES SOURCE_ROOT "/daemon/profiles"
#define PAGE 4096ULL

typedef struct World {
        char dir[64];
        char state[96];
        char runtime[96];
} World;

/* The simulated backend's operations, with map_dma and unmap_dma counted and one map_dma made to fail. */
static const BackendOps *sim_ops;
static BackendOps wrapped;
static unsigned n_map, n_unmap, fail_map_at, fail_unmap_at; /* the 1-based call that fails; 0 none */

static int counting_map(BackendContainer *c, uint64_t iova, uint64_t size, void *vaddr, bool writable) {
        if (++n_map == fail_map_at)
                return -EFAULT;
        return sim_ops->map_dma(c, iova, size, vaddr, writable);
}

static int counting_unmap(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped) {
        if (++n_unmap == fail_unmap_at)
                return -EIO;
        return sim_ops->unmap_dma(c, iova, size, ret_unmapped);
}

static Manager *world_manager(World *w, const char *profile, const Config *config) {
        _cleanup_free_ char *msg = NULL;
        Profile *p = NULL;
        Backend *b = NULL;
        Manager *m = NULL;
        Config c;

        snprintf(w->dir, sizeof(w->dir), "/tmp/test-batch.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(w->dir));
        snprintf(w->state, sizeof(w->state), "%s/state", w->dir);
        snprintf(w->runtime, sizeof(w->runtime), "%s/run", w->dir);
        ck_assert_int_eq(mkdir(w->state, 0700), 0);
        ck_assert_int_eq(mkdir(w->runtime, 0755), 0);
        ck_assert_msg(profile_load(profile, PROFILES, &p, &msg) == 0, "%s: %s", profile, msg);
        ck_assert_int_eq(backend_sim_new(p, w->runtime, &b), 0);
        sim_ops = b->ops;
        wrapped = *b->ops;
        wrapped.map_dma = counting_map;
        wrapped.unmap_dma = counting_unmap;
        b->ops = &wrapped;
        n_map = n_unmap = fail_map_at = fail_unmap_at = 0;
        if (config)
                c = *config;
        else
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

static Container *container_with(Manager *m, uid_t user, unsigned group) {
        IovadError e = {};
        Container *c;

        ck_assert_int_eq(manager_create_container(m, "c", &user, 1, &c, &e), 0);
        ck_assert_msg(manager_attach_group(m, c, group, &e) == 0, "%s", e.message);
        return c;
}

static int sealed_memfd(uint64_t size) {
        int fd = memfd_create("batch", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t) size), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
        return fd;
}

static size_t open_fds(void) {
        size_t n = 0;

        for (int fd = 0; fd < 4096; fd++)
                n += fcntl(fd, F_GETFD) >= 0;
        return n;
}

START_TEST(test_map_fails_midway) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        LeasePiece pieces[6];
        Lease *ls[6];
        IovadError e = {};
        ssize_t failed;
        uint32_t avail;
        size_t fds;
        World w;
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
        int fd = sealed_memfd(6 * PAGE);

        for (size_t i = 0; i < 6; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, i == 1 ? 0x40000000ULL : LEASE_IOVA_AUTO };
        avail = c->dma_avail;
        fds = open_fds();

        /* The fourth MAP_DMA fails: three were mapped and are unmapped again, the fourth is named. */
        fail_map_at = 4;
        ck_assert_int_eq(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 6, ls, &failed, &e), -iovad_error_errno(IOVAD_E_KERNEL));
        ck_assert_int_eq(e.code, IOVAD_E_KERNEL);
        ck_assert_int_eq(failed, 3);
        ck_assert_msg(strstr(e.message, "Piece 3 (offset 0x3000, size 0x1000)"), "%s", e.message);
        ck_assert_uint_eq(n_map, 4);
        ck_assert_uint_eq(n_unmap, 3);
        ck_assert_uint_eq(c->n_leases, 0);
        ck_assert_uint_eq(m->n_leases, 0);
        ck_assert_uint_eq(c->dma_avail, avail);
        ck_assert_uint_eq(m->n_memfds, 0);
        ck_assert_uint_eq(open_fds(), fds);

        /* Nothing was kept: the same batch, the fixed piece included, maps whole. */
        fail_map_at = 0;
        n_map = n_unmap = 0;
        ck_assert_msg(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 6, ls, &failed, &e) == 0, "%s", e.message);
        ck_assert_uint_eq(n_map, 6);
        ck_assert_uint_eq(c->n_leases, 6);
        ck_assert_uint_eq(c->dma_avail, avail - 6);
        ck_assert_uint_eq(ls[1]->iova, 0x40000000ULL);
        ck_assert_uint_eq(m->n_memfds, 6);
        for (size_t i = 0; i < 6; i++) {
                ck_assert(ls[i]->mapped);
                ck_assert_uint_eq(ls[i]->offset, i * PAGE);
                ck_assert_uint_gt(ls[i]->id, 0);
                ck_assert_ptr_eq(manager_find_lease(m, ls[i]->id), ls[i]);
                /* Ids in the order of the pieces. */
                if (i > 0)
                        ck_assert_uint_eq(ls[i]->id, ls[i - 1]->id + 1);
        }
        close(fd);
        world_done(&w, m);
}
END_TEST

START_TEST(test_checked_before_mapping) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        LeasePiece pieces[4];
        Lease *ls[4];
        IovadError e = {};
        ssize_t failed;
        World w;
        Config cfg;
        Manager *m;
        Container *c;
        int fd;

        config_init(&cfg);
        cfg.max_leases = 3;
        m = world_manager(&w, "x86-vtd", &cfg);
        c = container_with(m, 1000, 5);
        fd = sealed_memfd(4 * PAGE);
        for (size_t i = 0; i < 4; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, LEASE_IOVA_AUTO };

        /* The quota for the whole batch, before anything is mapped. */
        ck_assert_int_eq(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 4, ls, &failed, &e), -iovad_error_errno(IOVAD_E_QUOTA_EXCEEDED));
        ck_assert_int_eq(failed, -1);
        ck_assert_uint_eq(n_map, 0);
        /* Root has none. */
        ck_assert_int_eq(manager_lease_batch(m, c, 0, NULL, &o, fd, pieces, 4, ls, &failed, &e), 0);
        ck_assert_uint_eq(n_map, 4);

        /* The DMA budget, likewise. */
        n_map = 0;
        c->dma_avail = 3;
        ck_assert_int_eq(manager_lease_batch(m, c, 0, NULL, &o, fd, pieces, 4, ls, &failed, &e), -iovad_error_errno(IOVAD_E_DMA_LIMIT));
        ck_assert_int_eq(e.code, IOVAD_E_DMA_LIMIT);
        ck_assert_uint_eq(n_map, 0);

        /* A fixed piece in the MSI window, last: nothing is mapped for the pieces before it. */
        pieces[3].iova = 0xfee00000ULL;
        c->dma_avail = 100;
        ck_assert_int_eq(manager_lease_batch(m, c, 0, NULL, &o, fd, pieces, 4, ls, &failed, &e), -iovad_error_errno(IOVAD_E_RESERVED_CONFLICT));
        ck_assert_int_eq(e.code, IOVAD_E_RESERVED_CONFLICT);
        ck_assert_int_eq(failed, 3);
        ck_assert_uint_eq(n_map, 0);
        ck_assert_uint_eq(c->n_leases, 4);
        close(fd);
        world_done(&w, m);
}
END_TEST

START_TEST(test_release_all_or_nothing) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        LeasePiece pieces[3];
        Lease *ls[3];
        Container *changed[4];
        IovadError e = {};
        uint64_t ids[4];
        size_t n_changed;
        ssize_t failed;
        World w;
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
        int fd = sealed_memfd(3 * PAGE);

        for (size_t i = 0; i < 3; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, LEASE_IOVA_AUTO };
        ck_assert_int_eq(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 3, ls, &failed, &e), 0);
        for (size_t i = 0; i < 3; i++)
                ids[i] = ls[i]->id;

        ids[3] = 424242;
        ck_assert_int_eq(manager_release_leases(m, 1000, ids, 4, &failed, changed, 4, &n_changed, &e), -iovad_error_errno(IOVAD_E_NO_SUCH_LEASE));
        ck_assert_int_eq(failed, 3);
        ck_assert_uint_eq(c->n_leases, 3);
        ids[3] = ids[0];
        ck_assert_int_lt(manager_release_leases(m, 1000, ids, 4, &failed, changed, 4, &n_changed, &e), 0);
        ck_assert_int_eq(failed, 3);
        ck_assert_uint_eq(c->n_leases, 3);
        /* Another uid's: refused; root may. */
        ck_assert_int_eq(manager_release_leases(m, 1001, ids, 3, &failed, changed, 4, &n_changed, &e), -iovad_error_errno(IOVAD_E_ACCESS_DENIED));
        ck_assert_int_eq(failed, 0);
        ck_assert_uint_eq(n_unmap, 0);
        ck_assert_int_eq(manager_release_leases(m, 0, ids, 3, &failed, changed, 4, &n_changed, &e), 0);
        ck_assert_uint_eq(n_unmap, 3);
        ck_assert_uint_eq(n_changed, 1);
        ck_assert_ptr_eq(changed[0], c);
        ck_assert_uint_eq(c->n_leases, 0);
        ck_assert_uint_eq(m->n_memfds, 0);
        close(fd);
        world_done(&w, m);
}
END_TEST

/*
 * How many times state.json was saved since the watch began: each save
 * renames a temporary file of a name of its own over it (counted by that
 * name: inotify merges identical events that follow each other).
 */
static unsigned state_saves(int wd_fd) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        unsigned n = 0;
        ssize_t k;

        while ((k = read(wd_fd, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + k;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        if ((ev->mask & IN_MOVED_FROM) && ev->len > 0 && strncmp(ev->name, ".state.json.", 12) == 0)
                                n++;
                        p += sizeof(*ev) + ev->len;
                }
        return n;
}

/* A batch of persistent leases, and their release in one call: the state file is written once for each. */
START_TEST(test_persistent_batch_saves_once) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        LeasePiece pieces[8];
        Lease *ls[8];
        Container *changed[2];
        IovadError e = {};
        uint64_t ids[8];
        size_t n_changed;
        ssize_t failed;
        State st = {};
        _cleanup_free_ char *msg = NULL;
        World w;
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
        int fd = sealed_memfd(8 * PAGE), in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

        ck_assert_int_ge(in, 0);
        ck_assert_int_ge(inotify_add_watch(in, w.state, IN_MOVED_FROM), 0);
        o.persistent = true;
        for (size_t i = 0; i < 8; i++)
                pieces[i] = (LeasePiece) { i * PAGE, PAGE, LEASE_IOVA_AUTO };
        ck_assert_msg(manager_lease_batch(m, c, 1000, NULL, &o, fd, pieces, 8, ls, &failed, &e) == 0, "%s", e.message);
        ck_assert_uint_eq(state_saves(in), 1);
        ck_assert_int_eq(state_load(w.state, &st, &msg), 0);
        ck_assert_uint_eq(st.n_leases, 8);
        state_done(&st);

        for (size_t i = 0; i < 8; i++)
                ids[i] = ls[i]->id;
        ck_assert_int_eq(manager_release_leases(m, 1000, ids, 8, &failed, changed, 2, &n_changed, &e), 0);
        ck_assert_uint_eq(state_saves(in), 1);
        ck_assert_int_eq(state_load(w.state, &st, &msg), 0);
        ck_assert_uint_eq(st.n_leases, 0);
        state_done(&st);
        close(in);
        close(fd);
        world_done(&w, m);
}
END_TEST

/* ---- the mapping a batch's leases share ---- */

#define MEMFD_NAME "batch-mapping-test"

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
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
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
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
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
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
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
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
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
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
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
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
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
        Manager *m = world_manager(&w, "x86-vtd", NULL);
        Container *c = container_with(m, 1000, 5);
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
        Suite *s = suite_create("batch");
        TCase *tc = tcase_create("batch");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_map_fails_midway);
        tcase_add_test(tc, test_checked_before_mapping);
        tcase_add_test(tc, test_release_all_or_nothing);
        tcase_add_test(tc, test_persistent_batch_saves_once);
        suite_add_tcase(s, tc);
        tc = tcase_create("shared-mapping");
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
