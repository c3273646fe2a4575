/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Direct connections (Manager.OpenDirectConnection): the same objects and
 * methods peer-to-peer, acting for the uid that opened them, leases that
 * go when the connection closes, the per-uid limit, quotas shared with the
 * bus, privileged calls refused, nothing left after a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bus-env.h"

/* Opens a direct connection over @bus and starts an sd-bus client on it. */
static sd_bus *direct_open(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus *d = NULL;
        int fd, copy;

        reply = manager_ok(bus, "OpenDirectConnection", "a{sv}", 0);
        ck_assert_int_ge(sd_bus_message_read(reply, "h", &fd), 0);
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(copy, 0);
        ck_assert_int_ge(sd_bus_new(&d), 0);
        ck_assert_int_ge(sd_bus_set_fd(d, copy, copy), 0);
        ck_assert_int_ge(sd_bus_negotiate_fds(d, true), 0);
        ck_assert_int_ge(sd_bus_start(d), 0);
        return d;
}

/* The socket's peer is iovad itself: SO_PEERCRED says root, whoever holds the fd. */
static uid_t peer_uid(sd_bus *d) {
        struct ucred uc;
        socklen_t n = sizeof(uc);

        ck_assert_int_eq(getsockopt(sd_bus_get_fd(d), SOL_SOCKET, SO_PEERCRED, &uc, &n), 0);
        return uc.uid;
}

START_TEST(test_direct_same_methods) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *d = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *c = NULL, *l = NULL, *m = NULL, *a = NULL, *before = NULL, *name = NULL;
        _cleanup_(closep) int memfd = -1, afd = -1;
        const uid_t users[] = { 0 };
        LeaseInfo li[8];
        const char *path;
        uint64_t iova;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "vm", users, 1);
        attach(bus, c, 5);
        d = direct_open(bus);
        ck_assert_uint_eq(peer_uid(d), 0);

        /* Reading, properties, the object manager: as over the bus. */
        name = prop_s(d, c, IOVAD_CONTAINER_IFACE, "Name");
        ck_assert_str_eq(name, "vm");
        sd_bus_message_unref(manager_ok(d, "ListDevices", NULL));
        sd_bus_message_unref(manager_ok(d, "ListContainers", NULL));
        sd_bus_message_unref(call_ok(d, IOVAD_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                     "GetManagedObjects", NULL));
        ck_assert(introspect_has_node(d, IOVAD_MANAGER_PATH, "container"));

        /* Leases of every kind, memfds passed both ways. */
        l = lease(d, c, 4 * PAGE, &iova);
        ck_assert_uint_eq(prop_t(d, l, IOVAD_LEASE_IFACE, "Iova"), iova);
        ck_assert_uint_eq(prop_t(bus, l, IOVAD_LEASE_IFACE, "Iova"), iova);
        memfd = sealed_memfd(2 * PAGE, 0);
        reply = container_ok(d, c, "MapMemory", "htta{sv}", memfd, 0ULL, 2 * PAGE, 0);
        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        m = strdup(path);
        reply = sd_bus_message_unref(reply);
        ck_assert(prop_b(d, m, IOVAD_LEASE_IFACE, "Mapped"));
        a = allocate_mapped(d, c, PAGE, NULL, &afd);
        ck_assert_int_ge(afd, 0);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535 - 2);
        ck_assert_uint_eq(list_leases(d, c, li, 8), 3);

        /* Errors are named as over the bus. */
        container_fail(d, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", MSI_START);
        manager_fail(d, IOVAD_ERROR_NO_SUCH_CONTAINER, "GetContainer", "s", "nope");
        manager_fail(d, ERR_INVALID_ARGS, "OpenDirectConnection", "a{sv}", 1, "what", "b", 1);

        /* Root may do privileged calls here too: no polkit is needed for root. */
        sd_bus_message_unref(container_ok(d, c, "Lease", "ta{sv}", PAGE, 1, "persistent", "b", 1));
        free(create_container(d, "made-directly", users, 1));
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 4);

        release(d, l);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 3);
        env_stop(&e);
}
END_TEST

typedef struct Peer {
        const char *container;
        const char *root_lease;
        int to_parent[2];
        int from_parent[2];
} Peer;

/* uid 65534, a user of the container: everything acts as it, and privileged calls are refused. */
static void user_direct(void *userdata) {
        Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect(), *d = NULL;
        _cleanup_(freep) char *l = NULL, *msg = NULL, *lb = NULL;
        _cleanup_(closep) int fd = -1;
        LeaseInfo li[8];

        d = direct_open(bus);
        /* The socket says root; iovad acts as the uid that opened it. */
        ck_assert_uint_eq(peer_uid(d), 0);
        l = lease(d, p->container, PAGE, NULL);
        ck_assert_uint_eq(prop_u(d, l, IOVAD_LEASE_IFACE, "Owner"), UID_NOBODY);
        free(allocate_mapped(d, p->container, PAGE, NULL, &fd));
        /* Its own leases on the bus and on the connection are the same uid's. */
        lb = lease(bus, p->container, PAGE, NULL);
        ck_assert_uint_eq(list_leases(d, p->container, li, 8), 3);
        ck_assert_uint_eq(list_leases(bus, p->container, li, 8), 3);
        /* Root's lease stays hidden. */
        prop_fail(d, ERR_ACCESS_DENIED, p->root_lease, IOVAD_LEASE_IFACE, "Iova");
        free(call_fail(d, ERR_ACCESS_DENIED, p->root_lease, IOVAD_LEASE_IFACE, "Release", NULL));

        /* A device of the container's group opens as over the bus: the fd comes back on the connection. */
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_(freep) char *dev = iovad_device_path("0000:01:00.0");
                int devfd;

                reply = call_ok(d, dev, IOVAD_DEVICE_IFACE, "Open", NULL);
                ck_assert_int_ge(sd_bus_message_read(reply, "h", &devfd), 0);
                ck_assert_int_ge(fcntl(devfd, F_GETFD), 0);
                free(call_fail(d, ERR_ACCESS_DENIED, dev, IOVAD_DEVICE_IFACE, "Unbind", NULL));
        }

        msg = call_fail(d, ERR_ACCESS_DENIED, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "CreateContainer", "sa{sv}",
                        "mine", 0);
        ck_assert_msg(strstr(msg, "direct connection"), "%s", msg);
        container_fail(d, ERR_ACCESS_DENIED, p->container, "Lease", "ta{sv}", PAGE, 1, "persistent", "b", 1);
        container_fail(d, ERR_ACCESS_DENIED, p->container, "AttachGroup", "u", 12);
        container_fail(d, ERR_ACCESS_DENIED, p->container, "Destroy", NULL);

        write_line(p->to_parent[1], l);
        free(read_line(p->from_parent[0]));
}

/* uid 1000, not a user of the container: refused as over the bus. */
static void stranger_direct(void *userdata) {
        Peer *p = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect(), *d = NULL;
        _cleanup_(closep) int fd = -1;

        d = direct_open(bus);
        container_fail(d, ERR_ACCESS_DENIED, p->container, "Lease", "ta{sv}", PAGE, 0);
        fd = sealed_memfd(PAGE, 0);
        container_fail(d, ERR_ACCESS_DENIED, p->container, "MapMemory", "htta{sv}", fd, 0ULL, PAGE, 0);
        container_fail(d, ERR_ACCESS_DENIED, p->container, "AllocateMapped", "ta{sv}", PAGE, 0);
        prop_fail(d, ERR_ACCESS_DENIED, p->root_lease, IOVAD_LEASE_IFACE, "Iova");
}

START_TEST(test_direct_uid) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *root_lease = NULL, *theirs = NULL, *before = NULL;
        const uid_t users[] = { UID_NOBODY };
        LeaseInfo li[8];
        Peer p = {};
        pid_t pid;
        int status;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        root_lease = lease(bus, c, PAGE, NULL);
        p.container = c;
        p.root_lease = root_lease;
        ck_assert_int_eq(pipe2(p.to_parent, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(p.from_parent, O_CLOEXEC), 0);

        pid = spawn_as(UID_NOBODY, user_direct, &p);
        theirs = read_line(p.to_parent[0]);
        ck_assert_msg(theirs, "the client of uid 65534 failed");
        ck_assert_uint_eq(prop_u(bus, theirs, IOVAD_LEASE_IFACE, "Owner"), UID_NOBODY);
        ck_assert_uint_eq(list_leases(bus, c, li, 8), 4);
        before = container_snapshot(bus, c);
        run_as(UID_OTHER, stranger_direct, &p);
        assert_unchanged(bus, c, before, "a stranger's direct connection");

        write_line(p.from_parent[1], "go");
        status = wait_child(pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* Both of its connections are gone, and with them its leases; root's stays. */
        wait_leases(bus, c, 1);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        /* Its Device.Open came with no sender: the log names the connection's kind instead. */
        {
                _cleanup_(freep) char *log = env_daemon_log(&e);
                ck_assert_msg(strstr(log, "Opened device 0000:01:00.0 for a direct connection"), "%s", log);
        }
        for (int i = 0; i < 2; i++) {
                close(p.to_parent[i]);
                close(p.from_parent[i]);
        }
        env_stop(&e);
}
END_TEST

START_TEST(test_direct_close_releases) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *d = NULL, *d2 = NULL;
        _cleanup_(freep) char *c = NULL, *kept = NULL, *l1 = NULL, *l2 = NULL, *l3 = NULL;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { 0 };
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        kept = lease(bus, c, PAGE, NULL);
        d = direct_open(bus);
        d2 = direct_open(bus);
        l1 = lease(d, c, PAGE, NULL);
        l2 = allocate_mapped(d, c, PAGE, NULL, &fd);
        l3 = lease(d2, c, PAGE, NULL);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535 - 1);

        /* One connection closes: its leases go, the other's and the bus's stay. */
        sd_bus_flush_close_unref(d);
        d = NULL;
        wait_leases(bus, c, 2);
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, l1, IOVAD_LEASE_IFACE, "Iova");
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, l2, IOVAD_LEASE_IFACE, "Iova");
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        ck_assert(!prop_b(d2, l3, IOVAD_LEASE_IFACE, "Mapped"));

        /* The bus connection that opened it leaving takes its own lease, not the direct connection. */
        sd_bus_flush_close_unref(bus);
        bus = env_connect();
        wait_leases(bus, c, 1);
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, kept, IOVAD_LEASE_IFACE, "Iova");
        ck_assert(!prop_b(d2, l3, IOVAD_LEASE_IFACE, "Mapped"));
        free(lease(d2, c, PAGE, NULL));
        wait_leases(bus, c, 2);
        env_stop(&e);
}
END_TEST

static void limit_client(void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        sd_bus *d[8];
        char *msg;

        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                d[i] = direct_open(bus);
        msg = call_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE,
                        "OpenDirectConnection", "a{sv}", 0);
        ck_assert_msg(strstr(msg, "uid 65534 has 8 direct connections"), "%s", msg);
        free(msg);
        /* One closes: one may open again. */
        sd_bus_flush_close_unref(d[0]);
        for (int tries = 0;; tries++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(bus, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE,
                                           "OpenDirectConnection", &error, &reply, "a{sv}", 0);
                ck_assert_msg(r >= 0 || (sd_bus_error_has_name(&error, IOVAD_ERROR_QUOTA_EXCEEDED) && tries < 200),
                              "%s", error.message);
                sd_bus_error_free(&error);
                if (r >= 0)
                        break;
                usleep(10000);
        }
        for (size_t i = 1; i < ELEMENTSOF(d); i++)
                sd_bus_flush_close_unref(d[i]);
}

START_TEST(test_direct_limit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *mine = NULL;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        /* Root's own connection does not count against uid 65534's eight. */
        mine = direct_open(bus);
        run_as(UID_NOBODY, limit_client, NULL);
        env_stop(&e);
}
END_TEST

/* uid 65534 with a quota of 3 leases: one on the bus, two on two direct connections, then none anywhere. */
static void quota_client(void *userdata) {
        const char *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect(), *d1 = NULL, *d2 = NULL;

        d1 = direct_open(bus);
        d2 = direct_open(bus);
        free(lease(bus, c, PAGE, NULL));
        free(lease(d1, c, PAGE, NULL));
        free(lease(d2, c, PAGE, NULL));
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, c, "Lease", "ta{sv}", PAGE, 0);
        container_fail(d1, IOVAD_ERROR_QUOTA_EXCEEDED, c, "Lease", "ta{sv}", PAGE, 0);
        container_fail(d2, IOVAD_ERROR_QUOTA_EXCEEDED, c, "AllocateMapped", "ta{sv}", PAGE, 0);
}

START_TEST(test_direct_quota_shared) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        const uid_t users[] = { UID_NOBODY };
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"leases\": 3 } }");
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        run_as(UID_NOBODY, quota_client, c);
        wait_leases(bus, c, 0);
        env_stop(&e);
}
END_TEST

START_TEST(test_direct_restart) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *d = NULL;
        _cleanup_(freep) char *c = NULL, *on_bus = NULL, *direct = NULL, *mapped = NULL, *log = NULL;
        _cleanup_(closep) int fd = -1;
        const uid_t users[] = { 0 };
        LeaseInfo li[4];
        BusEnv e;

        env_start(&e, NULL, NULL);
        env_daemon_stop(&e);
        env_fdstore_enable(&e);
        env_daemon_start(&e);
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        on_bus = lease(bus, c, PAGE, NULL);
        d = direct_open(bus);
        direct = lease(d, c, PAGE, NULL);
        mapped = allocate_mapped(d, c, PAGE, NULL, &fd);

        /* A crash: the bus connection's lease comes back, the direct connection's do not. */
        env_daemon_kill(&e);
        env_daemon_start(&e);
        ck_assert_uint_eq(list_leases(bus, c, li, 4), 1);
        ck_assert_str_eq(li[0].path, on_bus);
        prop_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, direct, IOVAD_LEASE_IFACE, "Iova");
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"), 65535);
        log = env_daemon_log(&e);
        ck_assert_msg(strstr(log, "closed with the previous iovad"), "%s", log);
        /* The old connection is dead. */
        ck_assert_int_lt(sd_bus_call_method(d, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE,
                                            "ListContainers", NULL, NULL, NULL),
                         0);
        env_stop(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-direct");
        TCase *tc = env_tcase("direct");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_direct_same_methods);
        tcase_add_test(tc, test_direct_uid);
        tcase_add_test(tc, test_direct_close_releases);
        tcase_add_test(tc, test_direct_limit);
        tcase_add_test(tc, test_direct_quota_shared);
        tcase_add_test(tc, test_direct_restart);
        suite_add_tcase(s, tc);

        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
