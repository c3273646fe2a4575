/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Callers of different uids on one iovad: who may do what, whose leases
 * each one sees, quotas, what happens when a client is killed or leaves
 * the bus, and leases (persistent or of connections) across restarts and
 * crashes of the daemon, with systemd's fd store stood in for.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bus-env.h"

/* What a test hands to a client process. */
typedef struct Peer {
        const char *container;
        const char *root_lease;  /* a lease of root's, which the client may neither see nor release */
        const char *other_lease; /* a lease of another uid's */
        int to_parent[2];        /* lines: the client's lease paths, "ready" */
        int from_parent[2];      /* a line: go on (and leave) */
        unsigned n;              /* how many to make, for quota tests */
} Peer;

static void peer_pipes(Peer *p) {
        ck_assert_int_eq(pipe2(p->to_parent, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(p->from_parent, O_CLOEXEC), 0);
}

static void peer_close(Peer *p) {
        for (int i = 0; i < 2; i++) {
                close(p->to_parent[i]);
                close(p->from_parent[i]);
        }
}

static void assert_lease_hidden(sd_bus *bus, const char *lease_path) {
        /* Neither its details nor releasing it: AccessDenied, as for every lease not the caller's. */
        prop_fail(bus, ERR_ACCESS_DENIED, lease_path, IOVAD_LEASE_IFACE, "Iova");
        prop_fail(bus, ERR_ACCESS_DENIED, lease_path, IOVAD_LEASE_IFACE, "Owner");
        free(call_fail(bus, ERR_ACCESS_DENIED, lease_path, IOVAD_LEASE_IFACE, "Release", NULL));
}

static void privileged_calls(void *userdata) {
        const Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *dev = iovad_device_path("0000:00:14.0"), *dev5 = iovad_device_path("0000:01:00.0");

        manager_fail(bus, ERR_ACCESS_DENIED, "CreateContainer", "sa{sv}", "mine", 0);
        manager_fail(bus, ERR_ACCESS_DENIED, "CreateContainer", "sa{sv}", "mine", 1, "users", "au", 1, 65534);
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "AttachGroup", "u", 12);
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "DetachGroup", "u", 5);
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "Destroy", NULL);
        free(call_fail(bus, ERR_ACCESS_DENIED, dev, IOVAD_DEVICE_IFACE, "Bind", NULL));
        free(call_fail(bus, ERR_ACCESS_DENIED, dev5, IOVAD_DEVICE_IFACE, "Unbind", NULL));
        /* Persistent leases are privileged even for users of the container. */
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "Lease", "ta{sv}", PAGE, 1, "persistent", "b", 1);
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "AllocateMapped", "ta{sv}", PAGE, 1, "persistent", "b",
                       1);

        /* The bus policy (dbus/org.iovad1.conf) keeps the name for root. */
        ck_assert_int_eq(sd_bus_request_name(bus, IOVAD_BUS_NAME, 0), -EACCES);

        /* Reading is for everyone. */
        sd_bus_message_unref(manager_ok(bus, "ListDevices", NULL));
        sd_bus_message_unref(manager_ok(bus, "ListContainers", NULL));
        sd_bus_message_unref(manager_ok(bus, "GetContainer", "s", "c"));
        sd_bus_message_unref(manager_ok(bus, "GetGroupReservedRegions", "u", 5));
        free(container_snapshot(bus, p->container));
}

START_TEST(test_privileged_calls_refused) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *before_list = NULL, *after_list = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *a = NULL, *b = NULL, *drv = NULL, *dev = NULL;
        const uid_t users[] = { UID_NOBODY };
        Peer p = {};
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        before = container_snapshot(bus, c);
        before_list = manager_ok(bus, "ListContainers", NULL);

        p.container = c;
        run_as(UID_NOBODY, privileged_calls, &p);
        run_as(UID_OTHER, privileged_calls, &p);

        assert_unchanged(bus, c, before, "refused privileged calls");
        after_list = manager_ok(bus, "ListContainers", NULL);
        a = message_dump(before_list);
        b = message_dump(after_list);
        ck_assert_str_eq(a, b);
        dev = iovad_device_path("0000:00:14.0");
        drv = prop_s(bus, dev, IOVAD_DEVICE_IFACE, "Driver");
        ck_assert_str_eq(drv, "xhci_hcd");
        env_stop(&e);
}
END_TEST

/* uid 65534, a user of the container: leases, keeps them until told to go. */
static void user_client(void *userdata) {
        Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *l = NULL, *m = NULL, *dev = iovad_device_path("0000:01:00.0"), *go = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(closep) int fd = -1;
        LeaseInfo li[8];
        size_t n;

        l = lease(bus, p->container, 2 * PAGE, NULL);
        m = allocate_mapped(bus, p->container, PAGE, NULL, &fd);
        ck_assert_uint_eq(prop_u(bus, l, IOVAD_LEASE_IFACE, "Owner"), UID_NOBODY);
        ck_assert_uint_eq(prop_u(bus, m, IOVAD_LEASE_IFACE, "Owner"), UID_NOBODY);

        /* Only its own leases show, in ListLeases and in the object tree. */
        n = list_leases(bus, p->container, li, 8);
        ck_assert_uint_eq(n, 2);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(streq(li[i].path, l) || streq(li[i].path, m), "uid 65534 sees %s", li[i].path);
        ck_assert(introspect_has_node(bus, IOVAD_LEASE_PREFIX, l + strlen(IOVAD_LEASE_PREFIX "/")));
        ck_assert(!introspect_has_node(bus, IOVAD_LEASE_PREFIX, p->root_lease + strlen(IOVAD_LEASE_PREFIX "/")));

        /* A user may ask what an attach would do, and open the container's devices. */
        reply = container_ok(bus, p->container, "CheckAttach", "u", 12);
        sd_bus_message_unref(call_ok(bus, dev, IOVAD_DEVICE_IFACE, "Open", NULL));

        write_line(p->to_parent[1], l);
        write_line(p->to_parent[1], m);
        go = read_line(p->from_parent[0]);
        ck_assert_ptr_nonnull(go);
        /* Its own leases it may release. */
        release(bus, m);
        ck_assert_uint_eq(list_leases(bus, p->container, li, 8), 1);
        /* Last, so that a failure here hides no other check. */
        assert_lease_hidden(bus, p->root_lease);
}

/* uid 1000, not a user of the container. */
static void stranger_client(void *userdata) {
        const Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *dev = iovad_device_path("0000:01:00.0");
        _cleanup_(closep) int fd = sealed_memfd(PAGE, 0);
        LeaseInfo li[8];

        container_fail(bus, ERR_ACCESS_DENIED, p->container, "Lease", "ta{sv}", PAGE, 0);
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "AllocateMapped", "ta{sv}", PAGE, 0);
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0);
        container_fail(bus, ERR_ACCESS_DENIED, p->container, "CheckAttach", "u", 12);
        free(call_fail(bus, ERR_ACCESS_DENIED, dev, IOVAD_DEVICE_IFACE, "Open", NULL));
        ck_assert_uint_eq(list_leases(bus, p->container, li, 8), 0);
        ck_assert(!introspect_has_node(bus, IOVAD_LEASE_PREFIX, p->other_lease + strlen(IOVAD_LEASE_PREFIX "/")));
        /* What everyone may read. */
        free(container_snapshot(bus, p->container));
        sd_bus_message_unref(manager_ok(bus, "ListDevices", NULL));
        assert_lease_hidden(bus, p->root_lease);
        assert_lease_hidden(bus, p->other_lease);
}

START_TEST(test_two_users) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *r = NULL, *l = NULL, *m = NULL, *before = NULL;
        const uid_t users[] = { UID_NOBODY };
        LeaseInfo li[8];
        Peer p = {};
        pid_t pid;
        int status;
        size_t n;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        /* Root uses any container, user or not. */
        r = lease(bus, c, PAGE, NULL);

        p.container = c;
        p.root_lease = r;
        peer_pipes(&p);
        pid = spawn_as(UID_NOBODY, user_client, &p);
        l = read_line(p.to_parent[0]);
        m = read_line(p.to_parent[0]);
        ck_assert_msg(l && m, "the client of uid 65534 failed before leasing");

        /* Root sees every lease, with its owner. */
        n = list_leases(bus, c, li, 8);
        ck_assert_uint_eq(n, 3);
        ck_assert_uint_eq(prop_u(bus, l, IOVAD_LEASE_IFACE, "Owner"), UID_NOBODY);
        ck_assert_uint_eq(prop_u(bus, r, IOVAD_LEASE_IFACE, "Owner"), 0);
        ck_assert(introspect_has_node(bus, IOVAD_LEASE_PREFIX, l + strlen(IOVAD_LEASE_PREFIX "/")));

        /* A third uid, not among the users: refused, and sees nothing. */
        before = container_snapshot(bus, c);
        p.other_lease = l;
        run_as(UID_OTHER, stranger_client, &p);
        assert_unchanged(bus, c, before, "uid 1000's refused calls");

        write_line(p.from_parent[1], "go");
        status = wait_child(pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the client of uid 65534 failed (0x%x)",
                      (unsigned) status);
        /* It left the bus: its last lease goes, root's stays. */
        wait_leases(bus, c, 1);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 1);
        ck_assert_str_eq(li[0].path, r);
        peer_close(&p);
        env_stop(&e);
}
END_TEST

static void doomed_client(void *userdata) {
        Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *a = NULL, *b = NULL;
        _cleanup_(closep) int fd = -1, mfd = sealed_memfd(2 * PAGE, 0);

        a = lease(bus, p->container, 4 * PAGE, NULL);
        b = allocate_mapped(bus, p->container, 2 * PAGE, NULL, &fd);
        reply = container_ok(bus, p->container, "MapMemory", "htta{sv}", mfd, 0ULL, 2 * PAGE, 0);
        write_line(p->to_parent[1], "ready");
        /* Wait to be killed. */
        (void) read_line(p->from_parent[0]);
        _exit(3);
}

typedef struct Dma {
        bool seen;
        uint32_t value;
} Dma;

/* Records DmaMappingsAvailable from PropertiesChanged. */
static int on_dma_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Dma *d = userdata;
        const char *iface, *name;

        if (sd_bus_message_read(m, "s", &iface) < 0 || sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (streq(name, "DmaMappingsAvailable")) {
                        if (sd_bus_message_read(m, "v", "u", &d->value) < 0)
                                return 0;
                        d->seen = true;
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

START_TEST(test_killed_client) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(freep) char *c = NULL, *r = NULL, *before = NULL, *ready = NULL, *other = NULL, *o = NULL;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { UID_NOBODY };
        LeaseInfo li[8];
        Peer p = {};
        Dma dma = {};
        pid_t pid;
        int status;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        other = create_container(bus, "other", users, 1);
        attach(bus, c, 5);
        attach(bus, other, 12);
        r = allocate_mapped(bus, c, PAGE, NULL, &fd);
        o = lease(bus, other, PAGE, NULL);
        before = container_snapshot(bus, c);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65534);

        p.container = c;
        peer_pipes(&p);
        pid = spawn_as(UID_NOBODY, doomed_client, &p);
        ready = read_line(p.to_parent[0]);
        ck_assert_msg(ready, "the client failed before it was ready");
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 4);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65532);

        ck_assert_int_ge(sd_bus_match_signal(bus, &slot, IOVAD_BUS_NAME, c, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged", on_dma_changed, &dma),
                         0);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        status = wait_child(pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Its leases go, mapped or not; nothing else does. */
        wait_leases(bus, c, 1);
        assert_unchanged(bus, c, before, "the killed client");
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 1);
        ck_assert_str_eq(li[0].path, r);
        ck_assert(prop_b(bus, r, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert_uint_eq(list_leases(bus, other, li, 8), 1);
        ck_assert_str_eq(li[0].path, o);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = manager_ok(bus, "GetContainer", "s", "c");
                const char *got;
                ck_assert_int_ge(sd_bus_message_read(reply, "o", &got), 0);
                ck_assert_str_eq(got, c);
        }

        /*
         * DmaMappingsAvailable changed, so it says so, as it does on Release:
         * the signal is sent before iovad answers the ListLeases above that
         * saw the leases gone, so it is queued here by now.
         */
        {
                bool drained = false;
                while (!drained) {
                        int k = sd_bus_process(bus, NULL);
                        ck_assert_int_ge(k, 0);
                        drained = k == 0;
                }
        }
        ck_assert_msg(dma.seen, "no PropertiesChanged for DmaMappingsAvailable after the client's mappings went");
        ck_assert_uint_eq(dma.value, 65534);
        peer_close(&p);
        env_stop(&e);
}
END_TEST

START_TEST(test_connection_close) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *persistent = NULL, *p2 = NULL;
        sd_bus *first;
        const char *path;
        uint64_t iova;
        LeaseInfo li[8];
        int fd;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);

        first = env_connect();
        free(lease(first, c, PAGE, NULL));
        free(allocate_mapped(first, c, PAGE, NULL, NULL));
        reply = container_ok(first, c, "Lease", "ta{sv}", 2 * PAGE, 1, "persistent", "b", 1);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        persistent = strdup(path);
        reply = sd_bus_message_unref(reply);
        reply = container_ok(first, c, "AllocateMapped", "ta{sv}", PAGE, 1, "persistent", "b", 1);
        ck_assert_int_ge(sd_bus_message_read(reply, "oth", &path, &iova, &fd), 0);
        p2 = strdup(path);
        reply = sd_bus_message_unref(reply);
        ck_assert(prop_b(bus, persistent, IOVAD_LEASE_IFACE, "Persistent"));
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 4);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65533);

        sd_bus_flush_close_unref(first);
        wait_leases(bus, c, 2);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 2);
        for (size_t i = 0; i < 2; i++)
                ck_assert_msg(streq(li[i].path, persistent) || streq(li[i].path, p2), "%s outlived its client",
                              li[i].path);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65534);
        /* Anyone privileged may release a persistent lease. */
        release(bus, persistent);
        release(bus, p2);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        env_stop(&e);
}
END_TEST

/* Makes p->n leases (and then checks the quota) as a user of the container. */
static void quota_leases_client(void *userdata) {
        Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *first = NULL, *before = NULL, *go = NULL;
        _cleanup_(closep) int fd = sealed_memfd(PAGE, 0);

        first = lease(bus, p->container, PAGE, NULL);
        for (unsigned i = 1; i < p->n; i++)
                free(lease(bus, p->container, PAGE, NULL));
        before = container_snapshot(bus, p->container);
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "Lease", "ta{sv}", PAGE, 0);
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "AllocateMapped", "ta{sv}", PAGE, 0);
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0);
        assert_unchanged(bus, p->container, before, "QuotaExceeded");
        /* Room again once one goes. */
        release(bus, first);
        free(allocate_mapped(bus, p->container, PAGE, NULL, NULL));
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "Lease", "ta{sv}", PAGE, 0);
        if (p->to_parent[1] > 0) {
                write_line(p->to_parent[1], "ready");
                go = read_line(p->from_parent[0]);
        }
}

START_TEST(test_quota_leases) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *ready = NULL;
        const uid_t users[] = { UID_NOBODY, UID_OTHER };
        Peer p = {}, q = {};
        pid_t pid;
        int status;
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"leases\": 2 } }");
        bus = env_connect();
        c = create_container(bus, "c", users, 2);
        attach(bus, c, 5);

        /* Quotas are per uid: uid 65534 holds its two while uid 1000 takes its own two. */
        p.container = c;
        p.n = 2;
        peer_pipes(&p);
        pid = spawn_as(UID_NOBODY, quota_leases_client, &p);
        ready = read_line(p.to_parent[0]);
        ck_assert_msg(ready, "the client of uid 65534 failed");
        q.container = c;
        q.n = 2;
        run_as(UID_OTHER, quota_leases_client, &q);
        write_line(p.from_parent[1], "go");
        status = wait_child(pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* Root is not limited. */
        for (int i = 0; i < 5; i++)
                free(lease(bus, c, PAGE, NULL));
        peer_close(&p);
        env_stop(&e);
}
END_TEST

static void quota_bytes_client(void *userdata) {
        Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *a = NULL, *before = NULL;
        _cleanup_(closep) int fd = sealed_memfd(4 * PAGE, 0);

        a = allocate_mapped(bus, p->container, 3 * PAGE, NULL, NULL);
        before = container_snapshot(bus, p->container);
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "AllocateMapped", "ta{sv}", 2 * PAGE, 0);
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "MapMemory", "htta{sv}", fd, 0ULL, 2 * PAGE,
                       0);
        assert_unchanged(bus, p->container, before, "QuotaExceeded");
        /* Exactly up to the quota, and IOVA-only leases do not count. */
        free(allocate_mapped(bus, p->container, PAGE, NULL, NULL));
        free(lease(bus, p->container, 64 * PAGE, NULL));
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0);
        release(bus, a);
        sd_bus_message_unref(container_ok(bus, p->container, "MapMemory", "htta{sv}", fd, 0ULL, 3 * PAGE, 0));
}

START_TEST(test_quota_mapped_bytes) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        const uid_t users[] = { UID_NOBODY };
        Peer p = {};
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"mapped_bytes\": 16384 } }");
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        p.container = c;
        run_as(UID_NOBODY, quota_bytes_client, &p);
        free(allocate_mapped(bus, c, 8 * PAGE, NULL, NULL));
        env_stop(&e);
}
END_TEST

static void quota_dma_client(void *userdata) {
        Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *a = NULL;
        _cleanup_(closep) int fd = sealed_memfd(PAGE, 0);

        a = allocate_mapped(bus, p->container, PAGE, NULL, NULL);
        sd_bus_message_unref(container_ok(bus, p->container, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0));
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "AllocateMapped", "ta{sv}", PAGE, 0);
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, p->container, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0);
        /* Unmapped leases use no DMA entry. */
        free(lease(bus, p->container, PAGE, NULL));
        release(bus, a);
        free(allocate_mapped(bus, p->container, PAGE, NULL, NULL));
}

START_TEST(test_quota_dma_entries) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        const uid_t users[] = { UID_NOBODY };
        Peer p = {};
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"dma_entries\": 2, \"leases\": 100 } }");
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        p.container = c;
        run_as(UID_NOBODY, quota_dma_client, &p);
        env_stop(&e);
}
END_TEST

/* Policy reservations from the configuration are holes like the kernel's. */
START_TEST(test_policy_reservations) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        TRegion regs[8];
        TRange usable[8];
        bool policy = false;
        size_t n;
        BusEnv e;

        env_start(&e, NULL,
                  "{ \"reserved_regions\": [ \"0x0000000000000000 0x00000000000fffff reserved\" ] }");
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        n = prop_regions(bus, c, regs, 8);
        for (size_t i = 0; i < n; i++)
                if (regs[i].start == 0 && regs[i].end == 0xfffff) {
                        ck_assert_str_eq(regs[i].type, "reserved");
                        ck_assert_str_eq(regs[i].origin, "policy");
                        policy = true;
                }
        ck_assert_msg(policy, "the policy reservation is not in ReservedRegions");
        n = prop_ranges(bus, c, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, 8);
        ck_assert_uint_ge(n, 1);
        ck_assert_uint_eq(usable[0].start, 0x100000);
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", 0x80000ULL);
        free(lease_fixed(bus, c, 0x100000, PAGE));
        env_stop(&e);
}
END_TEST

typedef struct Kept {
        char path[128];
        uint64_t iova, size;
} Kept;

static void assert_kept(sd_bus *bus, const char *c, const Kept *k) {
        _cleanup_(freep) char *owner_c = prop_s(bus, k->path, IOVAD_LEASE_IFACE, "Container");

        ck_assert_uint_eq(prop_t(bus, k->path, IOVAD_LEASE_IFACE, "Iova"), k->iova);
        ck_assert_uint_eq(prop_t(bus, k->path, IOVAD_LEASE_IFACE, "Size"), k->size);
        ck_assert_uint_eq(prop_u(bus, k->path, IOVAD_LEASE_IFACE, "Owner"), 0);
        ck_assert_str_eq(owner_c, c);
}

START_TEST(test_persistent_restart) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *c2 = NULL, *fresh = NULL;
        const uid_t users[] = { 0, UID_NOBODY };
        uint32_t got[8];
        Kept k[2];
        LeaseInfo li[8];
        const char *path;
        uint64_t iova, id, fresh_id;
        int fd;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "keep", users, 2);
        c2 = create_container(bus, "empty", NULL, 0);
        attach(bus, c, 5);
        attach(bus, c, 12);

        reply = container_ok(bus, c, "Lease", "ta{sv}", 4 * PAGE, 2, "persistent", "b", 1, "iova", "t", 0x200000ULL);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        k[0] = (Kept) { .iova = iova, .size = 4 * PAGE };
        xsprintf(k[0].path, "%s", path);
        reply = sd_bus_message_unref(reply);
        reply = container_ok(bus, c, "AllocateMapped", "ta{sv}", 2 * PAGE, 1, "persistent", "b", 1);
        ck_assert_int_ge(sd_bus_message_read(reply, "oth", &path, &iova, &fd), 0);
        k[1] = (Kept) { .iova = iova, .size = 2 * PAGE };
        xsprintf(k[1].path, "%s", path);
        reply = sd_bus_message_unref(reply);
        free(lease(bus, c, 8 * PAGE, NULL)); /* goes with this connection, or with the daemon */

        /* The client leaves; then the daemon. */
        sd_bus_flush_close_unref(bus);
        bus = env_connect();
        wait_leases(bus, c, 2);
        env_daemon_stop(&e);
        env_daemon_start(&e);

        /* Containers, their groups and users, and the persistent leases, where they were. */
        reply = manager_ok(bus, "GetContainer", "s", "keep");
        ck_assert_int_ge(sd_bus_message_read(reply, "o", &path), 0);
        ck_assert_str_eq(path, c);
        reply = sd_bus_message_unref(reply);
        reply = manager_ok(bus, "GetContainer", "s", "empty");
        ck_assert_int_ge(sd_bus_message_read(reply, "o", &path), 0);
        ck_assert_str_eq(path, c2);
        reply = sd_bus_message_unref(reply);
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", got, 8), 2);
        ck_assert_uint_eq(got[0], 5);
        ck_assert_uint_eq(got[1], 12);
        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Users", got, 8), 2);
        ck_assert_uint_eq(got[0], 0);
        ck_assert_uint_eq(got[1], UID_NOBODY);
        ck_assert_uint_eq(prop_au(bus, c2, IOVAD_CONTAINER_IFACE, "Groups", got, 8), 0);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 2);
        assert_kept(bus, c, &k[0]);
        assert_kept(bus, c, &k[1]);
        ck_assert(prop_b(bus, k[0].path, IOVAD_LEASE_IFACE, "Persistent"));
        /* The memory did not survive iovad; the IOVA range stays reserved. */
        ck_assert(!prop_b(bus, k[1].path, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", 0x201000ULL);

        /* New leases get new ids. */
        fresh = lease(bus, c, PAGE, NULL);
        ck_assert_int_eq(sscanf(fresh, IOVAD_LEASE_PREFIX "/%" SCNu64, &fresh_id), 1);
        for (size_t i = 0; i < 2; i++) {
                ck_assert_int_eq(sscanf(k[i].path, IOVAD_LEASE_PREFIX "/%" SCNu64, &id), 1);
                ck_assert_uint_gt(fresh_id, id);
        }

        /* A released persistent lease stays released across the next restart. */
        release(bus, k[0].path);
        sd_bus_flush_close_unref(bus);
        env_daemon_stop(&e);
        env_daemon_start(&e);
        bus = env_connect();
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 1);
        ck_assert_str_eq(li[0].path, k[1].path);
        assert_kept(bus, c, &k[1]);
        env_stop(&e);
}
END_TEST

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

        ck_assert_int_eq(fstat(a, &x), 0);
        ck_assert_int_eq(fstat(b, &y), 0);
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/*
 * A crash (SIGKILL) loses nothing a connected client holds: its leases come
 * back at the same paths and IOVAs, mapped ones with the same memory from
 * the fd store, and are still released when the client leaves. A client
 * that left while iovad was down gets nothing back.
 */
START_TEST(test_crash_keeps_connection_leases) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *other = NULL, *admin = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *iova_only = NULL, *alloc = NULL, *own = NULL, *pers = NULL,
                              *gone1 = NULL, *gone2 = NULL, *fresh = NULL;
        _cleanup_(closep) int alloc_fd = -1, own_fd = -1, pers_fd = -1, gone_fd = -1;
        const uid_t users[] = { 0 };
        uint64_t iova[4];
        LeaseInfo li[8];
        const char *path;
        char *mem;
        BusEnv e;

        env_start(&e, NULL, NULL);
        env_daemon_stop(&e);
        env_fdstore_enable(&e);
        env_daemon_start(&e);
        bus = env_connect();
        c = create_container(bus, "vm", users, 1);
        attach(bus, c, 5);

        iova_only = lease(bus, c, 4 * PAGE, &iova[0]);
        alloc = allocate_mapped(bus, c, 2 * PAGE, &iova[1], &alloc_fd);
        mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, alloc_fd, 0);
        ck_assert_ptr_ne(mem, MAP_FAILED);
        memcpy(mem, "kept across a crash", 20);
        own_fd = sealed_memfd(2 * PAGE, 0);
        reply = container_ok(bus, c, "MapMemory", "htta{sv}", own_fd, 0ULL, 2 * PAGE, 0);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova[2]), 0);
        own = strdup(path);
        reply = sd_bus_message_unref(reply);
        pers_fd = sealed_memfd(PAGE, 0);
        reply = container_ok(bus, c, "MapMemory", "htta{sv}", pers_fd, 0ULL, PAGE, 1, "persistent", "b", 1);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova[3]), 0);
        pers = strdup(path);
        reply = sd_bus_message_unref(reply);

        other = env_connect();
        gone1 = lease(other, c, PAGE, NULL);
        gone2 = allocate_mapped(other, c, PAGE, NULL, &gone_fd);

        /* Every mapped lease's memfd is in the store, under its name, and the container and its group. */
        ck_assert_uint_eq(env_fdstore_collect(&e), 4 + 2);
        ck_assert(same_file(stored(&e, alloc), alloc_fd));
        ck_assert(same_file(stored(&e, own), own_fd));
        ck_assert(same_file(stored(&e, pers), pers_fd));
        ck_assert(same_file(stored(&e, gone2), gone_fd));

        env_daemon_kill(&e);
        sd_bus_flush_close_unref(other); /* leaves while iovad is down */
        other = NULL;
        env_daemon_start(&e);

        /* The same connection finds everything where it was. */
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 4);
        ck_assert_uint_eq(prop_t(bus, iova_only, IOVAD_LEASE_IFACE, "Iova"), iova[0]);
        ck_assert_uint_eq(prop_t(bus, alloc, IOVAD_LEASE_IFACE, "Iova"), iova[1]);
        ck_assert_uint_eq(prop_t(bus, own, IOVAD_LEASE_IFACE, "Iova"), iova[2]);
        ck_assert_uint_eq(prop_t(bus, pers, IOVAD_LEASE_IFACE, "Iova"), iova[3]);
        ck_assert(!prop_b(bus, iova_only, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(prop_b(bus, alloc, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(prop_b(bus, own, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(prop_b(bus, pers, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(!prop_b(bus, alloc, IOVAD_LEASE_IFACE, "Persistent"));
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535 - 3);
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, gone1, IOVAD_LEASE_IFACE, "Iova");
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, gone2, IOVAD_LEASE_IFACE, "Iova");

        /* The departed client's memory left the store; the rest is the same memory. */
        ck_assert_uint_eq(env_fdstore_collect(&e), 3 + 2);
        ck_assert_int_eq(stored(&e, gone2), -1);
        {
                char back[20];
                ck_assert_int_eq(pread(stored(&e, alloc), back, sizeof(back), 0), (ssize_t) sizeof(back));
                ck_assert_str_eq(back, "kept across a crash");
        }

        /* No id is handed out twice, not even the departed client's. */
        fresh = lease(bus, c, PAGE, NULL);
        ck_assert_uint_gt(lease_id(fresh), lease_id(gone2));
        release(bus, fresh);

        /* The restored leases still belong to the connection: they go with it. */
        admin = env_connect();
        sd_bus_flush_close_unref(bus);
        bus = NULL;
        wait_leases(admin, c, 1);
        ck_assert_uint_eq(list_leases(admin, c, li, 8), 1);
        ck_assert_str_eq(li[0].path, pers);
        ck_assert_uint_eq(env_fdstore_collect(&e), 1 + 2);
        ck_assert(same_file(stored(&e, pers), pers_fd));

        /* A clean stop and start maps the persistent lease's memory again too. */
        env_daemon_stop(&e);
        env_daemon_start(&e);
        ck_assert(prop_b(admin, pers, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert_uint_eq(prop_t(admin, pers, IOVAD_LEASE_IFACE, "Iova"), iova[3]);
        (void) munmap(mem, 2 * PAGE);
        env_stop(&e);
}
END_TEST

static int open_device(sd_bus *bus, const char *address) {
        _cleanup_(freep) char *dev = iovad_device_path(address);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = call_ok(bus, dev, IOVAD_DEVICE_IFACE, "Open", NULL);
        int fd;

        ck_assert_int_ge(sd_bus_message_read(reply, "h", &fd), 0);
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(fd, 0);
        return fd;
}

/*
 * A crash while a client holds a mapped lease and a device fd: the device
 * fd keeps the group in the kernel's container, so a new container could
 * not have it (EBUSY); the container and group fds in the store let the
 * restarted iovad adopt that container, mappings and all: the lease is
 * back at its IOVA with the same memory, the kernel's mapping taken over
 * rather than made again, and the device fd is still in that container.
 */
START_TEST(test_crash_adopts_container) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *alloc = NULL, *log = NULL;
        _cleanup_(closep) int alloc_fd = -1, dev_fd = -1, dev2_fd = -1, container_fd = -1, group_fd = -1;
        const uid_t users[] = { 0 };
        uint64_t iova;
        char back[32];
        char *mem;
        BusEnv e;

        env_start(&e, NULL, NULL);
        env_daemon_stop(&e);
        env_fdstore_enable(&e);
        env_daemon_start(&e);
        bus = env_connect();
        c = create_container(bus, "vm", users, 1);
        attach(bus, c, 5);
        alloc = allocate_mapped(bus, c, 4 * PAGE, &iova, &alloc_fd);
        mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, alloc_fd, 0);
        ck_assert_ptr_ne(mem, MAP_FAILED);
        memcpy(mem, "the client's pages", 19);
        dev_fd = open_device(bus, "0000:01:00.0");

        ck_assert_uint_eq(env_fdstore_collect(&e), 3);
        ck_assert_int_ge(stored(&e, alloc), 0);
        container_fd = fcntl(env_fdstore_find(&e, "container-vm"), F_DUPFD_CLOEXEC, 3);
        group_fd = fcntl(env_fdstore_find(&e, "group-5"), F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(container_fd, 0);
        ck_assert_int_ge(group_fd, 0);

        env_daemon_kill(&e);
        env_daemon_start(&e);

        /* The lease is back where it was, mapped, on the same memory. */
        ck_assert_uint_eq(prop_t(bus, alloc, IOVAD_LEASE_IFACE, "Iova"), iova);
        ck_assert(prop_b(bus, alloc, IOVAD_LEASE_IFACE, "Mapped"));
        ck_assert(same_file(stored(&e, alloc), alloc_fd));
        ck_assert_int_eq(pread(stored(&e, alloc), back, 19, 0), 19);
        ck_assert_str_eq(back, "the client's pages");
        /* The kernel's container itself, with its one mapping: taken over, not made again. */
        ck_assert_uint_eq(env_fdstore_collect(&e), 3);
        ck_assert(same_file(env_fdstore_find(&e, "container-vm"), container_fd));
        ck_assert(same_file(env_fdstore_find(&e, "group-5"), group_fd));
        /* A group fd held anywhere holds the group, as in the kernel: this test's copies go. */
        closep(&container_fd);
        closep(&group_fd);
        container_fd = group_fd = -1;
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535 - 1);
        log = env_daemon_log(&e);
        ck_assert_msg(strstr(log, "Adopted the kernel's container 'vm' with 1 group from the fd store: 1 mapping "
                                  "taken over, 0 mapped again, 0 replaced"),
                      "%s", log);

        /* The client's device fd is in that container still: its group will not go while it is open. */
        dev2_fd = open_device(bus, "0000:01:00.0");
        release(bus, alloc);
        container_fail(bus, IOVAD_ERROR_BUSY, c, "DetachGroup", "u", 5);
        closep(&dev_fd);
        closep(&dev2_fd);
        dev_fd = dev2_fd = -1;
        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 5));
        /* Detached, the group's fd and the container's leave the store. */
        ck_assert_uint_eq(env_fdstore_collect(&e), 0);
        attach(bus, c, 5);
        ck_assert_uint_eq(env_fdstore_collect(&e), 2);

        /* A clean stop lets go of the kernel's containers: none stays in the store. */
        env_daemon_stop(&e);
        ck_assert_uint_eq(env_fdstore_collect(&e), 0);
        env_daemon_start(&e);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        ck_assert_uint_eq(env_fdstore_collect(&e), 2);
        (void) munmap(mem, 4 * PAGE);
        env_stop(&e);
}
END_TEST

/* A SIGTERM stop is not a release: a connected client keeps its leases across it. */
START_TEST(test_restart_keeps_connection_leases) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *l = NULL;
        const uid_t users[] = { 0 };
        uint64_t iova;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "vm", users, 1);
        attach(bus, c, 5);
        l = lease(bus, c, 8 * PAGE, &iova);
        env_daemon_stop(&e);
        env_daemon_start(&e);
        ck_assert_uint_eq(prop_t(bus, l, IOVAD_LEASE_IFACE, "Iova"), iova);
        ck_assert(!prop_b(bus, l, IOVAD_LEASE_IFACE, "Persistent"));
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", iova);
        env_stop(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-clients");
        TCase *tc = env_tcase("clients");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_privileged_calls_refused);
        tcase_add_test(tc, test_two_users);
        tcase_add_test(tc, test_killed_client);
        tcase_add_test(tc, test_connection_close);
        tcase_add_test(tc, test_quota_leases);
        tcase_add_test(tc, test_quota_mapped_bytes);
        tcase_add_test(tc, test_quota_dma_entries);
        tcase_add_test(tc, test_policy_reservations);
        tcase_add_test(tc, test_persistent_restart);
        tcase_add_test(tc, test_crash_keeps_connection_leases);
        tcase_add_test(tc, test_crash_adopts_container);
        tcase_add_test(tc, test_restart_keeps_connection_leases);
        suite_add_tcase(s, tc);

        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
