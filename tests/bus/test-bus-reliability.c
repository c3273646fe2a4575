/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What breaks a daemon that holds other programs' DMA memory, tried on
 * the real iovad: running out of fds, losing the bus, being restarted
 * without its runtime directory, calls on objects that are gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bus-env.h"

static char *read_text(const char *path) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t n = 0;

        ck_assert_msg(f, "cannot open %s", path);
        if (getdelim(&text, &n, '\0', f) < 0) {
                free(text);
                text = strdup("");
        }
        fclose(f);
        return text;
}

static uint64_t lease_id(const char *path) {
        const char *p = strrchr(path, '/');
        ck_assert_ptr_nonnull(p);
        return strtoull(p + 1, NULL, 10);
}

/* Calls on objects that do not exist answer a documented error, whatever the member. */
START_TEST(test_missing_objects_named) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *dev = iovad_device_path("0000:00:01.0");
        const char *lease = IOVAD_LEASE_PREFIX "/99", *container = IOVAD_CONTAINER_PREFIX "/nope";
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        /* Members of the object's interface: the object's own error. */
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, lease, IOVAD_LEASE_IFACE, "Release", NULL));
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_LEASE, lease, "org.freedesktop.DBus.Properties", "Get", "ss",
                       IOVAD_LEASE_IFACE, "Iova"));
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, container, IOVAD_CONTAINER_IFACE, "Destroy", NULL));
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, container, "org.freedesktop.DBus.Properties", "GetAll",
                       "s", IOVAD_CONTAINER_IFACE));
        free(call_fail(bus, IOVAD_ERROR_NO_SUCH_DEVICE, dev, IOVAD_DEVICE_IFACE, "Open", NULL));
        /* Anything else: no object there. */
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, lease, IOVAD_LEASE_IFACE, "Frobnicate", NULL));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, lease, IOVAD_DEVICE_IFACE, "Open", NULL));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, lease, "org.freedesktop.DBus.Properties", "Get", "ss",
                       IOVAD_LEASE_IFACE, "Colour"));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, container, IOVAD_LEASE_IFACE, "Release", NULL));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, container, "org.freedesktop.DBus.Properties", "Get", "ss",
                       IOVAD_LEASE_IFACE, "Iova"));
        free(call_fail(bus, ERR_UNKNOWN_OBJECT, dev, IOVAD_CONTAINER_IFACE, "Destroy", NULL));
        env_stop(&e);
}
END_TEST

/* uid 1000, a user of the container, with its own memory fds budget of 3. */
static void memfd_quota_client(void *userdata) {
        const char *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        int fds[3];

        for (int i = 0; i < 3; i++)
                free(allocate_mapped(bus, c, PAGE, NULL, &fds[i]));
        container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, c, "AllocateMapped", "ta{sv}", PAGE, 0);
        {
                _cleanup_(closep) int m = sealed_memfd(PAGE, 0);
                container_fail(bus, IOVAD_ERROR_QUOTA_EXCEEDED, c, "MapMemory", "htta{sv}", m, 0ULL, PAGE, 0);
        }
        /* IOVA-only leases hold no fd. */
        free(lease(bus, c, PAGE, NULL));
        for (int i = 0; i < 3; i++)
                close(fds[i]);
}

START_TEST(test_memfd_quota) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        const uid_t users[] = { UID_OTHER };
        BusEnv e;

        env_start(&e, NULL, "{ \"quota\": { \"memfds\": 3 } }");
        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        run_as(UID_OTHER, memfd_quota_client, c);
        env_stop(&e);
}
END_TEST

/*
 * iovad started under a limit of 320 fds keeps 256 of them for its bus and
 * files: 64 mapped leases fit, the next is refused by name, and a message
 * that carries many fds still arrives without costing iovad its bus.
 */
#define TIGHT_NOFILE 320

static void fd_flood_client(void *userdata) {
        const char *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int held[80], n = 0, fds[8];
        char *err;

        for (;;) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *r2 = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error e2 = SD_BUS_ERROR_NULL;
                int rr = sd_bus_call_method(bus, IOVAD_BUS_NAME, c, IOVAD_CONTAINER_IFACE, "AllocateMapped", &e2, &r2,
                                            "ta{sv}", PAGE, 0);
                if (rr < 0) {
                        ck_assert_msg(sd_bus_error_has_name(&e2, IOVAD_ERROR_TOO_MANY_FILES),
                                      "lease %d: expected %s, got %s: %s", n, IOVAD_ERROR_TOO_MANY_FILES, e2.name,
                                      e2.message);
                        break;
                }
                const char *path;
                int fd;
                ck_assert_int_ge(sd_bus_message_read(r2, "oth", &path, NULL, &fd), 0);
                ck_assert_int_lt(n, (int) ELEMENTSOF(held));
                held[n++] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        }
        /*
         * The limit less the headroom, less the container's fd and its
         * group's: nowhere near the process limit, but none past the budget.
         */
        ck_assert_int_eq(n, TIGHT_NOFILE - 256 - 2);

        /* A call carrying 8 fds, with a signature iovad does not take: refused, iovad still on the bus. */
        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, IOVAD_BUS_NAME, c, IOVAD_CONTAINER_IFACE,
                                                        "MapMemory"),
                         0);
        for (int i = 0; i < 8; i++) {
                fds[i] = sealed_memfd(PAGE, 0);
                ck_assert_int_ge(sd_bus_message_append(m, "h", fds[i]), 0);
        }
        ck_assert_int_lt(sd_bus_call(bus, m, 0, &error, &reply), 0);
        ck_assert_str_eq(error.name, ERR_INVALID_ARGS);
        /* And a well-formed MapMemory past the budget is refused by name. */
        err = call_fail(bus, IOVAD_ERROR_TOO_MANY_FILES, c, IOVAD_CONTAINER_IFACE, "MapMemory", "htta{sv}", fds[0],
                        0ULL, PAGE, 0);
        free(err);
        for (int i = 0; i < 8; i++)
                close(fds[i]);
        /* IOVA-only leases still work, and the leases made are all there. */
        free(lease(bus, c, PAGE, NULL));
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *l = container_ok(bus, c, "ListLeases", NULL);
                size_t count = 0;
                ck_assert_int_ge(sd_bus_message_enter_container(l, 'a', "(ottb)"), 0);
                while (sd_bus_message_skip(l, "(ottb)") > 0)
                        count++;
                ck_assert_uint_eq(count, (size_t) n + 1);
        }
        for (int i = 0; i < n; i++)
                close(held[i]);
}

START_TEST(test_fd_budget) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        const uid_t users[] = { UID_OTHER };
        BusEnv e;

        env_start(&e, NULL, NULL);
        env_daemon_stop(&e);
        e.nofile = TIGHT_NOFILE;
        env_daemon_start(&e);

        bus = env_connect();
        c = create_container(bus, "c", users, 1);
        attach(bus, c, 5);
        run_as(UID_OTHER, fd_flood_client, c);
        /* Still on the bus, and its own connection was never cut. */
        sd_bus_message_unref(manager_ok(bus, "ListContainers", NULL));

        /*
         * Containers and groups hold fds too (and the fd store keeps them):
         * with the budget full of memory, neither a new container nor a
         * new group fits; one lease less makes room for one of them.
         */
        wait_leases(bus, c, 0);
        {
                char *held[TIGHT_NOFILE], *d = NULL;
                size_t n = 0;
                int fd;

                for (;;) {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *r2 = NULL;
                        _cleanup_(sd_bus_error_free) sd_bus_error e2 = SD_BUS_ERROR_NULL;
                        const char *path;

                        if (sd_bus_call_method(bus, IOVAD_BUS_NAME, c, IOVAD_CONTAINER_IFACE, "AllocateMapped", &e2,
                                               &r2, "ta{sv}", PAGE, 0) < 0) {
                                ck_assert_str_eq(e2.name, IOVAD_ERROR_TOO_MANY_FILES);
                                break;
                        }
                        ck_assert_int_ge(sd_bus_message_read(r2, "oth", &path, NULL, &fd), 0);
                        ck_assert_uint_lt(n, ELEMENTSOF(held));
                        held[n++] = strdup(path);
                }
                ck_assert_uint_eq(n, TIGHT_NOFILE - 256 - 2);
                manager_fail(bus, IOVAD_ERROR_TOO_MANY_FILES, "CreateContainer", "sa{sv}", "d", 0);
                container_fail(bus, IOVAD_ERROR_TOO_MANY_FILES, c, "AttachGroup", "u", 12);
                release(bus, held[--n]);
                free(held[n]);
                d = create_container(bus, "d", users, 1);
                container_fail(bus, IOVAD_ERROR_TOO_MANY_FILES, c, "AttachGroup", "u", 12);
                free(d);
                for (size_t i = 0; i < n; i++) {
                        release(bus, held[i]);
                        free(held[i]);
                }
                attach(bus, c, 12);
        }
        env_stop(&e);
}
END_TEST

/* Losing the bus is fatal: iovad exits non-zero (so systemd restarts it) and gives up no lease. */
START_TEST(test_bus_loss) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *a = NULL, *b = NULL, *journal = NULL;
        char path[700];
        int status = 0;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        a = lease(bus, c, PAGE, NULL);
        b = lease(bus, c, 2 * PAGE, NULL);

        ck_assert_int_eq(kill(e.bus_pid, SIGKILL), 0);
        (void) wait_child(e.bus_pid);
        e.bus_pid = 0;
        pid_t r = 0;
        for (int i = 0; i < 1000 && r == 0; i++) {
                r = waitpid(e.daemon_pid, &status, WNOHANG);
                if (r == 0)
                        usleep(10 * 1000);
        }
        ck_assert_msg(r == e.daemon_pid, "iovad is still running 10 s after its bus went away");
        e.daemon_pid = 0;
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "iovad ended with status 0x%x, not a failure",
                      (unsigned) status);

        /* Its journal still holds both leases: their client never left, iovad did. */
        xsprintf(path, "%s/leases.journal", e.runtime_dir);
        journal = read_text(path);
        ck_assert_msg(strstr(journal, "\n- ") == NULL, "leases were released when iovad lost its bus:\n%s", journal);
        char want[64];
        xsprintf(want, "+ %" PRIu64 " ", lease_id(a));
        ck_assert_ptr_nonnull(strstr(journal, want));
        xsprintf(want, "+ %" PRIu64 " ", lease_id(b));
        ck_assert_ptr_nonnull(strstr(journal, want));
        env_stop(&e);
}
END_TEST

/*
 * A lease whose reply reached its client is never dropped by a restore.
 * iovad notes "= ID" in the lease journal once the reply has gone into the
 * bus socket (queued for its next write), so a crash after the reply and
 * before that line leaves the journal without it: what the journal looks
 * like then is made here by killing iovad after the answer and taking any
 * "=" lines out.
 */
START_TEST(test_crash_after_reply_keeps_lease) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *a = NULL, *journal = NULL;
        char path[700];
        uint64_t iova;
        FILE *f;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        a = lease(bus, c, 2 * PAGE, &iova); /* answered: the client has it */
        sd_bus_message_unref(manager_ok(bus, "ListContainers", NULL));
        env_daemon_kill(&e);

        xsprintf(path, "%s/leases.journal", e.runtime_dir);
        journal = read_text(path);
        /* The "?" written before the reply is there whatever happens to the "=". */
        ck_assert_msg(strstr(journal, "\n? "), "no \"?\" line before the reply:\n%s", journal);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        for (char *save = NULL, *line = strtok_r(journal, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (strncmp(line, "= ", 2) != 0)
                        fprintf(f, "%s\n", line);
        ck_assert_int_eq(fclose(f), 0);

        env_daemon_start(&e);
        ck_assert_uint_eq(prop_t(bus, a, IOVAD_LEASE_IFACE, "Iova"), iova);
        container_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, "Lease", "ta{sv}", PAGE, 1, "iova", "t", iova);
        release(bus, a);
        env_stop(&e);
}
END_TEST

/* Ids are never handed out twice: not after a stop without the runtime directory, not after a crash. */
START_TEST(test_ids_never_reused) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        char cmd[800];
        uint64_t highest = 0;
        BusEnv e;

        env_start(&e, NULL, NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 5);
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 50; i++) {
                        _cleanup_(freep) char *l = lease(bus, c, PAGE, NULL);
                        uint64_t id = lease_id(l);
                        ck_assert_msg(id > highest, "lease id %" PRIu64 " handed out again (highest so far %" PRIu64 ")",
                                      id, highest);
                        highest = id;
                        if (i % 2 == 0)
                                sd_bus_message_unref(call_ok(bus, l, IOVAD_LEASE_IFACE, "Release", NULL));
                }
                /* What `systemctl stop; systemctl start` does: the runtime directory goes with the stop. */
                if (round == 0)
                        env_daemon_stop(&e);
                else
                        env_daemon_kill(&e);
                xsprintf(cmd, "rm -rf '%s'", e.runtime_dir);
                ck_assert_int_eq(system(cmd), 0);
                env_daemon_start(&e);
        }
        env_stop(&e);
}
END_TEST

/*
 * On a kernel whose type1 wraps iova + size at 2^64 (before 6.18), the
 * last page of a 64-bit input range is a hole with its reason, and no
 * lease can end there.
 */
START_TEST(test_kernel_top_page_hole) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *msg = NULL;
        TRegion regs[16];
        TRange usable[16];
        size_t n, k;
        bool found = false;
        BusEnv e;

        env_start(&e, "virtio-iommu", NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        attach(bus, c, 3);
        n = prop_regions(bus, c, regs, ELEMENTSOF(regs));
        for (size_t i = 0; i < n; i++)
                if (regs[i].start == UINT64_MAX - PAGE + 1 && regs[i].end == UINT64_MAX) {
                        ck_assert_str_eq(regs[i].type, "reserved");
                        ck_assert_str_eq(regs[i].origin, "kernel: type1 < 6.18 top page");
                        found = true;
                }
        ck_assert_msg(found, "no hole at the last page below 2^64");
        k = prop_ranges(bus, c, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, ELEMENTSOF(usable));
        ck_assert_uint_gt(k, 0);
        ck_assert_uint_eq(usable[k - 1].end, UINT64_MAX - PAGE);
        msg = call_fail(bus, IOVAD_ERROR_RESERVED_CONFLICT, c, IOVAD_CONTAINER_IFACE, "Lease", "ta{sv}", 2 * PAGE, 1,
                        "iova", "t", UINT64_MAX - 2 * PAGE + 1);
        ck_assert_msg(strstr(msg, "kernel: type1 < 6.18 top page"), "the refusal does not say why: %s", msg);
        /* The page below it is still the client's to have. */
        free(lease_fixed(bus, c, UINT64_MAX - 2 * PAGE + 1, PAGE));
        env_stop(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-reliability");
        TCase *tc = env_tcase("reliability");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_missing_objects_named);
        tcase_add_test(tc, test_memfd_quota);
        tcase_add_test(tc, test_fd_budget);
        tcase_add_test(tc, test_bus_loss);
        tcase_add_test(tc, test_crash_after_reply_keeps_lease);
        tcase_add_test(tc, test_ids_never_reused);
        tcase_add_test(tc, test_kernel_top_page_hole);
        suite_add_tcase(s, tc);
        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
