/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chaos at CI scale (chaos.h; chaos-bench runs the same at full scale):
 * clients SIGKILLed mid-call, iovad SIGKILLed under load and restarted with
 * the fd store, the bus killed and restarted, iovad at its fd budget. Each
 * test prints its figures and asserts that nothing acked was lost, nothing
 * leaked, and that the damage really happened.
 *
 * The seed is IOVAD_CHAOS_SEED, else the date (printed: rerun a failure
 * with it).
 */
#include <inttypes.h>
#include <time.h>

#include "chaos.h"

static unsigned seed;

static void report(const ChaosResult *r) {
        chaos_print_header(stdout);
        chaos_print(stdout, r);
        ck_assert_msg(r->lost == 0, "%s: %" PRIu64 " acked leases lost (seed %u): %s", r->scenario, r->lost, r->seed,
                      r->problem);
        ck_assert_msg(r->leaked == 0, "%s: %" PRIu64 " leaked (seed %u): %s", r->scenario, r->leaked, r->seed,
                      r->problem);
        ck_assert_msg(r->unnamed_errors == 0, "%s: %" PRIu64 " calls failed without a documented error: %s",
                      r->scenario, r->unnamed_errors, r->problem);
        ck_assert_msg(!r->problem[0], "%s (seed %u): %s", r->scenario, r->seed, r->problem);
        ck_assert_uint_gt(r->acked, 0);
}

START_TEST(test_kill_storm) {
        ChaosParams p = chaos_ci_kill_storm;
        ChaosResult r;

        p.seed = seed;
        chaos_kill_storm(&p, &r);
        report(&r);
        /* The storm happened: most clients died, some of them with a call out. */
        ck_assert_uint_eq(r.client_kills, p.clients - (p.clients + 4) / 5);
        ck_assert_uint_gt(r.mid_call_kills, 0);
        ck_assert_uint_gt(r.gone_as_documented, 0);
}
END_TEST

START_TEST(test_daemon_kills) {
        ChaosParams p = chaos_ci_daemon_kills;
        ChaosResult r;

        p.seed = seed;
        chaos_daemon_kills(&p, &r);
        report(&r);
        ck_assert_uint_eq(r.daemon_kills, p.rounds);
        ck_assert_uint_gt(r.restored, 0);
        ck_assert_uint_gt(r.cut, 0);
}
END_TEST

START_TEST(test_bus_restarts) {
        ChaosParams p = chaos_ci_bus_restarts;
        ChaosResult r;

        p.seed = seed;
        chaos_bus_restarts(&p, &r);
        report(&r);
        ck_assert_uint_eq(r.bus_restarts, p.rounds);
        ck_assert_uint_eq(r.daemon_failures, p.rounds);
        /* The persistent leases came back every time; the old connections' leases went. */
        ck_assert_uint_ge(r.restored, 3 * p.rounds);
        ck_assert_uint_gt(r.gone_as_documented, 0);
}
END_TEST

START_TEST(test_fd_exhaustion) {
        ChaosParams p = chaos_ci_fd_exhaustion;
        ChaosResult r;

        p.seed = seed;
        chaos_fd_exhaustion(&p, &r);
        report(&r);
        ck_assert_uint_ge(r.too_many_files, p.clients);
        ck_assert_uint_eq(r.at_budget, r.fd_budget);
        ck_assert_uint_eq(r.restored, r.at_budget + p.clients); /* the mapped ones and one IOVA-only lease each */
}
END_TEST

int main(void) {
        const char *s = getenv("IOVAD_CHAOS_SEED");
        Suite *suite = suite_create("bus-chaos");
        TCase *tc = env_tcase("chaos");
        SRunner *sr;
        int failed;

        seed = s && *s ? (unsigned) strtoul(s, NULL, 0) : (unsigned) (time(NULL) / 86400);
        printf("chaos seed %u (IOVAD_CHAOS_SEED=%u reruns it)\n", seed, seed);
        env_init();
        tcase_add_test(tc, test_kill_storm);
        tcase_add_test(tc, test_daemon_kills);
        tcase_add_test(tc, test_bus_restarts);
        tcase_add_test(tc, test_fd_exhaustion);
        suite_add_tcase(suite, tc);
        sr = env_runner(suite);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
