/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Authorization through polkit, with a stand-in authority on the private
 * bus (fake-polkit.c): who polkit allows may manage containers, who it
 * refuses gets AccessDenied, polkit hears which container a call is about
 * and whether the caller allows interaction, and a polkit that never
 * answers holds up only the call that waits for it.
 */
#include <signal.h>
#include <sys/wait.h>

#include "bus-env.h"

/* The bus only lets uids with a passwd entry in: root, 1000 and nobody play every part. */
#define UID_ALLOWED UID_OTHER        /* polkit says yes (first test) */
#define UID_STUCK UID_NOBODY         /* polkit never answers (second test) */
#define UID_USER UID_OTHER           /* a container user whose calls need no polkit (second test) */

static pid_t polkit_pid;
static char polkit_log[700];

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t n = 0;

        if (!f)
                return strdup("");
        if (getdelim(&text, &n, '\0', f) < 0) {
                free(text);
                text = strdup("");
        }
        fclose(f);
        return text;
}

static bool log_has(const char *needle) {
        _cleanup_(freep) char *text = read_file(polkit_log);
        return strstr(text, needle) != NULL;
}

static void wait_log(const char *needle) {
        for (int i = 0; i < 1000 && !log_has(needle); i++)
                usleep(10 * 1000);
        ck_assert_msg(log_has(needle), "polkit never heard '%s'", needle);
}

/* The bus as usual, then iovad again, this time asking the stand-in polkit. */
static void start_with_polkit(BusEnv *e, const char *test, const char *rule) {
        char prog[700];

        env_start_full(e, test, NULL, NULL);
        env_daemon_stop(e);
        xsprintf(prog, "%s/tests/bus/fake-polkit", env_build_root());
        xsprintf(polkit_log, "%s/polkit.log", e->dir);
        fflush(NULL);
        polkit_pid = fork();
        ck_assert_int_ge(polkit_pid, 0);
        if (polkit_pid == 0) {
                execl(prog, prog, polkit_log, rule, (char *) NULL);
                _exit(127);
        }
        wait_log("ready");
        e->polkit = true;
        env_daemon_start(e);
}

static void stop_with_polkit(BusEnv *e) {
        kill(polkit_pid, SIGTERM);
        (void) wait_child(polkit_pid);
        env_stop(e);
}

static void create_allowed(void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *c = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        c = create_container(bus, "by-polkit", NULL, 0);
        attach(bus, c, 5);
        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable") > 0, 1);

        /* A call that allows interaction says so to polkit. */
        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH,
                                                        IOVAD_MANAGER_IFACE, "CreateContainer"), 0);
        ck_assert_int_ge(sd_bus_message_append(m, "sa{sv}", "interactive", 0), 0);
        ck_assert_int_ge(sd_bus_message_set_allow_interactive_authorization(m, 1), 0);
        ck_assert_msg(sd_bus_call(bus, m, 0, &error, &reply) >= 0, "%s", error.message);
}

static void create_refused(void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        manager_fail(bus, ERR_ACCESS_DENIED, "CreateContainer", "sa{sv}", "refused", 0);
}

START_TEST(test_polkit_decides) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        BusEnv e;

        start_with_polkit(&e, __func__, "allow=1000");
        run_as(UID_ALLOWED, create_allowed, NULL);
        run_as(UID_NOBODY, create_refused, NULL);

        /* polkit heard the container (and group) each call was about, and the interaction flag. */
        ck_assert(log_has("uid=1000 action=org.iovad1.manage-containers flags=0 details=container=by-polkit,\n"));
        ck_assert(log_has("uid=1000 action=org.iovad1.manage-containers flags=0 details=container=by-polkit,group=5,\n"));
        ck_assert(log_has("uid=1000 action=org.iovad1.manage-containers flags=1 details=container=interactive,\n"));
        ck_assert(log_has("uid=65534 action=org.iovad1.manage-containers flags=0 details=container=refused,\n"));

        bus = env_connect();
        _cleanup_(freep) char *c = NULL;
        /* The container polkit allowed belongs to its creator; the refused one was never made; root never asks. */
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, "GetContainer", "s", "refused");
        c = create_container(bus, "by-root", NULL, 0);
        ck_assert(!log_has("by-root"));
        stop_with_polkit(&e);
}
END_TEST

typedef struct Shared {
        char container[256];
} Shared;

/* Asks for something polkit will never answer, and waits (until it is killed). */
static void create_stuck(void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) sd_bus_call_method(bus, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "CreateContainer",
                                  &error, &reply, "sa{sv}", "stuck", 0);
        /* Whatever the answer, it came: the parent checks that it had not come yet. */
}

static void lease_meanwhile(void *userdata) {
        Shared *sh = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = env_connect();
        _cleanup_(freep) char *l = NULL;

        l = lease(bus, sh->container, 16 * PAGE, NULL);
        ck_assert_ptr_nonnull(l);
        sd_bus_message_unref(call_ok(bus, l, IOVAD_LEASE_IFACE, "Release", NULL));
        sd_bus_message_unref(manager_ok(bus, "ListContainers", NULL));
}

START_TEST(test_stuck_polkit_delays_no_one_else) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL;
        const uid_t users[] = { UID_USER };
        Shared sh;
        BusEnv e;
        int status;

        start_with_polkit(&e, __func__, "hang=65534");
        bus = env_connect();
        c = create_container(bus, "shared", users, 1);
        attach(bus, c, 5);
        xsprintf(sh.container, "%s", c);

        pid_t stuck = spawn_as(UID_STUCK, create_stuck, NULL);
        /* iovad has passed the question on: polkit holds it, and will never answer. */
        wait_log("uid=65534 action=org.iovad1.manage-containers");

        run_as(UID_USER, lease_meanwhile, &sh);
        /* The other client was served while the stuck call still waited. */
        ck_assert_int_eq(waitpid(stuck, &status, WNOHANG), 0);

        kill(stuck, SIGKILL);
        (void) wait_child(stuck);
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_CONTAINER, "GetContainer", "s", "stuck");
        stop_with_polkit(&e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-auth");
        TCase *tc = env_tcase("auth");
        SRunner *sr;
        int failed;

        env_init();
        tcase_add_test(tc, test_polkit_decides);
        tcase_add_test(tc, test_stuck_polkit_delays_no_one_else);
        suite_add_tcase(s, tc);
        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
