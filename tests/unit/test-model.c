/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The model on its own: containers, leases, quotas, attach conflicts,
 * clients leaving and a restore, on the simulated backend with no bus.
 * Links the model and the layers below it only.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "backend/backend.h"
#include "model/manager.h"
#include "persist/fd-store.h"
#include "platform/profile.h"
#include "util/macro.h"

#define PROFILES SOURCE_ROOT "/daemon/profiles"

typedef struct World {
        char dir[64];
        char state[96];
        char runtime[96];
} World;

static void world_init(World *w) {
        snprintf(w->dir, sizeof(w->dir), "/tmp/test-model.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(w->dir));
        snprintf(w->state, sizeof(w->state), "%s/state", w->dir);
        snprintf(w->runtime, sizeof(w->runtime), "%s/run", w->dir);
        ck_assert_int_eq(mkdir(w->state, 0700), 0);
        ck_assert_int_eq(mkdir(w->runtime, 0755), 0);
}

static void world_done(World *w) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
        ck_assert_int_eq(system(cmd), 0);
}

static Profile *profile_named(const char *name) {
        _cleanup_free_ char *msg = NULL;
        Profile *p = NULL;

        ck_assert_msg(profile_load(name, PROFILES, &p, &msg) == 0, "%s: %s", name, msg);
        return p;
}

/*
 * A manager on profile @p with @config (NULL: defaults), after removing
 * the paths @hide (relative to the simulated sysfs root) from the tree.
 */
static Manager *manager_on_profile(const World *w, Profile *p, const Config *config, const char *const *hide) {
        Backend *b = NULL;
        Manager *m = NULL;
        Config c;

        ck_assert_int_eq(backend_sim_new(p, w->runtime, &b), 0);
        for (const char *const *h = hide; h && *h; h++) {
                char cmd[512];
                snprintf(cmd, sizeof(cmd), "rm -r '%s/%s'", b->sysfs_root, *h);
                ck_assert_int_eq(system(cmd), 0);
        }
        if (config)
                c = *config;
        else
                config_init(&c);
        ck_assert_int_eq(manager_new(b, &c, w->state, w->runtime, &m), 0);
        ck_assert_int_eq(manager_refresh_platform(m, NULL), 0);
        return m;
}

/* A manager on profile @name with @config (NULL: defaults). */
static Manager *manager_on(const World *w, const char *name, const Config *config) {
        return manager_on_profile(w, profile_named(name), config, NULL);
}

static Container *container_with(Manager *m, const char *name, uid_t user, unsigned group) {
        IovadError e = {};
        Container *c;

        ck_assert_int_eq(manager_create_container(m, name, &user, 1, &c, &e), 0);
        if (group)
                ck_assert_msg(manager_attach_group(m, c, group, &e) == 0, "%s", e.message);
        return c;
}

static bool overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_last) {
        return a <= b_last && b <= a + (a_size - 1);
}

START_TEST(test_lease_life) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        World w;
        Lease *l;

        world_init(&w);
        Manager *m = manager_on(&w, "x86-vtd", NULL);
        Container *c = container_with(m, "vm", 1000, 5);
        ck_assert_uint_eq(c->n_groups, 1);
        ck_assert_uint_gt(c->usable.n, 1); /* the MSI window splits the aperture */

        /* A lease the size of everything below the MSI window cannot be in it. */
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x100000000ULL, &o, -1, 0, &l, &e), 0);
        ck_assert(!overlaps(l->iova, l->size, 0xfee00000, 0xfeefffff));
        ck_assert_uint_eq(l->id, 1);
        ck_assert_ptr_eq(manager_find_lease(m, 1), l);
        ck_assert_uint_eq(m->n_leases, 1);

        /* Fixed in the MSI window: refused, named, nothing changes. */
        o.fixed = true;
        o.iova = 0xfee00000;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), -EADDRINUSE);
        ck_assert_int_eq(e.code, IOVAD_E_RESERVED_CONFLICT);
        ck_assert_ptr_nonnull(strstr(e.message, "msi"));
        ck_assert_uint_eq(m->n_leases, 1);
        ck_assert_uint_eq(c->n_leases, 1);

        ck_assert_int_eq(manager_release_lease(m, manager_find_lease(m, 1), &e), 0);
        ck_assert_uint_eq(m->n_leases, 0);
        ck_assert_ptr_null(manager_find_lease(m, 1));

        /* Ids are never given twice. */
        o = (LeaseOptions) LEASE_OPTIONS_INIT;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_uint_eq(l->id, 2);

        manager_destroy_container(m, c);
        ck_assert_uint_eq(m->n_leases, 0);
        ck_assert_uint_eq(m->n_containers, 0);
        manager_free(m);
        world_done(&w);
}
END_TEST

START_TEST(test_bad_input_named) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        uid_t u = 1000;
        Container *c;
        World w;
        Lease *l;

        world_init(&w);
        Manager *m = manager_on(&w, "x86-vtd", NULL);
        ck_assert_int_eq(manager_create_container(m, "bad/name", &u, 1, &c, &e), -EINVAL);
        ck_assert_int_eq(e.code, IOVAD_E_INVALID_ARGS);
        c = container_with(m, "vm", 1000, 0);
        ck_assert_int_eq(manager_create_container(m, "vm", &u, 1, &c, &e), -EEXIST);
        ck_assert_int_eq(e.code, IOVAD_E_EXISTS);

        c = manager_find_container(m, "vm");
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), -ENXIO);
        ck_assert_int_eq(e.code, IOVAD_E_NOT_ATTACHED);
        ck_assert_int_eq(manager_attach_group(m, c, 4242, &e), -ENODEV);
        ck_assert_int_eq(e.code, IOVAD_E_NO_SUCH_GROUP);
        ck_assert_int_eq(manager_attach_group(m, c, 1, &e), -EPERM); /* i915 keeps group 1 */
        ck_assert_int_eq(e.code, IOVAD_E_NOT_VIABLE);
        ck_assert_int_eq(manager_attach_group(m, c, 5, &e), 0);
        ck_assert_int_eq(manager_attach_group(m, c, 5, &e), -EEXIST);
        ck_assert_int_eq(e.code, IOVAD_E_EXISTS);
        ck_assert_int_eq(manager_detach_group(m, c, 12, &e), -ENXIO);
        ck_assert_int_eq(e.code, IOVAD_E_NOT_ATTACHED);

        Container *other = container_with(m, "other", 1000, 0);
        ck_assert_int_eq(manager_attach_group(m, other, 5, &e), -EBUSY);
        ck_assert_int_eq(e.code, IOVAD_E_BUSY);

        /* Sizes, alignments and addresses. */
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0, &o, -1, 0, &l, &e), -EINVAL);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1001, &o, -1, 0, &l, &e), -EINVAL);
        o.has_alignment = true;
        o.alignment = 2048;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), -EINVAL);
        ck_assert_int_eq(e.code, IOVAD_E_INVALID_ARGS);
        o.alignment = 0x3000;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), -EINVAL);
        o = (LeaseOptions) LEASE_OPTIONS_INIT;
        o.fixed = true;
        o.iova = UINT64_MAX - 0xfff;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x2000, &o, -1, 0, &l, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "overflows"));
        ck_assert_uint_eq(m->n_leases, 0);

        /* An fd that is not a memfd, and a memfd without seals. */
        o = (LeaseOptions) LEASE_OPTIONS_INIT;
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, fd, 0, &l, &e), -EBADF);
        ck_assert_int_eq(e.code, IOVAD_E_BAD_MEMORY);
        fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(ftruncate(fd, 0x1000), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, fd, 0, &l, &e), -EBADF);
        ck_assert_int_eq(e.code, IOVAD_E_BAD_MEMORY);
        ck_assert_uint_eq(m->n_leases, 0);

        /* The last group of a container with leases stays. */
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_int_eq(manager_detach_group(m, c, 5, &e), -EBUSY);
        ck_assert_int_eq(e.code, IOVAD_E_BUSY);
        ck_assert_uint_eq(c->n_groups, 1);
        manager_free(m);
        world_done(&w);
}
END_TEST

START_TEST(test_quotas) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        Config cfg;
        World w;
        Lease *l;
        int fd;

        world_init(&w);
        config_init(&cfg);
        cfg.max_leases = 2;
        cfg.max_mapped_bytes = 0x2000;
        Manager *m = manager_on(&w, "x86-vtd", &cfg);
        Container *c = container_with(m, "vm", 1000, 5);

        ck_assert_int_eq(container_memfd_new(c, 0x2000, false, &fd, &e), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x2000, &o, fd, 0, &l, &e), 0);
        ck_assert(l->mapped);
        uint32_t avail = c->dma_avail;
        ck_assert_int_eq(container_memfd_new(c, 0x1000, false, &fd, &e), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, fd, 0, &l, &e), -EDQUOT);
        ck_assert_int_eq(e.code, IOVAD_E_QUOTA_EXCEEDED);
        ck_assert_uint_eq(c->dma_avail, avail);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), -EDQUOT);
        ck_assert_int_eq(e.code, IOVAD_E_QUOTA_EXCEEDED);
        /* Per uid: root is not limited, and another uid has its own. */
        ck_assert_int_eq(manager_lease(m, c, 0, NULL, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_int_eq(manager_lease(m, c, 1001, NULL, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_uint_eq(m->n_leases, 4);
        manager_free(m);
        world_done(&w);
}
END_TEST

START_TEST(test_attach_conflict) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        _cleanup_free_ AttachConflict *cf = NULL;
        IovadError e = {};
        World w;
        Lease *l;

        world_init(&w);
        Manager *m = manager_on(&w, "x86-vtd", NULL);
        Container *c = container_with(m, "vm", 1000, 5);
        /* Group 14's firmware keeps a direct-map region here. */
        o.fixed = true;
        o.iova = 0xbddde000;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), 0);

        ck_assert_int_eq(manager_check_attach(m, c, 14, &cf, &e), 1);
        ck_assert_uint_eq(cf[0].start, 0xbddde000);
        ck_assert_int_eq(cf[0].type, REGION_DIRECT);
        ck_assert_ptr_eq(cf[0].lease, l);
        size_t n_regions = c->regions.n;
        ck_assert_int_eq(manager_attach_group(m, c, 14, &e), -EADDRINUSE);
        ck_assert_int_eq(e.code, IOVAD_E_RESERVED_CONFLICT);
        ck_assert_ptr_nonnull(strstr(e.message, "lease 1"));
        ck_assert_uint_eq(c->n_groups, 1);
        ck_assert_uint_eq(c->regions.n, n_regions);

        ck_assert_int_eq(manager_release_lease(m, l, &e), 0);
        ck_assert_int_eq(manager_check_attach(m, c, 14, NULL, &e), 0);
        ck_assert_int_eq(manager_attach_group(m, c, 14, &e), 0);
        ck_assert_uint_eq(c->n_groups, 2);
        manager_free(m);
        world_done(&w);
}
END_TEST

START_TEST(test_client_gone) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        Container *changed[4];
        Client *a, *b;
        World w;
        Lease *l;
        int fd;

        world_init(&w);
        Manager *m = manager_on(&w, "x86-vtd", NULL);
        Container *c = container_with(m, "vm", 1000, 5);
        ck_assert_int_eq(manager_get_client(m, ":1.7", 1000, &a), 1);
        ck_assert_int_eq(manager_get_client(m, ":1.7", 1000, &a), 0);
        ck_assert_int_eq(manager_get_client(m, ":1.8", 1000, &b), 1);
        ck_assert_int_eq(manager_lease(m, c, 1000, a, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_int_eq(container_memfd_new(c, 0x1000, false, &fd, &e), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, a, 0x1000, &o, fd, 0, &l, &e), 0);
        o.persistent = true;
        ck_assert_int_eq(manager_lease(m, c, 1000, a, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_ptr_null(l->client);
        o.persistent = false;
        ck_assert_int_eq(manager_lease(m, c, 1000, b, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_uint_eq(a->n_leases, 2);

        uint32_t avail = c->dma_avail;
        ck_assert_uint_eq(manager_client_gone(m, a, changed, ELEMENTSOF(changed)), 1);
        ck_assert_ptr_eq(changed[0], c);
        ck_assert_uint_eq(c->dma_avail, avail + 1);
        ck_assert_ptr_null(manager_find_client(m, ":1.7"));
        /* The persistent lease and the other client's stay. */
        ck_assert_uint_eq(m->n_leases, 2);
        ck_assert_uint_eq(b->n_leases, 1);
        manager_free(m);
        world_done(&w);
}
END_TEST

/*
 * A kernel whose UNMAP_DMA says it unmapped less than was asked (as type1
 * on 6.12 does once a mapping ends at 2^64 - 1): the simulated backend
 * with a short written-back size.
 */
static BackendOps short_unmap_ops;
static int (*real_unmap)(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped);

static int short_unmap(BackendContainer *c, uint64_t iova, uint64_t size, uint64_t *ret_unmapped) {
        int r = real_unmap(c, iova, size, ret_unmapped);
        if (r >= 0)
                *ret_unmapped = 0;
        return r;
}

START_TEST(test_unmap_size_checked) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        World w;
        Lease *l, *other;
        int fd;

        world_init(&w);
        Manager *m = manager_on(&w, "x86-vtd", NULL);
        Container *c = container_with(m, "vm", 1000, 5);
        ck_assert_int_eq(container_memfd_new(c, 0x2000, false, &fd, &e), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x2000, &o, fd, 0, &l, &e), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &other, &e), 0);
        uint64_t iova = l->iova, id = l->id;

        short_unmap_ops = *m->backend->ops;
        real_unmap = short_unmap_ops.unmap_dma;
        short_unmap_ops.unmap_dma = short_unmap;
        m->backend->ops = &short_unmap_ops;

        ck_assert_int_eq(manager_release_lease(m, l, &e), -EIO);
        ck_assert_int_eq(e.code, IOVAD_E_KERNEL);
        ck_assert_ptr_nonnull(strstr(e.message, "unmapped 0x0 bytes"));
        /* The lease stays, its range taken; the container takes nothing new. */
        ck_assert_ptr_eq(manager_find_lease(m, id), l);
        ck_assert(l->stuck);
        ck_assert(c->faulted);
        o.fixed = true;
        o.iova = iova;
        ck_assert_int_eq(manager_lease(m, c, 0, NULL, 0x1000, &o, -1, 0, &other, &e), -EIO);
        ck_assert_int_eq(e.code, IOVAD_E_KERNEL);
        o = (LeaseOptions) LEASE_OPTIONS_INIT;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &other, &e), -EIO);
        ck_assert_int_eq(manager_release_lease(m, l, &e), -EIO);
        /* IOVA-only leases have nothing to unmap and still go; destroying the container ends it all. */
        ck_assert_int_eq(manager_release_lease(m, manager_find_lease(m, id + 1), &e), 0);
        manager_destroy_container(m, c);
        ck_assert_uint_eq(m->n_leases, 0);
        ck_assert_uint_eq(m->n_memfds, 0);
        manager_free(m);
        world_done(&w);
}
END_TEST

/* Interrupt isolation: iovad.conf may refuse what the kernel allows; evidence of isolation is not lost. */
static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

static uint64_t msi_granule(void) {
        long page = sysconf(_SC_PAGESIZE);

        return page > 4096 ? (uint64_t) page : 4096;
}

START_TEST(test_msi_window) {
        IovadError e = {};
        MsiWindowUse u;
        World w;
        char path[160];

        world_init(&w);
        /* The SMMUv3 server: one ITS, one doorbell page in the 1 MiB window, whatever is attached. */
        Manager *m = manager_on(&w, "arm-smmuv3", NULL);
        ck_assert_int_eq(m->platform->doorbell_source, MSI_SOURCE_DEVICE_TREE);
        ck_assert_uint_eq(m->platform->n_doorbells, 1);
        ck_assert_uint_eq(m->platform->doorbells[0].address, 0x8090040);
        Container *c = container_with(m, "vm", 1000, 0);
        container_msi_window(c, m->platform, NULL, &u);
        ck_assert(!u.has_window); /* nothing attached: no domain, no window */
        ck_assert_uint_eq(u.needed, 0);
        ck_assert_int_eq(manager_check_msi_window(m, c, 4, &u, &e), 0);
        ck_assert(u.has_window);
        ck_assert_uint_eq(u.window.start, 0x8000000);
        ck_assert_uint_eq(u.window.end, 0x80fffff);
        ck_assert_uint_eq(u.needed, 1);
        ck_assert_uint_eq(u.capacity, 0x100000 / msi_granule());
        ck_assert_int_eq(manager_check_msi_window(m, c, 77, &u, &e), -ENODEV);
        ck_assert_int_eq(e.code, IOVAD_E_NO_SUCH_GROUP);
        ck_assert_int_eq(manager_attach_group(m, c, 4, &e), 0);
        container_msi_window(c, m->platform, NULL, &u);
        ck_assert_uint_eq(u.needed, 1);
        ck_assert_uint_eq(u.capacity, 0x100000 / msi_granule());
        manager_free(m);

        /* x86: MSIs go to the interrupt window, which nothing translates. */
        m = manager_on(&w, "x86-vtd", NULL);
        c = container_with(m, "vm", 1000, 5);
        container_msi_window(c, m->platform, NULL, &u);
        ck_assert(!u.has_window);
        ck_assert_uint_eq(u.capacity, 0);
        manager_free(m);

        /* Three GICv2m frames, three doorbell pages, a window of two. */
        snprintf(path, sizeof(path), "%s/v2m.json", w.dir);
        write_text(path,
                   "{ \"name\": \"v2m\", \"aperture_bits\": 48, \"page_sizes\": [4096],"
                   "  \"allow_unsafe_interrupts\": true,"
                   "  \"msi_controllers\": [ { \"type\": \"gicv2m\", \"base\": \"0x8040000\" },"
                   "                         { \"type\": \"gicv2m\", \"base\": \"0x8020000\" },"
                   "                         { \"type\": \"gicv2m\", \"base\": \"0x8030000\" } ],"
                   "  \"groups\": [ { \"id\": 1, \"reserved_regions\": [\"0x0000000008000000 0x0000000008001fff msi\"],"
                   "                \"devices\": [ { \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\","
                   "                               \"device\": \"0x1521\", \"class\": \"0x020000\", \"driver\": \"vfio-pci\" } ] } ] }");
        m = manager_on(&w, path, NULL);
        ck_assert_uint_eq(m->platform->n_doorbells, 3);
        ck_assert_uint_eq(m->platform->doorbells[0].address, 0x8020040);
        ck_assert_int_eq(m->platform->doorbells[2].type, MSI_CONTROLLER_GICV2M);
        c = container_with(m, "vm", 1000, 0);
        ck_assert_int_eq(manager_check_msi_window(m, c, 1, &u, &e), 0);
        if (msi_granule() == 4096) {
                ck_assert_uint_eq(u.needed, 3);
                ck_assert_uint_eq(u.capacity, 2);
        }
        ck_assert_uint_gt(u.needed, 0);
        /* Too small is a warning, not a refusal: the kernel attaches it. */
        ck_assert_int_eq(manager_attach_group(m, c, 1, &e), 0);
        container_msi_window(c, m->platform, NULL, &u);
        ck_assert(u.has_window);
        manager_free(m);

        /* An msi region around the ITS doorbell is a hardware bypass, not a software window. */
        snprintf(path, sizeof(path), "%s/its.json", w.dir);
        write_text(path,
                   "{ \"name\": \"its\", \"aperture_bits\": 48, \"page_sizes\": [4096],"
                   "  \"interrupt_remapping\": true,"
                   "  \"groups\": [ { \"id\": 1, \"reserved_regions\": [\"0x0000000008090000 0x000000000809ffff msi\"],"
                   "                \"devices\": [ { \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\","
                   "                               \"device\": \"0x1521\", \"class\": \"0x020000\", \"driver\": \"vfio-pci\" } ] } ] }");
        m = manager_on(&w, path, NULL);
        ck_assert_uint_eq(m->platform->n_doorbells, 1);
        c = container_with(m, "vm", 1000, 1);
        container_msi_window(c, m->platform, NULL, &u);
        ck_assert(!u.has_window);
        manager_free(m);
        world_done(&w);
}
END_TEST

START_TEST(test_isolation) {
        IovadError e = {};
        Config cfg;
        World w;
        Container *c;

        world_init(&w);
        /* virtio-iommu remaps nothing; its guest runs with allow_unsafe_interrupts=Y. */
        config_init(&cfg);
        cfg.refuse_unsafe_interrupts = true;
        Manager *m = manager_on(&w, "virtio-iommu", &cfg);
        ck_assert_int_eq(m->platform->isolation, ISOLATION_UNSAFE);
        c = container_with(m, "vm", 1000, 0);
        ck_assert_int_eq(manager_check_attach(m, c, 3, NULL, &e), -EPERM);
        ck_assert_int_eq(e.code, IOVAD_E_INTERRUPT_ISOLATION);
        ck_assert_int_eq(manager_attach_group(m, c, 3, &e), -EPERM);
        ck_assert_ptr_nonnull(strstr(e.message, "refuse_unsafe"));
        ck_assert_uint_eq(c->n_groups, 0);
        manager_free(m);

        /* By default iovad refuses nothing the kernel accepts. */
        m = manager_on(&w, "virtio-iommu", NULL);
        c = container_with(m, "vm", 1000, 3);
        ck_assert_uint_eq(c->n_groups, 1);
        manager_free(m);

        /*
         * An ITS platform: binding the last host-driver device to vfio-pci
         * takes away the last ITS interrupt, not the ITS.
         */
        m = manager_on(&w, "arm-smmuv3", NULL);
        ck_assert_int_eq(m->platform->isolation, ISOLATION_ISOLATED_MSI);
        for (size_t i = 0; i < m->platform->n_devices; i++) {
                char address[16];
                snprintf(address, sizeof(address), "%s", m->platform->devices[i].address);
                if (m->platform->devices[i].iommu_group >= 0 && m->platform->devices[i].driver[0])
                        (void) manager_bind_device(m, address, &e);
        }
        ck_assert_int_eq(manager_refresh_platform(m, &e), 0);
        ck_assert_int_eq(m->platform->isolation, ISOLATION_ISOLATED_MSI);
        manager_free(m);

        /*
         * Where sysfs tells nothing (no interrupt chips, no device tree),
         * the kernel decides: CheckAttach asks it with a container of its
         * own. An ITS the tree does not show isolates all the same...
         */
        static const char *const no_evidence[] = { "kernel/irq", "firmware/devicetree", NULL };
        m = manager_on_profile(&w, profile_named("arm-smmuv3"), NULL, no_evidence);
        ck_assert_int_eq(m->platform->isolation, ISOLATION_UNKNOWN);
        c = container_with(m, "vm", 1000, 0);
        ck_assert_msg(manager_check_attach(m, c, 4, NULL, &e) == 0, "%s", e.message);
        ck_assert_uint_eq(c->n_groups, 0);
        ck_assert_msg(manager_attach_group(m, c, 4, &e) == 0, "%s", e.message);
        manager_free(m);

        /* ... and a GICv2m frame it does not show isolates nothing: the kernel refuses, so does CheckAttach. */
        Profile *v2m = profile_named("arm-smmuv3");
        v2m->interrupt_remapping = false;
        m = manager_on_profile(&w, v2m, NULL, no_evidence);
        ck_assert_int_eq(m->platform->isolation, ISOLATION_UNKNOWN);
        c = container_with(m, "vm", 1000, 0);
        e = (IovadError) {};
        ck_assert_int_eq(manager_check_attach(m, c, 4, NULL, &e), -EPERM);
        ck_assert_int_eq(e.code, IOVAD_E_INTERRUPT_ISOLATION);
        ck_assert_msg(strstr(e.message, "the kernel refuses it"), "%s", e.message);
        /* The probe left nothing behind: the group is still free for a container of the kernel's liking. */
        ck_assert_uint_eq(c->n_groups, 0);
        ck_assert_ptr_null(manager_container_of_group(m, 4));
        ck_assert_int_eq(manager_attach_group(m, c, 4, &e), -EPERM);
        manager_free(m);

        /* With the evidence in place the same platform says so without asking. */
        v2m = profile_named("arm-smmuv3");
        v2m->interrupt_remapping = false;
        m = manager_on_profile(&w, v2m, NULL, NULL);
        ck_assert_int_eq(m->platform->isolation, ISOLATION_NONE);
        manager_free(m);
        world_done(&w);
}
END_TEST

/* A stand-in for systemd's notify socket and fd store. */
typedef struct FakeStore {
        int sock;
        int fds[16];
        char *names[16];
        size_t n;
        unsigned removed;
} FakeStore;

static void fake_store_init(FakeStore *f, const World *w) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[sizeof(sa.sun_path)];

        *f = (FakeStore) {};
        snprintf(path, sizeof(path), "%s/notify", w->dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        f->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(f->sock, 0);
        ck_assert_int_eq(bind(f->sock, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
}

/* Reads what iovad told the store: FDSTORE=1 with an fd, FDSTOREREMOVE=1. */
static void fake_store_drain(FakeStore *f) {
        for (;;) {
                char buf[256] = {};
                char ctl[CMSG_SPACE(sizeof(int) * 4)];
                struct iovec iov = { buf, sizeof(buf) - 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                                     .msg_controllen = sizeof(ctl) };
                if (recvmsg(f->sock, &mh, MSG_CMSG_CLOEXEC) < 0)
                        break;
                const char *name = strstr(buf, "FDNAME=");
                ck_assert_ptr_nonnull(name);
                name += strlen("FDNAME=");
                if (strstr(buf, "FDSTOREREMOVE=1")) {
                        for (size_t i = 0; i < f->n; i++)
                                if (f->names[i] && strcmp(f->names[i], name) == 0) {
                                        close(f->fds[i]);
                                        free(f->names[i]);
                                        f->names[i] = NULL;
                                        f->removed++;
                                }
                        continue;
                }
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                ck_assert_ptr_nonnull(cm);
                ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
                ck_assert_uint_lt(f->n, ELEMENTSOF(f->fds));
                memcpy(&f->fds[f->n], CMSG_DATA(cm), sizeof(int));
                f->names[f->n++] = strdup(name);
        }
}

static void fake_store_done(FakeStore *f) {
        for (size_t i = 0; i < f->n; i++)
                if (f->names[i]) {
                        close(f->fds[i]);
                        free(f->names[i]);
                }
        close(f->sock);
        *f = (FakeStore) { .sock = -1 };
}

/* The fds a restarted iovad would be passed. */
static FdStore *fake_store_pass(FakeStore *f) {
        int *fds = calloc(f->n + 1, sizeof(int));
        char **names = calloc(f->n + 1, sizeof(char *));
        size_t k = 0;
        FdStore *s;

        for (size_t i = 0; i < f->n; i++)
                if (f->names[i]) {
                        fds[k] = fcntl(f->fds[i], F_DUPFD_CLOEXEC, 3);
                        names[k++] = strdup(f->names[i]);
                }
        ck_assert_int_eq(fd_store_new(fds, names, k, &s), 0);
        return s;
}

START_TEST(test_restore) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        FakeStore store;
        struct stat before, after;
        Client *a, *b;
        uint64_t iova_mapped, iova_persistent;
        World w;
        Lease *l;
        int fd;

        world_init(&w);
        fake_store_init(&store, &w);
        Manager *m = manager_on(&w, "x86-vtd", NULL);
        FdStore *none;
        ck_assert_int_eq(fd_store_new(NULL, NULL, 0, &none), 0);
        manager_restore(m, "0123456789abcdef0123456789abcdef", none);
        fd_store_free(none);
        manager_restore_done(m);

        Container *c = container_with(m, "vm", 1000, 5);
        ck_assert_int_eq(manager_get_client(m, ":1.7", 1000, &a), 1);
        ck_assert_int_eq(manager_get_client(m, ":1.8", 1000, &b), 1);
        ck_assert_int_eq(container_memfd_new(c, 0x2000, false, &fd, &e), 0);
        ck_assert_int_eq(fstat(fd, &before), 0);
        ck_assert_int_eq(manager_lease(m, c, 1000, a, 0x2000, &o, fd, 0, &l, &e), 0);
        memcpy(l->vaddr, "kept", 5);
        iova_mapped = l->iova;
        o.persistent = true;
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), 0);
        iova_persistent = l->iova;
        o.persistent = false;
        ck_assert_int_eq(manager_lease(m, c, 1000, b, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_uint_eq(l->id, 3);
        /* The bus glue says the replies so far went out... */
        manager_leases_answered(m);
        /* ...but not this one's: iovad dies before answering it. */
        ck_assert_int_eq(manager_lease(m, c, 1000, b, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_uint_eq(l->id, 4);
        fake_store_drain(&store);
        /* The mapped lease's memory, and the container and its group as the kernel has them. */
        ck_assert_uint_eq(store.n, 3);
        ck_assert_str_eq(store.names[0], "container-vm");
        ck_assert_str_eq(store.names[1], "group-5");
        ck_assert_str_eq(store.names[2], "lease-1");

        /*
         * iovad goes away as a stop leaves things: journal, state file and
         * the memory in the store stay, the kernel's containers do not
         * (test_adopt() has them stay, as after a crash).
         */
        m->stopping = true;
        manager_release_kernel_fds(m);
        manager_free(m);
        fake_store_drain(&store);
        ck_assert_uint_eq(store.removed, 2);
        store.removed = 0;

        m = manager_on(&w, "x86-vtd", NULL);
        FdStore *fds = fake_store_pass(&store);
        manager_restore(m, "0123456789abcdef0123456789abcdef", fds);
        ck_assert_uint_eq(fd_store_untaken(fds), 0);
        fd_store_free(fds);
        c = manager_find_container(m, "vm");
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->n_groups, 1);
        /* The unanswered lease is no one's: it is not brought back. */
        ck_assert_uint_eq(m->n_leases, 3);
        ck_assert_ptr_null(manager_find_lease(m, 4));

        l = manager_find_lease(m, 1);
        ck_assert_ptr_nonnull(l);
        ck_assert(l->mapped);
        ck_assert_uint_eq(l->iova, iova_mapped);
        ck_assert_int_eq(fstat(l->memfd, &after), 0);
        ck_assert_uint_eq(after.st_ino, before.st_ino);
        ck_assert_str_eq(l->vaddr, "kept");
        ck_assert_ptr_nonnull(l->client);
        ck_assert_str_eq(l->client->name, ":1.7");
        l = manager_find_lease(m, 2);
        ck_assert_ptr_nonnull(l);
        ck_assert(l->persistent);
        ck_assert_uint_eq(l->iova, iova_persistent);

        /* :1.8 left while iovad was away: the bus glue says so, its lease goes. */
        b = manager_find_client(m, ":1.8");
        ck_assert_ptr_nonnull(b);
        manager_client_gone(m, b, NULL, 0);
        manager_restore_done(m);
        ck_assert_ptr_null(manager_find_lease(m, 3));

        /* New ids lie past every id the first iovad may have given (it reserved a block of them). */
        ck_assert_int_eq(manager_lease(m, c, 1000, NULL, 0x1000, &o, -1, 0, &l, &e), 0);
        ck_assert_uint_gt(l->id, 4);

        /* Releasing the restored mapped lease takes its memory out of the store. */
        ck_assert_int_eq(manager_release_lease(m, manager_find_lease(m, 1), &e), 0);
        fake_store_drain(&store);
        ck_assert_uint_eq(store.removed, 1);
        manager_free(m);
        fake_store_done(&store);
        world_done(&w);
}
END_TEST

static int fake_store_find(const FakeStore *f, const char *name) {
        for (size_t i = 0; i < f->n; i++)
                if (f->names[i] && strcmp(f->names[i], name) == 0)
                        return f->fds[i];
        return -1;
}

#define BUS_ID "0123456789abcdef0123456789abcdef"
#define DEVICE5 "0000:01:00.0"

/*
 * A crash (here: a child that makes leases and a device fd, then _exit()s)
 * leaves the kernel's container alive in the fd store; the next manager
 * adopts it: the kernel's mapping of a lease is taken over, a mapping that
 * went missing is made again, one cut in pieces replaced, and what no
 * restored lease holds is unmapped, so the kernel ends up with exactly the
 * restored leases' mappings. The device fd keeps its group throughout.
 */
/*
 * A first manager that makes leases in container "vm" (group 5) and a
 * client's device fd, then dies as a crash does: nothing freed, unmapped
 * or detached. Leases 1-3 are mapped (0x2000 each, "lease N" in their
 * memory), 4 IOVA-only, 5 mapped but never answered; @iova[N] is lease N's.
 * Returns the device fd, taken out of the store (it is the client's).
 */
static int crash_with_leases(World *w, FakeStore *store, uint64_t iova[static 6]) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        int pipefd[2], status, dev = -1;
        pid_t pid;

        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                Manager *m = manager_on(w, "x86-vtd", NULL);
                FdStore *none;
                Client *a;
                Lease *l;
                int fd;

                ck_assert_int_eq(fd_store_new(NULL, NULL, 0, &none), 0);
                manager_restore(m, BUS_ID, none);
                fd_store_free(none);
                manager_restore_done(m);
                Container *c = container_with(m, "vm", 1000, 5);
                ck_assert_int_eq(manager_get_client(m, ":1.7", 1000, &a), 1);
                for (unsigned i = 1; i <= 3; i++) {
                        ck_assert_int_eq(container_memfd_new(c, 0x2000, false, &fd, &e), 0);
                        ck_assert_int_eq(manager_lease(m, c, 1000, a, 0x2000, &o, fd, 0, &l, &e), 0);
                        ck_assert_uint_eq(l->id, i);
                        snprintf(l->vaddr, 16, "lease %u", i);
                        iova[i] = l->iova;
                }
                ck_assert_int_eq(manager_lease(m, c, 1000, a, 0x1000, &o, -1, 0, &l, &e), 0);
                iova[4] = l->iova;
                manager_leases_answered(m);
                /* Never answered: its mapping is no one's after the crash. */
                ck_assert_int_eq(container_memfd_new(c, 0x1000, false, &fd, &e), 0);
                ck_assert_int_eq(manager_lease(m, c, 1000, a, 0x1000, &o, fd, 0, &l, &e), 0);
                iova[5] = l->iova;
                ck_assert_uint_eq(c->dma_avail, 65535 - 4);
                /* A client's device fd, which the test holds for it (through the store's socket). */
                fd = m->backend->ops->open_device(c->kernel, 5, DEVICE5);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_gt(sd_pid_notify_with_fds(0, false, "FDSTORE=1\nFDNAME=device", &fd, 1), 0);
                ck_assert_int_eq(write(pipefd[1], iova, 6 * sizeof(uint64_t)), (ssize_t) (6 * sizeof(uint64_t)));
                _exit(0); /* a crash: nothing is freed, unmapped or detached */
        }
        close(pipefd[1]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the first manager failed");
        ck_assert_int_eq(read(pipefd[0], iova, 6 * sizeof(uint64_t)), (ssize_t) (6 * sizeof(uint64_t)));
        close(pipefd[0]);
        fake_store_drain(store);
        ck_assert_int_ge(fake_store_find(store, "container-vm"), 0);
        ck_assert_int_ge(fake_store_find(store, "group-5"), 0);
        ck_assert_int_ge(fake_store_find(store, "lease-5"), 0);
        for (size_t i = 0; i < store->n; i++)
                if (store->names[i] && strcmp(store->names[i], "device") == 0) {
                        dev = store->fds[i];
                        free(store->names[i]);
                        store->names[i] = NULL;
                }
        ck_assert_int_ge(dev, 0);
        return dev;
}

START_TEST(test_adopt) {
        IovadError e = {};
        FakeStore store;
        uint64_t iova[6] = {}, unmapped;
        int dev;
        World w;

        world_init(&w);
        fake_store_init(&store, &w);
        dev = crash_with_leases(&w, &store, iova);

        /* While the kernel keeps the group in the dead iovad's container, no new container gets it. */
        {
                Manager *probe = manager_on(&w, "x86-vtd", NULL);
                BackendContainer *bc;
                ck_assert_int_eq(probe->backend->ops->container_new(probe->backend, &bc), 0);
                ck_assert_int_eq(probe->backend->ops->attach_group(bc, 5), -EBUSY);
                probe->backend->ops->container_free(bc);
                manager_free(probe);
        }

        /*
         * Someone changes the kernel's mappings while iovad is away: lease 2's
         * goes, lease 3's is cut in two, and a mapping no lease has appears.
         */
        {
                Manager *other = manager_on(&w, "x86-vtd", NULL);
                const BackendOps *ops = other->backend->ops;
                const unsigned groups[] = { 5 };
                int group_fd = fcntl(fake_store_find(&store, "group-5"), F_DUPFD_CLOEXEC, 3);
                BackendContainer *bc;
                void *mem = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

                ck_assert_ptr_ne(mem, MAP_FAILED);
                ck_assert_int_eq(ops->container_adopt(other->backend,
                                                      fcntl(fake_store_find(&store, "container-vm"), F_DUPFD_CLOEXEC, 3),
                                                      groups, &group_fd, 1, &bc),
                                 0);
                ck_assert_int_eq(ops->unmap_dma(bc, iova[2], 0x2000, &unmapped), 0);
                ck_assert_uint_eq(unmapped, 0x2000);
                ck_assert_int_eq(ops->unmap_dma(bc, iova[3], 0x2000, &unmapped), 0);
                ck_assert_int_eq(ops->map_dma(bc, iova[3], 0x1000, mem, true), 0);
                ck_assert_int_eq(ops->map_dma(bc, iova[3] + 0x1000, 0x1000, mem, true), 0);
                ck_assert_int_eq(ops->map_dma(bc, 0x40000000, 0x2000, mem, true), 0);
                ops->container_free(bc);
                (void) munmap(mem, 0x2000);
                manager_free(other);
        }

        Manager *m = manager_on(&w, "x86-vtd", NULL);
        FdStore *fds = fake_store_pass(&store);
        manager_restore(m, BUS_ID, fds);
        ck_assert_uint_eq(fd_store_untaken(fds), 1); /* lease 5's memory, which no lease takes */
        fd_store_free(fds);
        Container *c = manager_find_container(m, "vm");
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->n_groups, 1);
        ck_assert_uint_eq(c->adopted[BACKEND_ADOPTED], 1);
        ck_assert_uint_eq(c->adopted[BACKEND_MAPPED_AGAIN], 1);
        ck_assert_uint_eq(c->adopted[BACKEND_REPLACED], 1);
        ck_assert(!c->faulted);
        for (unsigned i = 1; i <= 3; i++) {
                char text[16];
                Lease *l = manager_find_lease(m, i);
                ck_assert_ptr_nonnull(l);
                ck_assert(l->mapped);
                ck_assert_uint_eq(l->iova, iova[i]);
                snprintf(text, sizeof(text), "lease %u", i);
                ck_assert_str_eq(l->vaddr, text);
        }
        ck_assert_ptr_nonnull(manager_find_lease(m, 4));
        ck_assert_ptr_null(manager_find_lease(m, 5));
        /* The kernel's count: the three leases' mappings, nothing else (lease 5's and the stranger's are gone). */
        ck_assert_uint_eq(c->dma_avail, 65535 - 3);
        {
                const BackendOps *ops = m->backend->ops;
                ck_assert_int_eq(ops->unmap_dma(c->kernel, iova[5], 0x1000, &unmapped), 0);
                ck_assert_uint_eq(unmapped, 0);
                ck_assert_int_eq(ops->unmap_dma(c->kernel, 0x40000000, 0x2000, &unmapped), 0);
                ck_assert_uint_eq(unmapped, 0);
        }
        /* Each lease's mapping is exactly its own: releasing unmaps exactly its bytes. */
        for (unsigned i = 1; i <= 3; i++)
                ck_assert_msg(manager_release_lease(m, manager_find_lease(m, i), &e) == 0, "%s", e.message);
        /* The device fd still holds its group: no other container may have it. */
        {
                BackendContainer *bc;
                ck_assert_int_eq(m->backend->ops->container_new(m->backend, &bc), 0);
                ck_assert_int_eq(m->backend->ops->attach_group(bc, 5), -EBUSY);
                m->backend->ops->container_free(bc);
        }
        close(dev);
        manager_free(m);
        fake_store_done(&store);
        world_done(&w);
}
END_TEST

/*
 * A stored container fd that is not what its name says: the adoption is
 * refused, the stale fds leave the store, and the container is made anew
 * (its group busy until the service manager has let go of its copy, and
 * the client of its device fd).
 */
START_TEST(test_adopt_refused) {
        IovadError e = {};
        FakeStore store;
        uint64_t iova[6] = {};
        int dev;
        World w;

        world_init(&w);
        fake_store_init(&store, &w);
        dev = crash_with_leases(&w, &store, iova);
        for (size_t i = 0; i < store.n; i++)
                if (store.names[i] && strcmp(store.names[i], "container-vm") == 0) {
                        close(store.fds[i]);
                        store.fds[i] = memfd_create("not-a-container", MFD_CLOEXEC);
                        ck_assert_int_ge(store.fds[i], 0);
                }

        Manager *m = manager_on(&w, "x86-vtd", NULL);
        FdStore *fds = fake_store_pass(&store);
        manager_restore(m, BUS_ID, fds);
        fd_store_free(fds);
        Container *c = manager_find_container(m, "vm");
        ck_assert_ptr_nonnull(c);
        ck_assert(!c->adopting);
        ck_assert_uint_eq(c->n_groups, 0);
        /* The stale container and group fds left the store (lease 5's memory too: no lease took it). */
        fake_store_drain(&store);
        ck_assert_int_eq(fake_store_find(&store, "container-vm"), -1);
        ck_assert_int_eq(fake_store_find(&store, "group-5"), -1);
        ck_assert_int_eq(fake_store_find(&store, "lease-5"), -1);
        /* The client's device fd holds the group still, as the kernel would. */
        ck_assert_int_ne(manager_attach_group(m, c, 5, &e), 0);
        ck_assert_int_eq(e.code, IOVAD_E_BUSY);
        close(dev);
        e = (IovadError) {};
        ck_assert_msg(manager_attach_group(m, c, 5, &e) == 0, "%s", e.message);
        fake_store_drain(&store);
        ck_assert_int_ge(fake_store_find(&store, "container-vm"), 0);
        ck_assert_int_ge(fake_store_find(&store, "group-5"), 0);
        manager_free(m);
        fake_store_done(&store);
        world_done(&w);
}
END_TEST

int main(void) {
        Suite *s = suite_create("model");
        TCase *tc = tcase_create("containers");
        tcase_add_test(tc, test_lease_life);
        tcase_add_test(tc, test_bad_input_named);
        tcase_add_test(tc, test_quotas);
        tcase_add_test(tc, test_attach_conflict);
        tcase_add_test(tc, test_unmap_size_checked);
        tcase_add_test(tc, test_isolation);
        tcase_add_test(tc, test_msi_window);
        suite_add_tcase(s, tc);
        tc = tcase_create("clients");
        /* Several managers, each writing its simulated sysfs tree: slow under ASan. */
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_client_gone);
        tcase_add_test(tc, test_restore);
        tcase_add_test(tc, test_adopt);
        tcase_add_test(tc, test_adopt_refused);
        suite_add_tcase(s, tc);

        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
