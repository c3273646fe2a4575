/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * chaos-bench: the bus tier's chaos scenarios (tests/bus/chaos.h) at full
 * scale, with a table of figures at the end.
 *
 *   kill-storm     hundreds of client processes (uids 0, 1000, 65534) make
 *                  leases of every kind and are SIGKILLed in waves, most of
 *                  them mid-call; a fifth survive
 *   iovad-kills    iovad SIGKILLed at random moments under load, restarted
 *                  each time with the fd store stand-in
 *   bus-restarts   the dbus-daemon SIGKILLed and started again; iovad must
 *                  fail, and is started again as systemd would
 *   fd-exhaustion  clients fill iovad's fd budget under a small
 *                  RLIMIT_NOFILE; iovad is killed at the budget
 *
 * Each scenario runs as a Check test in its own process, on a private bus
 * with the real iovad (simulated backend), like the bus tier; it needs
 * root. The exit status is 0 when every scenario ran with 0 lost, 0
 * leaked and no unnamed error, 1 otherwise, 2 for a bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <sys/mman.h>
#include <time.h>

#include "chaos.h"

static ChaosParams storm, kills, restarts, fds;
static ChaosResult *results; /* shared with the scenarios' processes */
static const char *only;

static void run_storm(void) {
        chaos_kill_storm(&storm, &results[0]);
}
static void run_kills(void) {
        chaos_daemon_kills(&kills, &results[1]);
}
static void run_restarts(void) {
        chaos_bus_restarts(&restarts, &results[2]);
}
static void run_fds(void) {
        chaos_fd_exhaustion(&fds, &results[3]);
}

START_TEST(test_scenario) {
        static void (*const run[])(void) = { run_storm, run_kills, run_restarts, run_fds };
        run[_i]();
        chaos_print_header(stdout);
        chaos_print(stdout, &results[_i]);
}
END_TEST

static const char *const names[] = { "kill-storm", "iovad-kills", "bus-restarts", "fd-exhaustion" };

static void help(void) {
        printf("chaos-bench [OPTIONS]: the chaos scenarios of the bus tier at full scale (run as root)\n"
               "  --seed=N              random seed (default: the time)\n"
               "  --only=SCENARIO       kill-storm, iovad-kills, bus-restarts or fd-exhaustion\n"
               "  --storm-clients=N     kill storm: client processes (default 300; a fifth survive)\n"
               "  --storm-waves=N       kill storm: waves of kills (default 6)\n"
               "  --kill-clients=N      iovad kills: clients under load (default 24)\n"
               "  --kills=N             iovad kills: SIGKILLs of iovad (default 25)\n"
               "  --bus-clients=N       bus restarts: clients (default 12)\n"
               "  --bus-restarts=N      bus restarts (default 5)\n"
               "  --fd-clients=N        fd exhaustion: clients (default 12)\n"
               "  --nofile=N            fd exhaustion: iovad's RLIMIT_NOFILE (default 1280: 1024 mapped leases)\n"
               "  --fd-kills=N          fd exhaustion: iovad kills at the budget (default 3)\n"
               "  --verbose             a line per audit\n");
}

static unsigned number_max(const char *arg, const char *opt, unsigned min, unsigned long max) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(arg, &end, 0);
        if (!*arg || *end || errno || arg[0] == '-' || v < min || v > max) {
                fprintf(stderr, "chaos-bench: bad value for --%s: %s\n", opt, arg);
                exit(2);
        }
        return (unsigned) v;
}

static unsigned number(const char *arg, const char *opt, unsigned min) {
        return number_max(arg, opt, min, 100000);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },           { "seed", required_argument, NULL, 's' },
                { "only", required_argument, NULL, 'o' },     { "storm-clients", required_argument, NULL, 1 },
                { "storm-waves", required_argument, NULL, 2 }, { "kill-clients", required_argument, NULL, 3 },
                { "kills", required_argument, NULL, 4 },      { "bus-clients", required_argument, NULL, 5 },
                { "bus-restarts", required_argument, NULL, 6 }, { "fd-clients", required_argument, NULL, 7 },
                { "nofile", required_argument, NULL, 8 },     { "fd-kills", required_argument, NULL, 9 },
                { "verbose", no_argument, NULL, 'v' },        {},
        };
        unsigned seed = (unsigned) time(NULL);
        bool verbose = false, bad = false;
        Suite *suite;
        TCase *tc;
        SRunner *sr;
        int c, failed, n_run = 0;

        storm = (ChaosParams) { .clients = 300, .rounds = 6, .live_max = 6, .load_ms = 400 };
        kills = (ChaosParams) { .clients = 24, .rounds = 25, .live_max = 12, .load_ms = 400 };
        restarts = (ChaosParams) { .clients = 12, .rounds = 5, .live_max = 8, .load_ms = 500 };
        fds = (ChaosParams) { .clients = 12, .rounds = 3, .nofile = 1280 };
        while ((c = getopt_long(argc, argv, "hs:o:v", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 's':
                        seed = number_max(optarg, "seed", 0, UINT32_MAX);
                        break;
                case 'o':
                        only = optarg;
                        break;
                case 1: storm.clients = number(optarg, "storm-clients", 5); break;
                case 2: storm.rounds = number(optarg, "storm-waves", 1); break;
                case 3: kills.clients = number(optarg, "kill-clients", 1); break;
                case 4: kills.rounds = number(optarg, "kills", 1); break;
                case 5: restarts.clients = number(optarg, "bus-clients", 1); break;
                case 6: restarts.rounds = number(optarg, "bus-restarts", 1); break;
                case 7: fds.clients = number(optarg, "fd-clients", 1); break;
                case 8: fds.nofile = number(optarg, "nofile", 320); break;
                case 9: fds.rounds = number(optarg, "fd-kills", 0); break;
                case 'v': verbose = true; break;
                default:
                        return 2;
                }
        if (optind < argc || storm.clients > 1024 || kills.clients > 1024 || restarts.clients > 1024 ||
            fds.clients > 1024) {
                fprintf(stderr, "chaos-bench: unexpected arguments, or more than 1024 clients (--help)\n");
                return 2;
        }
        if (only) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        known = known || streq(names[i], only);
                if (!known) {
                        fprintf(stderr, "chaos-bench: no scenario '%s' (--help)\n", only);
                        return 2;
                }
        }
        storm.seed = kills.seed = restarts.seed = fds.seed = seed;
        storm.verbose = kills.verbose = restarts.verbose = fds.verbose = verbose;

        results = mmap(NULL, 4 * sizeof(ChaosResult), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (results == MAP_FAILED)
                return 1;
        memset(results, 0, 4 * sizeof(ChaosResult));
        printf("chaos-bench: seed %u (--seed=%u reruns it)\n", seed, seed);
        env_init();
        suite = suite_create("chaos-bench");
        tc = tcase_create("chaos");
        tcase_set_timeout(tc, 7200);
        for (int i = 0; i < 4; i++)
                if (!only || streq(only, names[i])) {
                        tcase_add_loop_test(tc, test_scenario, i, i + 1);
                        n_run++;
                }
        suite_add_tcase(suite, tc);
        sr = env_runner(suite);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);

        printf("\n");
        chaos_print_header(stdout);
        for (int i = 0; i < 4; i++) {
                if (!results[i].scenario[0])
                        continue;
                chaos_print(stdout, &results[i]);
                bad = bad || results[i].lost || results[i].leaked || results[i].unnamed_errors || results[i].problem[0];
        }
        env_done(failed);
        if (failed)
                printf("chaos-bench: %d of %d scenarios did not run to the end (see above)\n", failed, n_run);
        return failed || bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
